"""Python client of StrikeClearinghouse and StrikeOracle for web3.py users.

Read a margin number from web3.py in five lines::

    from web3 import Web3
    from strikevm.client import Clearinghouse
    w3 = Web3(Web3.HTTPProvider("http://127.0.0.1:8545"))
    ch = Clearinghouse(w3, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
    print(ch.account().maintenance_margin)  # Decimal, USD

:class:`Clearinghouse` and :class:`Oracle` wrap the contracts' Solidity ABIs
(:mod:`strikevm.client_abi`, generated from ``contracts/IStrike*.sol``) with web3.py.
Give an ``eth_account`` ``LocalAccount`` to sign transactions and orders locally, or an
address (read-only, or sent with ``eth_sendTransaction`` through a node that holds the key,
as the dev node does for its dev accounts; orders need a ``LocalAccount``).

Units, as in the contracts: sizes, prices, values and margin are wad integers (``10**18`` =
1.0; sizes in units of the underlying, prices and values in USD); token amounts are in the
token's smallest unit (USDC: 6 decimals). :func:`wad` and :func:`from_wad` convert to and
from :class:`~decimal.Decimal` exactly; the dataclasses expose both (``equity_wad`` and
``equity``).

Orders are EIP-712 typed data signed with eth-account's encoder (:func:`order_typed_data`);
the digest equals :func:`strikevm.finance.clearinghouse_layout.order_digest`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import TxReceipt

from strikevm.client_abi import CLEARINGHOUSE_ABI, ERC20_ABI, ORACLE_ABI
from strikevm.finance.clearinghouse_layout import (
    CLEARINGHOUSE_ADDRESS,
    FUTURE,
    OPTION,
    PERP,
    PORTFOLIO,
    STANDARD,
    Order,
)
from strikevm.finance.dev_tokens import USDC_ADDRESS, WETH_ADDRESS
from strikevm.finance.oracle_layout import (
    ORACLE_ADDRESS,
    price_update,
    rate_update,
    volatility_update,
)

__all__ = [
    "WAD",
    "AccountState",
    "Clearinghouse",
    "Market",
    "Oracle",
    "OracleError",
    "PositionView",
    "Price",
    "SignedOrder",
    "StrikeRevert",
    "dev_account",
    "feed_id",
    "from_wad",
    "order_typed_data",
    "wad",
]

WAD = 10**18
CLEARINGHOUSE = to_checksum_address(f"0x{CLEARINGHOUSE_ADDRESS:040x}")
ORACLE = to_checksum_address(f"0x{ORACLE_ADDRESS:040x}")
TOKENS = {
    "USDC": to_checksum_address(f"0x{USDC_ADDRESS:040x}"),
    "WETH": to_checksum_address(f"0x{WETH_ADDRESS:040x}"),
}
KNOWN_FEEDS = ("ETH/USD", "BTC/USD", "SOL/USD", "USD")
MODES = {"standard": STANDARD, "portfolio": PORTFOLIO}


# ----------------------------------------------------------------- units


def wad(value: Decimal | int | str) -> int:
    """``value`` (a decimal number of units) as a wad integer; exact or ValueError."""
    scaled = Decimal(str(value)).scaleb(18)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than 18 decimals")
    return int(scaled)


def from_wad(value: int) -> Decimal:
    """A wad integer as an exact Decimal (``10**18`` -> ``Decimal("1")``)."""
    exact = Decimal(f"{int(value)}e-18").normalize()
    return exact.quantize(Decimal(1)) if exact.as_tuple().exponent > 0 else exact  # type: ignore[operator]


def feed_id(name: str) -> bytes:
    """The oracle feed id of ``name`` (``keccak256(name)``), as bytes32."""
    return keccak(text=name)


def _feed_bytes(feed: str | bytes | int) -> bytes:
    if isinstance(feed, bytes):
        return feed
    if isinstance(feed, int):
        return feed.to_bytes(32, "big")
    if feed.startswith("0x") and len(feed) == 66:
        return bytes.fromhex(feed[2:])
    return feed_id(feed)


def feed_name(feed: bytes | int) -> str:
    """The name of a known feed id (ETH/USD, BTC/USD, ...), else its hex."""
    raw = _feed_bytes(feed)
    for name in KNOWN_FEEDS:
        if feed_id(name) == raw:
            return name
    return "0x" + raw.hex()


# ------------------------------------------------------------- revert data


class StrikeRevert(RuntimeError):
    """A call reverted with a typed error of the contract (``name`` and decoded ``args``)."""

    def __init__(self, name: str, args: tuple[Any, ...], data: bytes) -> None:
        super().__init__(f"{name}{args}" if args else name)
        self.name = name
        self.args_ = args
        self.data = data


class OracleError(StrikeRevert):
    """A StrikeOracle read or update reverted."""


def _error_table(abi: Sequence[dict[str, Any]]) -> dict[bytes, tuple[str, list[str]]]:
    table = {}
    for entry in abi:
        if entry["type"] == "error":
            types = [i["type"] for i in entry["inputs"]]
            selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
            table[selector] = (entry["name"], types)
    return table


_CH_ERRORS = _error_table(CLEARINGHOUSE_ABI)
_ORACLE_ERRORS = _error_table(ORACLE_ABI)


def decode_error(data: bytes | str, oracle: bool = False) -> StrikeRevert:
    """The typed error that revert ``data`` encodes (clearinghouse, else oracle errors)."""
    from eth_abi import decode

    raw = bytes.fromhex(data[2:]) if isinstance(data, str) else bytes(data)
    tables = (_ORACLE_ERRORS, _CH_ERRORS) if oracle else (_CH_ERRORS, _ORACLE_ERRORS)
    for table in tables:
        found = table.get(raw[:4])
        if found is not None:
            name, types = found
            try:
                args = tuple(decode(types, raw[4:]))
            except Exception:  # noqa: BLE001 - malformed payload: keep the name
                args = ()
            cls = OracleError if table is _ORACLE_ERRORS else StrikeRevert
            return cls(name, args, raw)
    return StrikeRevert("0x" + raw.hex() if raw else "revert", (), raw)


def _revert_data(exc: Exception) -> bytes | None:
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    if isinstance(data, bytes):
        return data
    return None


# ------------------------------------------------------------ dataclasses


@dataclass(frozen=True, slots=True)
class AccountState:
    """``getAccount``: the account at oracle marks (wad; pending funding and settlements
    included). ``health`` = equity - maintenance margin: below zero the account may be
    liquidated. The un-suffixed properties are the same numbers as Decimal USD."""

    owner: str
    subaccount: int
    collateral_value_wad: int
    unrealized_pnl_wad: int
    equity_wad: int
    initial_margin_wad: int
    maintenance_margin_wad: int
    health_wad: int

    @property
    def collateral_value(self) -> Decimal:
        return from_wad(self.collateral_value_wad)

    @property
    def unrealized_pnl(self) -> Decimal:
        return from_wad(self.unrealized_pnl_wad)

    @property
    def equity(self) -> Decimal:
        return from_wad(self.equity_wad)

    @property
    def initial_margin(self) -> Decimal:
        return from_wad(self.initial_margin_wad)

    @property
    def maintenance_margin(self) -> Decimal:
        return from_wad(self.maintenance_margin_wad)

    @property
    def health(self) -> Decimal:
        return from_wad(self.health_wad)

    @property
    def free_collateral(self) -> Decimal:
        """Equity above initial margin: what new positions or withdrawals may use."""
        return from_wad(self.equity_wad - self.initial_margin_wad)


@dataclass(frozen=True, slots=True)
class Market:
    """``getMarket``: a market's terms and settlement state."""

    id: int
    kind: int  # 1 perp, 2 future, 3 option
    underlying: bytes
    expiry: int
    strike_wad: int
    is_call: bool
    american: bool
    status: int  # 0 active, 1 settled
    settlement_price_wad: int

    @property
    def strike(self) -> Decimal:
        return from_wad(self.strike_wad)

    @property
    def settled(self) -> bool:
        return self.status == 1

    @property
    def name(self) -> str:
        """Deribit-style: ``ETH-PERP``, ``ETH-13JUN25``, ``ETH-13JUN25-3000-C`` (``-AP``: American put)."""
        base = feed_name(self.underlying).split("/")[0]
        if self.kind == PERP:
            return f"{base}-PERP"
        day = datetime.fromtimestamp(self.expiry, UTC).strftime("%d%b%y").upper()
        if self.kind == FUTURE:
            return f"{base}-{day}"
        strike = f"{self.strike.normalize():f}"
        side = "C" if self.is_call else "P"
        return f"{base}-{day}-{strike}-{'A' if self.american else ''}{side}"


