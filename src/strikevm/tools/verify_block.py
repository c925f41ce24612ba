"""``strikevm verify-block``: re-execute a block from its witness alone and check its state root.

A bundle is ``rlp([parent_header, block, witness])`` (the witness as
:class:`~strikevm.state.witness.Witness` encodes it). :func:`export_bundle`
makes one from a node's data directory; :func:`verify_bundle` needs nothing
but the bundle.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from strikevm.chain.block import Block, Header, decode_block, decode_header
from strikevm.chain.pipeline import apply_block
from strikevm.chain.store import ChainStore
from strikevm.primitives import rlp
from strikevm.state.backend import BackendState, RecordingBackend, TrieBackend
from strikevm.state.witness import Witness, WitnessState, post_state_root, record_witness

__all__ = ["export_bundle", "verify_bundle", "main"]


def export_bundle(
    store: ChainStore,
    number: int,
    *,
    system: Mapping[int, Any] | None = None,
    chain_id: int = 1,
) -> tuple[bytes, Witness]:
    """Re-execute stored block ``number`` from its parent's state; its bundle and witness."""
    stored = store.block(number)
    parent = store.block(number - 1) if number > 0 else None
    if stored is None or parent is None:
        raise LookupError(f"block {number} or its parent is not stored")
    pre_root = parent.header.state_root
    nodes = store.committer.store
    reads = RecordingBackend(TrieBackend(nodes, pre_root, store.tables.get_code))
    state = BackendState(reads)
    apply_block(state, stored.block, parent.header, system=system, chain_id=chain_id)
    written = state.take_dirty()
    witness, root = record_witness(nodes, pre_root, reads, state, written, store.code)
    if root != stored.header.state_root:
        raise RuntimeError("re-execution does not reach the stored state root")
    bundle = rlp.encode(
        [rlp.decode(parent.header.encode()), rlp.decode(stored.block.encode()),
         rlp.decode(witness.encode())]
    )
    return bundle, witness


def verify_bundle(
    bundle: bytes, *, system: Mapping[int, Any] | None = None, chain_id: int = 1,
    workers: int = 1,
) -> bytes:
    """Execute the bundle's block from its witness; return the checked post-state root.

    Raises ``InvalidBlock`` for a wrong root (or any other block rule) and
    :class:`~strikevm.state.witness.WitnessIncomplete` for a witness that
    lacks what execution needs.
    """
    item = rlp.decode(bundle)
    if not isinstance(item, list) or len(item) != 3:
        raise ValueError("a bundle is rlp([parent_header, block, witness])")
    parent: Header = decode_header(rlp.encode(item[0]))
    block: Block = decode_block(rlp.encode(item[1]), chain_id=chain_id)
    witness = Witness.decode(rlp.encode(item[2]))
    state = WitnessState(witness, parent.state_root)
    result: list[bytes] = []

    def root_of(s: Any) -> bytes:
        state.check_complete()
        result.append(post_state_root(s))
        return result[-1]

    apply_block(state, block, parent, system=system, chain_id=chain_id, state_root=root_of,
                workers=workers)  # fmt: skip
    return result[-1]


def main(path: str | None, *, datadir: str | None, export: int | None, out: str | None,
         chain_id: int, workers: int = 1) -> int:
    """CLI entry: verify a bundle file, or export one (``--export N --datadir DIR -o FILE``)."""
    if export is not None:
        if datadir is None or out is None:
            print("--export needs --datadir and -o", file=sys.stderr)
            return 2
        store = ChainStore.open(datadir)
        try:
            bundle, witness = export_bundle(store, export, system=_system(), chain_id=chain_id)
        finally:
            store.close()
        with open(out, "wb") as fh:
            fh.write(bundle)
        print(f"block {export}: witness {len(witness.nodes)} nodes, {len(witness.codes)} codes, "
              f"{witness.size} bytes; bundle {len(bundle)} bytes")
        return 0
    if path is None:
        print("give a bundle file (or --export)", file=sys.stderr)
        return 2
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        root = verify_bundle(data, system=_system(), chain_id=chain_id, workers=workers)
    except Exception as exc:  # every rejection is reported the same way
        print(f"REJECTED: {type(exc).__name__}: {exc}")
        return 1
    print(f"OK: post-state root 0x{root.hex()}")
    return 0


def _system() -> Mapping[int, Any]:
    """The native system contracts a dev-node block was produced with."""
    from strikevm.finance.system import default_registry

    return default_registry()
