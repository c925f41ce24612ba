"""Golden vectors: fixed inputs -> exact integer outputs, checked in this process and in two
fresh interpreters with different PYTHONHASHSEED values.

The expected integers were produced by this implementation and cross-checked against the
50-digit references of the other tests; any change to them is a consensus change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from strikevm.finance import fixedpoint as fp
from strikevm.finance import highprec as hp
from strikevm.finance import pricing as pr

W = 10**18
DAY = 86400
YEAR = 365 * DAY

FUNCTIONS: dict[str, Callable[..., object]] = {
    "mul": fp.mul,
    "mul_down": fp.mul_down,
    "mul_up": fp.mul_up,
    "div": fp.div,
    "div_down": fp.div_down,
    "div_up": fp.div_up,
    "sqrt": fp.sqrt,
    "exp": fp.exp,
    "ln": fp.ln,
    "power": fp.power,
    "normal_cdf": fp.normal_cdf,
    "normal_pdf": fp.normal_pdf,
    "exp_q": hp.exp_q,
    "ln_q": hp.ln_q,
    "ncdf_q": hp.ncdf_q,
    "isqrt": hp.isqrt,
    "bs_price": pr.black_scholes_price,
    "bs_greeks": pr.black_scholes_greeks,
    "b76_price": pr.black76_price,
    "b76_greeks": pr.black76_greeks,
    "binomial": pr.binomial_price,
    "iv": pr.implied_volatility_detail,
    "forward": pr.discounted_forward_value,
}

VECTORS: list[tuple[str, tuple[object, ...]]] = [
    ("mul", (3 * W // 2, -7 * W // 3)),
    ("mul_down", (-(10**17) - 1, 5)),
    ("mul_up", (-(10**17) - 1, 5)),
    ("div", (W, 3 * W)),
    ("div_down", (-2 * W, 3 * W)),
    ("div_up", (-2 * W, 3 * W)),
    ("div", (1, 0)),
    ("sqrt", (2 * W,)),
    ("sqrt", (10**40 + 7,)),
    ("exp", (W,)),
    ("exp", (-3 * W // 2,)),
    ("exp", (135 * W,)),
    ("exp", (136 * W,)),
    ("ln", (2 * W,)),
    ("ln", (10**12,)),
    ("ln", (0,)),
    ("power", (2 * W, W // 2)),
    ("power", (3 * W // 2, -9 * W // 4)),
    ("normal_cdf", (196 * W // 100,)),
    ("normal_cdf", (-31 * W // 10,)),
    ("normal_pdf", (W // 2,)),
    ("exp_q", (-(hp.ONE * 7) // 3,)),
    ("ln_q", (hp.ONE * 10,)),
    ("ncdf_q", (hp.ONE // 3,)),
    ("isqrt", (3 << 300,)),
    ("bs_price", (True, 100 * W, 110 * W, W // 4, 90 * DAY, W // 20, W // 50)),
    ("bs_price", (False, 100 * W, 110 * W, W // 4, 90 * DAY, W // 20, W // 50)),
    ("bs_price", (True, 3_000 * W, 3_000 * W, 8 * W // 10, 3_600, -W // 100, 0)),
    ("bs_price", (False, W, 100 * W, 5 * W, 10 * YEAR, W // 4, W // 4)),
    ("bs_price", (True, W // 100, W, W // 100, 60, 0, 0)),
    ("bs_price", (True, 120 * W, 100 * W, W // 5, 0, W // 20, 0)),
    ("bs_price", (True, 100 * W, 100 * W, 0, YEAR, 0, 0)),
    ("bs_greeks", (True, 100 * W, 110 * W, W // 4, 90 * DAY, W // 20, W // 50)),
    ("bs_greeks", (False, 2_500 * W, 2_000 * W, 3 * W // 2, 7 * DAY, W // 10, -W // 20)),
    ("b76_price", (True, 50 * W, 55 * W, 4 * W // 10, YEAR // 2, W // 25)),
    ("b76_greeks", (False, 50 * W, 55 * W, 4 * W // 10, YEAR // 2, W // 25)),
    ("binomial", (False, True, 100 * W, 100 * W, W // 5, YEAR, W // 20, 0, 100)),
    ("binomial", (True, False, 90 * W, 100 * W, 3 * W // 10, 2 * YEAR, W // 10, W // 50, 37)),
    ("binomial", (True, True, 100 * W, 95 * W, W // 4, YEAR, W // 50, W // 10, 250)),
    ("binomial", (False, True, 100 * W, 100 * W, W // 100, YEAR, W // 4, 0, 2)),
    ("iv", (True, 4 * W, 100 * W, 110 * W, 90 * DAY, W // 20, W // 50)),
    ("iv", (False, 12 * W, 100 * W, 110 * W, 90 * DAY, W // 20, W // 50)),
    ("iv", (True, 0, 100 * W, 110 * W, 90 * DAY, W // 20, W // 50)),
    ("forward", (100 * W, 110 * W, 90 * DAY, W // 20, W // 50)),
]

GOLDEN: list[object] = [
    -3500000000000000001,
    -1,
    0,
    333333333333333333,
    -666666666666666667,
    -666666666666666666,
    "DivisionByZero:16",
    1414213562373095049,
    100000000000000000000000000000,
    2718281828459045235,
    223130160148429829,
    42633899483147210448936866880765989356312331047876369055744000000000000000000,
    "Overflow:14",
    693147180559945309,
    -13815510557964274104,
    "DomainError:15",
    1414213562373095049,
    401600890493264370,
    975002104851779566,
    967603213218357,
    352065326764299478,
    32997850749880937039398584759834130835,
    783529105480883066805338482703447369891,
    214567993245444322412297414626569975803,
    2472065518752174630316487103465271190914430477,
    1816933728094477584,
    10961031705135039674,
    10228112194125853836,
    8208499862389877418,
    0,
    20000000000000000000,
    "InvalidVolatility:5",
    [
        1816933728094477584,
        257832613891080575,
        25954125365956307,
        15999118376274435870,
        -8793315332129863808,
        5909505450660882724,
    ],
    [
        32502573004880996641,
        -116757147746606487,
        377915374689793,
        67947113600048480680,
        -2610183290582144694263,
        -6221282456437754795,
    ],
    3659929698690160930,
    [
        8560923065223937441,
        -566083551954622803,
        27127228429416387,
        13563614214708193368,
        -5083008763274319850,
        -4280461532611968720,
    ],
    6082354409142226806,
    16582128752271997863,
    9232539292662637896,
    "TreeProbabilityOutOfRange:12",
    [375526177159350525, 6],
    [311802386053475117, 7],
    "NoImpliedVolatility:13",
    -9144097977040562090,
]


def run_vectors() -> list[object]:
    """Every vector's result: an int, a list of ints, or the error class name."""
    out: list[object] = []
    for name, args in VECTORS:
        try:
            result = FUNCTIONS[name](*args)
        except pr.PricingError as err:
            out.append(f"{type(err).__name__}:{err.code}")
            continue
        out.append(list(result) if isinstance(result, tuple) else result)
    return out


def test_golden_vectors_in_process() -> None:
    assert run_vectors() == GOLDEN


def test_golden_vectors_across_hash_seeds() -> None:
    script = Path(__file__).resolve()
    outputs = []
    for seed in ("0", "4294967295"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        proc = subprocess.run(
            [sys.executable, str(script)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        outputs.append(json.loads(proc.stdout))
    assert outputs[0] == outputs[1] == GOLDEN


if __name__ == "__main__":
    print(json.dumps(run_vectors()))


def test_golden_prices_match_the_50_digit_reference() -> None:
    import mpmath
    from mp_reference import Case, bsm_reference

    checked = 0
    for (name, args), expected in zip(VECTORS, GOLDEN, strict=True):
        if name != "bs_price" or not isinstance(expected, int) or args[4] == 0:
            continue
        is_call, *rest = args
        ref = bsm_reference(Case(*rest))["call" if is_call else "put"]["price"]  # type: ignore[arg-type]
        assert expected == int(mpmath.floor(ref * W + mpmath.mpf(1) / 2))
        checked += 1
    assert checked >= 5
