"""StrikeClearinghouse: margin through the contract, matchOrders in process, and matched
orders per second through the node on disk.

    .venv/bin/python bench/bench_clearinghouse.py [--runs 200] [--matches 300]
        [--node-matches 3000] [--clients 10] [--mode wait|flood] [--market perp|option]
        [--skip-node] [--profile] [--json] [--workdir DIR]

1. **Margin through the contract.** An in-process chain (the block pipeline, StrikeOracle,
   the dev tokens, StrikeClearinghouse) with its own genesis: ETH/USD and BTC/USD feeds and
   102 markets (per underlying: a perpetual, two futures, 48 options: four expiries of 7-60
   days x six strikes 0.8-1.1 x spot x call/put). A 20-position account (per underlying:
   the perp and 9 options) and a 100-position account (per underlying: the perp, both
   futures and 47 options) are built by signed fills against a maker. Then ``getAccount``
   is called as a static message to the clearinghouse (``EVM.process_message``: calldata
   decoding, storage reads, the oracle static calls, the margin engine, gas) in standard
   and in portfolio mode (``setMarginMode``). "first": the portfolio revaluation memo is
   emptied before every call (every option priced in all scenarios); "cached": the memo
   already holds this block's revaluations (another call in the same block). Median
   microseconds of ``--runs`` calls, and the gas of one call.
2. **matchOrders in process.** Two fresh standard-margin accounts; a relayer sends
   pre-signed ``matchOrders`` transactions (distinct maker and taker orders each time) into
   the block builder; median microseconds of ``BlockBuilder.add`` (transaction checks,
   three signatures: the transaction's and both orders', the fill, both margin checks,
   the receipt) and the gas, for an ETH perpetual and an ETH call. ``--profile`` prints the
   ``cProfile`` hot spots of the perpetual case per matchOrders.
3. **Through the node on disk.** ``strikevm node --datadir TMP`` (the dev genesis: its
   clearinghouse, dev USDC and markets). Untimed setup: 20 trading accounts (a maker and a
   taker per client) receive ETH and USDC and deposit it; oracle prices are posted. All
   ``matchOrders`` transactions are signed before the clock starts (relayers: dev accounts
   0-9, one per client, so no two clients share a nonce sequence). Timed: ``--clients``
   threads, each with its own keep-alive HTTP connection, send their relayer's
   transactions through ``eth_sendRawTransaction`` (``wait``: each waits for its receipt,
   as ``bench_rpc_throughput.py`` does by default; ``flood``: send all, then wait) until
   every one is mined. Then the same clients send as many plain ERC-20 transfers (dev
   USDC) in the same node. An oracle thread keeps the prices fresh during both phases
   (blocks run ahead of the wall clock: each block is at least one second after its
   parent). Afterwards every receipt is checked (status 1, a ``Fill`` log; a ``Transfer``
   log) and the positions and balances are read back.

Timings are for people; nothing asserts them. The goals the owner set: at least 500
matched orders per second through the node and at most 1 ms for the 20-position portfolio
margin.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import os
import platform
import pstats
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "finance"))
sys.path.insert(0, str(ROOT / "tests" / "clients"))

from chhelpers import ORDER_TUPLE, _a, order_tuple, selector  # noqa: E402
from eth_abi import decode as eth_decode  # noqa: E402
from eth_abi import encode as eth_encode  # noqa: E402
from oraclehelpers import CHAIN_ID, E8, PUBLISHER_KEYS, address, feed_spec, key, oracle_config  # noqa: E402

from strikevm.chain.executor import BlockGasExhausted  # noqa: E402
from strikevm.chain.pipeline import BlockBuilder  # noqa: E402
from strikevm.chain.transaction import Transaction, intrinsic_gas, sign_transaction  # noqa: E402
from strikevm.finance.clearinghouse import EV_FILL  # noqa: E402
from strikevm.finance.clearinghouse_layout import CLEARINGHOUSE_ADDRESS, Order, sign_order  # noqa: E402
from strikevm.finance.dev_tokens import USDC_ADDRESS, WETH_ADDRESS, dev_token_accounts  # noqa: E402
from strikevm.finance.genesis import apply_genesis  # noqa: E402
from strikevm.finance.margin import DEFAULT_PM, MarketSpec, UnderlyingMarks, option_mark  # noqa: E402
from strikevm.finance.oracle_layout import (  # noqa: E402
    ORACLE_ADDRESS,
    feed_id,
    price_update,
    rate_update,
    volatility_update,
)
from strikevm.finance.system import default_registry  # noqa: E402
from strikevm.state.account import Account  # noqa: E402
from strikevm.state.world import WorldState  # noqa: E402
from strikevm.vm.env import BlockEnv, Message, TxEnv  # noqa: E402
from strikevm.vm.evm import EVM  # noqa: E402

WAD = 10**18
USDC = 10**6
DAY = 86_400
T0 = 1_800_000_000
CH = CLEARINGHOUSE_ADDRESS
BLOCK_GAS = 400_000_000  # room for a whole profiled run in one block
SPOTS = {"ETH/USD": 3_000, "BTC/USD": 70_000}
VOLS = {"ETH/USD": 60, "BTC/USD": 50}  # percent
EXPIRY_DAYS = (7, 14, 30, 60)
STRIKES = (80, 90, 95, 100, 105, 110)  # percent of spot
KEYS = [key(700 + i) for i in range(6)]
HOLDERS = [address(k) for k in KEYS]
MATCH_SIG = f"matchOrders({ORDER_TUPLE},bytes,{ORDER_TUPLE},bytes,uint256)"
FILL_SIG = f"fill({ORDER_TUPLE},bytes,uint256,uint32)"
GET_ACCOUNT = selector("getAccount(address,uint32)")


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


# ============================================================ in-process chain


def bench_markets() -> tuple[list[dict[str, Any]], dict[str, dict[str, list[int]]]]:
    """102 markets and, per underlying, the ids of its perp, futures and options."""
    markets: list[dict[str, Any]] = []
    ids: dict[str, dict[str, list[int]]] = {}
    for name, spot in SPOTS.items():
        mine: dict[str, list[int]] = {"perp": [], "future": [], "option": []}
        mine["perp"].append(len(markets))
        markets.append({"kind": 1, "underlying": name})
        for days in EXPIRY_DAYS[1:3]:
            mine["future"].append(len(markets))
            markets.append({"kind": 2, "underlying": name, "expiry": T0 + days * DAY})
        for days in EXPIRY_DAYS:
            for pct in STRIKES:
                for is_call in (1, 0):
                    mine["option"].append(len(markets))
                    markets.append({"kind": 3, "underlying": name, "expiry": T0 + days * DAY,
                                    "strike": spot * pct // 100 * WAD, "is_call": is_call})  # fmt: skip
        ids[name] = mine
    return markets, ids


class Chain:
    """World state + block pipeline + the bench genesis; signed transactions only."""

    def __init__(self) -> None:
        self.system = default_registry()
        self.markets, self.ids = bench_markets()
        self.state = WorldState({a: Account(balance=10**24) for a in HOLDERS})
        rate_feed = feed_spec("USD", kind="rate", decimals=18, maxDeviationBps=0, twapCapacity=0)
        config = {
            "accounts": dev_token_accounts(HOLDERS),
            "oracle": oracle_config(feed_spec("ETH/USD"), feed_spec("BTC/USD"), rate_feed),
            "clearinghouse": {
                "admin": f"0x{HOLDERS[0]:040x}",
                "rateFeed": "USD",
                "collateral": [
                    {"token": f"0x{USDC_ADDRESS:040x}", "decimals": 6},
                    {"token": f"0x{WETH_ADDRESS:040x}", "decimals": 18, "haircutBps": 1000, "feed": "ETH/USD"},
                ],
                "markets": self.markets,
            },
        }  # fmt: skip
        apply_genesis(self.state, self.system, config)
        self.nonces: dict[bytes, int] = {}
        self.env = BlockEnv(number=1, timestamp=T0, base_fee=7, chain_id=CHAIN_ID, gas_limit=BLOCK_GAS)
        self.builder: BlockBuilder | None = None
        self.open()

    def open(self) -> None:
        self.builder = BlockBuilder(self.state, self.env, system=self.system)
        self.builder.begin()

    def close(self) -> None:
        assert self.builder is not None
        self.builder.finish()
        self.builder = None

    def next_block(self, seconds: int = 12) -> None:
        if self.builder is not None:
            self.close()
        e = self.env
        self.env = BlockEnv(number=e.number + 1, timestamp=e.timestamp + seconds, base_fee=7,
                            chain_id=CHAIN_ID, gas_limit=BLOCK_GAS)  # fmt: skip
        self.open()

    def sign(self, key_: bytes, to: int | None, data: bytes, gas: int = 3_000_000) -> Transaction:
        nonce = self.nonces.get(key_, 0)
        self.nonces[key_] = nonce + 1
        return sign_transaction(key_, tx_type=2, chain_id=CHAIN_ID, nonce=nonce, gas_limit=gas, to=to,
                                data=data, max_priority_fee_per_gas=1, max_fee_per_gas=10)  # fmt: skip

    def send(self, key_: bytes, to: int | None, data: bytes, gas: int = 3_000_000) -> Any:
        assert self.builder is not None
        tx = self.sign(key_, to, data, gas)
        try:
            result = self.builder.add(tx)
        except BlockGasExhausted:  # the block is full: the next one (same prices, fresh)
            self.next_block()
            if to != ORACLE_ADDRESS:
                self.prices()
            result = self.builder.add(tx)
        assert result.success, (to, result.output.hex(), result.error, result.gas_used)
        return result

    def ch(self, key_: bytes, signature: str, types: list[str], args: list[Any], gas: int = 3_000_000) -> Any:
        return self.send(key_, CH, selector(signature) + eth_encode(types, args), gas)

    def prices(self) -> None:
        now = self.env.timestamp
        ups = []
        for name, spot in SPOTS.items():
            feed = feed_id(name)
            ups += [price_update(k, feed, spot * E8, E8 // 10, now, CHAIN_ID) for k in PUBLISHER_KEYS]
            for days in EXPIRY_DAYS:
                ups += [volatility_update(k, feed, T0 + days * DAY, VOLS[name] * WAD // 100, -WAD // 10,
                                          WAD // 5, now, CHAIN_ID) for k in PUBLISHER_KEYS]  # fmt: skip
        ups += [rate_update(k, feed_id("USD"), 4 * WAD // 100, now, CHAIN_ID) for k in PUBLISHER_KEYS]
        self.send(KEYS[5], ORACLE_ADDRESS, selector("updatePrices(bytes[])") + eth_encode(["bytes[]"], [ups]))

    def deposit(self, i: int, sub: int, amount: int) -> None:
        approve = selector("approve(address,uint256)") + eth_encode(["address", "uint256"], [_a(CH), amount])
        self.send(KEYS[i], USDC_ADDRESS, approve)
        self.ch(KEYS[i], "deposit(uint32,address,uint256)", ["uint32", "address", "uint256"], [sub, _a(USDC_ADDRESS), amount])

    def order(self, i: int, sub: int, market: int, is_buy: bool, size: int, price: int, nonce: int) -> tuple[Order, bytes]:
        order = Order(HOLDERS[i], sub, market, is_buy, size, price, T0 + 365 * DAY, nonce, 0)
        return order, sign_order(order, KEYS[i], CHAIN_ID)

    def fair_price(self, m: int) -> int:
        spec = self.markets[m]
        spot = SPOTS[spec["underlying"]] * WAD
        if spec["kind"] != 3:
            return spot
        ms = MarketSpec(m, 3, 0, expiry=spec["expiry"], strike=spec["strike"], is_call=bool(spec["is_call"]))
        mark = option_mark(ms, UnderlyingMarks(spot, 0, {m: VOLS[spec["underlying"]] * WAD // 100}), self.env.timestamp)
        return max(mark // WAD, 1) * WAD

    def view(self, data: bytes, caller: int = 0) -> tuple[bool, int, bytes]:
        """A static message to the clearinghouse between blocks: (success, gas used, output)."""
        st = self.state
        st.begin_transaction()
        evm = EVM(st, self.env, TxEnv(origin=caller), system=self.system)
        gas = 30_000_000
        result = evm.process_message(Message(caller, CH, 0, data, gas, st.code(CH), CH, is_static=True))
        st.finalize_transaction()
        return result.success, gas - result.gas_left, result.output


# ============================================================= 1. margin


def build_account(chain: Chain, taker: int, maker: int, sub: int, markets: list[int], seed: int) -> None:
    """The taker's subaccount ``sub`` gets one position in each market (signed fills)."""
    rng = random.Random(seed)
    for n, m in enumerate(markets):
        spec = chain.markets[m]
        unit = WAD if spec["underlying"] == "ETH/USD" else WAD // 20
        size = rng.randint(1, 6) * unit // 2
        order, sig = chain.order(maker, sub, m, rng.random() < 0.5, size, chain.fair_price(m), nonce=n)
        chain.ch(KEYS[taker], FILL_SIG, [ORDER_TUPLE, "bytes", "uint256", "uint32"], [order_tuple(order), sig, size, sub], 25_000_000)