@dataclass(frozen=True, slots=True)
class PositionView:
    """A position with its market and, when the oracle is usable, its mark.

    ``value_wad`` is what ``getAccount`` counts: ``size * mark - cost`` (the unrealized P&L
    of a perp or future; an option's mark value, its premium having moved at the fill)."""

    market: Market
    size_wad: int
    cost_wad: int
    mark_wad: int | None

    @property
    def size(self) -> Decimal:
        return from_wad(self.size_wad)

    @property
    def entry(self) -> Decimal | None:
        """Average entry price of a perp or future (cost / size); None for options."""
        if self.market.kind == OPTION or self.size_wad == 0:
            return None
        return (Decimal(self.cost_wad) / Decimal(self.size_wad)).quantize(Decimal("1e-8"))

    @property
    def mark(self) -> Decimal | None:
        return None if self.mark_wad is None else from_wad(self.mark_wad)

    @property
    def value_wad(self) -> int | None:
        if self.mark_wad is None:
            return None
        return self.size_wad * self.mark_wad // WAD - self.cost_wad

    @property
    def pnl(self) -> Decimal | None:
        value = self.value_wad
        return None if value is None else from_wad(value)


@dataclass(frozen=True, slots=True)
class SignedOrder:
    """An order, its 65-byte signature (r ‖ s ‖ v) and its EIP-712 digest (the order hash)."""

    order: Order
    signature: bytes
    hash: bytes

    @property
    def tuple(self) -> tuple[Any, ...]:
        return _order_tuple(self.order)


