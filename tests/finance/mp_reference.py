"""Independent 50-digit mpmath references for the pricing tests (test-only helpers)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import mpmath

mpmath.mp.dps = 50
MP = mpmath.mpf
WAD = 10**18
YEAR = 365 * 86400


def nat(x: int) -> mpmath.mpf:
    """Wad integer to its exact natural value."""
    return MP(x) / WAD


@dataclass(frozen=True)
class Case:
    """One pricing input (wad ints, expiry in seconds)."""

    spot: int
    strike: int
    vol: int
    expiry: int
    rate: int
    q: int

    def args(self) -> tuple[int, int, int, int, int, int]:
        return (self.spot, self.strike, self.vol, self.expiry, self.rate, self.q)


def draw_cases(seed: int, count: int) -> list[Case]:
    """Random cases: strike 0.01..1e6, spot/strike 0.01x..100x, vol 1%..500%,
    expiry 1 minute..10 years (seconds), rate and yield -5%..25%, plus edge values."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        strike = int(10 ** rng.uniform(-2, 6) * WAD) + rng.randrange(1000)
        spot = int(strike * 10 ** rng.uniform(-2, 2)) + rng.randrange(1000)
        vol = int(10 ** rng.uniform(-2, 0.69897) * WAD)
        expiry = int(60 * 10 ** rng.uniform(0, 6.7193))
        rate = int(rng.uniform(-0.05, 0.25) * WAD)
        q = int(rng.uniform(-0.05, 0.25) * WAD)
        kind = i % 20
        if kind == 1:
            q = 0
        elif kind == 2:
            rate = 0
        elif kind == 3:
            spot = strike
        elif kind == 4:
            expiry = 60
        elif kind == 5:
            expiry = 10 * YEAR
        elif kind == 6:
            vol = WAD // 100
        elif kind == 7:
            vol = 5 * WAD
        elif kind == 8:
            q = rate
        out.append(Case(spot, strike, vol, expiry, rate, q))
    return out


def bsm_reference(case: Case) -> dict[str, dict[str, mpmath.mpf]]:
    """Black-Scholes-Merton price and greeks (natural units) for the call and the put."""
    s, k, v, r, q = (nat(x) for x in (case.spot, case.strike, case.vol, case.rate, case.q))
    t = MP(case.expiry) / YEAR
    st = mpmath.sqrt(t)
    d1 = (mpmath.log(s / k) + (r - q + v * v / 2) * t) / (v * st)
    d2 = d1 - v * st
    dq = mpmath.exp(-q * t)
    dr = mpmath.exp(-r * t)
    n1, n2 = mpmath.ncdf(d1), mpmath.ncdf(d2)
    m1, m2 = mpmath.ncdf(-d1), mpmath.ncdf(-d2)
    pdf = mpmath.npdf(d1)
    gamma = dq * pdf / (s * v * st)
    vega = s * dq * pdf * st
    decay = -s * dq * pdf * v / (2 * st)
    call = {
        "price": s * dq * n1 - k * dr * n2,
        "delta": dq * n1,
        "gamma": gamma,
        "vega": vega,
        "theta": decay - r * k * dr * n2 + q * s * dq * n1,
        "rho": k * t * dr * n2,
    }
    put = {
        "price": k * dr * m2 - s * dq * m1,
        "delta": -dq * m1,
        "gamma": gamma,
        "vega": vega,
        "theta": decay + r * k * dr * m2 - q * s * dq * m1,
        "rho": -k * t * dr * m2,
    }
    return {"call": call, "put": put, "forward": {"value": s * dq - k * dr}}


def black76_reference(forward: int, strike: int, vol: int, expiry: int, rate: int) -> dict:
    """Black-76 price and greeks (natural units) for the call and the put."""
    f, k, v, r = (nat(x) for x in (forward, strike, vol, rate))
    t = MP(expiry) / YEAR
    st = mpmath.sqrt(t)
    d1 = (mpmath.log(f / k) + v * v * t / 2) / (v * st)
    d2 = d1 - v * st
    df = mpmath.exp(-r * t)
    pdf = mpmath.npdf(d1)
    call = df * (f * mpmath.ncdf(d1) - k * mpmath.ncdf(d2))
    put = df * (k * mpmath.ncdf(-d2) - f * mpmath.ncdf(-d1))
    common = {
        "gamma": df * pdf / (f * v * st),
        "vega": f * df * pdf * st,
    }
    decay = -f * df * pdf * v / (2 * st)
    return {
        "call": {
            "price": call,
            "delta": df * mpmath.ncdf(d1),
            "theta": decay + r * call,
            "rho": -t * call,
            **common,
        },
        "put": {
            "price": put,
            "delta": -df * mpmath.ncdf(-d1),
            "theta": decay + r * put,
            "rho": -t * put,
            **common,
        },
    }


def crr_reference(is_call: bool, american: bool, case: Case, steps: int) -> mpmath.mpf | None:
    """The same CRR tree in 50-digit arithmetic; None when p is outside (0, 1)."""
    s, k, v, r, q = (nat(x) for x in (case.spot, case.strike, case.vol, case.rate, case.q))
    dt = MP(case.expiry) / YEAR / steps
    u = mpmath.exp(v * mpmath.sqrt(dt))
    d = 1 / u
    p = (mpmath.exp((r - q) * dt) - d) / (u - d)
    if not 0 < p < 1:
        return None
    disc = mpmath.exp(-r * dt)
    pu, pd = disc * p, disc * (1 - p)
    sign = 1 if is_call else -1
    levels = {j: s * u**j for j in range(-steps, steps + 1)}
    values = [max(sign * (levels[2 * j - steps] - k), 0) for j in range(steps + 1)]
    for i in range(steps - 1, -1, -1):
        values = [pu * values[j + 1] + pd * values[j] for j in range(i + 1)]
        if american:
            values = [max(values[j], sign * (levels[2 * j - i] - k)) for j in range(i + 1)]
    return values[0]