def margin_accounts(chain: Chain) -> dict[int, int]:
    """Subaccounts 1 (20 positions) and 2 (100 positions) of holder 0; returns {sub: positions}."""
    eth, btc = chain.ids["ETH/USD"], chain.ids["BTC/USD"]
    twenty = [*eth["perp"], *eth["option"][::5][:9], *btc["perp"], *btc["option"][::5][:9]]
    hundred = [*eth["perp"], *eth["future"], *eth["option"][:47], *btc["perp"], *btc["future"], *btc["option"][:47]]
    assert len(twenty) == 20 and len(hundred) == 100
    for sub, markets in ((1, twenty), (2, hundred)):
        chain.deposit(0, sub, 400_000 * USDC)
        chain.deposit(1, sub, 400_000 * USDC)
        build_account(chain, taker=0, maker=1, sub=sub, markets=markets, seed=sub)
    return {1: len(twenty), 2: len(hundred)}


def bench_margin(chain: Chain, runs: int) -> list[dict[str, Any]]:
    out = []
    sizes = margin_accounts(chain)
    for sub, count in sizes.items():
        for mode, name in ((0, "standard"), (1, "portfolio")):
            chain.ch(KEYS[0], "setMarginMode(uint32,uint8)", ["uint32", "uint8"], [sub, mode], 25_000_000)
            chain.next_block()
            chain.prices()
            chain.close()  # views between blocks, at the time of the block just built
            data = GET_ACCOUNT + eth_encode(["address", "uint32"], [_a(HOLDERS[0]), sub])
            ok, gas, output = chain.view(data)
            assert ok, output.hex()
            got = eth_decode(["int256", "int256", "int256", "uint256", "uint256", "int256"], output)
            first: list[float] = []
            cached: list[float] = []
            first_cpu: list[float] = []
            cached_cpu: list[float] = []
            for _ in range(runs):
                DEFAULT_PM.memo.clear()
                for wall, cpu in ((first, first_cpu), (cached, cached_cpu)):
                    t, c = time.perf_counter(), time.thread_time()
                    chain.view(data)
                    wall.append(time.perf_counter() - t)
                    cpu.append(time.thread_time() - c)
            out.append({"positions": count, "mode": name, "first_us": _us(first), "cached_us": _us(cached),
                        "first_cpu_us": _us(first_cpu), "cached_cpu_us": _us(cached_cpu),
                        "gas": gas, "equity": got[2], "im": got[3], "mm": got[4]})  # fmt: skip
            chain.open()
    return out


