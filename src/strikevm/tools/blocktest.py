"""Runner for Ethereum BlockchainTests fixtures (Cancun tests).

One verdict per test. The genesis state is built from ``pre`` and checked
against the genesis header's state root and hash; each block of ``blocks`` is
decoded from its ``rlp`` and imported through
:func:`strikevm.chain.pipeline.apply_block` on a copy of the state, which is
kept only when the block is accepted. A block with ``expectException`` must be
rejected for that reason (the state stays as it was): a ``TransactionException``
must come from the transaction check it names (the transactions are replayed
when the block was already refused on a root its invalid transaction broke),
a ``BlockException`` from the header or body rule it names. Any other block must be accepted and
hash to the fixture's hash. At the end the state must equal ``postState`` (or
hash to ``postStateHash``) and the head must be ``lastblockhash``. BLOCKHASH
sees the hashes of the imported chain. Tests of other networks are skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from strikevm.chain.block import Block, Header, InvalidBlock, block_env, decode_block
from strikevm.chain.pipeline import BlockBuilder, apply_block
from strikevm.chain.transaction import TransactionError
from strikevm.primitives.hexutil import hex_to_bytes
from strikevm.state.root import state_root
from strikevm.state.world import WorldState
from strikevm.tools.deepstack import run_deep
from strikevm.tools.statetest import FixtureError, build_state, collect
from strikevm.vm.spec import FORKS, ForkSpec

CHAIN_ID = 1
HashFn = Callable[[int], int]


@dataclass(slots=True)
class BlockTestResult:
    file: str
    test: str
    passed: bool
    skipped: bool = False
    reason: str = ""
    blocks: int = 0  # blocks imported

    @property
    def name(self) -> str:
        return f"{self.file}::{self.test}"


class Mismatch(Exception):
    """The chain imported, but not as the fixture says."""


# Why a transaction was refused: the fixture's TransactionException names and
# the TransactionError classes that StrikeVM raises for them.
TX_EXCEPTIONS: dict[str, tuple[str, ...]] = {
    "INTRINSIC_GAS_TOO_LOW": ("IntrinsicGasTooLow",),
    "INSUFFICIENT_ACCOUNT_FUNDS": ("InsufficientFunds",),
    "PRIORITY_GREATER_THAN_MAX_FEE_PER_GAS": ("PriorityFeeTooHigh",),
    "GAS_ALLOWANCE_EXCEEDED": ("BlockGasExhausted", "GasLimitExceedsBlock"),
    "INSUFFICIENT_MAX_FEE_PER_GAS": ("FeeCapBelowBaseFee", "FeeCapTooLow"),
    "INSUFFICIENT_MAX_FEE_PER_BLOB_GAS": ("FeeCapBelowBaseFee",),
    "NONCE_MISMATCH_TOO_LOW": ("NonceMismatch",),
    "NONCE_MISMATCH_TOO_HIGH": ("NonceMismatch",),
    "NONCE_IS_MAX": ("NonceTooHigh",),
    "SENDER_NOT_EOA": ("SenderNotEOA",),
    "INITCODE_SIZE_EXCEEDED": ("InitcodeTooLarge",),
    "TYPE_3_TX_ZERO_BLOBS": ("InvalidBlobTransaction",),
    "TYPE_3_TX_INVALID_BLOB_VERSIONED_HASH": ("InvalidBlobTransaction",),
    "TYPE_3_TX_BLOB_COUNT_EXCEEDED": ("InvalidBlobTransaction",),
    "TYPE_3_TX_CONTRACT_CREATION": ("InvalidBlobTransaction",),
    "TYPE_3_TX_MAX_BLOB_GAS_ALLOWANCE_EXCEEDED": ("BlobGasExhausted", "InvalidBlobTransaction"),
}

# The fixture's BlockException names and words that StrikeVM's reason contains;
# "decode" means the block must be refused while it is decoded.
BLOCK_EXCEPTIONS: dict[str, str] = {
    "UNKNOWN_PARENT": "parent hash",
    "UNKNOWN_PARENT_ZERO": "parent hash",
    "INVALID_BLOCK_NUMBER": "number",
    "INVALID_BLOCK_TIMESTAMP_OLDER_THAN_PARENT": "timestamp",
    "INVALID_GASLIMIT": "gas limit",
    "GAS_USED_OVERFLOW": "gas used",
    "INVALID_GAS_USED": "gas used",
    "INVALID_BASEFEE_PER_GAS": "base fee",
    "EXTRA_DATA_TOO_BIG": "extra data",
    "IMPORT_IMPOSSIBLE_DIFFICULTY_OVER_PARIS": "difficulty",
    "IMPORT_IMPOSSIBLE_UNCLES_OVER_PARIS": "ommers",
    "INVALID_WITHDRAWALS_ROOT": "withdrawals root",
    "INVALID_TRANSACTIONS_ROOT": "transactions root",
    "INVALID_RECEIPTS_ROOT": "receipts root",
    "INVALID_STATE_ROOT": "state root",
    "INVALID_LOG_BLOOM": "logs bloom",
    "INCORRECT_BLOB_GAS_USED": "blob gas used",
    "BLOB_GAS_USED_ABOVE_LIMIT": "blob gas used",
    "INCORRECT_EXCESS_BLOB_GAS": "excess blob gas",
    "RLP_STRUCTURES_ENCODING": "decode",
    "RLP_INVALID_FIELD_OVERFLOW_64": "decode",
    "RLP_WITHDRAWALS_NOT_READ": "decode",
}


def _tx_rejection(
    state: WorldState,
    block: Block | None,
    spec: ForkSpec,
    engine: str,
    block_hash: HashFn,
) -> TransactionError | None:
    """Replay the block's transactions on a copy; the first refusal, if any."""
    if block is None:
        return None
    env = block_env(block.header, chain_id=CHAIN_ID, block_hash=block_hash)
    builder = BlockBuilder(
        state.copy(),
        env,
        spec=spec,
        engine=engine,
        parent_beacon_block_root=block.header.parent_beacon_block_root,
    )
    try:
        for tx in block.transactions:
            builder.add(tx)
    except TransactionError as exc:
        return exc
    return None


