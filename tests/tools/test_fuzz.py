"""Differential fuzzing of StrikeVM against revm (pyrevm): a short run and the comparator."""

from __future__ import annotations

import copy

import pytest

pytest.importorskip("pyrevm")

from strikevm.tools import fuzz  # noqa: E402
from strikevm.tools.deepstack import run_deep  # noqa: E402

SEED = 20240613
PROGRAMS = 300


@pytest.mark.parametrize("engine", ["reference", "fast", "eager"])
def test_short_run_has_no_divergence(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if engine == "eager":  # the fast engine compiling every region on first entry
        from strikevm.vm import compiler

        monkeypatch.setattr(compiler, "EAGER", True)
        compiler.clear_cache()
        engine = "fast"
    found = fuzz.fuzz(PROGRAMS, SEED, engine=engine, out=lambda line: None)
    assert not found, "\n\n".join(d.report() for d in found)


def test_programs_are_deterministic() -> None:
    a, b = fuzz.make_program(7, 42), fuzz.make_program(7, 42)
    assert {k: v.code for k, v in a.accounts.items()} == {k: v.code for k, v in b.accounts.items()}
    assert (a.calldata, a.gas_limit, a.value) == (b.calldata, b.gas_limit, b.value)
    assert fuzz.make_program(7, 43).accounts[fuzz.TARGET].code != a.accounts[fuzz.TARGET].code


def _agreeing_pair() -> tuple[fuzz.Program, fuzz.Outcome, fuzz.Outcome]:
    """A program that succeeds, writes storage and logs, with both outcomes."""
    for index in range(200):
        program = fuzz.make_program(SEED, index)
        strike = run_deep(lambda p=program: fuzz.run_strikevm(p, "reference"))
        if strike.success and strike.logs and strike.accounts[fuzz.TARGET][3]:
            revm = run_deep(lambda p=program: fuzz.run_revm(p))
            assert fuzz.compare(strike, revm) == []
            return program, strike, revm
    raise AssertionError("no program with logs and storage in the first 200")


def test_comparator_detects_each_kind_of_difference() -> None:
    _, strike, revm = _agreeing_pair()

    def altered(change: str) -> fuzz.Outcome:
        out = copy.deepcopy(strike)
        if change == "success":
            out.success = not out.success
        elif change == "output":
            out.output += b"\x01"
        elif change == "gas":
            out.gas_used += 1
        elif change == "log data":
            address, topics, data = out.logs[0]
            out.logs[0] = (address, topics, data + b"\x00")
        elif change == "log topic":
            address, topics, data = out.logs[0]
            out.logs[0] = (address, (*topics, 1), data)
        elif change == "missing log":
            out.logs.pop()
        elif change == "storage":
            nonce, balance, code, storage = out.accounts[fuzz.TARGET]
            slot, value = storage[0]
            changed = ((slot, value ^ 1), *storage[1:])
            out.accounts[fuzz.TARGET] = (nonce, balance, code, changed)
        elif change == "balance":
            nonce, balance, code, storage = out.accounts[fuzz.SENDER]
            out.accounts[fuzz.SENDER] = (nonce, balance - 1, code, storage)
        elif change == "nonce":
            nonce, balance, code, storage = out.accounts[fuzz.TARGET]
            out.accounts[fuzz.TARGET] = (nonce + 1, balance, code, storage)
        elif change == "extra account":
            out.accounts[fuzz.NOBODY] = (0, 0, b"", ())
        elif change == "deleted account":
            del out.accounts[fuzz.TARGET]
        return out

    changes = ["success", "output", "gas", "log data", "log topic", "missing log", "storage"]
    changes += ["balance", "nonce", "extra account", "deleted account"]
    for change in changes:
        diffs = fuzz.compare(altered(change), revm)
        assert diffs, f"an altered {change} went unnoticed"
    assert any("gas used" in d for d in fuzz.compare(altered("gas"), revm))
    assert any("slot" in d for d in fuzz.compare(altered("storage"), revm))


def test_crash_is_a_divergence() -> None:
    _, strike, revm = _agreeing_pair()
    crashed = fuzz.Outcome(False, b"", -1, [], {}, "IndexError: boom", crashed=True)
    assert fuzz.compare(crashed, revm) == ["strikevm crashed: IndexError: boom"]
    assert fuzz.compare(strike, revm) == []


def test_divergence_report_has_what_is_needed_to_reproduce() -> None:
    program, strike, revm = _agreeing_pair()
    strike = copy.deepcopy(strike)
    strike.gas_used += 3
    report = fuzz.Divergence(program, "fast", fuzz.compare(strike, revm)).report()
    assert f"--seed {program.seed} --only {program.index} --engine fast" in report
    assert program.accounts[fuzz.TARGET].code.hex() in report
    assert f"calldata 0x{program.calldata.hex()}" in report
    assert "gas used: strikevm" in report


def test_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert fuzz.main(["--programs", "5", "--seed", str(SEED), "--engine", "reference"]) == 0
    assert capsys.readouterr().out.strip().endswith("5 programs, 0 divergences")
    assert fuzz.main(["--seed", str(SEED), "--only", "3", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "#3: ok" in out
    assert out.strip().endswith("1 programs, 0 divergences")
