"""StrikeClearinghouse end to end through JSON-RPC with web3.py and ``strikevm.client``.

One real ``strikevm node`` process (ephemeral dev chain) for the module; the tests run in
order and share its chain: the client's ABIs and EIP-712 digests, deposits, perp and option
fills (``fill`` and ``matchOrders``), an oracle move, an American put exercised, funding
accrued block by block, the switch of a hedged book to portfolio margin, expiry (the clock
moved with ``evm_setNextBlockTimestamp`` while the oracle stays fresh and the TWAP window
before expiry gets observations), settlement, withdrawals, events decoded by web3.py from
receipts and ``eth_getLogs``, and a cash slot and a position slot proved with
``eth_getProof``.

Accounts (dev mnemonic): 1 maker (sub 0 perps and futures, sub 1 options), 2 taker (same
split), 3 a hedged book in portfolio mode, 4 a relayer of matched orders; 6 relays oracle
updates signed by the dev publishers 7, 8, 9.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp as pyrlp
from eth_hash.auto import keccak
from trie import HexaryTrie
from web3 import Web3

from strikevm.client import (
    CLEARINGHOUSE,
    WAD,
    Clearinghouse,
    Oracle,
    StrikeRevert,
    dev_account,
    order_digest,
    sign_order,
    wad,
)
from strikevm.client_abi import CLEARINGHOUSE_ABI, ORACLE_ABI
from strikevm.finance import clearinghouse_layout as L
from strikevm.finance.margin import (
    FUTURE,
    PERP,
    MarketSpec,
    Position,
    UnderlyingMarks,
    portfolio_margin,
    standard_margin,
)
from strikevm.finance.oracle_layout import feed_id

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "rpc"))
from rpchelpers import NodeProcess  # noqa: E402

ETH_PERP, BTC_PERP, ETH_FUT = 0, 1, 2
CALL_3000, PUT_3000, AM_PUT_3000 = 5, 6, 9
USDC = 10**6
SCALE = 10**12  # wad -> USDC units
PUBLISHERS = [dev_account(i) for i in (7, 8, 9)]


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    answer = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


def latest_time(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def cash_delta(pnl_wad: int) -> int:
    """What the contract moves for a wad amount: rounded toward zero to USDC units."""
    return pnl_wad // SCALE if pnl_wad >= 0 else -((-pnl_wad) // SCALE)


@pytest.fixture(scope="module")
def node() -> Iterator[NodeProcess]:
    proc = NodeProcess(None).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def w3(node: NodeProcess) -> Web3:
    return Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))


@pytest.fixture(scope="module")
def ex(w3: Web3) -> dict[str, Any]:
    """The participants and what the tests remember between steps."""
    ch = Clearinghouse(w3)
    return {
        "maker": Clearinghouse(w3, dev_account(1)),
        "maker1": Clearinghouse(w3, dev_account(1), subaccount=1),
        "taker": Clearinghouse(w3, dev_account(2)),
        "taker1": Clearinghouse(w3, dev_account(2), subaccount=1),
        "hedger": Clearinghouse(w3, dev_account(3)),
        "relayer": Clearinghouse(w3, dev_account(4)),
        "oracle": Oracle(w3, dev_account(6)),
        "expiry": ch.market(ETH_FUT).expiry,
        "start": w3.eth.block_number,
    }


def post(ex: dict[str, Any], eth: str, at: int | None = None) -> Any:
    """Post ETH/USD, BTC/USD, the USD rate and the options' smile at ``at`` (default: now)."""
    return ex["oracle"].publish(
        PUBLISHERS, prices={"ETH/USD": eth, "BTC/USD": "60000"}, rates={"USD": "0.05"},
        smiles=[("ETH/USD", ex["expiry"], "0.6", "-0.1", "0.2")], publish_time=at,
    )  # fmt: skip