def _check_rejection(
    expected: str,
    exc: InvalidBlock,
    decoded: bool,
    replay: Callable[[], TransactionError | None],
) -> str:
    """'' when ``exc`` is a rejection for one of the ``|``-separated expected reasons."""
    reason = str(exc)
    refusal: TransactionError | None = None
    replayed = False
    for name in expected.split("|"):
        kind, _, code = name.partition(".")
        if kind == "TransactionException":
            classes = TX_EXCEPTIONS.get(code)
            if refusal is None and not replayed:
                cause = exc.__cause__
                if isinstance(cause, TransactionError):
                    refusal = cause
                elif decoded:
                    refusal, replayed = replay(), True
            if refusal is not None and (
                classes is None or any(c.__name__ in classes for c in type(refusal).__mro__)
            ):
                return ""
        elif kind == "BlockException":
            words = BLOCK_EXCEPTIONS.get(code)
            if words is None:
                return ""
            if words == "decode" and not decoded:
                return ""
            if words != "decode" and words in reason:
                return ""
        else:
            return ""  # a kind this runner does not know: any rejection will do
    got = f"{type(refusal).__name__}: {refusal}" if refusal is not None else reason
    return f"rejected for another reason than {expected}: {got}"


def _state_diff(state: WorldState, expected: WorldState) -> str:
    """The first differences between two states, or '' when they are equal."""
    diffs: list[str] = []
    for addr in sorted(set(state.accounts) | set(expected.accounts)):
        got, want = state.accounts.get(addr), expected.accounts.get(addr)
        where = f"0x{addr:040x}"
        if got is None or want is None:
            diffs.append(f"{where} {'missing' if got is None else 'unexpected'}")
        else:
            if got.nonce != want.nonce:
                diffs.append(f"{where} nonce {got.nonce} != {want.nonce}")
            if got.balance != want.balance:
                diffs.append(f"{where} balance {got.balance} != {want.balance}")
            if got.code != want.code:
                diffs.append(f"{where} code differs")
            slots = {k: v for k, v in got.storage.items() if v}
            if slots != want.storage:
                for key in sorted(set(slots) | set(want.storage)):
                    if slots.get(key, 0) != want.storage.get(key, 0):
                        diffs.append(
                            f"{where} slot 0x{key:x}: 0x{slots.get(key, 0):x} "
                            f"!= 0x{want.storage.get(key, 0):x}"
                        )
        if len(diffs) >= 5:
            break
    return "; ".join(diffs[:5])


