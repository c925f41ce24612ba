"""An in-process exchange for the clearinghouse tests: oracle, dev tokens, clearinghouse,
blocks built by the block pipeline (so begin-block funding runs), signed orders."""

from __future__ import annotations

from typing import Any

from eth_abi import decode as eth_decode
from eth_abi import encode as eth_encode
from oraclehelpers import CHAIN_ID, E8, PUBLISHER_KEYS, WAD, address, feed_spec, key, oracle_config

from strikevm.chain.executor import TxResult
from strikevm.chain.pipeline import BlockBuilder
from strikevm.chain.transaction import sign_transaction
from strikevm.crypto import keccak256
from strikevm.finance import clearinghouse_layout as L
from strikevm.finance.clearinghouse import error
from strikevm.finance.clearinghouse_layout import CLEARINGHOUSE_ADDRESS, Order, sign_order
from strikevm.finance.dev_tokens import USDC_ADDRESS, WETH_ADDRESS, dev_token_accounts
from strikevm.finance.genesis import apply_genesis
from strikevm.finance.oracle_layout import feed_id, price_update, rate_update, volatility_update
from strikevm.finance.system import default_registry
from strikevm.state.account import Account
from strikevm.state.world import WorldState
from strikevm.vm.env import BlockEnv, Message, MessageResult, TxEnv
from strikevm.vm.evm import EVM

T0 = 1_800_000_000
ETH_FEED = feed_id("ETH/USD")
USD_FEED = feed_id("USD")
USDC = 10**6
TRADER_KEYS = [key(500 + i) for i in range(6)]
TRADERS = [address(k) for k in TRADER_KEYS]
ADMIN_KEY = key(1000)
ADMIN = address(ADMIN_KEY)
EXPIRY = T0 + 14 * 86_400
ORDER_TUPLE = "(address,uint32,uint32,bool,uint256,uint256,uint64,uint64,uint8)"

# market ids of the default exchange
ETH_PERP, ETH_FUT, CALL_3000, PUT_3000, AM_PUT_3000 = 0, 1, 2, 3, 4


def default_markets() -> list[dict[str, Any]]:
    return [
        {"kind": 1, "underlying": "ETH/USD"},
        {"kind": 2, "underlying": "ETH/USD", "expiry": EXPIRY},
        {"kind": 3, "underlying": "ETH/USD", "expiry": EXPIRY, "strike": 3000 * WAD, "is_call": 1},
        {"kind": 3, "underlying": "ETH/USD", "expiry": EXPIRY, "strike": 3000 * WAD, "is_call": 0},
        {"kind": 3, "underlying": "ETH/USD", "expiry": EXPIRY, "strike": 3000 * WAD, "is_call": 0, "american": 1},
    ]


def selector(signature: str) -> bytes:
    return keccak256(signature.encode())[:4]


