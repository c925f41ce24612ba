"""StrikeOracle: signed multi-publisher price, volatility and rate feeds (native contract).

Publishers sign EIP-712 updates off-chain; anyone relays them with
``updatePrices(bytes[])``. Each update is verified natively (secp256k1 via coincurve),
checked (known publisher, not stale, not future-dated, not replayed, in order, in
range) and stored; then each touched feed is aggregated once:

* **price** = median of the latest fresh price of each publisher (one outlier among
  three cannot move it); **confidence** = median over fresh publishers of
  ``conf_i + |price_i - price|`` (disagreement widens it, one outlier does not);
  **publishTime** = median of the fresh publish times; the aggregate is usable until
  ``validUntil`` = the quorum-th freshest publish time + staleness, after which reads
  revert ``QuorumNotMet`` until fresh updates arrive;
* **deviation guard (clamp)**: within one block the aggregate may move at most
  ``maxDeviationBps`` from the *anchor*, the aggregate that stood when the block began;
  beyond it the price is clamped to the bound and the confidence widened to cover the
  unclamped median (``AggregateUpdated.clamped`` is true). We clamp rather than reject
  because a rejecting feed freezes in a genuine fast market (no fresh price, no
  liquidations), while a clamped feed converges at a bounded speed per block and tells
  consumers, through its confidence, how far the publishers' median is;
* **EMA**: each aggregation moves the EMA by ``min(dt, emaWindow) / emaWindow`` of the
  gap (a first-order time-weighted EMA, integers only);
* **TWAP**: an observation ring (``twapCapacity`` entries, one per block timestamp)
  holds the cumulative price-seconds, so ``getTwap(feed, window)`` and
  ``getTwapBetween(feed, start, end)`` (e.g. the 30 minutes before an expiry) are exact
  time-weighted means of the aggregate over block time.

Volatility surfaces (per underlying feed and expiry: ATM vol, skew and convexity in
log-moneyness) and risk-free rates (rate feeds, signed) are aggregated by median the
same way. Storage layout, message types and wire format: :mod:`.oracle_layout`.

Gas (charged before the work; storage through the host as SLOAD/SSTORE, events as LOG):
``GAS_CALL`` per call, ``GAS_VERIFY`` per signature (ECRECOVER's 3,000) plus
``GAS_DIGEST`` for the EIP-712 hashing, ``GAS_AGGREGATE + GAS_AGGREGATE_PER_PUBLISHER
x n`` per feed aggregation, ``GAS_VOL_EVAL`` for a smile evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from strikevm.crypto import SignatureError, ecrecover_address, keccak256
from strikevm.finance.abi import custom_error, selector
from strikevm.finance.abi import words as _words
from strikevm.vm.errors import NativeRevertError

from . import fixedpoint as fp
from .oracle_layout import (
    CONF_LIMIT,
    GLOBAL_SLOT,
    KIND_PRICE,
    KIND_RATE,
    MAX_FUTURE_SECONDS,
    OBS_ALLOCATED,
    ORACLE_ADDRESS,
    PRICE_LIMIT,
    RATE_LIMIT,
    SECP256K1_N,
    SMILE_LIMIT,
    TIME_LIMIT,
    TYPEHASH_OF,
    UPDATE_PRICE,
    UPDATE_RATE,
    UPDATE_SIZES,
    UPDATE_VOLATILITY,
    VOL_LIMIT,
    FeedConfig,
    aggregate_slot,
    config_slot,
    domain_separator,
    feed_list_slot,
    latest_slot,
    obs_slot,
    pack_aggregate,
    pack_global,
    pack_latest,
    pack_obs,
    pack_state,
    pack_vol,
    publisher_slot,
    signed,
    state_slot,
    typed_digest,
    unpack_aggregate,
    unpack_global,
    unpack_latest,
    unpack_obs,
    unpack_state,
    unpack_vol,
    vol_id,
)

if TYPE_CHECKING:
    from strikevm.vm.host import Host

__all__ = ["ORACLE_ADDRESS", "OracleRevert", "StrikeOracle", "FUNCTIONS", "ERRORS"]

GAS_CALL = 200
GAS_VERIFY = 3_000
GAS_DIGEST = 110
GAS_AGGREGATE = 200
GAS_AGGREGATE_PER_PUBLISHER = 60
GAS_VOL_EVAL = 1_200
MAX_PUBLISHERS = 32
MAX_UPDATES = 256
WAD = 10**18
_W = 32
_MASK = (1 << 256) - 1
_ADDR = (1 << 160) - 1

# function signature -> handler name
FUNCTIONS: dict[str, str] = {
    "updatePrices(bytes[])": "_update_prices",
    "getPrice(bytes32)": "_get_price",
    "getPriceWad(bytes32)": "_get_price_wad",
    "getPriceNoOlderThan(bytes32,uint256)": "_get_price_no_older_than",
    "getEmaPrice(bytes32)": "_get_ema_price",
    "getTwap(bytes32,uint256)": "_get_twap",
    "getTwapBetween(bytes32,uint256,uint256)": "_get_twap_between",
    "getVolatility(bytes32,uint256,uint256)": "_get_volatility",
    "getVolatilitySurface(bytes32,uint256)": "_get_surface",
    "getRate(bytes32)": "_get_rate",
    "getFeed(bytes32)": "_get_feed",
    "getPublishers(bytes32)": "_get_publishers",
    "getPublisherPrice(bytes32,address)": "_get_publisher_price",
    "feedIds()": "_feed_ids",
    "admin()": "_admin",
    "setFeed(bytes32,uint8,uint8,uint8,uint16,uint32,uint32,uint32)": "_set_feed",
    "addPublisher(bytes32,address)": "_add_publisher",
    "removePublisher(bytes32,address)": "_remove_publisher",
    "setAdmin(address)": "_set_admin",
}

ERRORS: tuple[str, ...] = (
    "UnknownSelector(bytes4)",
    "MalformedCalldata()",
    "MalformedUpdate(uint256)",
    "InvalidSignature(uint256)",
    "MalleableSignature(uint256)",
    "UnknownFeed(bytes32)",
    "WrongFeedKind(bytes32)",
    "UnknownPublisher(bytes32,address)",
    "ReplayedUpdate(bytes32,address,uint256)",
    "OutOfOrderUpdate(bytes32,address,uint256,uint256)",
    "FutureUpdate(uint256,uint256)",
    "StaleUpdate(uint256,uint256)",
    "InvalidValue(uint256)",
    "TooManyUpdates(uint256)",
    "QuorumNotMet(bytes32)",
    "StalePrice(bytes32,uint256)",
    "NoVolatility(bytes32,uint256)",
    "TwapWindowTooLong(bytes32,uint256)",
    "InvalidWindow()",
    "NotAdmin(address)",
    "InvalidConfig()",
    "PublisherExists(bytes32,address)",
)

EVENT_AGGREGATE = int.from_bytes(
    keccak256(b"AggregateUpdated(bytes32,uint256,uint256,uint256,bool)"), "big"
)
EVENT_VOLATILITY = int.from_bytes(
    keccak256(b"VolatilityUpdated(bytes32,uint256,uint256,int256,int256)"), "big"
)
EVENT_RATE = int.from_bytes(keccak256(b"RateUpdated(bytes32,int256,uint256)"), "big")
EVENT_FEED = int.from_bytes(keccak256(b"FeedConfigured(bytes32)"), "big")
EVENT_PUBLISHER_ADDED = int.from_bytes(keccak256(b"PublisherAdded(bytes32,address)"), "big")
EVENT_PUBLISHER_REMOVED = int.from_bytes(keccak256(b"PublisherRemoved(bytes32,address)"), "big")
EVENT_ADMIN = int.from_bytes(keccak256(b"AdminChanged(address,address)"), "big")


_sel = selector
error = custom_error
"""Revert data of one of :data:`ERRORS` (arguments are words; negatives as int256)."""


ERROR_BY_SELECTOR = {_sel(sig): sig for sig in ERRORS}


class OracleRevert(NativeRevertError):
    """A StrikeOracle revert; ``data`` is the custom error, ``name`` its Solidity name."""

    errors = ERROR_BY_SELECTOR


def _median(values: list[int]) -> int:
    """Median of a non-empty list; the floor of the mean of the middle two for even sizes."""
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) // 2


class _Batch:
    """Per-call memo of what has been read (configs, domain) and what must be aggregated."""

    def __init__(self) -> None:
        self.configs: dict[int, FeedConfig | None] = {}
        self.feeds: dict[int, None] = {}  # price/rate feeds to aggregate, in first-touch order
        self.surfaces: dict[tuple[int, int], None] = {}


class StrikeOracle:
    """The native contract; see the module docstring."""

    address = ORACLE_ADDRESS
    name = "StrikeOracle"
    payable = False
    delegatable = False
    base_gas = GAS_CALL
    revert_type = OracleRevert

    def __init__(self) -> None:
        self._handlers: dict[bytes, tuple[Callable[[Host, bytes], bytes], int]] = {}
        for signature, attr in FUNCTIONS.items():
            n_args = len(signature[signature.index("(") + 1 : -1].split(",")) if "()" not in signature else 0
            self._handlers[_sel(signature)] = (getattr(self, attr), n_args)

    def __call__(self, host: Host) -> bytes:
        host.charge(GAS_CALL)
        data = host.data
        entry = self._handlers.get(bytes(data[:4]))
        if entry is None:
            if len(data) < 4:
                host.revert(error("MalformedCalldata()"))
            host.revert(_sel("UnknownSelector(bytes4)") + bytes(data[:4]) + bytes(28))
        handler, n_args = entry
        if len(data) < 4 + _W * n_args:
            host.revert(error("MalformedCalldata()"))
        return handler(host, data)

    # ------------------------------------------------------------ helpers
    @staticmethod
    def _arg(data: bytes, i: int) -> int:
        return int.from_bytes(data[4 + _W * i : 36 + _W * i], "big")

    def _config(self, host: Host, feed: int, batch: _Batch | None = None) -> FeedConfig:
        if batch is not None and feed in batch.configs:
            found = batch.configs[feed]
        else:
            found = FeedConfig.unpack(host.sload(config_slot(feed)))
            if batch is not None:
                batch.configs[feed] = found
        if found is None:
            host.revert(error("UnknownFeed(bytes32)", feed))
        return found

    def _require_admin(self, host: Host) -> tuple[int, int]:
        admin, count = unpack_global(host.sload(GLOBAL_SLOT))
        if host.caller != admin:
            host.revert(error("NotAdmin(address)", host.caller))
        return admin, count

    # ------------------------------------------------------------ updates
    def _update_prices(self, host: Host, data: bytes) -> bytes:
        items = _decode_bytes_array(data, 4)
        if items is None:
            host.revert(error("MalformedCalldata()"))
        if len(items) > MAX_UPDATES:
            host.revert(error("TooManyUpdates(uint256)", len(items)))
        now = host.block.timestamp
        max_future = MAX_FUTURE_SECONDS
        domain = domain_separator(host.block.chain_id, host.address)
        batch = _Batch()
        for index, raw in enumerate(items):
            self._apply_update(host, batch, index, raw, now, max_future, domain)
        for feed in batch.feeds:
            config = batch.configs[feed]
            assert config is not None
            if config.kind == KIND_PRICE:
                self._aggregate_price(host, feed, config, now)
            else:
                self._aggregate_rate(host, feed, config, now)
        for underlying, expiry in batch.surfaces:
            config = batch.configs[underlying]
            assert config is not None
            self._aggregate_surface(host, underlying, expiry, config, now)
        return b""

    def _apply_update(
        self, host: Host, batch: _Batch, index: int, raw: bytes, now: int, max_future: int,
        domain: bytes,
    ) -> None:  # fmt: skip
        kind = raw[0] if raw else -1
        if UPDATE_SIZES.get(kind) != len(raw):
            host.revert(error("MalformedUpdate(uint256)", index))
        n = (len(raw) - 66) // _W
        words = [int.from_bytes(raw[1 + _W * i : 33 + _W * i], "big") for i in range(n)]
        sig = raw[1 + _W * n :]
        r = int.from_bytes(sig[:32], "big")
        s = int.from_bytes(sig[32:64], "big")
        v = sig[64]
        if v >= 27:
            v -= 27
        if v not in (0, 1) or not 0 < r < SECP256K1_N or not 0 < s < SECP256K1_N:
            host.revert(error("InvalidSignature(uint256)", index))
        if s > SECP256K1_N // 2:
            host.revert(error("MalleableSignature(uint256)", index))
        host.charge(GAS_VERIFY + GAS_DIGEST)
        digest = typed_digest(domain, TYPEHASH_OF[kind], words)
        try:
            signer = int.from_bytes(ecrecover_address(digest, v, r, s), "big")
        except SignatureError:
            host.revert(error("InvalidSignature(uint256)", index))
        publish_time = words[-1]
        feed = words[0]
        config = self._config(host, feed, batch)
        if kind == UPDATE_VOLATILITY:
            if config.kind != KIND_PRICE:
                host.revert(error("WrongFeedKind(bytes32)", feed))
            expiry = words[1]
            member = unpack_latest(host.sload(latest_slot(feed, signer)))[3]
            if not member:
                host.revert(error("UnknownPublisher(bytes32,address)", feed, signer))
            vid = vol_id(feed, expiry)
            slot = latest_slot(vid, signer)
            previous = unpack_vol(host.sload(slot))[3]
        else:
            expected = KIND_PRICE if kind == UPDATE_PRICE else KIND_RATE
            if config.kind != expected:
                host.revert(error("WrongFeedKind(bytes32)", feed))
            slot = latest_slot(feed, signer)
            _, _, previous, member = unpack_latest(host.sload(slot))
            if not member:
                host.revert(error("UnknownPublisher(bytes32,address)", feed, signer))
        if publish_time > now + max_future:
            host.revert(error("FutureUpdate(uint256,uint256)", publish_time, now))
        if publish_time + config.staleness < now:
            host.revert(error("StaleUpdate(uint256,uint256)", publish_time, now))
        if publish_time == previous:
            host.revert(error("ReplayedUpdate(bytes32,address,uint256)", feed, signer, publish_time))
        if publish_time < previous:
            host.revert(
                error("OutOfOrderUpdate(bytes32,address,uint256,uint256)", feed, signer, publish_time, previous)
            )
        if kind == UPDATE_PRICE:
            price, conf = words[1], words[2]
            if not 0 < price < PRICE_LIMIT or conf >= CONF_LIMIT:
                host.revert(error("InvalidValue(uint256)", index))
            host.sstore(slot, pack_latest(price, conf, publish_time))
            batch.feeds[feed] = None
        elif kind == UPDATE_RATE:
            rate = signed(words[1], 256)
            if not -RATE_LIMIT < rate < RATE_LIMIT:
                host.revert(error("InvalidValue(uint256)", index))
            host.sstore(slot, pack_latest(rate, 0, publish_time))
            batch.feeds[feed] = None
        else:
            atm, skew, convexity = words[2], signed(words[3], 256), signed(words[4], 256)
            if not (
                0 < atm < VOL_LIMIT and -SMILE_LIMIT < skew < SMILE_LIMIT
                and -SMILE_LIMIT < convexity < SMILE_LIMIT and words[1] < TIME_LIMIT
            ):  # fmt: skip
                host.revert(error("InvalidValue(uint256)", index))
            host.sstore(slot, pack_vol(atm, skew, convexity, publish_time))
            batch.surfaces[(feed, words[1])] = None

    def _fresh(self, host: Host, feed: int, config: FeedConfig, now: int, key: int | None = None) -> list[tuple[int, int]]:
        """(publisher, latest word) of every publisher, reading ``key``'s latest slots."""
        out = []
        for i in range(config.publisher_count):
            publisher = host.sload(publisher_slot(feed, i))
            out.append((publisher, host.sload(latest_slot(feed if key is None else key, publisher))))
        host.charge(GAS_AGGREGATE + GAS_AGGREGATE_PER_PUBLISHER * config.publisher_count)
        return out

    @staticmethod
    def _valid_until(times: list[int], config: FeedConfig) -> int:
        return sorted(times, reverse=True)[config.quorum - 1] + config.staleness

    def _aggregate_price(self, host: Host, feed: int, config: FeedConfig, now: int) -> None:
        entries = []
        for _, word in self._fresh(host, feed, config, now):
            price, conf, time, member = unpack_latest(word)
            if member and time and time + config.staleness >= now:
                entries.append((price, conf, time))
        if len(entries) < config.quorum:
            return  # the stored aggregate stands until its validUntil; reads then revert
        median = _median([p for p, _, _ in entries])
        conf = _median([c + abs(p - median) for p, c, _ in entries])
        times = [t for _, _, t in entries]
        publish_time = _median(times)
        valid_until = self._valid_until(times, config)
        agg_slot = aggregate_slot(feed)
        st_slot = state_slot(feed)
        prev_price, _, prev_time, prev_valid = unpack_aggregate(host.sload(agg_slot))
        ema, anchor, anchor_block, count = unpack_state(host.sload(st_slot))
        number = host.block.number & 0xFFFFFFFF
        if anchor_block != number:
            anchor = prev_price if prev_price and now <= prev_valid else 0
            anchor_block = number
        price = median
        clamped = False
        if anchor and config.max_deviation_bps:
            bound = anchor * config.max_deviation_bps // 10_000
            low, high = anchor - bound, anchor + bound
            if price > high or price < low:
                price = high if price > high else max(low, 1)
                conf = max(conf, abs(median - price))
                clamped = True
        conf = min(conf, CONF_LIMIT - 1)
        # EMA over aggregate publish time
        if ema == 0 or config.ema_window == 0 or prev_time == 0:
            ema = price
        else:
            dt = min(max(publish_time - prev_time, 0), config.ema_window)
            ema += (price - ema) * dt // config.ema_window
        # TWAP observation at the block timestamp
        capacity = config.twap_capacity
        if capacity:
            if count:
                last_slot = obs_slot(feed, (count - 1) % capacity)
                last_time, last_price, cumulative = unpack_obs(host.sload(last_slot))
                if last_time == now:
                    host.sstore(last_slot, pack_obs(now, price, cumulative))
                else:
                    cumulative += last_price * (now - last_time)
                    host.sstore(obs_slot(feed, count % capacity), pack_obs(now, price, cumulative))
                    count += 1
            else:
                host.sstore(obs_slot(feed, 0), pack_obs(now, price, 0))
                count = 1
        host.sstore(agg_slot, pack_aggregate(price, conf, publish_time, valid_until))
        host.sstore(st_slot, pack_state(ema, anchor, anchor_block, count))
        host.emit([EVENT_AGGREGATE, feed], _words(price, conf, publish_time, int(clamped)))

    def _aggregate_rate(self, host: Host, feed: int, config: FeedConfig, now: int) -> None:
        entries = []
        for _, word in self._fresh(host, feed, config, now):
            value, _, time, member = unpack_latest(word)
            if member and time and time + config.staleness >= now:
                entries.append((signed(value, 96), time))
        if len(entries) < config.quorum:
            return
        rate = _median([r for r, _ in entries])
        times = [t for _, t in entries]
        publish_time = _median(times)
        host.sstore(
            aggregate_slot(feed),
            pack_aggregate(rate, 0, publish_time, self._valid_until(times, config)),
        )
        host.emit([EVENT_RATE, feed], _words(rate, publish_time))

    def _aggregate_surface(self, host: Host, underlying: int, expiry: int, config: FeedConfig, now: int) -> None:
        vid = vol_id(underlying, expiry)
        entries = []
        for _, word in self._fresh(host, underlying, config, now, key=vid):
            atm, skew, convexity, time = unpack_vol(word)
            if time and time + config.staleness >= now:
                entries.append((atm, skew, convexity, time))
        if len(entries) < config.quorum:
            return
        atm = _median([e[0] for e in entries])
        skew = _median([e[1] for e in entries])
        convexity = _median([e[2] for e in entries])
        valid_until = self._valid_until([e[3] for e in entries], config)
        host.sstore(aggregate_slot(vid), pack_vol(atm, skew, convexity, valid_until))
        host.emit([EVENT_VOLATILITY, underlying], _words(expiry, atm, skew, convexity))

    # -------------------------------------------------------------- reads
    def _read_price(self, host: Host, feed: int) -> tuple[int, int, int]:
        price, conf, time, valid_until = unpack_aggregate(host.sload(aggregate_slot(feed)))
        if price == 0 or host.block.timestamp > valid_until:
            config = FeedConfig.unpack(host.sload(config_slot(feed)))
            if config is None:
                host.revert(error("UnknownFeed(bytes32)", feed))
            host.revert(error("QuorumNotMet(bytes32)", feed))
        return price, conf, time

    def _get_price_wad(self, host: Host, data: bytes) -> bytes:
        """getPrice scaled to wad (18 decimals) whatever the feed's decimals."""
        feed = self._arg(data, 0)
        price, conf, time = self._read_price(host, feed)
        scale = 10 ** (18 - self._config(host, feed).decimals)
        return _words(price * scale, conf * scale, time)

    def _get_price(self, host: Host, data: bytes) -> bytes:
        return _words(*self._read_price(host, self._arg(data, 0)))

    def _get_price_no_older_than(self, host: Host, data: bytes) -> bytes:
        feed, age = self._arg(data, 0), self._arg(data, 1)
        price, conf, time = self._read_price(host, feed)
        if time + age < host.block.timestamp:
            host.revert(error("StalePrice(bytes32,uint256)", feed, time))
        return _words(price, conf, time)

    def _get_ema_price(self, host: Host, data: bytes) -> bytes:
        feed = self._arg(data, 0)
        _, conf, time = self._read_price(host, feed)
        ema = unpack_state(host.sload(state_slot(feed)))[0]
        return _words(ema, conf, time)

    def _get_twap(self, host: Host, data: bytes) -> bytes:
        feed, window = self._arg(data, 0), self._arg(data, 1)
        now = host.block.timestamp
        if window == 0 or window > now:
            host.revert(error("InvalidWindow()"))
        self._read_price(host, feed)  # the feed must be usable now
        return _words(self._twap(host, feed, now - window, now))

    def _get_twap_between(self, host: Host, data: bytes) -> bytes:
        feed, start, end = self._arg(data, 0), self._arg(data, 1), self._arg(data, 2)
        if not start < end <= host.block.timestamp:
            host.revert(error("InvalidWindow()"))
        return _words(self._twap(host, feed, start, end))

    def _twap(self, host: Host, feed: int, start: int, end: int) -> int:
        config = self._config(host, feed)
        count = unpack_state(host.sload(state_slot(feed)))[3]
        capacity = config.twap_capacity
        if count == 0 or capacity == 0:
            host.revert(error("QuorumNotMet(bytes32)", feed))
        oldest_index = max(0, count - capacity)
        oldest_time = unpack_obs(host.sload(obs_slot(feed, oldest_index % capacity)))[0]
        if start < oldest_time:
            host.revert(error("TwapWindowTooLong(bytes32,uint256)", feed, oldest_time))
        cum_end = self._cumulative_at(host, feed, capacity, oldest_index, count - 1, end)
        cum_start = self._cumulative_at(host, feed, capacity, oldest_index, count - 1, start)
        return (cum_end - cum_start) // (end - start)

    @staticmethod
    def _cumulative_at(host: Host, feed: int, capacity: int, lo: int, hi: int, t: int) -> int:
        """Cumulative price-seconds at time ``t``; observation ``lo`` is at or before ``t``.

        Binary search over observation indexes ``lo..hi`` for the last one at or
        before ``t`` (the newest is tried first: windows usually end now).
        """
        found = unpack_obs(host.sload(obs_slot(feed, hi % capacity)))
        if found[0] > t:
            hi -= 1
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if unpack_obs(host.sload(obs_slot(feed, mid % capacity)))[0] <= t:
                    lo = mid
                else:
                    hi = mid - 1
            found = unpack_obs(host.sload(obs_slot(feed, lo % capacity)))
        time, price, cumulative = found
        return cumulative + price * (t - time)

    def _surface(self, host: Host, underlying: int, expiry: int) -> tuple[int, int, int]:
        atm, skew, convexity, valid_until = unpack_vol(host.sload(aggregate_slot(vol_id(underlying, expiry))))
        if atm == 0 or host.block.timestamp > valid_until:
            host.revert(error("NoVolatility(bytes32,uint256)", underlying, expiry))
        return atm, skew, convexity

    def _get_surface(self, host: Host, data: bytes) -> bytes:
        return _words(*self._surface(host, self._arg(data, 0), self._arg(data, 1)))

    def _get_volatility(self, host: Host, data: bytes) -> bytes:
        underlying, expiry, strike = self._arg(data, 0), self._arg(data, 1), self._arg(data, 2)
        config = self._config(host, underlying)
        spot = self._read_price(host, underlying)[0]
        atm, skew, convexity = self._surface(host, underlying, expiry)
        host.charge(GAS_VOL_EVAL)
        if strike == 0 or strike >= PRICE_LIMIT * 10**18:
            host.revert(error("InvalidValue(uint256)", strike))
        return _words(smile(atm, skew, convexity, strike, spot * 10 ** (18 - config.decimals)))

    def _get_rate(self, host: Host, data: bytes) -> bytes:
        feed = self._arg(data, 0)
        value, _, _, valid_until = unpack_aggregate(host.sload(aggregate_slot(feed)))
        if valid_until == 0 or host.block.timestamp > valid_until:
            self._config(host, feed)
            host.revert(error("QuorumNotMet(bytes32)", feed))
        return _words(signed(value, 96))

    def _get_feed(self, host: Host, data: bytes) -> bytes:
        c = self._config(host, self._arg(data, 0))
        return _words(
            c.kind, c.quorum, c.decimals, c.max_deviation_bps, c.staleness, c.ema_window,
            c.twap_capacity, c.publisher_count,
        )  # fmt: skip

    def _get_publishers(self, host: Host, data: bytes) -> bytes:
        feed = self._arg(data, 0)
        c = self._config(host, feed)
        items = [host.sload(publisher_slot(feed, i)) for i in range(c.publisher_count)]
        return _words(_W, len(items), *items)

    def _get_publisher_price(self, host: Host, data: bytes) -> bytes:
        feed, publisher = self._arg(data, 0), self._arg(data, 1) & _ADDR
        c = self._config(host, feed)
        value, conf, time, member = unpack_latest(host.sload(latest_slot(feed, publisher)))
        if not member:
            host.revert(error("UnknownPublisher(bytes32,address)", feed, publisher))
        return _words(signed(value, 96) if c.kind == KIND_RATE else value, conf, time)

    def _feed_ids(self, host: Host, data: bytes) -> bytes:
        count = unpack_global(host.sload(GLOBAL_SLOT))[1]
        items = [host.sload(feed_list_slot(i)) for i in range(count)]
        return _words(_W, len(items), *items)

    def _admin(self, host: Host, data: bytes) -> bytes:
        return _words(unpack_global(host.sload(GLOBAL_SLOT))[0])

    # -------------------------------------------------------------- admin
    def _set_feed(self, host: Host, data: bytes) -> bytes:
        admin, count = self._require_admin(host)
        a = [self._arg(data, i) for i in range(8)]
        feed = a[0]
        limits = (None, 0xFF, 0xFF, 0xFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
        for value, limit in zip(a[1:], limits[1:], strict=True):
            if value > limit:
                host.revert(error("InvalidConfig()"))
        kind, quorum, decimals, deviation, staleness, ema_window, capacity = a[1:]
        existing = FeedConfig.unpack(host.sload(config_slot(feed)))
        publishers = existing.publisher_count if existing is not None else 0
        if (
            kind not in (KIND_PRICE, KIND_RATE) or quorum == 0 or decimals > 18
            or staleness == 0 or deviation > 10_000 or quorum > MAX_PUBLISHERS
            or (existing is not None and existing.kind != kind)
        ):  # fmt: skip
            host.revert(error("InvalidConfig()"))
        if existing is not None and capacity != existing.twap_capacity:
            if unpack_state(host.sload(state_slot(feed)))[3]:
                host.revert(error("InvalidConfig()"))  # the ring is in use
        config = FeedConfig(kind, quorum, decimals, publishers, deviation, staleness, ema_window, capacity)
        host.sstore(config_slot(feed), config.pack())
        if existing is None:
            host.sstore(feed_list_slot(count), feed)
            host.sstore(GLOBAL_SLOT, pack_global(admin, count + 1))
        host.emit([EVENT_FEED, feed])
        return b""

    def _add_publisher(self, host: Host, data: bytes) -> bytes:
        self._require_admin(host)
        feed, publisher = self._arg(data, 0), self._arg(data, 1)
        if publisher > _ADDR or publisher == 0:
            host.revert(error("InvalidConfig()"))
        config = self._config(host, feed)
        slot = latest_slot(feed, publisher)
        if unpack_latest(host.sload(slot))[3]:
            host.revert(error("PublisherExists(bytes32,address)", feed, publisher))
        if config.publisher_count >= MAX_PUBLISHERS:
            host.revert(error("InvalidConfig()"))
        host.sstore(publisher_slot(feed, config.publisher_count), publisher)
        host.sstore(slot, pack_latest(0, 0, 0))
        grown = FeedConfig(**{**_fields(config), "publisher_count": config.publisher_count + 1})
        host.sstore(config_slot(feed), grown.pack())
        host.emit([EVENT_PUBLISHER_ADDED, feed, publisher])
        return b""

    def _remove_publisher(self, host: Host, data: bytes) -> bytes:
        self._require_admin(host)
        feed, publisher = self._arg(data, 0), self._arg(data, 1) & _ADDR
        config = self._config(host, feed)
        slot = latest_slot(feed, publisher)
        if not unpack_latest(host.sload(slot))[3]:
            host.revert(error("UnknownPublisher(bytes32,address)", feed, publisher))
        last = config.publisher_count - 1
        for i in range(config.publisher_count):
            if host.sload(publisher_slot(feed, i)) == publisher:
                if i != last:
                    host.sstore(publisher_slot(feed, i), host.sload(publisher_slot(feed, last)))
                host.sstore(publisher_slot(feed, last), 0)
                break
        host.sstore(slot, 0)
        shrunk = FeedConfig(**{**_fields(config), "publisher_count": last})
        host.sstore(config_slot(feed), shrunk.pack())
        host.emit([EVENT_PUBLISHER_REMOVED, feed, publisher])
        return b""

    def _set_admin(self, host: Host, data: bytes) -> bytes:
        admin, count = self._require_admin(host)
        new = self._arg(data, 0)
        if new > _ADDR:
            host.revert(error("InvalidConfig()"))
        host.sstore(GLOBAL_SLOT, pack_global(new, count))
        host.emit([EVENT_ADMIN, admin, new])
        return b""


def _fields(config: FeedConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in FeedConfig.__slots__}


def smile(atm: int, skew: int, convexity: int, strike: int, spot: int) -> int:
    """Volatility (wad) at ``strike`` (wad): atm + skew*k + convexity*k^2, k = ln(K/S).

    Floored at 0.1% so a steep smile never yields a zero or negative volatility.
    """
    k = fp.ln(fp.div_down(strike, spot))
    vol = atm + skew * k // WAD + convexity * (k * k // WAD) // WAD
    return max(vol, WAD // 1000)


def _decode_bytes_array(data: bytes, start: int) -> list[bytes] | None:
    """``bytes[]`` as the only argument at ``data[start:]``; None when malformed."""
    n = len(data)
    if n < start + _W:
        return None
    base = start + int.from_bytes(data[start : start + _W], "big")
    if base + _W > n:
        return None
    count = int.from_bytes(data[base : base + _W], "big")
    head = base + _W
    if count > (n - head) // _W:
        return None
    out: list[bytes] = []
    for i in range(count):
        at = head + int.from_bytes(data[head + _W * i : head + _W * (i + 1)], "big")
        if at + _W > n:
            return None
        size = int.from_bytes(data[at : at + _W], "big")
        if size > n - at - _W:
            return None
        out.append(bytes(data[at + _W : at + _W + size]))
    return out


def encode_bytes_array(items: list[bytes]) -> bytes:
    """ABI encoding of ``bytes[]`` as a sole argument (what relayers send)."""
    heads: list[bytes] = []
    tails: list[bytes] = []
    offset = _W * len(items)
    for item in items:
        heads.append(offset.to_bytes(_W, "big"))
        padded = item + bytes(-len(item) % _W)
        tails.append(len(item).to_bytes(_W, "big") + padded)
        offset += _W + len(padded)
    return _W.to_bytes(_W, "big") + len(items).to_bytes(_W, "big") + b"".join(heads) + b"".join(tails)


# ------------------------------------------------------------------ genesis


class GenesisError(ValueError):
    """The oracle section of a genesis configuration is invalid."""


def genesis_storage(config: dict[str, Any]) -> dict[int, int]:
    """The oracle's storage for a genesis configuration (see docs/oracle.md for the format)."""
    try:
        admin = int(str(config["admin"]), 16)
        feeds = list(config.get("feeds", []))
    except (KeyError, TypeError, ValueError) as exc:
        raise GenesisError(f"oracle genesis: {exc!r}") from None
    if not 0 <= admin <= _ADDR:
        raise GenesisError("oracle genesis: bad admin")
    unknown = set(config) - {"admin", "feeds"}
    if unknown:
        raise GenesisError(f"oracle genesis: unknown keys {sorted(unknown)}")
    storage: dict[int, int] = {}
    seen: set[int] = set()
    for index, spec in enumerate(feeds):
        try:
            name = str(spec["name"])
            feed = int(str(spec["id"]), 16) if "id" in spec else feed_id_of(name)
            kind = {"price": KIND_PRICE, "rate": KIND_RATE}[spec.get("kind", "price")]
            publishers = [int(str(p), 16) for p in spec.get("publishers", [])]
            cfg = FeedConfig(
                kind=kind,
                quorum=int(spec.get("quorum", 1)),
                decimals=int(spec.get("decimals", 8)),
                publisher_count=len(publishers),
                max_deviation_bps=int(spec.get("maxDeviationBps", 1000)),
                staleness=int(spec.get("staleness", 60)),
                ema_window=int(spec.get("emaWindow", 3600)),
                twap_capacity=int(spec.get("twapCapacity", 4096)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise GenesisError(f"oracle genesis feed {index}: {exc!r}") from None
        if feed in seen:
            raise GenesisError(f"oracle genesis: feed {name} appears twice")
        seen.add(feed)
        if not (
            1 <= cfg.quorum <= max(len(publishers), 1) and cfg.decimals <= 18
            and 0 < cfg.staleness < 1 << 32 and cfg.max_deviation_bps <= 10_000
            and len(publishers) <= MAX_PUBLISHERS and len(set(publishers)) == len(publishers)
            and 0 <= cfg.ema_window < 1 << 32 and 0 <= cfg.twap_capacity < 1 << 32
            and all(0 < p <= _ADDR for p in publishers)
        ):  # fmt: skip
            raise GenesisError(f"oracle genesis: feed {name} has an invalid configuration")
        storage[config_slot(feed)] = cfg.pack()
        storage[feed_list_slot(index)] = feed
        for i, publisher in enumerate(publishers):
            storage[publisher_slot(feed, i)] = publisher
            storage[latest_slot(feed, publisher)] = pack_latest(0, 0, 0)
        if cfg.kind == KIND_PRICE:
            for position in range(cfg.twap_capacity):  # pre-allocate the TWAP ring
                storage[obs_slot(feed, position)] = OBS_ALLOCATED
    storage[GLOBAL_SLOT] = pack_global(admin, len(feeds))
    return storage


def feed_id_of(name: str) -> int:
    return int.from_bytes(keccak256(name.encode()), "big")
