"""StrikeOracle: signatures, checks, aggregation, guards, TWAP/EMA, volatility, rates, admin.

Every number asserted is recomputed independently in the test (statistics.median and
plain integer arithmetic over the posted values; mpmath for the smile's logarithm).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

import mpmath
import pytest
from eth_account import Account as EthAccount
from eth_account.messages import encode_typed_data
from oraclehelpers import (
    ADMIN,
    ADMIN_KEY,
    CHAIN_ID,
    E8,
    ETH,
    OUTSIDER_KEY,
    PUBLISHER_KEYS,
    PUBLISHERS,
    USD,
    WAD,
    OracleChain,
    feed_spec,
    oracle_config,
    reverted_with,
    selector,
    words,
)

from strikevm.crypto import keccak256
from strikevm.finance.oracle import (
    EVENT_AGGREGATE,
    ORACLE_ADDRESS,
    GenesisError,
    encode_bytes_array,
    genesis_storage,
    smile,
)
from strikevm.finance.oracle_layout import (
    PRICE_TYPE,
    SECP256K1_N,
    UPDATE_PRICE,
    domain_separator,
    eip712_digest,
    feed_id,
    price_update,
    rate_update,
    typed_digest,
    volatility_update,
)
from strikevm.state.root import state_root

# --------------------------------------------------------------------------- EIP-712


def test_eip712_specification_vector() -> None:
    """The Mail example of EIP-712: domain separator and final digest as the spec prints them."""
    domain = domain_separator(
        1, 0xCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC, name="Ether Mail", version="1"
    )
    assert domain.hex() == "f2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f"
    mail_hash = bytes.fromhex("c52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e")
    digest = eip712_digest(domain, mail_hash)
    assert digest.hex() == "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"


def _typed(feed: int, price: int, conf: int, t: int, chain_id: int = CHAIN_ID) -> dict:
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "PriceUpdate": [
                {"name": "feedId", "type": "bytes32"},
                {"name": "price", "type": "uint256"},
                {"name": "confidence", "type": "uint256"},
                {"name": "publishTime", "type": "uint64"},
            ],
        },
        "primaryType": "PriceUpdate",
        "domain": {
            "name": "StrikeOracle",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": "0x" + ORACLE_ADDRESS.to_bytes(20, "big").hex(),
        },
        "message": {"feedId": feed.to_bytes(32, "big"), "price": price, "confidence": conf, "publishTime": t},
    }


def test_updates_signed_with_eth_account_are_accepted() -> None:
    chain = OracleChain()
    assert PRICE_TYPE.startswith("PriceUpdate(")
    ups = []
    for i, k in enumerate(PUBLISHER_KEYS):
        message = _typed(ETH, (3000 + i) * E8, E8, chain.now)
        signable = encode_typed_data(full_message=message)
        signed = EthAccount.sign_message(signable, k)
        ours = typed_digest(
            domain_separator(CHAIN_ID),
            keccak256(PRICE_TYPE.encode()),
            (ETH, (3000 + i) * E8, E8, chain.now),
        )
        assert signed.message_hash == ours
        ups.append(
            bytes([UPDATE_PRICE]) + words(ETH, (3000 + i) * E8, E8, chain.now)
            + words(signed.r, signed.s) + bytes([signed.v])
        )  # fmt: skip
    result = chain.relay(*ups)
    assert result.success, result.output
    price, conf, t = chain.read("getPrice(bytes32)", ETH)
    assert price == 3001 * E8 and t == chain.now
    # conf = median(c_i + |p_i - P|) = median(E8 + E8, E8, E8 + E8)
    assert conf == statistics.median([E8 + E8, E8, E8 + E8])


# ------------------------------------------------------------------- aggregation


def test_median_confidence_and_publish_time() -> None:
    chain = OracleChain()
    posts = {0: (3010 * E8, 2 * E8), 1: (2990 * E8, 3 * E8), 2: (3050 * E8, E8)}
    result = chain.post(posts)
    assert result.success
    prices = [p for p, _ in posts.values()]
    median = int(statistics.median(prices))
    conf = int(statistics.median([c + abs(p - median) for p, c in posts.values()]))
    assert chain.read("getPrice(bytes32)", ETH) == [median, conf, chain.now]
    # the event carries the aggregate
    agg_logs = [log for log in result.logs if log.topics[0] == EVENT_AGGREGATE]
    assert len(agg_logs) == 1 and agg_logs[0].topics[1] == ETH
    assert agg_logs[0].data == words(median, conf, chain.now, 0)


def test_one_outlier_of_three_cannot_move_the_median() -> None:
    honest = OracleChain()
    honest.post({0: (3000 * E8, E8), 1: (3001 * E8, E8), 2: (3002 * E8, E8)})
    attacked = OracleChain()
    attacked.post({0: (3000 * E8, E8), 1: (3001 * E8, E8), 2: (3002 * E8 * 1000, E8)})
    assert attacked.read("getPrice(bytes32)", ETH)[0] == honest.read("getPrice(bytes32)", ETH)[0]
    # and the confidence does not explode either (median of per-publisher dispersion)
    assert attacked.read("getPrice(bytes32)", ETH)[1] == 2 * E8


def test_quorum_not_met_and_stale_publishers() -> None:
    chain = OracleChain()
    chain.post({0: (3000 * E8, E8)})  # one of three: quorum is two
    assert reverted_with(chain.call("getPrice(bytes32)", ETH), "QuorumNotMet(bytes32)", ETH)
    chain.next_block()
    chain.post({1: (3002 * E8, E8)})
    assert chain.read("getPrice(bytes32)", ETH)[0] == (3000 * E8 + 3002 * E8) // 2
    # publisher 0 posted 12 s before publisher 1; staleness is 120 s
    chain.next_block(110)  # publisher 0 is now 122 s old, publisher 1 110 s
    assert reverted_with(chain.call("getPrice(bytes32)", ETH), "QuorumNotMet(bytes32)", ETH)
    assert reverted_with(chain.call("getTwap(bytes32,uint256)", ETH, 60), "QuorumNotMet(bytes32)", ETH)
    # a fresh pair restores it
    chain.post({1: (3004 * E8, E8), 2: (3006 * E8, E8)})
    assert chain.read("getPrice(bytes32)", ETH)[0] == 3005 * E8


def test_price_no_older_than() -> None:
    chain = OracleChain()
    chain.post({0: (3000 * E8, E8), 1: (3000 * E8, E8)}, at=chain.now - 30)
    assert chain.read("getPriceNoOlderThan(bytes32,uint256)", ETH, 60)[2] == chain.now - 30
    assert reverted_with(
        chain.call("getPriceNoOlderThan(bytes32,uint256)", ETH, 10),
        "StalePrice(bytes32,uint256)", ETH, chain.now - 30,
    )  # fmt: skip


# ----------------------------------------------------------------------- bad input


def _rejects(chain: OracleChain, update: bytes, signature: str, *args: int) -> None:
    before = chain.storage()
    result = chain.relay(update)
    assert reverted_with(result, signature, *args), result.output.hex()
    assert chain.storage() == before  # nothing changed but the relayer's gas


def test_wrong_chain_id_or_oracle_address_recovers_an_unknown_signer() -> None:
    chain = OracleChain()
    for kwargs in ({"chain_id": CHAIN_ID + 1}, {"chain_id": CHAIN_ID, "oracle": 0x53540099}):
        update = price_update(PUBLISHER_KEYS[0], ETH, 3000 * E8, E8, chain.now, **kwargs)
        result = chain.relay(update)
        assert not result.success
        assert result.output[:4] == selector("UnknownPublisher(bytes32,address)")
        assert int.from_bytes(result.output[4:36], "big") == ETH


def test_unknown_publisher() -> None:
    chain = OracleChain()
    outsider = int.from_bytes(keccak256(_pub(OUTSIDER_KEY))[12:], "big")
    update = price_update(OUTSIDER_KEY, ETH, 3000 * E8, E8, chain.now, CHAIN_ID)
    _rejects(chain, update, "UnknownPublisher(bytes32,address)", ETH, outsider)


def _pub(k: bytes) -> bytes:
    from coincurve import PrivateKey

    return PrivateKey(k).public_key.format(compressed=False)[1:]


def test_high_s_signature_is_malleable() -> None:
    chain = OracleChain()
    update = price_update(PUBLISHER_KEYS[0], ETH, 3000 * E8, E8, chain.now, CHAIN_ID)
    s = int.from_bytes(update[-33:-1], "big")
    v = update[-1]
    flipped = update[:-33] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])
    _rejects(chain, flipped, "MalleableSignature(uint256)", 0)


def test_replay_out_of_order_future_and_stale() -> None:
    chain = OracleChain()
    first = price_update(PUBLISHER_KEYS[0], ETH, 3000 * E8, E8, chain.now, CHAIN_ID)
    assert chain.relay(first).success
    chain.next_block()
    publisher = PUBLISHERS[0]
    _rejects(chain, first, "ReplayedUpdate(bytes32,address,uint256)", ETH, publisher, chain.now - 12)
    older = price_update(PUBLISHER_KEYS[0], ETH, 3001 * E8, E8, chain.now - 20, CHAIN_ID)
    _rejects(chain, older, "OutOfOrderUpdate(bytes32,address,uint256,uint256)", ETH, publisher,
             chain.now - 20, chain.now - 12)  # fmt: skip
    future = price_update(PUBLISHER_KEYS[1], ETH, 3000 * E8, E8, chain.now + 16, CHAIN_ID)
    _rejects(chain, future, "FutureUpdate(uint256,uint256)", chain.now + 16, chain.now)
    stale = price_update(PUBLISHER_KEYS[1], ETH, 3000 * E8, E8, chain.now - 121, CHAIN_ID)
    _rejects(chain, stale, "StaleUpdate(uint256,uint256)", chain.now - 121, chain.now)


def test_malformed_input() -> None:
    chain = OracleChain()
    good = price_update(PUBLISHER_KEYS[0], ETH, 3000 * E8, E8, chain.now, CHAIN_ID)
    _rejects(chain, good[:-1], "MalformedUpdate(uint256)", 0)
    _rejects(chain, b"\x07" + good[1:], "MalformedUpdate(uint256)", 0)
    _rejects(chain, b"", "MalformedUpdate(uint256)", 0)
    _rejects(chain, good[:-1] + b"\x05", "InvalidSignature(uint256)", 0)
    zero = price_update(PUBLISHER_KEYS[0], ETH, 0, E8, chain.now, CHAIN_ID)
    _rejects(chain, zero, "InvalidValue(uint256)", 0)
    huge = price_update(PUBLISHER_KEYS[0], ETH, 1 << 88, E8, chain.now, CHAIN_ID)
    _rejects(chain, huge, "InvalidValue(uint256)", 0)
    before = chain.storage()
    garbage = chain.send(selector("updatePrices(bytes[])") + words(0x20, 5))
    assert reverted_with(garbage, "MalformedCalldata()")
    unknown = chain.send(b"\x12\x34\x56\x78")
    assert unknown.output == selector("UnknownSelector(bytes4)") + b"\x12\x34\x56\x78" + bytes(28)
    assert chain.storage() == before
    # a bad item anywhere rejects the whole batch
    ok = price_update(PUBLISHER_KEYS[1], ETH, 3000 * E8, E8, chain.now, CHAIN_ID)
    result = chain.relay(ok, zero)
    assert reverted_with(result, "InvalidValue(uint256)", 1) and chain.storage() == before


def test_unknown_feed_and_wrong_kind() -> None:
    chain = OracleChain()
    nope = feed_id("DOGE/USD")
    _rejects(chain, price_update(PUBLISHER_KEYS[0], nope, E8, 0, chain.now, CHAIN_ID),
             "UnknownFeed(bytes32)", nope)  # fmt: skip
    _rejects(chain, price_update(PUBLISHER_KEYS[0], USD, E8, 0, chain.now, CHAIN_ID),
             "WrongFeedKind(bytes32)", USD)  # fmt: skip
    assert reverted_with(chain.call("getPrice(bytes32)", nope), "UnknownFeed(bytes32)", nope)


def test_value_and_static_policy() -> None:
    chain = OracleChain()
    update = price_update(PUBLISHER_KEYS[0], ETH, 3000 * E8, E8, chain.now, CHAIN_ID)
    data = selector("updatePrices(bytes[])") + encode_bytes_array([update])
    chain.state.begin_transaction()
    from strikevm.vm.env import Message, TxEnv
    from strikevm.vm.errors import WriteInStaticContext
    from strikevm.vm.evm import EVM

    evm = EVM(chain.state, chain.block, TxEnv(), system=chain.system)
    static = evm.process_message(Message(1, ORACLE_ADDRESS, 0, data, 10**6, b"", ORACLE_ADDRESS, is_static=True))
    assert not static.success and isinstance(static.error, WriteInStaticContext)
    assert chain.storage() == chain.storage()


# ------------------------------------------------------------- deviation guard


def test_flash_move_is_clamped_and_confidence_widened() -> None:
    chain = OracleChain()
    chain.post({0: (3000 * E8, E8), 1: (3000 * E8, E8), 2: (3000 * E8, E8)})
    chain.next_block()
    result = chain.post({0: (6000 * E8, E8), 1: (6000 * E8, E8), 2: (6000 * E8, E8)})
    price, conf, _ = chain.read("getPrice(bytes32)", ETH)
    bound = 3000 * E8 * 1000 // 10_000  # maxDeviationBps = 10%
    assert price == 3000 * E8 + bound
    assert conf == 6000 * E8 - price  # the gap to the publishers' median
    agg = [log for log in result.logs if log.topics[0] == EVENT_AGGREGATE][0]
    assert int.from_bytes(agg.data[96:128], "big") == 1  # clamped
    # more updates in the same block cannot walk past the bound: the anchor is per block
    chain.post({0: (6000 * E8, E8), 1: (6000 * E8, E8)}, at=chain.now + 1)
    assert chain.read("getPrice(bytes32)", ETH)[0] == 3000 * E8 + bound
    # the next block moves again by at most the bound from the new anchor
    chain.next_block()
    chain.post({0: (6000 * E8, E8), 1: (6000 * E8, E8), 2: (6000 * E8, E8)})
    anchor = 3000 * E8 + bound
    assert chain.read("getPrice(bytes32)", ETH)[0] == anchor + anchor * 1000 // 10_000


def test_twap_under_a_one_block_spike_moves_at_most_the_bound() -> None:
    chain = OracleChain()
    p0 = 3000 * E8
    for _ in range(20):  # 20 blocks at a steady price
        chain.post({0: (p0, E8), 1: (p0, E8), 2: (p0, E8)})
        chain.next_block()
    window = 240
    before = chain.read("getTwap(bytes32,uint256)", ETH, window)[0]
    assert before == p0
    chain.post({0: (100 * p0, E8), 1: (100 * p0, E8), 2: (100 * p0, E8)})  # one-block spike
    chain.next_block()
    chain.post({0: (p0, E8), 1: (p0, E8), 2: (p0, E8)})
    chain.next_block()
    after = chain.read("getTwap(bytes32,uint256)", ETH, window)[0]
    bound = p0 * 1000 // 10_000
    # documented bound: maxDeviation x anchor x (spike duration / window)
    assert after - before <= bound * 12 // window
    assert after > before  # the spike is visible, just bounded


def test_twap_and_ema_match_an_independent_computation() -> None:
    chain = OracleChain()
    path = [3000, 3010, 2990, 3050, 3100, 3080, 3020, 3000]
    history: list[tuple[int, int]] = []  # (block time, aggregate)
    ema = None
    prev_time = None
    for i, p in enumerate(path):
        chain.post({0: (p * E8, E8), 1: (p * E8, E8)})
        price = chain.read("getPrice(bytes32)", ETH)[0]
        history.append((chain.now, price))
        if ema is None:
            ema = price
        else:
            dt = min(chain.now - prev_time, 3600)
            ema += (price - ema) * dt // 3600
        prev_time = chain.now
        assert chain.read("getEmaPrice(bytes32)", ETH)[0] == ema
        chain.next_block(7 + 5 * i)
    end = chain.now
    start = history[1][0] + 3

    def cumulative(t: int) -> int:
        total = 0
        for (t0, p), nxt in zip(history, history[1:] + [(10**12, 0)], strict=True):
            lo, hi = t0, min(nxt[0], t)
            if hi > lo:
                total += p * (hi - lo)
        return total

    expected = (cumulative(end) - cumulative(start)) // (end - start)
    assert chain.read("getTwapBetween(bytes32,uint256,uint256)", ETH, start, end)[0] == expected
    assert reverted_with(
        chain.call("getTwapBetween(bytes32,uint256,uint256)", ETH, history[0][0] - 1, end),
        "TwapWindowTooLong(bytes32,uint256)", ETH, history[0][0],
    )  # fmt: skip
    assert reverted_with(chain.call("getTwap(bytes32,uint256)", ETH, 0), "InvalidWindow()")


def test_twap_ring_wraps() -> None:
    chain = OracleChain(oracle_config(feed_spec(twapCapacity=4)))
    for i in range(10):
        chain.post({0: ((3000 + i) * E8, E8), 1: ((3000 + i) * E8, E8)})
        chain.next_block()
    # only the last four observations remain: a window reaching further is refused
    assert chain.read("getTwap(bytes32,uint256)", ETH, 36)[0] > 0
    result = chain.call("getTwap(bytes32,uint256)", ETH, 60)
    assert not result.success and result.output[:4] == selector("TwapWindowTooLong(bytes32,uint256)")


# ---------------------------------------------------------- volatility and rates


def test_volatility_surface_median_and_smile() -> None:
    chain = OracleChain()
    chain.post({0: (2000 * E8, E8), 1: (2000 * E8, E8)})
    expiry = chain.now + 30 * 86400
    params = [(60 * WAD // 100, -WAD // 10, WAD // 5), (62 * WAD // 100, -WAD // 8, WAD // 4),
              (90 * WAD // 100, WAD, WAD)]  # fmt: skip
    ups = [volatility_update(k, ETH, expiry, a, s, c, chain.now, CHAIN_ID)
           for k, (a, s, c) in zip(PUBLISHER_KEYS, params, strict=True)]  # fmt: skip
    assert chain.relay(*ups).success
    atm, skew, conv = (statistics.median(col) for col in zip(*params, strict=True))
    surface = chain.read("getVolatilitySurface(bytes32,uint256)", ETH, expiry)
    assert surface[0] == atm and surface[1] - (1 << 256) == skew and surface[2] == conv
    for strike in (1500 * WAD, 2000 * WAD, 2600 * WAD):
        vol = chain.read("getVolatility(bytes32,uint256,uint256)", ETH, expiry, strike)[0]
        k = mpmath.log(mpmath.mpf(strike) / (2000 * WAD))
        reference = (mpmath.mpf(atm) + skew * k + conv * k * k / 1) / WAD
        assert abs(vol / WAD - float(reference)) < 1e-15 * 10
        assert vol == smile(int(atm), int(skew), int(conv), strike, 2000 * WAD)
    missing = chain.call("getVolatility(bytes32,uint256,uint256)", ETH, expiry + 1, 2000 * WAD)
    assert reverted_with(missing, "NoVolatility(bytes32,uint256)", ETH, expiry + 1)


def test_negative_rate_median() -> None:
    chain = OracleChain()
    rates = [-5 * WAD // 1000, -3 * WAD // 1000, 40 * WAD // 100]
    ups = [rate_update(k, USD, r, chain.now, CHAIN_ID) for k, r in zip(PUBLISHER_KEYS, rates, strict=True)]
    assert chain.relay(*ups).success
    (value,) = chain.read("getRate(bytes32)", USD)
    assert value - (1 << 256) == statistics.median(rates)


# ----------------------------------------------------------------------------- admin


def test_only_admin_changes_feeds() -> None:
    chain = OracleChain()
    btc = feed_id("BTC/USD")
    args = words(btc, 1, 2, 8, 500, 60, 600, 128)
    sig = "setFeed(bytes32,uint8,uint8,uint8,uint16,uint32,uint32,uint32)"
    assert reverted_with(chain.send(selector(sig) + args), "NotAdmin(address)", chain_relayer())
    assert chain.send(selector(sig) + args, sender_key=ADMIN_KEY).success
    for p in PUBLISHERS[:2]:
        assert chain.send(selector("addPublisher(bytes32,address)") + words(btc, p), sender_key=ADMIN_KEY).success
    dup = chain.send(selector("addPublisher(bytes32,address)") + words(btc, PUBLISHERS[0]), sender_key=ADMIN_KEY)
    assert reverted_with(dup, "PublisherExists(bytes32,address)", btc, PUBLISHERS[0])
    assert chain.read("getFeed(bytes32)", btc) == [1, 2, 8, 500, 60, 600, 128, 2]
    chain.post({0: (60000 * E8, E8), 1: (60010 * E8, E8)}, feed=btc)
    assert chain.read("getPrice(bytes32)", btc)[0] == 60005 * E8
    assert chain.send(selector("removePublisher(bytes32,address)") + words(btc, PUBLISHERS[0]), sender_key=ADMIN_KEY).success
    assert chain.read("getPublishers(bytes32)", btc)[2:] == [PUBLISHERS[1]]
    chain.next_block()
    refused = chain.post({0: (60000 * E8, E8)}, feed=btc)
    assert reverted_with(refused, "UnknownPublisher(bytes32,address)", btc, PUBLISHERS[0])
    assert chain.read("feedIds()")[2:] == [ETH, USD, btc]
    assert chain.read("admin()") == [ADMIN]


def chain_relayer() -> int:
    from oraclehelpers import RELAYER

    return RELAYER


def test_genesis_rejects_bad_configuration() -> None:
    with pytest.raises(GenesisError):
        genesis_storage({"admin": "0x01", "feeds": [feed_spec(quorum=4)]})
    with pytest.raises(GenesisError):
        genesis_storage({"admin": "0x01", "feeds": [feed_spec(), feed_spec()]})
    with pytest.raises(GenesisError):
        genesis_storage({"feeds": []})


# ------------------------------------------------------------------------ determinism

_REPLAY = """
import sys
sys.path.insert(0, {here!r})
from oraclehelpers import OracleChain, E8, PUBLISHER_KEYS, CHAIN_ID, ETH
from strikevm.finance.oracle_layout import volatility_update
from strikevm.state.root import state_root
chain = OracleChain()
for i in range(6):
    chain.post({{0: ((3000 + 7 * i) * E8, E8), 1: ((3001 - 3 * i) * E8, 2 * E8), 2: ((2999 + i) * E8, E8)}})
    chain.relay(volatility_update(PUBLISHER_KEYS[0], ETH, chain.now + 86400, 5 * 10**17, -10**17, 10**17, chain.now, CHAIN_ID))
    chain.next_block()
print(state_root(chain.state).hex())
"""


def test_same_updates_give_the_same_root_in_other_processes() -> None:
    here = str(Path(__file__).resolve().parent)
    roots = set()
    for seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", _REPLAY.format(here=here)], env=env,
                             capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
        roots.add(out.stdout.strip())
    assert len(roots) == 1
    assert len(next(iter(roots))) == 64
    assert state_root  # the same function the subprocesses used
