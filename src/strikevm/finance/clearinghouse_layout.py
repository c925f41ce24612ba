"""StrikeClearinghouse's storage layout, order type and packing helpers.

Every slot is ``keccak256`` of a namespace string and its keys, so accounts, markets
and orders never share a slot. Sums that every trade adds to (fees, the clearing pool,
the fill-VWAP accumulators) are written with ``Host.accumulate``: an addition that never
reads the slot and costs the same whatever it holds, so independent trades commute and
the parallel executor applies them without a conflict (docs/parallel.md). The fee and
pool sums are also sharded, which spreads the slots over the trie:

    GLOBAL                      admin (160) | marketCount (32, at 160) | collateralCount (16, at 192)
    RATE_FEED                   oracle rate feed used for option marks (bytes32; 0: rate 0)
    COLLATERAL(i)               token (160) | decimals (8, at 160) | haircutBps (16, at 168)
    COLLATERAL_FEED(i)          oracle feed of the token's USD price (0: exactly $1)
    TOKEN_INDEX(token)          collateral index + 1
    MARKET(m)                   kind (8) | isCall (8, at 8) | american (8, at 16) | status (8, at 24)
                                | makerFeeBps (16, at 32) | takerFeeBps (16, at 48) | expiry (64, at 64)
                                | settleWindow (32, at 128)
    MARKET_UNDERLYING(m)        oracle feed id
    MARKET_STRIKE(m)            wad
    MARKET_MARGIN(m)            im_base | im_per_unit | mm_base | mm_per_unit (64 bits each, wad)
    MARKET_OPTION_MARGIN(m)     opt_im_max | opt_im_min | opt_mm | opt_put_mm_mark (64 each)
    MARKET_SETTLEMENT(m)        settlement price (wad)
    FUNDING(m)                  index (int192, wad quote per unit) | lastUpdate (64, at 192)
    FUNDING_PREMIUM(m)          premium EMA (int128, wad) | last fill VWAP (128, at 128)
    FILL_SIZE(m, block)         sum of the perpetual's fill sizes in the block (wad), and
    FILL_NOTIONAL(m, block)     of their notionals (wad): the fill VWAP the next block's
                                funding step reads, then clears (accumulated)
    SHORT_COUNT(m), SHORT(m, i), SHORT_INDEX(m, account)   short holders of American options
    ACCOUNT(a)                  owner (160) | subaccount (32, at 160) | mode (8, at 192)
                                | positionCount (16, at 200); a = keccak256(owner, subaccount)
    CASH(a)                     quote cash (int256, smallest unit of the quote token)
    BALANCE(a, i)               non-quote collateral i (token units)
    POSITION_AT(a, k)           market id of the account's k-th position
    POSITION(a, m)              size (int128, wad) | cost (int128, wad)
    POSITION_META(a, m)         funding index at last touch (int192) | list index + 1 (32, at 192)
    FEE(shard)                  fee account cash (int256, quote units), 256 shards by taker
                                (accumulated)
    POOL(shard)                 clearing pool cash (int256), 16 shards by account: the other
                                side of realized P&L, funding and settlement payments
                                (accumulated)
    FILLED(orderHash)           amount filled (type(uint256).max once cancelled)
    NONCE_FLOOR(owner, sub)     orders with a lower nonce are cancelled
    DELEGATE(owner, delegate)   1 when ``delegate`` may sign orders for ``owner``

Conservation: tokens held by the clearinghouse = sum(CASH) + sum(FEE) + sum(POOL) for the
quote token, and sum(BALANCE(., i)) for every other collateral token.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from strikevm.crypto import keccak256

CLEARINGHOUSE_ADDRESS = 0x53540003
"""Address of StrikeClearinghouse, inside the reserved system range."""

PERP, FUTURE, OPTION = 1, 2, 3
STANDARD, PORTFOLIO = 0, 1
ACTIVE, SETTLED = 0, 1
SHARDS = 16
FLAG_POST_ONLY = 1
FLAG_REDUCE_ONLY = 2
CANCELLED = (1 << 256) - 1
WAD = 10**18
SIZE_LIMIT = 1 << 100  # sizes and prices must be below this (wad)
_M = (1 << 256) - 1


def _w(value: int) -> bytes:
    return (value & _M).to_bytes(32, "big")


_NAMESPACES: dict[bytes, bytes] = {}


@lru_cache(maxsize=1 << 16)
def _slot(name: bytes, *keys: int) -> int:
    """A pure function (memoized: slot derivation is hot and the same slots recur)."""
    prefix = _NAMESPACES.get(name)
    if prefix is None:
        prefix = _NAMESPACES[name] = keccak256(name)
    return int.from_bytes(keccak256(prefix + b"".join([(k & _M).to_bytes(32, "big") for k in keys])), "big")


GLOBAL = _slot(b"ch.global")
RATE_FEED = _slot(b"ch.rateFeed")


def collateral(i: int) -> int:
    return _slot(b"ch.collateral", i)


def collateral_feed(i: int) -> int:
    return _slot(b"ch.collateralFeed", i)


def token_index(token: int) -> int:
    return _slot(b"ch.tokenIndex", token)


def market(m: int) -> int:
    return _slot(b"ch.market", m)


def market_underlying(m: int) -> int:
    return _slot(b"ch.underlying", m)


def market_strike(m: int) -> int:
    return _slot(b"ch.strike", m)


def market_margin(m: int) -> int:
    return _slot(b"ch.margin", m)


def market_option_margin(m: int) -> int:
    return _slot(b"ch.optionMargin", m)


def market_settlement(m: int) -> int:
    return _slot(b"ch.settlement", m)


def funding(m: int) -> int:
    return _slot(b"ch.funding", m)


def funding_premium(m: int) -> int:
    return _slot(b"ch.premium", m)


def fill_size(m: int, block: int) -> int:
    return _slot(b"ch.fillSize", m, block)


def fill_notional(m: int, block: int) -> int:
    return _slot(b"ch.fillNotional", m, block)


def short_count(m: int) -> int:
    return _slot(b"ch.shortCount", m)


def short_at(m: int, i: int) -> int:
    return _slot(b"ch.short", m, i)


def short_index(m: int, account: int) -> int:
    return _slot(b"ch.shortIndex", m, account)


def account_key(owner: int, sub: int) -> int:
    return int.from_bytes(keccak256(_w(owner) + _w(sub)), "big")


def account(a: int) -> int:
    return _slot(b"ch.account", a)


def cash(a: int) -> int:
    return _slot(b"ch.cash", a)


def balance(a: int, i: int) -> int:
    return _slot(b"ch.balance", a, i)


def position_at(a: int, k: int) -> int:
    return _slot(b"ch.positionAt", a, k)


def position(a: int, m: int) -> int:
    return _slot(b"ch.position", a, m)


def position_meta(a: int, m: int) -> int:
    return _slot(b"ch.positionMeta", a, m)


def fee(shard: int) -> int:
    return _slot(b"ch.fee", shard)


def pool(shard: int) -> int:
    return _slot(b"ch.pool", shard)


def filled(order_hash: int) -> int:
    return _slot(b"ch.filled", order_hash)


def nonce_floor(owner: int, sub: int) -> int:
    return _slot(b"ch.nonceFloor", owner, sub)


def delegate(owner: int, who: int) -> int:
    return _slot(b"ch.delegate", owner, who)


def shard_of(value: int) -> int:
    return value % SHARDS


INDEX_SHARDS = 256
"""Shards of the risk index's lists (holders per market, trigger buckets), by account."""