# ========================================================= 2. matchOrders


def match_txs(chain: Chain, maker: int, taker: int, relayer: int, market: int, count: int, start_nonce: int) -> list[Transaction]:
    """``count`` pre-signed matchOrders: the maker sells, the taker buys, fresh orders each."""
    price = chain.fair_price(market)
    size = WAD // 10
    txs = []
    for n in range(start_nonce, start_nonce + count):
        mo = chain.order(maker, 0, market, False, size, price, nonce=n)
        to = chain.order(taker, 0, market, True, size, price, nonce=n)
        data = selector(MATCH_SIG) + eth_encode([ORDER_TUPLE, "bytes", ORDER_TUPLE, "bytes", "uint256"],
                                                [order_tuple(mo[0]), mo[1], order_tuple(to[0]), to[1], size])  # fmt: skip
        txs.append(chain.sign(KEYS[relayer], CH, data, gas=1_000_000))
    return txs


def run_txs(chain: Chain, txs: list[Transaction], per_block: int = 100) -> tuple[list[float], list[int], list[int], list[float]]:
    seconds: list[float] = []
    cpu: list[float] = []
    gas: list[int] = []
    exec_gas: list[int] = []
    for k, tx in enumerate(txs):
        if k and k % per_block == 0:
            chain.next_block()
            chain.prices()
        assert chain.builder is not None
        t, c = time.perf_counter(), time.thread_time()
        result = chain.builder.add(tx)
        seconds.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
        assert result.success and any(log.topics[0] == EV_FILL for log in result.logs), result.output.hex()
        gas.append(result.gas_used)
        exec_gas.append(result.gas_used - intrinsic_gas(tx))
    return seconds, gas, exec_gas, cpu


