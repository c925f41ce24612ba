"""Runner for Ethereum GeneralStateTests fixtures (Cancun entries).

One verdict per (file, test, post index): the transaction is decoded from the
fixture's ``txbytes``, validated and applied to the pre-state, and the
post-state root and logs hash are compared with the fixture.

The transaction goes through the block pipeline
(:class:`strikevm.chain.pipeline.BlockBuilder`) as the only transaction of a
block with no system steps: no parent beacon block root (state tests have none,
so no EIP-4788 call), no native system contracts, and no ``finish`` (a state
test has no withdrawals, and its post-state is the one right after the
transaction). So the block's admission checks (gas and blob gas left in the
block) are the ones blocks use, while the work per case stays that of
``apply_transaction`` plus one receipt; the run time is unchanged within noise.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from strikevm.chain.pipeline import BlockBuilder
from strikevm.chain.transaction import TransactionError, decode_transaction
from strikevm.primitives.hexutil import hex_to_bytes, hex_to_int
from strikevm.state.account import Account
from strikevm.state.root import logs_hash, state_root
from strikevm.state.world import WorldState
from strikevm.tools.deepstack import run_deep
from strikevm.vm.env import BlockEnv

FORK = "Cancun"


class FixtureError(ValueError):
    """A fixture file cannot be parsed."""


@dataclass(slots=True)
class CaseResult:
    file: str
    test: str
    index: int
    passed: bool
    reason: str = ""
    root: str = ""  # post-state root computed by StrikeVM (hex), when the tx was applied

    @property
    def name(self) -> str:
        return f"{self.file}::{self.test}[{self.index}]"


def collect(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files.extend(sorted(q for q in p.rglob("*.json")))
        elif p.is_file():
            files.append(p)
        else:
            raise FixtureError(f"{raw}: no such file or folder")
    return files


def build_state(pre: dict) -> WorldState:
    accounts: dict[int, Account] = {}
    for addr, body in pre.items():
        storage = {hex_to_int(k): hex_to_int(v) for k, v in body.get("storage", {}).items()}
        accounts[hex_to_int(addr)] = Account(
            nonce=hex_to_int(body.get("nonce", "0x0")),
            balance=hex_to_int(body.get("balance", "0x0")),
            code=hex_to_bytes(body.get("code", "0x")),
            storage={k: v for k, v in storage.items() if v},
        )
    return WorldState(accounts)


def build_block(env: dict) -> BlockEnv:
    random = env.get("currentRandom")
    return BlockEnv(
        coinbase=hex_to_int(env["currentCoinbase"]),
        number=hex_to_int(env["currentNumber"]),
        timestamp=hex_to_int(env["currentTimestamp"]),
        gas_limit=hex_to_int(env["currentGasLimit"]),
        prev_randao=hex_to_int(random) if random else hex_to_int(env.get("currentDifficulty", "0")),
        base_fee=hex_to_int(env.get("currentBaseFee", "0x0")),
        excess_blob_gas=hex_to_int(env.get("currentExcessBlobGas", "0x0")),
        chain_id=1,
    )


def run_case(
    pre: WorldState, block: BlockEnv, entry: dict, engine: str
) -> tuple[bool, str, str]:
    """Return (passed, reason, computed root) for one post entry."""
    expected_exc = entry.get("expectException")
    state = pre.copy()
    try:
        tx = decode_transaction(hex_to_bytes(entry["txbytes"]))
        builder = BlockBuilder(state, block, engine=engine)
        builder.begin()
        result = builder.add(tx)
    except TransactionError as exc:
        if expected_exc:
            return True, "", ""
        return False, f"rejected: {type(exc).__name__}: {exc}", ""
    root = state_root(state)
    if expected_exc:
        return False, f"expected {expected_exc}, but the transaction was applied", root.hex()
    want_root = hex_to_bytes(entry["hash"])
    if root != want_root:
        return False, f"state root 0x{root.hex()} != 0x{want_root.hex()}", root.hex()
    lh = logs_hash(result.logs)
    want_logs = hex_to_bytes(entry["logs"])
    if lh != want_logs:
        return False, f"logs hash 0x{lh.hex()} != 0x{want_logs.hex()}", root.hex()
    return True, "", root.hex()


def run_file(path: Path, engine: str = "fast") -> list[CaseResult]:
    name = str(path)
    try:
        with open(path) as fh:
            doc = json.load(fh)
        if not isinstance(doc, dict):
            raise FixtureError("top level is not an object")
    except (OSError, ValueError) as exc:
        return [CaseResult(name, "<file>", -1, False, f"cannot parse fixture: {exc}")]
    results: list[CaseResult] = []
    for test_name, test in doc.items():
        try:
            entries = test.get("post", {}).get(FORK)
            if entries is None:
                continue
            pre = build_state(test["pre"])
            block = build_block(test["env"])
        except (KeyError, ValueError, AttributeError) as exc:
            results.append(CaseResult(name, test_name, -1, False, f"cannot parse test: {exc}"))
            continue
        for index, entry in enumerate(entries):
            try:
                ok, reason, root = run_case(pre, block, entry, engine)
            except Exception as exc:  # a crash is a failure with its cause, never a skip
                ok, reason, root = False, f"crashed: {type(exc).__name__}: {exc}", ""
            results.append(CaseResult(name, test_name, index, ok, reason, root))
    return results


def _run_file_deep(args: tuple[Path, str]) -> list[CaseResult]:
    path, engine = args
    return run_deep(lambda: run_file(path, engine))


def run_paths(paths: list[str], engine: str = "fast", jobs: int = 1) -> Iterator[CaseResult]:
    files = collect(paths)
    if jobs <= 1:
        for f in files:
            yield from _run_file_deep((f, engine))
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for results in pool.map(_run_file_deep, [(f, engine) for f in files], chunksize=4):
            yield from results


def main(paths: list[str], *, as_json: bool, engine: str, jobs: int) -> int:
    passed = failed = 0
    for res in run_paths(paths, engine, jobs or os.cpu_count() or 1):
        if res.passed:
            passed += 1
        else:
            failed += 1
        if as_json:
            print(json.dumps(asdict(res)), flush=False)
        elif not res.passed:
            print(f"FAIL {res.name}: {res.reason}", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0