def index_shard_of(account: int) -> int:
    return account % INDEX_SHARDS


# --------------------------------------------------------------------- packing


def signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def u(value: int, bits: int) -> int:
    return value & ((1 << bits) - 1)


@dataclass(frozen=True, slots=True)
class MarketWord:
    kind: int
    is_call: bool
    american: bool
    status: int
    maker_fee_bps: int
    taker_fee_bps: int
    expiry: int
    settle_window: int

    def pack(self) -> int:
        return (
            self.kind | int(self.is_call) << 8 | int(self.american) << 16 | self.status << 24
            | u(self.maker_fee_bps, 16) << 32 | u(self.taker_fee_bps, 16) << 48
            | u(self.expiry, 64) << 64 | u(self.settle_window, 32) << 128
        )  # fmt: skip

    @classmethod
    def unpack(cls, w: int) -> MarketWord:
        return cls(
            kind=w & 0xFF, is_call=bool(w >> 8 & 0xFF), american=bool(w >> 16 & 0xFF),
            status=w >> 24 & 0xFF, maker_fee_bps=w >> 32 & 0xFFFF, taker_fee_bps=w >> 48 & 0xFFFF,
            expiry=w >> 64 & ((1 << 64) - 1), settle_window=w >> 128 & 0xFFFFFFFF,
        )  # fmt: skip