class Exchange:
    def __init__(
        self, markets: list[dict[str, Any]] | None = None, holders: list[int] | None = None, *,
        collateral: list[dict[str, Any]] | None = None, expiries: list[int] | None = None,
        extra_holders: list[int] | None = None,
    ) -> None:  # fmt: skip
        self.system = default_registry()
        holders = holders if holders is not None else TRADERS
        self.expiries = expiries if expiries is not None else [EXPIRY]
        funded = (*holders, ADMIN, *(extra_holders or ()))
        self.state = WorldState({a: Account(balance=10**24) for a in funded})
        config = {
            "accounts": dev_token_accounts(holders),
            "oracle": {**oracle_config(feed_spec(), feed_spec("USD", kind="rate", decimals=18,
                                                              maxDeviationBps=0, twapCapacity=0)),
                       "admin": f"0x{ADMIN:040x}"},
            "clearinghouse": {
                "admin": f"0x{ADMIN:040x}",
                "rateFeed": "USD",
                "collateral": collateral if collateral is not None else [
                    {"token": f"0x{USDC_ADDRESS:040x}", "decimals": 6},
                    {"token": f"0x{WETH_ADDRESS:040x}", "decimals": 18, "haircutBps": 1000, "feed": "ETH/USD"},
                ],
                "markets": markets if markets is not None else default_markets(),
            },
        }  # fmt: skip
        apply_genesis(self.state, self.system, config)
        self.nonces: dict[bytes, int] = {}
        self.env = BlockEnv(number=1, timestamp=T0, base_fee=7, chain_id=CHAIN_ID, gas_limit=60_000_000)
        self.block_logs: list[Any] = []
        self._open()

    # ------------------------------------------------------------- blocks
    def _open(self) -> None:
        self.builder = BlockBuilder(self.state, self.env, system=self.system)
        self.builder.begin()

    def next_block(self, seconds: int = 12) -> None:
        result = self.builder.finish()
        self.block_logs.extend(result.system_logs)
        self.env = BlockEnv(number=self.env.number + 1, timestamp=self.env.timestamp + seconds,
                            base_fee=7, chain_id=CHAIN_ID, gas_limit=60_000_000)  # fmt: skip
        self._open()

    @property
    def now(self) -> int:
        return self.env.timestamp

    # ------------------------------------------------------- transactions
    def send(self, key_: bytes, to: int | None, data: bytes, gas: int = 5_000_000, value: int = 0) -> TxResult:
        nonce = self.nonces.get(key_, 0)
        tx = sign_transaction(key_, tx_type=2, chain_id=CHAIN_ID, nonce=nonce, gas_limit=gas, to=to,
                              data=data, value=value, max_priority_fee_per_gas=1, max_fee_per_gas=10)  # fmt: skip
        self.nonces[key_] = nonce + 1
        return self.builder.add(tx)

    def ch(self, key_: bytes, signature: str, types: list[str], args: list[Any], gas: int = 5_000_000) -> TxResult:
        return self.send(key_, CLEARINGHOUSE_ADDRESS, selector(signature) + eth_encode(types, args), gas)

    def view(self, signature: str, types: list[str], args: list[Any], out: list[str]) -> tuple[Any, ...]:
        result = self.ch(TRADER_KEYS[-1], signature, types, args)
        assert result.success, result.output.hex()
        return tuple(eth_decode(out, result.output))

    # ---------------------------------------------------------- oracle
    def prices(self, spot: int, conf: int = E8 // 10, vol: int | None = 6 * WAD // 10, rate: int | None = 0) -> None:
        ups = [price_update(k, ETH_FEED, spot * E8, conf, self.now, CHAIN_ID) for k in PUBLISHER_KEYS]
        if vol is not None:
            ups += [volatility_update(k, ETH_FEED, e, vol, 0, 0, self.now, CHAIN_ID)
                    for e in self.expiries if e > self.now for k in PUBLISHER_KEYS]
        if rate is not None:
            ups += [rate_update(k, USD_FEED, rate, self.now, CHAIN_ID) for k in PUBLISHER_KEYS]
        data = selector("updatePrices(bytes[])") + eth_encode(["bytes[]"], [ups])
        result = self.send(ADMIN_KEY, 0x53540002, data)
        assert result.success, result.output.hex()

    # ---------------------------------------------------------- tokens
    def fund(self, i: int, usdc: int = 0, weth: int = 0, sub: int = 0) -> None:
        trader = TRADER_KEYS[i]
        for token, amount in ((USDC_ADDRESS, usdc), (WETH_ADDRESS, weth)):
            if amount:
                approve = selector("approve(address,uint256)") + eth_encode(["address", "uint256"], [_a(CLEARINGHOUSE_ADDRESS), amount])
                assert self.send(trader, token, approve).success
                r = self.ch(trader, "deposit(uint32,address,uint256)", ["uint32", "address", "uint256"], [sub, _a(token), amount])
                assert r.success, r.output.hex()

    def token_balance(self, token: int, holder: int) -> int:
        data = selector("balanceOf(address)") + eth_encode(["address"], [_a(holder)])
        result = self.send(TRADER_KEYS[-1], token, data)
        return int.from_bytes(result.output, "big")

    # ----------------------------------------------------------- orders
    def order(self, i: int, market: int, is_buy: bool, size: int, price: int, *, sub: int = 0,
              nonce: int = 0, flags: int = 0, expiry: int | None = None, signer: bytes | None = None) -> tuple[Order, bytes]:
        order = Order(TRADERS[i], sub, market, is_buy, size, price, expiry or self.now + 3600, nonce, flags)
        return order, sign_order(order, signer or TRADER_KEYS[i], CHAIN_ID)

    def fill(self, taker: int, order: Order, sig: bytes, size: int, taker_sub: int = 0) -> TxResult:
        return self.ch(TRADER_KEYS[taker], f"fill({ORDER_TUPLE},bytes,uint256,uint32)",
                       [ORDER_TUPLE, "bytes", "uint256", "uint32"],
                       [order_tuple(order), sig, size, taker_sub])  # fmt: skip

    def match(self, relayer: int, maker: tuple[Order, bytes], taker: tuple[Order, bytes], size: int) -> TxResult:
        return self.ch(TRADER_KEYS[relayer], f"matchOrders({ORDER_TUPLE},bytes,{ORDER_TUPLE},bytes,uint256)",
                       [ORDER_TUPLE, "bytes", ORDER_TUPLE, "bytes", "uint256"],
                       [order_tuple(maker[0]), maker[1], order_tuple(taker[0]), taker[1], size])  # fmt: skip

    # ------------------------------------------------------------ reads
    def account(self, i: int, sub: int = 0) -> dict[str, int]:
        names = ("collateral", "pnl", "equity", "im", "mm", "health")
        got = self.view("getAccount(address,uint32)", ["address", "uint32"], [_a(TRADERS[i]), sub],
                        ["int256", "int256", "int256", "uint256", "uint256", "int256"])  # fmt: skip
        return dict(zip(names, got, strict=True))

    def position(self, i: int, market: int, sub: int = 0) -> tuple[int, int]:
        return self.view("getPosition(address,uint32,uint32)", ["address", "uint32", "uint32"],
                         [_a(TRADERS[i]), sub, market], ["int256", "int256"])  # fmt: skip

    def cash(self, i: int, sub: int = 0) -> int:
        key_ = L.account_key(TRADERS[i], sub)
        return L.signed(self.state.sload(CLEARINGHOUSE_ADDRESS, L.cash(key_)), 256)

    def static(self, to: int, data: bytes, caller: int = ADMIN) -> MessageResult:
        """A read-only call outside any transaction: no nonce, no gas bought, state untouched."""
        state = self.state
        state.begin_transaction()
        mark = state.checkpoint()
        evm = EVM(state, self.env, TxEnv(origin=caller), system=self.system)
        msg = Message(caller, to, 0, data, 30_000_000, state.code(to), to, is_static=True)
        try:
            return evm.process_message(msg)
        finally:
            state.revert(mark)
            state.begin_transaction()

    def read(self, to: int, signature: str, types: list[str], args: list[Any], out: list[str]) -> tuple[Any, ...]:
        result = self.static(to, selector(signature) + eth_encode(types, args))
        assert result.success, result.output.hex()
        return tuple(eth_decode(out, result.output))

    def balance_of(self, token: int, holder: int) -> int:
        return self.read(token, "balanceOf(address)", ["address"], [_a(holder)], ["uint256"])[0]

    def storage(self, address_: int) -> dict[int, int]:
        """The non-zero storage of an account (for before/after comparisons)."""
        acct = self.state.accounts.get(address_)
        return {k: v for k, v in acct.storage.items() if v} if acct is not None else {}

    def ledger(self) -> dict[str, int]:
        """Quote-token ledger straight from storage (for conservation checks)."""
        s = self.state
        fees = sum(L.signed(s.sload(CLEARINGHOUSE_ADDRESS, L.fee(i)), 256) for i in range(L.INDEX_SHARDS))
        pool = sum(L.signed(s.sload(CLEARINGHOUSE_ADDRESS, L.pool(i)), 256) for i in range(L.SHARDS))
        return {"fees": fees, "pool": pool}


def order_tuple(order: Order) -> tuple[Any, ...]:
    """An order as eth_abi encodes the Solidity struct."""
    w = order.words()
    return (_a(w[0]), w[1], w[2], bool(w[3]), *w[4:])


def _a(value: int) -> str:
    return "0x" + value.to_bytes(20, "big").hex()


def reverted(result: TxResult, signature: str, *args: int) -> bool:
    return (not result.success) and result.output == error(signature, *args)
