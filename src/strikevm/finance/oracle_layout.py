"""StrikeOracle's storage layout, EIP-712 messages and signed-update wire format.

Everything here is shared by the contract (``finance.oracle``), the genesis writer
and the publisher tooling, so the three agree by construction.

Storage layout (account ``0x…53540002``). Every slot is ``keccak256`` of an
ABI-encoded key, so feeds never share a slot (no hot slot across feeds)::

    GLOBAL        = keccak256("StrikeOracle.global")
                    admin (160) | feedCount (32, at 192)
    FEED_LIST[i]  = keccak256(abi.encode("StrikeOracle.feeds", i))          -> feed id
    CONFIG(f)     = keccak256(abi.encode(f, "config"))
                    exists (bit 0) | twapCapacity (32, at 112) | emaWindow (32, at 144)
                    | staleness (32, at 176) | maxDeviationBps (16, at 208)
                    | publisherCount (8, at 224) | decimals (8, at 232) | quorum (8, at 240)
                    | kind (8, at 248: 1 price, 2 rate)
    PUBLISHER(f, i) = keccak256(abi.encode(f, "publisher", i))              -> address
    LATEST(f, p)  = keccak256(abi.encode(f, "latest", p))     a publisher's latest value
                    price feed: price (96) | conf (64, at 96) | time (48, at 160) | member (bit 255)
                    rate feed:  rate (int96) | time (48, at 160) | member (bit 255)
    AGGREGATE(f)  = keccak256(abi.encode(f, "aggregate"))
                    price/rate (96) | conf (64, at 96) | time (48, at 160) | validUntil (48, at 208)
    STATE(f)      = keccak256(abi.encode(f, "state"))
                    ema (96) | anchor (96, at 96) | anchorBlock (32, at 192) | obsCount (32, at 224)
    OBS(f, k)     = keccak256(abi.encode(f, "obs", k mod twapCapacity))   TWAP observation k
                    time (40) | price (88, at 40) | cumulative price-seconds (127, at 128)
                    | allocated (bit 255: genesis pre-allocates the ring, so steady-state
                    observation writes are updates, not new slots, as Uniswap v3 does)
    VOL_LATEST(v, p) = keccak256(abi.encode(v, "latest", p)), v = keccak256(abi.encode(f, expiry))
                    atm (64) | skew (int64, at 64) | convexity (int64, at 128) | time (48, at 192)
    VOL_AGG(v)    = keccak256(abi.encode(v, "aggregate"))
                    atm (64) | skew (int64, at 64) | convexity (int64, at 128) | validUntil (48, at 192)

Signed updates (one element of ``updatePrices(bytes[])``): a kind byte, the message
words, then ``r (32) | s (32) | v (1)`` with ``v`` 27/28 or 0/1::

    0x01 price       feedId | price | confidence | publishTime                     194 bytes
    0x02 volatility  underlying | expiry | atmVolatility | skew | convexity | publishTime  258 bytes
    0x03 rate        currency | rate (int256) | publishTime                         162 bytes

Each is signed as EIP-712 typed data under the domain
``EIP712Domain(name "StrikeOracle", version "1", chainId, verifyingContract = oracle)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from strikevm.crypto import keccak256, sign_hash

ORACLE_ADDRESS = 0x53540002
"""Address of StrikeOracle, inside the reserved system range 0x53540000-0x5354ffff."""

KIND_PRICE = 1
KIND_RATE = 2

UPDATE_PRICE = 0x01
UPDATE_VOLATILITY = 0x02
UPDATE_RATE = 0x03
UPDATE_SIZES = {UPDATE_PRICE: 1 + 4 * 32 + 65, UPDATE_VOLATILITY: 1 + 6 * 32 + 65, UPDATE_RATE: 1 + 3 * 32 + 65}

PRICE_LIMIT = 1 << 88  # prices (in feed decimals) must be below this (TWAP observations hold 88 bits)
CONF_LIMIT = 1 << 64
RATE_LIMIT = 1 << 95  # |rate| in wad
VOL_LIMIT = 1 << 64  # atm volatility in wad
SMILE_LIMIT = 1 << 63  # |skew|, |convexity| in wad
TIME_LIMIT = 1 << 40
MAX_FUTURE_SECONDS = 15
"""How far past the block timestamp a publish time may be (publisher clock skew)."""
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

_M96 = (1 << 96) - 1
_M64 = (1 << 64) - 1
_M48 = (1 << 48) - 1
_M40 = (1 << 40) - 1
_M32 = (1 << 32) - 1
_M16 = (1 << 16) - 1
_M8 = 0xFF


def _word(value: int) -> bytes:
    return (value & ((1 << 256) - 1)).to_bytes(32, "big")


def _string_word(text: str) -> bytes:
    """How abi.encode places a short string key: we hash the UTF-8 bytes into the key."""
    return keccak256(text.encode())


def _slot(*parts: bytes) -> int:
    return int.from_bytes(keccak256(b"".join(parts)), "big")


# ------------------------------------------------------------------- slots

GLOBAL_SLOT = _slot(b"StrikeOracle.global")
_FEEDS = _string_word("StrikeOracle.feeds")
_CONFIG = _string_word("config")
_PUBLISHER = _string_word("publisher")
_LATEST = _string_word("latest")
_AGGREGATE = _string_word("aggregate")
_STATE = _string_word("state")
_OBS = _string_word("obs")


def feed_list_slot(index: int) -> int:
    return _slot(_FEEDS, _word(index))


def config_slot(feed: int) -> int:
    return _slot(_word(feed), _CONFIG)


def publisher_slot(feed: int, index: int) -> int:
    return _slot(_word(feed), _PUBLISHER, _word(index))


def latest_slot(feed: int, publisher: int) -> int:
    return _slot(_word(feed), _LATEST, _word(publisher))


def aggregate_slot(feed: int) -> int:
    return _slot(_word(feed), _AGGREGATE)


def state_slot(feed: int) -> int:
    return _slot(_word(feed), _STATE)


def obs_slot(feed: int, position: int) -> int:
    return _slot(_word(feed), _OBS, _word(position))


def vol_id(underlying: int, expiry: int) -> int:
    return int.from_bytes(keccak256(_word(underlying) + _word(expiry)), "big")


def feed_id(name: str) -> int:
    """The id of a feed named like ``"ETH/USD"``: keccak256 of its UTF-8 name."""
    return int.from_bytes(keccak256(name.encode()), "big")


# ----------------------------------------------------------------- packing


@dataclass(frozen=True, slots=True)
class FeedConfig:
    kind: int
    quorum: int
    decimals: int
    publisher_count: int
    max_deviation_bps: int
    staleness: int
    ema_window: int
    twap_capacity: int

    def pack(self) -> int:
        return (
            1
            | (self.twap_capacity & _M32) << 112
            | (self.ema_window & _M32) << 144
            | (self.staleness & _M32) << 176
            | (self.max_deviation_bps & _M16) << 208
            | (self.publisher_count & _M8) << 224
            | (self.decimals & _M8) << 232
            | (self.quorum & _M8) << 240
            | (self.kind & _M8) << 248
        )

    @classmethod
    def unpack(cls, word: int) -> FeedConfig | None:
        if not word & 1:
            return None
        return cls(
            kind=word >> 248 & _M8,
            quorum=word >> 240 & _M8,
            decimals=word >> 232 & _M8,
            publisher_count=word >> 224 & _M8,
            max_deviation_bps=word >> 208 & _M16,
            staleness=word >> 176 & _M32,
            ema_window=word >> 144 & _M32,
            twap_capacity=word >> 112 & _M32,
        )


def pack_global(admin: int, feed_count: int) -> int:
    return admin | (feed_count & _M32) << 192


def unpack_global(word: int) -> tuple[int, int]:
    return word & ((1 << 160) - 1), word >> 192 & _M32


MEMBER = 1 << 255


def pack_latest(price: int, conf: int, time: int, member: bool = True) -> int:
    """A price publisher's latest value (or, with conf 0, a rate as int96)."""
    return (price & _M96) | (conf & _M64) << 96 | (time & _M48) << 160 | (MEMBER if member else 0)