@dataclass(frozen=True, slots=True)
class Price:
    """An oracle aggregate: price and confidence as Decimal, publish time in seconds."""

    price: Decimal
    confidence: Decimal
    publish_time: int

    @property
    def price_wad(self) -> int:
        return wad(self.price)


# ----------------------------------------------------------------- orders

ORDER_FIELDS = [
    {"name": "owner", "type": "address"},
    {"name": "subaccount", "type": "uint32"},
    {"name": "market", "type": "uint32"},
    {"name": "isBuy", "type": "bool"},
    {"name": "size", "type": "uint256"},
    {"name": "limitPrice", "type": "uint256"},
    {"name": "expiry", "type": "uint64"},
    {"name": "nonce", "type": "uint64"},
    {"name": "flags", "type": "uint8"},
]
DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def order_typed_data(order: Order, chain_id: int, contract: str = CLEARINGHOUSE) -> dict[str, Any]:
    """The EIP-712 typed data (``eth_signTypedData_v4`` form) of an order."""
    return {
        "types": {"EIP712Domain": DOMAIN_FIELDS, "Order": ORDER_FIELDS},
        "primaryType": "Order",
        "domain": {"name": "StrikeClearinghouse", "version": "1", "chainId": chain_id,
                   "verifyingContract": to_checksum_address(contract)},
        "message": {"owner": to_checksum_address(f"0x{order.owner:040x}"),
                    "subaccount": order.subaccount, "market": order.market, "isBuy": order.is_buy,
                    "size": order.size, "limitPrice": order.limit_price, "expiry": order.expiry,
                    "nonce": order.nonce, "flags": order.flags},
    }  # fmt: skip