def pack4(a: int, b: int, c: int, d: int) -> int:
    return u(a, 64) | u(b, 64) << 64 | u(c, 64) << 128 | u(d, 64) << 192


def unpack4(w: int) -> tuple[int, int, int, int]:
    m = (1 << 64) - 1
    return w & m, w >> 64 & m, w >> 128 & m, w >> 192 & m


def pack_position(size: int, cost: int) -> int:
    return u(size, 128) | u(cost, 128) << 128


def unpack_position(w: int) -> tuple[int, int]:
    return signed(w, 128), signed(w >> 128, 128)


def pack_meta(funding_index: int, list_index: int) -> int:
    return u(funding_index, 192) | u(list_index, 32) << 192


def unpack_meta(w: int) -> tuple[int, int]:
    return signed(w, 192), w >> 192 & 0xFFFFFFFF


def pack_funding(index: int, last: int) -> int:
    return u(index, 192) | u(last, 64) << 192


def unpack_funding(w: int) -> tuple[int, int]:
    return signed(w, 192), w >> 192


def pack_premium(ema: int, vwap: int) -> int:
    return u(ema, 128) | u(vwap, 128) << 128


def unpack_premium(w: int) -> tuple[int, int]:
    return signed(w, 128), w >> 128


def pack_account(owner: int, sub: int, mode: int, count: int) -> int:
    return owner | u(sub, 32) << 160 | u(mode, 8) << 192 | u(count, 16) << 200


def unpack_account(w: int) -> tuple[int, int, int, int]:
    return w & ((1 << 160) - 1), w >> 160 & 0xFFFFFFFF, w >> 192 & 0xFF, w >> 200 & 0xFFFF


# ------------------------------------------------------------------- orders

ORDER_TYPE = (
    "Order(address owner,uint32 subaccount,uint32 market,bool isBuy,uint256 size,"
    "uint256 limitPrice,uint64 expiry,uint64 nonce,uint8 flags)"
)
ORDER_TYPEHASH = keccak256(ORDER_TYPE.encode())
DOMAIN_TYPEHASH = keccak256(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)


@dataclass(frozen=True, slots=True)
class Order:
    owner: int
    subaccount: int
    market: int
    is_buy: bool
    size: int
    limit_price: int
    expiry: int
    nonce: int
    flags: int = 0

    def words(self) -> tuple[int, ...]:
        return (self.owner, self.subaccount, self.market, int(self.is_buy), self.size,
                self.limit_price, self.expiry, self.nonce, self.flags)  # fmt: skip

    def encode(self) -> bytes:
        return b"".join(_w(v) for v in self.words())


def domain_separator(chain_id: int, contract: int = CLEARINGHOUSE_ADDRESS) -> bytes:
    return keccak256(
        DOMAIN_TYPEHASH + keccak256(b"StrikeClearinghouse") + keccak256(b"1")
        + _w(chain_id) + _w(contract)
    )  # fmt: skip