def unpack_latest(word: int) -> tuple[int, int, int, bool]:
    return word & _M96, word >> 96 & _M64, word >> 160 & _M48, bool(word & MEMBER)


def pack_aggregate(price: int, conf: int, time: int, valid_until: int) -> int:
    return (price & _M96) | (conf & _M64) << 96 | (time & _M48) << 160 | (valid_until & _M48) << 208


def unpack_aggregate(word: int) -> tuple[int, int, int, int]:
    return word & _M96, word >> 96 & _M64, word >> 160 & _M48, word >> 208 & _M48


def pack_state(ema: int, anchor: int, anchor_block: int, obs_count: int) -> int:
    return (ema & _M96) | (anchor & _M96) << 96 | (anchor_block & _M32) << 192 | (obs_count & _M32) << 224


def unpack_state(word: int) -> tuple[int, int, int, int]:
    return word & _M96, word >> 96 & _M96, word >> 192 & _M32, word >> 224 & _M32


OBS_ALLOCATED = 1 << 255
_M127 = (1 << 127) - 1


def pack_obs(time: int, price: int, cumulative: int) -> int:
    return (time & _M40) | (price & ((1 << 88) - 1)) << 40 | (cumulative & _M127) << 128 | OBS_ALLOCATED


def unpack_obs(word: int) -> tuple[int, int, int]:
    return word & _M40, word >> 40 & ((1 << 88) - 1), word >> 128 & _M127


def signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def pack_vol(atm: int, skew: int, convexity: int, time: int) -> int:
    return (atm & _M64) | (skew & _M64) << 64 | (convexity & _M64) << 128 | (time & _M48) << 192


def unpack_vol(word: int) -> tuple[int, int, int, int]:
    return word & _M64, signed(word >> 64, 64), signed(word >> 128, 64), word >> 192 & _M48


# ------------------------------------------------------------------ EIP-712

DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
PRICE_TYPE = "PriceUpdate(bytes32 feedId,uint256 price,uint256 confidence,uint64 publishTime)"
VOL_TYPE = (
    "VolatilityUpdate(bytes32 underlying,uint64 expiry,uint256 atmVolatility,int256 skew,"
    "int256 convexity,uint64 publishTime)"
)
RATE_TYPE = "RateUpdate(bytes32 currency,int256 rate,uint64 publishTime)"
DOMAIN_TYPEHASH = keccak256(DOMAIN_TYPE.encode())
PRICE_TYPEHASH = keccak256(PRICE_TYPE.encode())
VOL_TYPEHASH = keccak256(VOL_TYPE.encode())
RATE_TYPEHASH = keccak256(RATE_TYPE.encode())
DOMAIN_NAME = "StrikeOracle"
DOMAIN_VERSION = "1"


def domain_separator(
    chain_id: int, oracle: int = ORACLE_ADDRESS, *, name: str = DOMAIN_NAME,
    version: str = DOMAIN_VERSION,
) -> bytes:  # fmt: skip
    """EIP-712 ``hashStruct(EIP712Domain)`` for a name, version, chain id and contract."""
    return keccak256(
        DOMAIN_TYPEHASH + keccak256(name.encode()) + keccak256(version.encode())
        + _word(chain_id) + _word(oracle)
    )  # fmt: skip


def eip712_digest(domain: bytes, struct_hash: bytes) -> bytes:
    """The signed digest: keccak256(0x19 0x01 ‖ domainSeparator ‖ hashStruct(message))."""
    return keccak256(b"\x19\x01" + domain + struct_hash)


def typed_digest(domain: bytes, typehash: bytes, words: Sequence[int]) -> bytes:
    """EIP-712 digest of a struct of static fields (each encoded as one word)."""
    return eip712_digest(domain, keccak256(typehash + b"".join(_word(w) for w in words)))


TYPEHASH_OF = {UPDATE_PRICE: PRICE_TYPEHASH, UPDATE_VOLATILITY: VOL_TYPEHASH, UPDATE_RATE: RATE_TYPEHASH}


def encode_update(kind: int, words: Sequence[int], key: bytes, chain_id: int, oracle: int = ORACLE_ADDRESS) -> bytes:
    """Sign ``words`` (the message fields in type order) with ``key`` and encode the update."""
    digest = typed_digest(domain_separator(chain_id, oracle), TYPEHASH_OF[kind], words)
    v, r, s = sign_hash(digest, key)
    return bytes([kind]) + b"".join(_word(w) for w in words) + _word(r) + _word(s) + bytes([27 + v])


def price_update(key: bytes, feed: int, price: int, conf: int, publish_time: int, chain_id: int, oracle: int = ORACLE_ADDRESS) -> bytes:
    return encode_update(UPDATE_PRICE, (feed, price, conf, publish_time), key, chain_id, oracle)


def volatility_update(
    key: bytes, underlying: int, expiry: int, atm: int, skew: int, convexity: int,
    publish_time: int, chain_id: int, oracle: int = ORACLE_ADDRESS,
) -> bytes:  # fmt: skip
    words = (underlying, expiry, atm, skew, convexity, publish_time)
    return encode_update(UPDATE_VOLATILITY, words, key, chain_id, oracle)


def rate_update(key: bytes, currency: int, rate: int, publish_time: int, chain_id: int, oracle: int = ORACLE_ADDRESS) -> bytes:
    return encode_update(UPDATE_RATE, (currency, rate, publish_time), key, chain_id, oracle)