def order_digest(order: Order, chain_id: int, contract: str = CLEARINGHOUSE) -> bytes:
    """The order's EIP-712 digest, from eth-account's encoder (the on-chain order hash)."""
    signable = encode_typed_data(full_message=order_typed_data(order, chain_id, contract))
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def sign_order(
    order: Order, account: LocalAccount, chain_id: int, contract: str = CLEARINGHOUSE
) -> SignedOrder:
    """Sign ``order`` as EIP-712 typed data with eth-account."""
    signable = encode_typed_data(full_message=order_typed_data(order, chain_id, contract))
    signed = account.sign_message(signable)
    return SignedOrder(order, bytes(signed.signature), order_digest(order, chain_id, contract))


def _order_tuple(order: Order) -> tuple[Any, ...]:
    return (to_checksum_address(f"0x{order.owner:040x}"), order.subaccount, order.market,
            order.is_buy, order.size, order.limit_price, order.expiry, order.nonce, order.flags)  # fmt: skip


# ------------------------------------------------------------ transactions


class _Sender:
    """Sends contract calls as ``account``: signed locally (LocalAccount) or by the node."""

    def __init__(self, w3: Web3, account: LocalAccount | str | None) -> None:
        self.w3 = w3
        self.local: LocalAccount | None = account if isinstance(account, LocalAccount) else None
        if isinstance(account, LocalAccount):
            self.address: str | None = account.address
        elif account is not None:
            self.address = to_checksum_address(account)
        else:
            self.address = None
        self._chain_id: int | None = None

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self.w3.eth.chain_id
        return self._chain_id

    def require(self) -> str:
        if self.address is None:
            raise ValueError("this client has no account: give Clearinghouse(w3, account)")
        return self.address

    def send(self, call: Any, *, oracle: bool = False, timeout: float = 60) -> TxReceipt:
        """Estimate (typed errors raise :class:`StrikeRevert`), send, wait; raise on failure."""
        sender = self.require()
        params: dict[str, Any] = {"from": sender}
        try:
            gas = call.estimate_gas(params, block_identifier="pending")
        except (ContractCustomError, ContractLogicError) as exc:
            data = _revert_data(exc)
            if data is not None:
                raise decode_error(data, oracle) from None
            raise
        params["gas"] = gas * 6 // 5 + 25_000
        if self.local is not None:
            params["nonce"] = self.w3.eth.get_transaction_count(sender, "pending")
            params["chainId"] = self.chain_id
            tx = call.build_transaction(params)
            signed = self.local.sign_transaction(tx)
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        else:
            tx_hash = call.transact(params)
        receipt = self.w3.eth.wait_for_transaction_receipt(
            tx_hash, timeout=timeout, poll_latency=0.05
        )
        if receipt["status"] != 1:
            raise StrikeRevert("TransactionFailed", (tx_hash.hex(),), b"")
        return receipt


# ----------------------------------------------------------- clearinghouse


