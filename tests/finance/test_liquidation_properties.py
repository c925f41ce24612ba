"""Property-based invariants of the risk engine over random portfolios and price paths.

After every block: collateral is conserved to the last unit (tokens held = accounts' cash
+ insurance fund + fee shards + pool shards); open interest is zero-sum in every market; a
liquidation never lowers the liquidated account's health (equity − maintenance, measured
just before and just after the block-end pass); and no account stays below maintenance
longer than the per-block budget implies.
"""

from __future__ import annotations

import os

from chhelpers import ETH_PERP, PUT_3000, TRADERS, USDC, Exchange
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oraclehelpers import WAD

from strikevm.finance import clearinghouse_layout as L
from strikevm.finance import liquidation as R
from strikevm.finance.clearinghouse_layout import CLEARINGHOUSE_ADDRESS
from strikevm.finance.dev_tokens import USDC_ADDRESS
from strikevm.vm.hooks import run_block_hooks

EXAMPLES = int(os.environ.get("STRIKEVM_PROPERTY_EXAMPLES", "12"))
FUND = L.account_key(CLEARINGHOUSE_ADDRESS, L.INSURANCE_SUB)
MARKETS = (ETH_PERP, 1, 2, 3, PUT_3000)


def storage(ex: Exchange, slot: int) -> int:
    return ex.state.sload(CLEARINGHOUSE_ADDRESS, slot)


def health(ex: Exchange, i: int) -> int:
    a = ex.account(i)
    return a["equity"] - a["mm"]


portfolios = st.lists(
    st.tuples(
        st.integers(1_000, 20_000),  # collateral, USDC
        st.integers(1, 12),  # perp size, ETH (long or short below)
        st.booleans(),  # long?
        st.integers(0, 4),  # short puts
    ),
    min_size=2,
    max_size=4,
)
paths = st.lists(st.integers(-9, 9), min_size=3, max_size=6)  # % moves per block


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(portfolios, paths)
def test_invariants_over_random_portfolios_and_paths(book: list, path: list) -> None:
    run_case(book, path)


def test_invariants_hold_through_a_crash_that_liquidates() -> None:
    """A fixed leveraged book through -7% moves: the checks above run on real liquidations."""
    liquidations = run_case([(1_500, 8, True, 0), (2_000, 10, True, 2), (5_000, 6, False, 1)],
                            [-5, -7, -7, 9, -7])  # fmt: skip
    assert liquidations >= 2


def run_case(book: list, path: list) -> int:
    """Build the book, walk the path, check every invariant after every block."""
    total_liquidations = 0
    ex = Exchange()
    ex.prices(3000)
    ex.fund(0, usdc=1_000_000 * USDC)
    traders = []
    for n, (collateral, size, long, puts) in enumerate(book, start=1):
        ex.fund(n, usdc=collateral * USDC)
        r = ex.fill(n, *ex.order(0, ETH_PERP, not long, 100 * WAD, 3000 * WAD, nonce=10 * n), size * WAD)
        if puts and r.success:
            ex.fill(n, *ex.order(0, PUT_3000, True, 10 * WAD, 110 * WAD, nonce=10 * n + 1), puts * WAD)
        traders.append(n)
    price = 3000
    below_since: dict[int, int] = {}
    for step, move in enumerate(path):
        ex.next_block()
        price = max(100, price * (100 + move) // 100)
        ex.prices(price)
        # health just before this block's pass ...
        before = {i: health(ex, i) for i in traders}
        logs = run_block_hooks(ex.state, ex.env, ex.system, "end")
        liquidated = {int.from_bytes(log.topics[1].to_bytes(32, "big")[12:], "big")
                      for log in logs if log.topics[0] == R.EV_LIQUIDATION}  # fmt: skip
        total_liquidations += len(liquidated)
        after = {i: health(ex, i) for i in traders}
        for i in traders:
            if TRADERS[i] in liquidated:  # ... and after: a liquidation never lowers it
                assert after[i] >= before[i] or after[i] >= 0, (i, before[i], after[i])
            if after[i] < 0:
                below_since.setdefault(i, step)
            else:
                below_since.pop(i, None)
        # with budget to spare no account stays below maintenance past the next pass
        for i, since in below_since.items():
            assert step - since <= 1, (i, since, step)
        check_conservation_and_open_interest(ex)
    return total_liquidations


def check_conservation_and_open_interest(ex: Exchange) -> None:
    total = L.signed(storage(ex, L.cash(FUND)), 256)
    for owner in TRADERS:
        total += L.signed(storage(ex, L.cash(L.account_key(owner, 0))), 256)
    ledger = ex.ledger()
    assert ex.token_balance(USDC_ADDRESS, CLEARINGHOUSE_ADDRESS) == total + ledger["fees"] + ledger["pool"]
    for m in MARKETS:
        sizes = [L.unpack_position(storage(ex, L.position(L.account_key(o, 0), m)))[0] for o in TRADERS]
        sizes.append(L.unpack_position(storage(ex, L.position(FUND, m)))[0])
        assert sum(sizes) == 0, (m, sizes)