def test_abis_match_a_fresh_compilation() -> None:
    if importlib.util.find_spec("strikevm") is None:  # pragma: no cover
        pytest.skip("strikevm not importable")
    spec = importlib.util.spec_from_file_location("abi_build", ROOT / "contracts" / "abi_build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    fresh = build.compile_abis()
    assert fresh["CLEARINGHOUSE_ABI"] == CLEARINGHOUSE_ABI
    assert fresh["ORACLE_ABI"] == ORACLE_ABI


def test_eip712_digest_and_signature_match_the_layout(w3: Web3, ex: dict[str, Any]) -> None:
    maker = dev_account(1)
    order = L.Order(int(maker.address, 16), 1, CALL_3000, False, wad("2.5"), wad("123.45"),
                    1_900_000_000, 77, L.FLAG_POST_ONLY)  # fmt: skip
    chain_id = w3.eth.chain_id
    assert order_digest(order, chain_id) == L.order_digest(order, chain_id)
    from strikevm.chain.node import dev_accounts

    signed = sign_order(order, maker, chain_id)
    assert signed.signature == L.sign_order(order, dev_accounts()[1][1], chain_id)
    # the contract computes the same hash
    assert ex["maker"].contract.functions.orderHash(signed.tuple).call() == signed.hash


def test_deposits(w3: Web3, ex: dict[str, Any]) -> None:
    post(ex, "3000")
    usdc = ex["maker"].token("USDC")
    before = usdc.functions.balanceOf(dev_account(1).address).call()
    receipts = [
        ex["maker"].deposit("USDC", 200_000 * USDC),
        ex["maker1"].deposit("USDC", 200_000 * USDC),
        ex["taker"].deposit("USDC", 100_000 * USDC),
        ex["taker1"].deposit("USDC", 50_000 * USDC),
        ex["hedger"].deposit("USDC", 10_000 * USDC),
        ex["maker"].deposit("WETH", 10 * WAD),
    ]
    events = ex["maker"].events(receipts[0], ["Deposit"])
    assert len(events) == 1
    args = events[0]["args"]
    assert (args["owner"], args["subaccount"], args["amount"]) == (
        dev_account(1).address,
        0,
        200_000 * USDC,
    )
    assert usdc.functions.balanceOf(dev_account(1).address).call() == before - 400_000 * USDC
    assert ex["maker1"].cash() == 200_000 * USDC
    assert ex["maker"].collateral("WETH") == 10 * WAD
    state = ex["maker"].account()
    # cash + 10 WETH at 3000 less the 10% haircut
    assert state.collateral_value_wad == 200_000 * WAD + 27_000 * WAD
    assert state.equity == 227_000 and state.initial_margin == 0 and state.health == 227_000


def test_perp_fill_and_matched_orders(w3: Web3, ex: dict[str, Any]) -> None:
    maker, taker, relayer = ex["maker"], ex["taker"], ex["relayer"]
    bid = maker.place(ETH_PERP, True, wad(2), wad(3001))
    receipt = taker.fill(bid, wad(1))  # taker sells 1 into the bid
    fills = taker.events(receipt, ["Fill"])
    assert len(fills) == 1
    f = fills[0]["args"]
    assert (f["market"], f["maker"], f["taker"], f["takerIsBuy"], f["size"], f["price"]) == (
        ETH_PERP, dev_account(1).address, dev_account(2).address, False, WAD, wad(3001))  # fmt: skip
    assert f["makerOrder"] == bid.hash
    assert maker.filled(bid) == WAD

    # the rest of the bid is matched against a taker order by a third party
    ask = taker.place(ETH_PERP, False, wad(1), wad(3000))
    receipt = relayer.match(bid, ask, wad(1))
    f = relayer.events(receipt, ["Fill"])[0]["args"]
    assert (f["makerOrder"], f["takerOrder"], f["size"], f["price"]) == (
        bid.hash,
        ask.hash,
        WAD,
        wad(3001),
    )
    assert maker.position(ETH_PERP) == (2 * WAD, 2 * 3001 * WAD)
    assert taker.position(ETH_PERP) == (-2 * WAD, -2 * 3001 * WAD)
    with pytest.raises(StrikeRevert) as err:
        taker.fill(bid, wad(1))
    assert err.value.name == "Overfill"


def test_option_fills_move_premium_and_fees(w3: Web3, ex: dict[str, Any]) -> None:
    maker1, taker1 = ex["maker1"], ex["taker1"]
    cash = maker1.cash(), taker1.cash()
    call = maker1.place(CALL_3000, False, wad(4), wad(150))  # maker sells calls
    put = maker1.place(PUT_3000, True, wad(3), wad(100))  # and bids puts
    taker1.fill(call, wad(4))
    taker1.fill(put, wad(3))
    premium_in = 4 * 150 * USDC - 3 * 100 * USDC
    maker_fees = (4 * 150 + 3 * 100) * USDC * 2 // 10_000
    taker_fees = (4 * 150 + 3 * 100) * USDC * 5 // 10_000
    assert maker1.cash() - cash[0] == premium_in - maker_fees
    assert taker1.cash() - cash[1] == -premium_in - taker_fees
    assert taker1.position(CALL_3000) == (4 * WAD, 0)
    assert taker1.position(PUT_3000) == (-3 * WAD, 0)
    views = {p.market.id: p for p in taker1.positions()}
    assert set(views) == {CALL_3000, PUT_3000}
    assert views[CALL_3000].market.name.endswith("-3000-C")
    assert views[CALL_3000].mark is not None and views[CALL_3000].mark > 0
    # the account's P&L is the sum of the marks the client computes, as the contract does
    state = taker1.account()
    assert state.unrealized_pnl_wad == sum(v.value_wad for v in views.values())  # type: ignore[misc]
    assert state.initial_margin > 0  # the short puts


def test_fills_from_get_logs(w3: Web3, ex: dict[str, Any]) -> None:
    logs = ex["maker"].contract.events.Fill.get_logs(from_block=ex["start"])
    assert [e["args"]["market"] for e in logs] == [ETH_PERP, ETH_PERP, CALL_3000, PUT_3000]
    assert sum(e["args"]["size"] for e in logs) == 9 * WAD


def test_oracle_move_marks_the_perp(w3: Web3, ex: dict[str, Any]) -> None:
    post(ex, "3240")
    assert ex["oracle"].price("ETH/USD").price == 3240
    maker = ex["maker"]
    perp = {p.market.id: p for p in maker.positions()}[ETH_PERP]
    assert perp.mark == 3240 and perp.entry == 3001
    assert perp.pnl == 2 * (3240 - 3001)
    assert maker.account().unrealized_pnl_wad == 2 * (3240 - 3001) * WAD
    assert ex["taker"].account().unrealized_pnl_wad == -2 * (3240 - 3001) * WAD


def test_american_put_exercise(w3: Web3, ex: dict[str, Any]) -> None:
    maker1, taker1 = ex["maker1"], ex["taker1"]
    taker1.fill(maker1.place(AM_PUT_3000, False, wad(2), wad(60)))  # taker1 long 2 American puts
    with pytest.raises(StrikeRevert) as err:
        taker1.exercise(AM_PUT_3000, wad(1))
    assert err.value.name == "NotInTheMoney"  # spot 3240
    post(ex, "2980")
    cash = maker1.cash(), taker1.cash()
    receipt = taker1.exercise(AM_PUT_3000, wad(1))
    event = taker1.events(receipt, ["Exercise"])[0]["args"]
    assert (event["market"], event["owner"], event["subaccount"], event["size"], event["payout"]) == (
        AM_PUT_3000, dev_account(2).address, 1, WAD, 20 * USDC)  # fmt: skip
    assert taker1.cash() - cash[1] == 20 * USDC and maker1.cash() - cash[0] == -20 * USDC
    assert taker1.position(AM_PUT_3000) == (WAD, 0) and maker1.position(AM_PUT_3000) == (-WAD, 0)
    post(ex, "3240")


def test_funding_accrues_block_by_block(w3: Web3, ex: dict[str, Any]) -> None:
    maker, taker = ex["maker"], ex["taker"]
    start_block = w3.eth.block_number + 1
    index0 = maker.funding(ETH_PERP)[0]
    # steps shorter than the feed's staleness: each block's begin step sees a fresh price
    for _ in range(8):
        t = latest_time(w3) + 110
        rpc(w3, "evm_setNextBlockTimestamp", hex(t))
        post(ex, "3240", at=t)
    events = maker.contract.events.Funding.get_logs(
        from_block=start_block, argument_filters={"market": ETH_PERP}
    )
    assert len(events) >= 8
    index, _, last = maker.funding(ETH_PERP)
    assert events[-1]["args"]["index"] == index != index0
    assert last == latest_time(w3)
    assert events[-1]["args"]["indexPrice"] == wad(3240)

    # applied lazily: settleAccount moves exactly size * (index - index at last touch);
    # the long and the short pay opposite amounts
    paid = []
    for ch, size in ((maker, 2 * WAD), (taker, -2 * WAD)):
        key = L.account_key(int(ch.address, 16), 0)
        meta = int(w3.eth.get_storage_at(CLEARINGHOUSE, L.position_meta(key, ETH_PERP)).hex(), 16)
        touched_index = L.unpack_meta(meta)[0]
        before = ch.cash()
        receipt = ch.settle_account()
        index_now = ch.contract.functions.getFunding(ETH_PERP).call(
            block_identifier=receipt["blockNumber"]
        )[0]
        paid.append(cash_delta(size * (index_now - touched_index) // WAD))
        assert ch.cash() - before == -paid[-1]
    assert paid[0] != 0 and (paid[0] > 0) == (paid[1] < 0)


def test_portfolio_margin_of_a_hedged_book(w3: Web3, ex: dict[str, Any]) -> None:
    maker, hedger = ex["maker"], ex["hedger"]
    forward = maker.mark(ETH_FUT)
    assert forward is not None and forward > wad(3240)  # S e^{rT}, r = 5%
    hedger.fill(maker.place(ETH_PERP, False, wad(1), wad(3240)))  # hedger long 1 perp
    hedger.fill(maker.place(ETH_FUT, True, wad(1), forward // 10**14 * 10**14))  # short 1 future
    assert hedger.margin_mode() == "standard"
    standard, t_standard = hedger.account(), latest_time(w3)  # views run at the latest block

    receipt = hedger.set_margin_mode("portfolio")
    changed = hedger.events(receipt, ["MarginModeChanged"])[0]["args"]
    assert (changed["owner"], changed["mode"]) == (dev_account(3).address, 1)
    portfolio, t_portfolio = hedger.account(), latest_time(w3)
    assert hedger.margin_mode() == "portfolio"

    # the documented way: standard sums each leg; portfolio nets them to MinDelta risk
    # (1% of spot per hedged unit: net delta 0, gross 2) as MM, and IM = MM x 1.25
    spot = wad(3240)
    assert portfolio.maintenance_margin_wad == spot // 100
    assert portfolio.initial_margin_wad == -(-portfolio.maintenance_margin_wad * 125 // 100)
    assert portfolio.initial_margin_wad < standard.initial_margin_wad / 3
    assert portfolio.maintenance_margin_wad < standard.maintenance_margin_wad / 2

    # and both equal the margin library on the same marks
    underlying = feed_id("ETH/USD")
    positions = [
        Position(MarketSpec(ETH_PERP, PERP, underlying), *hedger.position(ETH_PERP)),
        Position(
            MarketSpec(ETH_FUT, FUTURE, underlying, expiry=ex["expiry"]), *hedger.position(ETH_FUT)
        ),
    ]
    marks = {underlying: UnderlyingMarks(spot=spot, rate=wad("0.05"), vols={})}
    std = standard_margin(positions, marks, t_standard)
    pm = portfolio_margin(positions, marks, t_portfolio)
    assert (standard.initial_margin_wad, standard.maintenance_margin_wad) == (std.im, std.mm)
    assert (portfolio.initial_margin_wad, portfolio.maintenance_margin_wad) == (pm.im, pm.mm)
    assert portfolio.unrealized_pnl_wad == pm.value


def test_expiry_settles(w3: Web3, ex: dict[str, Any]) -> None:
    maker1, taker1, expiry = ex["maker1"], ex["taker1"], ex["expiry"]
    # observations for the settlement TWAP of the 30 minutes before expiry:
    # 3200 from expiry - 1860, 3400 from expiry - 900
    for t, price in ((expiry - 1860, "3200"), (expiry - 900, "3400")):
        rpc(w3, "evm_setNextBlockTimestamp", hex(t))
        post(ex, price, at=t)
    with pytest.raises(StrikeRevert) as err:
        taker1.settle(CALL_3000)
    assert err.value.name == "MarketNotExpired"
    rpc(w3, "evm_setNextBlockTimestamp", hex(expiry + 5))
    rpc(w3, "evm_mine")
    assert latest_time(w3) == expiry + 5
    post(ex, "3400")  # keep marks fresh after expiry
    settle_price = (3200 * 900 + 3400 * 900) // 1800
    cash = maker1.cash(), taker1.cash()
    start = w3.eth.block_number + 1
    for m in (ETH_FUT, CALL_3000, PUT_3000, AM_PUT_3000):
        receipt = taker1.settle(m)
        event = taker1.events(receipt, ["Settle"])[0]["args"]
        assert (event["market"], event["price"]) == (m, wad(settle_price))
        assert taker1.market(m).settled
    logs = taker1.contract.events.Settle.get_logs(from_block=start)
    assert [e["args"]["market"] for e in logs] == [ETH_FUT, CALL_3000, PUT_3000, AM_PUT_3000]
    # the view already counts the pending settlement: 4 calls pay 300 each, the puts nothing
    assert taker1.account().collateral_value_wad == (cash[1] + 4 * 300 * USDC) * SCALE
    taker1.settle_account()
    maker1.settle_account()
    assert taker1.cash() - cash[1] == 4 * 300 * USDC
    assert maker1.cash() - cash[0] == -4 * 300 * USDC
    assert taker1.positions() == [] and maker1.positions() == []
    # the future settles at the TWAP against its cost
    hedger = ex["hedger"]
    size, cost = hedger.position(ETH_FUT)
    before = hedger.cash()
    index = hedger.contract.functions.getFunding(ETH_PERP).call()[0]
    key = L.account_key(int(hedger.address, 16), 0)
    touched = L.unpack_meta(
        int(w3.eth.get_storage_at(CLEARINGHOUSE, L.position_meta(key, ETH_PERP)).hex(), 16)
    )[0]
    receipt = hedger.settle_account()
    index = hedger.contract.functions.getFunding(ETH_PERP).call(
        block_identifier=receipt["blockNumber"]
    )[0]
    funding = -cash_delta(WAD * (index - touched) // WAD)
    assert hedger.cash() - before == cash_delta(size * wad(settle_price) // WAD - cost) + funding
    assert hedger.position(ETH_FUT) == (0, 0)


def test_withdrawals(w3: Web3, ex: dict[str, Any]) -> None:
    taker1 = ex["taker1"]
    usdc = taker1.token("USDC")
    wallet = usdc.functions.balanceOf(dev_account(2).address).call()
    cash = taker1.cash()
    receipt = taker1.withdraw("USDC", cash)
    event = taker1.events(receipt, ["Withdraw"])[0]["args"]
    assert (event["owner"], event["subaccount"], event["amount"]) == (
        dev_account(2).address,
        1,
        cash,
    )
    assert usdc.functions.balanceOf(dev_account(2).address).call() == wallet + cash
    assert taker1.cash() == 0
    logs = taker1.contract.events.Withdraw.get_logs(from_block=receipt["blockNumber"])
    assert [log["args"]["amount"] for log in logs] == [cash]
    # the hedged book (still long the perp) cannot withdraw below initial margin
    with pytest.raises(StrikeRevert) as err:
        ex["hedger"].withdraw("USDC", ex["hedger"].cash())
    assert err.value.name == "BelowInitialMargin"


def _prove(w3: Web3, slot: int, block: str = "latest") -> int:
    proof = rpc(w3, "eth_getProof", CLEARINGHOUSE, [hex(slot)], block)
    header = rpc(w3, "eth_getBlockByNumber", block, False)
    root = bytes.fromhex(header["stateRoot"][2:])
    nodes = [pyrlp.decode(bytes.fromhex(p[2:])) for p in proof["accountProof"]]
    account = pyrlp.decode(
        HexaryTrie.get_from_proof(root, keccak(L.CLEARINGHOUSE_ADDRESS.to_bytes(20, "big")), nodes)
    )
    entry = proof["storageProof"][0]
    nodes = [pyrlp.decode(bytes.fromhex(p[2:])) for p in entry["proof"]]
    raw = HexaryTrie.get_from_proof(account[2], keccak(slot.to_bytes(32, "big")), nodes)
    value = int.from_bytes(pyrlp.decode(raw), "big") if raw else 0
    assert value == int(entry["value"], 16)
    return value


def test_cash_and_position_proved_with_get_proof(w3: Web3, ex: dict[str, Any]) -> None:
    maker = ex["maker"]
    key = L.account_key(int(maker.address, 16), 0)
    cash = _prove(w3, L.cash(key))
    assert L.signed(cash, 256) == maker.cash()
    packed = _prove(w3, L.position(key, ETH_PERP))
    assert L.unpack_position(packed) == maker.position(ETH_PERP)
    assert L.unpack_position(packed)[0] == WAD  # 2 bought, 1 sold to the hedger
    # a withdrawn account's cash slot proves zero (absent from the trie)
    taker_key = L.account_key(int(ex["taker1"].address, 16), 1)
    assert _prove(w3, L.cash(taker_key)) == 0