class Clearinghouse:
    """StrikeClearinghouse through web3.py, acting as ``account`` on ``subaccount``."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount | str | None = None,
        *,
        subaccount: int = 0,
        address: str = CLEARINGHOUSE,
    ) -> None:
        self.w3 = w3
        self.contract: Contract = w3.eth.contract(
            address=to_checksum_address(address), abi=CLEARINGHOUSE_ABI
        )
        self.oracle = Oracle(w3)
        self.subaccount = subaccount
        self._sender = _Sender(w3, account)
        self._nonce = 0
        self._markets: dict[int, Market] = {}

    # ---------------------------------------------------------------- who
    @property
    def address(self) -> str | None:
        """The account's address (None: read-only client)."""
        return self._sender.address

    @property
    def chain_id(self) -> int:
        return self._sender.chain_id

    def _who(self, owner: str | None, sub: int | None) -> tuple[str, int]:
        address = to_checksum_address(owner) if owner is not None else self._sender.require()
        return address, self.subaccount if sub is None else sub

    def _send(self, call: Any) -> TxReceipt:
        return self._sender.send(call)

    def _view(self, call: Any) -> Any:
        try:
            return call.call()
        except (ContractCustomError, ContractLogicError) as exc:
            data = _revert_data(exc)
            if data is not None:
                raise decode_error(data) from None
            raise

    # --------------------------------------------------------- collateral
    def token(self, token: str) -> Contract:
        """The ERC-20 contract of ``token`` (``"USDC"``, ``"WETH"`` or an address)."""
        return self.w3.eth.contract(
            address=to_checksum_address(TOKENS.get(token, token)), abi=ERC20_ABI
        )

    def deposit(
        self, token: str, amount: int, *, sub: int | None = None, approve: bool = True
    ) -> TxReceipt:
        """Deposit ``amount`` (token's smallest unit) of ``token``; approves it first if needed."""
        erc20 = self.token(token)
        owner, sub = self._who(None, sub)
        if approve and erc20.functions.allowance(owner, self.contract.address).call() < amount:
            self._send(erc20.functions.approve(self.contract.address, amount))
        return self._send(self.contract.functions.deposit(sub, erc20.address, amount))

    def withdraw(self, token: str, amount: int, *, sub: int | None = None) -> TxReceipt:
        """Withdraw ``amount`` (token's smallest unit); reverts below initial margin."""
        _, sub = self._who(None, sub)
        return self._send(self.contract.functions.withdraw(sub, self.token(token).address, amount))

    def set_margin_mode(self, mode: str | int, *, sub: int | None = None) -> TxReceipt:
        """``"standard"`` (0) or ``"portfolio"`` (1)."""
        _, sub = self._who(None, sub)
        value = MODES[mode] if isinstance(mode, str) else mode
        return self._send(self.contract.functions.setMarginMode(sub, value))

    def set_delegate(self, delegate: str, allowed: bool = True) -> TxReceipt:
        return self._send(
            self.contract.functions.setDelegate(to_checksum_address(delegate), allowed)
        )

    # ------------------------------------------------------------- orders
    def _next_nonce(self) -> int:
        self._nonce = max(self._nonce + 1, time.time_ns() // 1_000_000)
        return self._nonce

    def order(
        self,
        market: int,
        is_buy: bool,
        size: int,
        price: int,
        *,
        sub: int | None = None,
        expiry: int | None = None,
        ttl: int = 3600,
        nonce: int | None = None,
        flags: int = 0,
    ) -> Order:
        """An unsigned order (size and limit price in wad). ``expiry`` defaults to the
        latest block time + ``ttl``; ``nonce`` to a fresh millisecond clock (so
        ``cancel_all(now_ms)`` cancels every earlier order)."""
        owner, sub = self._who(None, sub)
        if expiry is None:
            expiry = int(self.w3.eth.get_block("latest")["timestamp"]) + ttl
        return Order(int(owner, 16), sub, market, is_buy, size, price, expiry,
                     self._next_nonce() if nonce is None else nonce, flags)  # fmt: skip

    def sign_order(self, order: Order) -> SignedOrder:
        """Sign an order as EIP-712 typed data (eth-account)."""
        if self._sender.local is None:
            raise ValueError("signing orders needs a LocalAccount")
        return sign_order(order, self._sender.local, self.chain_id, self.contract.address)

    def place(self, market: int, is_buy: bool, size: int, price: int, **kwargs: Any) -> SignedOrder:
        """Build and sign an order; give it to a counterparty, who ``fill``s it."""
        return self.sign_order(self.order(market, is_buy, size, price, **kwargs))

    def order_digest(self, order: Order) -> bytes:
        return order_digest(order, self.chain_id, self.contract.address)

    def fill(
        self, maker: SignedOrder, size: int | None = None, *, sub: int | None = None
    ) -> TxReceipt:
        """Take ``size`` (wad; default: all) of a maker order at its limit price."""
        _, sub = self._who(None, sub)
        amount = maker.order.size if size is None else size
        return self._send(self.contract.functions.fill(maker.tuple, maker.signature, amount, sub))

    def match(self, maker: SignedOrder, taker: SignedOrder, size: int) -> TxReceipt:
        """Match two signed orders at the maker's price (anyone may relay)."""
        return self._send(self.contract.functions.matchOrders(
            maker.tuple, maker.signature, taker.tuple, taker.signature, size))  # fmt: skip

    def cancel(self, order: Order | SignedOrder) -> TxReceipt:
        plain = order.order if isinstance(order, SignedOrder) else order
        return self._send(self.contract.functions.cancelOrder(_order_tuple(plain)))

    def cancel_all(self, nonce_floor: int | None = None, *, sub: int | None = None) -> TxReceipt:
        """Cancel every order with a nonce below ``nonce_floor`` (default: now, in ms)."""
        _, sub = self._who(None, sub)
        floor = self._next_nonce() if nonce_floor is None else nonce_floor
        return self._send(self.contract.functions.cancelAll(sub, floor))

    def filled(self, order: Order | SignedOrder) -> int:
        """Amount filled of an order (wad; 2**256-1 once cancelled)."""
        digest = order.hash if isinstance(order, SignedOrder) else self.order_digest(order)
        return int(self.contract.functions.orderFilled(digest).call())

    # ------------------------------------------------------------- expiry
    def settle(self, market: int) -> TxReceipt:
        """Fix an expired market's settlement price (oracle TWAP before expiry)."""
        return self._send(self.contract.functions.settle(market))

    def settle_account(self, owner: str | None = None, *, sub: int | None = None) -> TxReceipt:
        owner, sub = self._who(owner, sub)
        return self._send(self.contract.functions.settleAccount(owner, sub))

    def exercise(self, market: int, size: int, *, sub: int | None = None) -> TxReceipt:
        """Exercise ``size`` (wad) of a long American option at the oracle price."""
        _, sub = self._who(None, sub)
        return self._send(self.contract.functions.exercise(sub, market, size))

    # -------------------------------------------------------------- views
    def account(self, owner: str | None = None, *, sub: int | None = None) -> AccountState:
        """Collateral value, unrealized P&L, equity, IM, MM and health at oracle marks."""
        owner, sub = self._who(owner, sub)
        got = self._view(self.contract.functions.getAccount(owner, sub))
        return AccountState(owner, sub, *(int(v) for v in got))

    def cash(self, owner: str | None = None, *, sub: int | None = None) -> int:
        """Quote cash (USDC smallest unit; negative after losses)."""
        owner, sub = self._who(owner, sub)
        return int(self.contract.functions.getCash(owner, sub).call())

    def collateral(self, token: str, owner: str | None = None, *, sub: int | None = None) -> int:
        owner, sub = self._who(owner, sub)
        return int(
            self.contract.functions.getCollateral(owner, sub, self.token(token).address).call()
        )

    def margin_mode(self, owner: str | None = None, *, sub: int | None = None) -> str:
        owner, sub = self._who(owner, sub)
        mode = int(self.contract.functions.marginMode(owner, sub).call())
        return "portfolio" if mode == PORTFOLIO else "standard"

    def market(self, market: int) -> Market:
        """``getMarket`` (a settled market is final and cached; an active one is re-read)."""
        found = self._markets.get(market)
        if found is None or not found.settled:
            got = self._view(self.contract.functions.getMarket(market))
            found = Market(market, int(got[0]), bytes(got[1]), int(got[2]), int(got[3]),
                           bool(got[4]), bool(got[5]), int(got[6]), int(got[7]))  # fmt: skip
            self._markets[market] = found
        return found

    def markets(self) -> list[Market]:
        return [self.market(m) for m in range(int(self.contract.functions.marketCount().call()))]

    def position(
        self, market: int, owner: str | None = None, *, sub: int | None = None
    ) -> tuple[int, int]:
        """(size, cost) in wad, as stored (funding and settlement apply when touched)."""
        owner, sub = self._who(owner, sub)
        size, cost = self.contract.functions.getPosition(owner, sub, market).call()
        return int(size), int(cost)

    def funding(self, market: int) -> tuple[int, int, int]:
        """(cumulative funding index, premium EMA, last update) of a perp market."""
        index, premium, last = self.contract.functions.getFunding(market).call()
        return int(index), int(premium), int(last)

    def positions(
        self, owner: str | None = None, *, sub: int | None = None, marks: bool = True
    ) -> list[PositionView]:
        """Every open position (markets scanned in id order) with its mark when available."""
        owner, sub = self._who(owner, sub)
        out = []
        for mk in self.markets():
            size, cost = self.position(mk.id, owner, sub=sub)
            if size == 0:
                continue
            out.append(PositionView(mk, size, cost, self.mark(mk) if marks else None))
        return out

    def mark(self, market: int | Market) -> int | None:
        """The market's mark (wad) as the margin engine computes it, or None if the
        oracle cannot price it now (stale feed, no smile for the expiry)."""
        from strikevm.finance.margin import MarketSpec, UnderlyingMarks, future_mark, option_mark

        mk = market if isinstance(market, Market) else self.market(market)
        if mk.settled:
            return mk.settlement_price_wad if mk.kind == FUTURE else None
        try:
            spot = self.oracle.price(mk.underlying).price_wad
            if mk.kind == PERP:
                return spot
            now = int(self.w3.eth.get_block("latest")["timestamp"])
            rate = self.oracle.rate_wad("USD") if mk.kind in (FUTURE, OPTION) else 0
            spec = MarketSpec(mk.id, mk.kind, int.from_bytes(mk.underlying, "big"), mk.expiry,
                              mk.strike_wad, mk.is_call, mk.american)  # fmt: skip
            vols = {}
            if mk.kind == OPTION and mk.expiry > now:
                vols[mk.id] = self.oracle.volatility_wad(mk.underlying, mk.expiry, mk.strike_wad)
            marks = UnderlyingMarks(spot=spot, rate=rate, vols=vols)
            if mk.kind == FUTURE:
                return int(future_mark(spec, marks, now))
            return int(option_mark(spec, marks, now))
        except (StrikeRevert, ValueError):
            return None

    def fee_balance(self) -> int:
        return int(self.contract.functions.feeBalance().call())

    # ------------------------------------------------------------- events
    def events(self, receipt: TxReceipt, names: Iterable[str] | None = None) -> list[Any]:
        """The clearinghouse events of a receipt, decoded (``event``, ``args``)."""
        wanted = list(names) if names is not None else [
            e["name"] for e in CLEARINGHOUSE_ABI if e["type"] == "event"]  # fmt: skip
        out: list[Any] = []
        for name in wanted:
            out.extend(
                getattr(self.contract.events, name)().process_receipt(receipt, errors=_DISCARD)
            )
        return sorted(out, key=lambda e: e["logIndex"])


def _discard() -> Any:
    from web3.logs import DISCARD

    return DISCARD


_DISCARD = _discard()


# ------------------------------------------------------------------ oracle


class Oracle:
    """StrikeOracle through web3.py: reads, and signed updates relayed by ``account``."""

    def __init__(
        self, w3: Web3, account: LocalAccount | str | None = None, *, address: str = ORACLE
    ) -> None:
        self.w3 = w3
        self.contract: Contract = w3.eth.contract(
            address=to_checksum_address(address), abi=ORACLE_ABI
        )
        self._sender = _Sender(w3, account)
        self._decimals: dict[bytes, int] = {}

    def _view(self, call: Any) -> Any:
        try:
            return call.call()
        except (ContractCustomError, ContractLogicError) as exc:
            data = _revert_data(exc)
            if data is not None:
                raise decode_error(data, oracle=True) from None
            raise

    def decimals(self, feed: str | bytes | int) -> int:
        fid = _feed_bytes(feed)
        if fid not in self._decimals:
            self._decimals[fid] = int(self._view(self.contract.functions.getFeed(fid))[2])
        return self._decimals[fid]

    def price(self, feed: str | bytes | int, max_age: int | None = None) -> Price:
        """The aggregate price of ``feed`` (``"ETH/USD"`` or an id); ``max_age`` in seconds."""
        fid = _feed_bytes(feed)
        call = (self.contract.functions.getPrice(fid) if max_age is None
                else self.contract.functions.getPriceNoOlderThan(fid, max_age))  # fmt: skip
        price, conf, t = self._view(call)
        scale = self.decimals(fid)
        return Price(Decimal(price).scaleb(-scale), Decimal(conf).scaleb(-scale), int(t))

    def twap(self, feed: str | bytes | int, window: int) -> Decimal:
        fid = _feed_bytes(feed)
        return Decimal(int(self._view(self.contract.functions.getTwap(fid, window)))).scaleb(
            -self.decimals(fid)
        )

    def rate_wad(self, feed: str | bytes | int = "USD") -> int:
        return int(self._view(self.contract.functions.getRate(_feed_bytes(feed))))

    def rate(self, feed: str | bytes | int = "USD") -> Decimal:
        """The aggregated risk-free rate a year (0.05 = 5%)."""
        return from_wad(self.rate_wad(feed))

    def volatility_wad(self, underlying: str | bytes | int, expiry: int, strike_wad: int) -> int:
        return int(
            self._view(
                self.contract.functions.getVolatility(_feed_bytes(underlying), expiry, strike_wad)
            )
        )

    def volatility(
        self, underlying: str | bytes | int, expiry: int, strike: Decimal | int | str
    ) -> Decimal:
        """Implied volatility of the smile at ``strike`` (USD) for ``expiry``."""
        return from_wad(self.volatility_wad(underlying, expiry, wad(strike)))

    def publish(
        self,
        publishers: Sequence[LocalAccount | bytes],
        *,
        prices: dict[str, Decimal | str | int] | None = None,
        rates: dict[str, Decimal | str | int] | None = None,
        smiles: Sequence[tuple[str, int, Decimal | str, Decimal | str, Decimal | str]] = (),
        publish_time: int | None = None,
        confidence: Decimal | str | int = 0,
    ) -> TxReceipt:
        """Sign an update per publisher and relay them in one ``updatePrices`` transaction.

        ``prices``: feed -> price (USD); ``rates``: feed -> rate a year; ``smiles``:
        (underlying, expiry, atm, skew, convexity). ``publish_time`` defaults to the later
        of the wall clock and the latest block time (it must be within 15 s of the block
        that includes it and increase per publisher)."""
        if publish_time is None:
            latest = int(self.w3.eth.get_block("latest")["timestamp"])
            publish_time = max(int(time.time()), latest + 1)
        chain_id = self._sender.chain_id
        oracle = int(self.contract.address, 16)
        updates: list[bytes] = []
        for publisher in publishers:
            key = bytes(publisher.key) if isinstance(publisher, LocalAccount) else bytes(publisher)
            for feed, value in (prices or {}).items():
                fid = int.from_bytes(_feed_bytes(feed), "big")
                scale = self.decimals(feed)
                updates.append(price_update(key, fid, _scaled(value, scale), _scaled(confidence, scale),
                                            publish_time, chain_id, oracle))  # fmt: skip
            for feed, value in (rates or {}).items():
                fid = int.from_bytes(_feed_bytes(feed), "big")
                updates.append(rate_update(key, fid, wad(value), publish_time, chain_id, oracle))
            for feed, expiry, atm, skew, convexity in smiles:
                fid = int.from_bytes(_feed_bytes(feed), "big")
                updates.append(volatility_update(key, fid, expiry, wad(atm), wad(skew), wad(convexity),
                                                 publish_time, chain_id, oracle))  # fmt: skip
        return self._sender.send(self.contract.functions.updatePrices(updates), oracle=True)


def _scaled(value: Decimal | str | int, decimals: int) -> int:
    scaled = Decimal(str(value)).scaleb(decimals)
    return int(scaled.to_integral_value())


def dev_account(index: int) -> LocalAccount:
    """Dev account ``index`` of the dev node (mnemonic ``test test ... junk``)."""
    from strikevm.chain.node import dev_accounts

    return Account.from_key(dev_accounts()[index][1])