def run_test(test: dict, engine: str = "fast", workers: int = 1) -> int:
    """Import the test's chain; return the number of blocks imported. Raises Mismatch.

    ``workers`` executors run each block's transactions (chain.parallel; a block of
    one transaction always runs sequentially)."""
    spec = FORKS[test["network"]]
    state = build_state(test["pre"])
    genesis = decode_block(hex_to_bytes(test["genesisRLP"]), chain_id=CHAIN_ID).header
    want_genesis = hex_to_bytes(test["genesisBlockHeader"]["hash"])
    if genesis.hash != want_genesis:
        raise Mismatch(f"genesis hash 0x{genesis.hash.hex()} != 0x{want_genesis.hex()}")
    root = state_root(state)
    if root != genesis.state_root:
        raise Mismatch(f"genesis state root 0x{root.hex()} != 0x{genesis.state_root.hex()}")
    hashes: dict[int, int] = {0: int.from_bytes(genesis.hash, "big")}

    def block_hash(number: int) -> int:
        return hashes.get(number, 0)

    head: Header = genesis
    imported = 0
    for index, entry in enumerate(test["blocks"]):
        expected_exc = entry.get("expectException")
        work = state.copy()
        block: Block | None = None
        try:
            block = decode_block(hex_to_bytes(entry["rlp"]), chain_id=CHAIN_ID)
            apply_block(
                work,
                block,
                head,
                spec=spec,
                engine=engine,
                block_hash=block_hash,
                chain_id=CHAIN_ID,
                state_root=state_root,
                workers=workers,
            )
        except InvalidBlock as exc:
            if not expected_exc:
                raise Mismatch(f"block {index} rejected: {exc}") from exc
            replay = partial(_tx_rejection, state, block, spec, engine, block_hash)
            why = _check_rejection(expected_exc, exc, block is not None, replay)
            if why:
                raise Mismatch(f"block {index} {why}") from exc
            continue  # rejected as expected; the state stays as it was
        if expected_exc:
            raise Mismatch(f"block {index} accepted, expected {expected_exc}")
        want_hash = entry.get("blockHeader", {}).get("hash")
        if want_hash is not None and block.hash != hex_to_bytes(want_hash):
            raise Mismatch(f"block {index} hash 0x{block.hash.hex()} != {want_hash}")
        state = work
        head = block.header
        hashes[head.number] = int.from_bytes(head.hash, "big")
        imported += 1
    want_last = hex_to_bytes(test["lastblockhash"])
    if head.hash != want_last:
        raise Mismatch(f"last block hash 0x{head.hash.hex()} != 0x{want_last.hex()}")
    if "postState" in test:
        diff = _state_diff(state, build_state(test["postState"]))
        if diff:
            raise Mismatch(f"post state: {diff}")
    elif "postStateHash" in test:
        root = state_root(state)
        want_root = hex_to_bytes(test["postStateHash"])
        if root != want_root:
            raise Mismatch(f"post state root 0x{root.hex()} != 0x{want_root.hex()}")
    else:
        raise FixtureError("neither postState nor postStateHash")
    return imported


def run_file(path: Path, engine: str = "fast", workers: int = 1) -> list[BlockTestResult]:
    name = str(path)
    try:
        with open(path) as fh:
            doc = json.load(fh)
        if not isinstance(doc, dict):
            raise FixtureError("top level is not an object")
    except (OSError, ValueError) as exc:
        return [BlockTestResult(name, "<file>", False, reason=f"cannot parse fixture: {exc}")]
    results: list[BlockTestResult] = []
    for test_name, test in doc.items():
        network = test.get("network") if isinstance(test, dict) else None
        if network not in FORKS:
            results.append(
                BlockTestResult(name, test_name, False, True, f"network {network} not run")
            )
            continue
        try:
            imported = run_test(test, engine, workers)
        except Mismatch as exc:
            results.append(BlockTestResult(name, test_name, False, reason=str(exc)))
        except Exception as exc:  # a crash is a failure with its cause, never a skip
            reason = f"crashed: {type(exc).__name__}: {exc}"
            results.append(BlockTestResult(name, test_name, False, reason=reason))
        else:
            results.append(BlockTestResult(name, test_name, True, blocks=imported))
    return results


def _run_file_deep(args: tuple[Path, str, int]) -> list[BlockTestResult]:
    path, engine, workers = args
    return run_deep(lambda: run_file(path, engine, workers))


def run_paths(
    paths: list[str], engine: str = "fast", jobs: int = 1, workers: int = 1
) -> Iterator[BlockTestResult]:
    files = collect(paths)
    if jobs <= 1:
        for f in files:
            yield from _run_file_deep((f, engine, workers))
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        tasks = [(f, engine, workers) for f in files]
        for results in pool.map(_run_file_deep, tasks, chunksize=2):
            yield from results


def main(paths: list[str], *, as_json: bool, engine: str, jobs: int, workers: int = 1) -> int:
    passed = failed = skipped = 0
    for res in run_paths(paths, engine, jobs or os.cpu_count() or 1, workers):
        if res.skipped:
            skipped += 1
        elif res.passed:
            passed += 1
        else:
            failed += 1
        if as_json:
            print(json.dumps(asdict(res)), flush=False)
        elif not res.passed and not res.skipped:
            print(f"FAIL {res.name}: {res.reason}", flush=True)
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0