def order_digest(order: Order, chain_id: int, contract: int = CLEARINGHOUSE_ADDRESS) -> bytes:
    struct_hash = keccak256(ORDER_TYPEHASH + order.encode())
    return keccak256(b"\x19\x01" + domain_separator(chain_id, contract) + struct_hash)


def sign_order(order: Order, key: bytes, chain_id: int, contract: int = CLEARINGHOUSE_ADDRESS) -> bytes:
    """65-byte signature r ‖ s ‖ v (v = 27/28) over the order's EIP-712 digest."""
    from strikevm.crypto import sign_hash

    v, r, s = sign_hash(order_digest(order, chain_id, contract), key)
    return _w(r) + _w(s) + bytes([27 + v])


# ------------------------------------------------------------- risk engine
# (finance.liquidation) Holders of every market, trigger-price buckets, the pass's state.
#
#   HOLDER_COUNT(m, shard), HOLDER(m, shard, i), HOLDER_INDEX(m, a)   accounts with a
#                        position in m, one list per index shard of the account (256: trades
#                        between different accounts rarely share a list)
#   BAND(a, feed)        down bucket + 2^31 (32) | up bucket + 2^31 (32, at 32)
#                        | position in the down bucket + 1 (32, at 64) | in the up bucket + 1 (32, at 96)
#   BUCKET_COUNT(feed, side, b, shard), BUCKET(feed, side, b, shard, i)   accounts whose
#                        trigger price lies in bucket b (side 0: a fall to it, 1: a rise to
#                        it), one list per shard of the account
#   RISK_SPOT(feed)      spot (wad) at the last pass
#   PENDING_COUNT, PENDING(i)   accounts found below maintenance, waiting for budget
#   LIQUIDATABLE_SINCE(a)       block time the account was first found below maintenance
#   SWEEP                market (32) | shard (32, at 32) | holder index (32, at 64)
#   INSURANCE            the insurance fund is the account (clearinghouse, subaccount 1)

INSURANCE_SUB = 1
RISK_PENDING_COUNT = _slot(b"ch.pendingCount")
SWEEP = _slot(b"ch.sweep")


def holder_count(m: int, shard: int) -> int:
    return _slot(b"ch.holderCount", m, shard)


def holder_at(m: int, shard: int, i: int) -> int:
    return _slot(b"ch.holder", m, shard, i)


def holder_index(m: int, a: int) -> int:
    return _slot(b"ch.holderIndex", m, a)


def band(a: int, feed: int) -> int:
    return _slot(b"ch.band", a, feed)


def bucket_count(feed: int, side: int, b: int, shard: int) -> int:
    return _slot(b"ch.bucketCount", feed, side, b, shard)


def bucket_at(feed: int, side: int, b: int, shard: int, i: int) -> int:
    return _slot(b"ch.bucket", feed, side, b, shard, i)


def risk_spot(feed: int) -> int:
    return _slot(b"ch.riskSpot", feed)


def pending_at(i: int) -> int:
    return _slot(b"ch.pending", i)


def liquidatable_since(a: int) -> int:
    return _slot(b"ch.liquidatableSince", a)


def pending_flag(a: int) -> int:
    return _slot(b"ch.pendingFlag", a)


# market lists kept for the block steps: perpetuals (funding) and underlyings (the pass)
PERP_COUNT = _slot(b"ch.perpCount")
UNDERLYING_COUNT = _slot(b"ch.underlyingCount")


def perp_at(i: int) -> int:
    return _slot(b"ch.perp", i)


def underlying_at(i: int) -> int:
    return _slot(b"ch.underlyingList", i)


def adl_cursor(m: int) -> int:
    """Holder shard where the next auto-deleveraging window of market m starts."""
    return _slot(b"ch.adlCursor", m)