def bench_match(chain: Chain, count: int, profile: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    chain.next_block()
    chain.prices()
    for i in (2, 3):
        chain.deposit(i, 0, 500_000 * USDC)
    eth = chain.ids["ETH/USD"]
    atm_call = next(m for m in eth["option"] if chain.markets[m]["strike"] == 3000 * WAD and chain.markets[m]["is_call"]
                    and chain.markets[m]["expiry"] == T0 + 30 * DAY)  # fmt: skip
    rows = []
    hot: list[dict[str, Any]] = []
    nonce = 0
    for name, market in (("perp", eth["perp"][0]), ("option", atm_call)):
        warm = match_txs(chain, 2, 3, 4, market, 5, nonce)  # opens the positions: first writes
        nonce += 5
        first_gas = run_txs(chain, warm)[1][0]
        txs = match_txs(chain, 2, 3, 4, market, count, nonce)
        nonce += count
        chain.next_block()
        chain.prices()
        seconds, gas, exec_gas, cpu = run_txs(chain, txs)
        rows.append({"market": name, "us": _us(seconds), "cpu_us": _us(cpu), "gas_used": int(statistics.median(gas)),
                     "exec_gas": int(statistics.median(exec_gas)), "count": count,
                     "first_gas_used": first_gas})  # fmt: skip
        if profile:
            txs = match_txs(chain, 2, 3, 4, market, count, nonce)
            nonce += count
            chain.next_block()
            chain.prices()
            prof = cProfile.Profile()
            prof.enable()
            run_txs(chain, txs, per_block=10**9)
            prof.disable()
            hot += [{**r, "market": name} for r in hot_spots(prof, count)]
    return rows, hot


def hot_spots(prof: cProfile.Profile, count: int, top: int = 25) -> list[dict[str, Any]]:
    stats = pstats.Stats(prof)
    rows = []
    for (path, line, func), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{Path(path).name}:{line}({func})" if line else func
        if "/strikevm/" in path:
            where = path.split("/strikevm/", 1)[1] + f":{line}({func})"
        rows.append({"function": where, "calls_per_match": calls / count,
                     "self_us": tottime / count * 1e6, "cum_us": cumtime / count * 1e6})  # fmt: skip
    by_self = sorted(rows, key=lambda r: -r["self_us"])[:top]
    by_cum = sorted((r for r in rows if r["function"].endswith(")") and ".py:" in r["function"]
                     and not r["function"].startswith(("bench_", "threading"))),
                    key=lambda r: -r["cum_us"])[:top]  # fmt: skip
    return [{**r, "sort": "self"} for r in by_self] + [{**r, "sort": "cum"} for r in by_cum]


# ===================================================== 3. through the node


class Rpc:
    """A keep-alive HTTP/1.1 JSON-RPC connection."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.next_id = 0

    def call(self, method: str, params: list[Any]) -> Any:
        self.next_id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        self.conn.request("POST", "/", body, {"Content-Type": "application/json"})
        reply = json.loads(self.conn.getresponse().read())
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def receipt(self, tx_hash: str, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.call("eth_getTransactionReceipt", [tx_hash])
            if got is not None:
                return got
            if time.monotonic() > deadline:
                raise RuntimeError(f"transaction {tx_hash} not mined in time")
            time.sleep(0.005)

    def send(self, raw: str, tx_hash: str) -> None:
        returned = self.call("eth_sendRawTransaction", [raw])
        if returned.lower() != tx_hash:
            raise RuntimeError(f"eth_sendRawTransaction returned {returned}, not {tx_hash}")

    def send_ok(self, raw_hash: tuple[str, str]) -> dict[str, Any]:
        self.send(*raw_hash)
        got = self.receipt(raw_hash[1])
        if int(got["status"], 16) != 1:
            tx = self.call("eth_getTransactionByHash", [raw_hash[1]])
            reply = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "gas": tx["gas"]}
            try:
                self.call("eth_call", [reply, "latest"])
                why = "no revert when replayed"
            except RuntimeError as exc:
                why = str(exc)
            raise RuntimeError(f"setup transaction {raw_hash[1]} failed: {why}")
        return got

    def eth_call(self, to: int, data: bytes) -> bytes:
        return bytes.fromhex(self.call("eth_call", [{"to": _a(to), "data": "0x" + data.hex()}, "latest"])[2:])

    def close(self) -> None:
        self.conn.close()


class Signer:
    """Signs with local nonces; raw transactions as the node takes them."""

    def __init__(self, chain_id: int) -> None:
        self.chain_id = chain_id
        self.nonces: dict[bytes, int] = {}

    def tx(self, key_: bytes, to: int, data: bytes = b"", gas: int = 400_000, value: int = 0) -> tuple[str, str]:
        from strikevm.chain.transaction import encode_transaction

        nonce = self.nonces.get(key_, 0)
        self.nonces[key_] = nonce + 1
        tx = sign_transaction(key_, tx_type=2, chain_id=self.chain_id, nonce=nonce, gas_limit=gas, to=to,
                              data=data, value=value, max_priority_fee_per_gas=10**9,
                              max_fee_per_gas=50 * 10**9)  # fmt: skip
        return "0x" + encode_transaction(tx).hex(), "0x" + tx.hash.hex()


def node_markets(rpc: Rpc) -> dict[str, tuple[int, int]]:
    """The dev genesis' ETH perpetual and ETH 3000 call: name -> (market id, expiry)."""
    count = eth_decode(["uint32"], rpc.eth_call(CH, selector("marketCount()")))[0]
    eth = feed_id("ETH/USD").to_bytes(32, "big")
    found: dict[str, tuple[int, int]] = {}
    for m in range(count):
        got = eth_decode(["uint8", "bytes32", "uint64", "uint256", "bool", "bool", "uint8", "uint256"],
                         rpc.eth_call(CH, selector("getMarket(uint32)") + eth_encode(["uint32"], [m])))  # fmt: skip
        kind, underlying, expiry, strike, is_call, american = got[:6]
        if underlying != eth:
            continue
        if kind == 1:
            found.setdefault("perp", (m, 0))
        elif kind == 3 and strike == 3000 * WAD and is_call and not american:
            found.setdefault("option", (m, expiry))
    return found


class PriceKeeper(threading.Thread):
    """Keeps ETH/USD (and the option expiry's vol, the USD rate) fresh: blocks run ahead of
    the wall clock, and a margin check needs a price no older than the feed's staleness."""

    def __init__(self, port: int, signer: Signer, relayer: bytes, publishers: list[bytes], expiry: int) -> None:
        super().__init__(daemon=True)
        self.rpc = Rpc(port)
        self.signer, self.relayer, self.publishers, self.expiry = signer, relayer, publishers, expiry
        self.stop = threading.Event()
        self.last = 0
        self.posts = 0
        self.errors: list[str] = []

    def post(self) -> None:
        ts = int(self.rpc.call("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
        if ts <= self.last:
            return
        chain_id = self.signer.chain_id
        ups = [price_update(k, feed_id("ETH/USD"), 3000 * E8, E8 // 10, ts, chain_id) for k in self.publishers]
        ups += [volatility_update(k, feed_id("ETH/USD"), self.expiry, 6 * WAD // 10, 0, 0, ts, chain_id)
                for k in self.publishers]  # fmt: skip
        ups += [rate_update(k, feed_id("USD"), 0, ts, chain_id) for k in self.publishers]
        data = selector("updatePrices(bytes[])") + eth_encode(["bytes[]"], [ups])
        self.rpc.send_ok(self.signer.tx(self.relayer, ORACLE_ADDRESS, data, gas=2_000_000))
        self.last = ts
        self.posts += 1

    def run(self) -> None:
        try:
            while not self.stop.wait(0.25):
                self.post()
        except Exception as exc:  # reported with the result
            self.errors.append(repr(exc))
        finally:
            self.rpc.close()


def _client(port: int, queue: list[tuple[str, str]], wait: bool, errors: list[str]) -> None:
    rpc = Rpc(port)
    try:
        for raw, tx_hash in queue:
            rpc.send(raw, tx_hash)
            if wait:
                rpc.receipt(tx_hash)
    except Exception as exc:  # reported with the result
        errors.append(repr(exc))
    finally:
        rpc.close()


def timed(port: int, queues: list[list[tuple[str, str]]], wait: bool) -> tuple[float, int]:
    """Send every queue from its own thread; seconds until the last is mined, and blocks."""
    rpc = Rpc(port)
    start_block = int(rpc.call("eth_blockNumber", []), 16)
    errors: list[str] = []
    threads = [threading.Thread(target=_client, args=(port, q, wait, errors)) for q in queues]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"sending failed: {errors[0]}")
    for q in queues:
        rpc.receipt(q[-1][1])
    elapsed = time.perf_counter() - t0
    blocks = int(rpc.call("eth_blockNumber", []), 16) - start_block
    rpc.close()
    return elapsed, blocks


def bench_node(matches: int, clients: int, mode: str, market_name: str, workdir: Path | None) -> dict[str, Any]:
    from devnode import CHAIN_ID as NODE_CHAIN
    from devnode import dev_accounts, start_node

    devs = [bytes(a.key) for a in dev_accounts()]
    signer = Signer(NODE_CHAIN)
    makers = [key(900 + c) for c in range(clients)]
    takers = [key(950 + c) for c in range(clients)]
    keeper = key(999)
    fill_topic = "0x" + EV_FILL.to_bytes(32, "big").hex()
    transfer = selector("transfer(address,uint256)")
    stake = 200_000 * USDC
    with start_node("strikevm", workdir) as node:
        rpc = Rpc(node.port)
        found = node_markets(rpc)
        market, expiry = found[market_name]
        option_expiry = found["option"][1]
        # ---- untimed setup: fund and deposit, a first match per pair (opens the positions)
        _log(f"node on port {node.port}: funding {2 * clients} trading accounts")
        for c in range(clients):
            dev = devs[c]
            for who in (makers[c], takers[c]):
                rpc.send_ok(signer.tx(dev, address(who), gas=21_000, value=10**18))
                rpc.send_ok(signer.tx(dev, USDC_ADDRESS, transfer + eth_encode(["address", "uint256"], [_a(address(who)), stake]), gas=100_000))
        rpc.send_ok(signer.tx(devs[0], address(keeper), gas=21_000, value=10**18))
        for who in (*makers, *takers):
            approve = selector("approve(address,uint256)") + eth_encode(["address", "uint256"], [_a(CH), stake])
            rpc.send_ok(signer.tx(who, USDC_ADDRESS, approve, gas=100_000))
            deposit = selector("deposit(uint32,address,uint256)") + eth_encode(["uint32", "address", "uint256"], [0, _a(USDC_ADDRESS), stake])
            rpc.send_ok(signer.tx(who, CH, deposit, gas=1_000_000))
        keeper_thread = PriceKeeper(node.port, signer, keeper, [devs[i] for i in (7, 8, 9)], option_expiry)
        keeper_thread.post()
        price = 3000 * WAD if market_name == "perp" else 100 * WAD
        size = WAD // 100
        far = 2**40
        per_client = [matches // clients + (1 if c < matches % clients else 0) for c in range(clients)]

        def match(c: int, n: int) -> tuple[str, str]:
            mo = Order(address(makers[c]), 0, market, False, size, price, far, n, 0)
            to = Order(address(takers[c]), 0, market, True, size, price, far, n, 0)
            args = [order_tuple(mo), sign_order(mo, makers[c], NODE_CHAIN), order_tuple(to), sign_order(to, takers[c], NODE_CHAIN), size]
            data = selector(MATCH_SIG) + eth_encode([ORDER_TUPLE, "bytes", ORDER_TUPLE, "bytes", "uint256"], args)
            return signer.tx(devs[c], CH, data, gas=1_500_000)

        for c in range(clients):
            got = rpc.send_ok(match(c, 0))
            if not any(log["topics"][0] == fill_topic for log in got["logs"]):
                raise RuntimeError("the first match did not fill")
        _log(f"signing {matches} matchOrders and {matches} transfers ...")
        match_queues = [[match(c, n) for n in range(1, per_client[c] + 1)] for c in range(clients)]
        recipients = [address(key(5000 + r)) for r in range(200)]
        transfer_queues = []
        expected: dict[int, int] = {}
        for c in range(clients):
            queue = []
            for n in range(per_client[c]):
                to, amount = recipients[(n * clients + c) % len(recipients)], 1 + n % 97
                queue.append(signer.tx(devs[c], USDC_ADDRESS, transfer + eth_encode(["address", "uint256"], [_a(to), amount]), gas=100_000))
                expected[to] = expected.get(to, 0) + amount
            transfer_queues.append(queue)
        # ---- timed
        keeper_thread.post()
        keeper_thread.start()
        _log(f"timing {matches} matchOrders from {clients} clients ({mode}) ...")
        match_s, match_blocks = timed(node.port, match_queues, mode == "wait")
        _log(f"timing {matches} ERC-20 transfers ...")
        transfer_s, transfer_blocks = timed(node.port, transfer_queues, mode == "wait")
        keeper_thread.stop.set()
        keeper_thread.join()
        if keeper_thread.errors:
            raise RuntimeError(f"price keeper: {keeper_thread.errors[0]}")
        # ---- checks (untimed)
        ok = True
        for queue in match_queues:
            for _raw, tx_hash in queue:
                got = rpc.call("eth_getTransactionReceipt", [tx_hash])
                if int(got["status"], 16) != 1 or not any(log["topics"][0] == fill_topic for log in got["logs"]):
                    _log(f"matchOrders {tx_hash} failed: {got}")
                    ok = False
                    break
        for c in range(clients):
            pos = rpc.eth_call(CH, selector("getPosition(address,uint32,uint32)") + eth_encode(["address", "uint32", "uint32"], [_a(address(takers[c])), 0, market]))
            if eth_decode(["int256", "int256"], pos)[0] != (per_client[c] + 1) * size:
                _log(f"taker {c}: position {eth_decode(['int256', 'int256'], pos)} is not {(per_client[c] + 1) * size}")
                ok = False
        for queue in transfer_queues:
            for _raw, tx_hash in queue:
                if int(rpc.call("eth_getTransactionReceipt", [tx_hash])["status"], 16) != 1:
                    ok = False
        for to, amount in expected.items():
            got_balance = eth_decode(["uint256"], rpc.eth_call(USDC_ADDRESS, selector("balanceOf(address)") + eth_encode(["address"], [_a(to)])))[0]
            if got_balance != amount:
                ok = False
        rpc.close()
    return {
        "market": market_name, "mode": mode, "clients": clients, "matches": matches,
        "match_s": match_s, "matches_per_s": matches / match_s, "match_blocks": match_blocks,
        "transfers": matches, "transfer_s": transfer_s, "transfers_per_s": matches / transfer_s,
        "transfer_blocks": transfer_blocks, "price_posts": keeper_thread.posts, "ok": ok,
    }  # fmt: skip


# ================================================================= main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="getAccount calls per case (median)")
    parser.add_argument("--matches", type=int, default=300, help="in-process matchOrders per market")
    parser.add_argument("--node-matches", type=int, default=3000, help="matchOrders through the node")
    parser.add_argument("--clients", type=int, default=10, help="sending threads (1-10)")
    parser.add_argument("--mode", choices=("wait", "flood"), default="wait")
    parser.add_argument("--market", choices=("perp", "option"), default="perp", help="node run's market")
    parser.add_argument("--skip-node", action="store_true", help="only the in-process parts")
    parser.add_argument("--skip-inprocess", action="store_true", help="only the node part")
    parser.add_argument("--profile", action="store_true", help="cProfile hot spots of matchOrders")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--workdir", type=Path, help="keep the node's log and data here")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 10 or args.node_matches < args.clients:
        parser.error("need 1 <= --clients <= 10 and --node-matches >= --clients")
    results: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
                               "load_before": os.getloadavg()}  # fmt: skip
    if not args.skip_inprocess:
        _log("building the margin accounts (in process) ...")
        chain = Chain()
        chain.prices()
        results["margin"] = bench_margin(chain, args.runs)
        _log("matchOrders in process ...")
        results["match"], results["profile"] = bench_match(chain, args.matches, args.profile)
    if not args.skip_node:
        results["node"] = bench_node(args.node_matches, args.clients, args.mode, args.market, args.workdir)
    results["load_after"] = os.getloadavg()
    if args.json:
        print(json.dumps(results))
        return 0 if results.get("node", {}).get("ok", True) else 1
    print(f"StrikeClearinghouse benchmarks ({results['machine']}; load average before "
          f"{results['load_before'][0]:.2f}, after {results['load_after'][0]:.2f})")  # fmt: skip
    if "margin" in results:
        print("\ngetAccount through the contract (static message; median microseconds, wall and thread CPU)")
        print(f"{'positions':>9} {'mode':>10} {'first us':>10} {'cpu':>8} {'cached us':>10} {'cpu':>8} {'gas':>10}")
        for r in results["margin"]:
            print(f"{r['positions']:>9} {r['mode']:>10} {r['first_us']:>10.0f} {r['first_cpu_us']:>8.0f} "
                  f"{r['cached_us']:>10.0f} {r['cached_cpu_us']:>8.0f} {r['gas']:>10,}")  # fmt: skip
        print("\nmatchOrders in process (BlockBuilder.add, standard margin; median)")
        print(f"{'market':>8} {'us':>8} {'cpu us':>8} {'gas used':>10} {'exec gas':>10} {'first match gas':>16}")
        for r in results["match"]:
            print(f"{r['market']:>8} {r['us']:>8.0f} {r['cpu_us']:>8.0f} {r['gas_used']:>10,} {r['exec_gas']:>10,} "
                  f"{r['first_gas_used']:>16,}")  # fmt: skip
    if results.get("profile"):
        for market, order in (("perp", "self"), ("perp", "cum"), ("option", "self"), ("option", "cum")):
            print(f"\ncProfile of matchOrders ({market}), per matchOrders, by {order} time "
                  "(the profiler's overhead inflates every figure; compare them with each other)")  # fmt: skip
            print(f"{'self us':>8} {'cum us':>8} {'calls':>7}  function")
            for r in results["profile"]:
                if r["sort"] == order and r["market"] == market:
                    print(f"{r['self_us']:>8.1f} {r['cum_us']:>8.1f} {r['calls_per_match']:>7.1f}  {r['function']}")
    if "node" in results:
        n = results["node"]
        print(f"\nthrough strikevm node (on disk), {n['clients']} clients, mode {n['mode']}, market {n['market']}")
        print(f"{'workload':>14} {'txs':>6} {'seconds':>8} {'tx/s':>8} {'blocks':>7}")
        print(f"{'matchOrders':>14} {n['matches']:>6} {n['match_s']:>8.2f} {n['matches_per_s']:>8.0f} {n['match_blocks']:>7}")
        print(f"{'ERC-20':>14} {n['transfers']:>6} {n['transfer_s']:>8.2f} {n['transfers_per_s']:>8.0f} {n['transfer_blocks']:>7}")
        print(f"matchOrders / transfers: {n['matches_per_s'] / n['transfers_per_s']:.2f}; check {'ok' if n['ok'] else 'FAILED'}")
        return 0 if n["ok"] else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
