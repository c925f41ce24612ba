"""LMDB chain database: tables, atomic write batches, map growth, reopening."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from strikevm.crypto import keccak256
from strikevm.state import db as dbmod
from strikevm.state.db import ChainDB, StoreError
from strikevm.state.mpt import MPT, NodeCache


def _fill(db: ChainDB) -> None:
    with db.write_batch():
        db.put_node(keccak256(b"node"), b"node")
        db.put_code(keccak256(b"\x60\x00"), b"\x60\x00")
        db.put_account(0x10, b"acct-10")
        db.put_account(0x02, b"acct-02")
        db.put_storage(0x10, 5, 77)
        db.put_storage(0x10, 1, 2**256 - 1)
        db.put_storage(0x11, 1, 9)
        db.put_storage(0x02, 3, 0)  # zero: absent
        for number in range(3):
            block_hash = keccak256(number.to_bytes(8, "big"))
            db.put_block(number, block_hash, b"block%d" % number)
            db.put_receipts(number, [b"r%d-%d" % (number, i) for i in range(number)])
            for index in range(number):
                db.put_tx_index(keccak256(b"tx%d-%d" % (number, index)), number, index)
        db.set_head(2, keccak256((2).to_bytes(8, "big")))
        db.set_state_root(keccak256(b"root"))


def _dump(db: ChainDB) -> dict[str, object]:
    head = db.head()
    assert head is not None
    return {
        "node": db.get_node(keccak256(b"node")).hex(),  # type: ignore[union-attr]
        "code": db.get_code(keccak256(b"\x60\x00")).hex(),  # type: ignore[union-attr]
        "accounts": [[a, v.hex()] for a, v in db.iter_accounts()],
        "storage": [list(t) for t in db.iter_storage()],
        "blocks": [db.get_block(n).hex() for n in range(3)],  # type: ignore[union-attr]
        "by_hash": db.get_block_by_hash(keccak256((1).to_bytes(8, "big"))).hex(),  # type: ignore[union-attr]
        "receipts": [[r.hex() for r in db.get_receipts(n)] for n in range(3)],  # type: ignore[union-attr]
        "tx": db.get_tx_location(keccak256(b"tx2-1")),
        "head": [head[0], head[1].hex()],
        "root": db.state_root().hex(),  # type: ignore[union-attr]
    }


def test_tables_round_trip(tmp_path: Path) -> None:
    with ChainDB(tmp_path / "chain") as db:
        assert db.head() is None and db.state_root() is None
        _fill(db)
        dump = _dump(db)
        assert dump["accounts"] == [[0x02, b"acct-02".hex()], [0x10, b"acct-10".hex()]]
        assert dump["storage"] == [[0x10, 1, 2**256 - 1], [0x10, 5, 77], [0x11, 1, 9]]
        assert list(db.iter_storage(0x10)) == [(0x10, 1, 2**256 - 1), (0x10, 5, 77)]
        assert db.get_storage(0x10, 5) == 77 and db.get_storage(0x10, 6) == 0
        assert dump["tx"] == (2, 1)
        assert db.get_tx_location(b"\x00" * 32) is None
        assert db.get_receipts(0) == [] and db.get_receipts(9) is None
        assert db.block_number(keccak256((2).to_bytes(8, "big"))) == 2
        assert db.get_block(7) is None and db.get_block_by_hash(b"\x01" * 32) is None
        db.delete_account(0x10)
        assert db.get_account(0x10) is None
        assert list(db.iter_storage()) == [(0x11, 1, 9)]
        assert db.count("accounts") == 1


def test_put_block_replaces_number(tmp_path: Path) -> None:
    with ChainDB(tmp_path / "chain") as db:
        db.put_block(5, b"\x01" * 32, b"old")
        db.put_block(5, b"\x02" * 32, b"new")
        assert db.get_block(5) == b"new"
        assert db.block_number(b"\x01" * 32) is None
        assert db.block_number(b"\x02" * 32) == 5
        with pytest.raises(ValueError):
            db.put_block(6, b"\x01", b"x")


def test_interrupted_batch_changes_nothing(tmp_path: Path) -> None:
    aborted: list[str] = []
    with ChainDB(tmp_path / "chain") as db:
        _fill(db)
        before = _dump(db)
        with pytest.raises(RuntimeError), db.write_batch():
            db.on_abort(lambda: aborted.append("first"))
            db.put_account(0x10, b"changed")
            db.delete_account(0x02)
            db.put_block(3, b"\x03" * 32, b"block3")
            db.set_head(3, b"\x03" * 32)
            with db.write_batch():  # nested: joins the outer batch
                db.on_abort(lambda: aborted.append("second"))
                db.put_storage(0x10, 5, 0)
            assert db.get_account(0x10) == b"changed"  # the batch sees its own writes
            assert db.get_storage(0x10, 5) == 0
            raise RuntimeError("crash in the middle of a block")
        assert aborted == ["second", "first"]
        assert _dump(db) == before
        assert db.get_block(3) is None
        with pytest.raises(StoreError):
            db.on_abort(lambda: None)


def test_nested_batch_commits_with_outer(tmp_path: Path) -> None:
    with ChainDB(tmp_path / "chain") as db:
        with db.write_batch():
            with db.write_batch():
                db.put_meta(b"k", b"v")
            assert db.in_batch
        assert not db.in_batch
        assert db.get_meta(b"k") == b"v"


def test_other_threads_read_committed_state(tmp_path: Path) -> None:
    with ChainDB(tmp_path / "chain") as db:
        db.put_meta(b"k", b"old")
        seen: list[bytes | None] = []
        with db.write_batch():
            db.put_meta(b"k", b"new")
            reader = threading.Thread(target=lambda: seen.append(db.get_meta(b"k")))
            reader.start()
            reader.join()
            assert db.get_meta(b"k") == b"new"
        assert seen == [b"old"]
        assert db.get_meta(b"k") == b"new"


def test_snapshot_is_stable(tmp_path: Path) -> None:
    with ChainDB(tmp_path / "chain") as db:
        db.put_meta(b"k", b"1")
        with db.snapshot():
            writer = threading.Thread(target=lambda: db.put_meta(b"k", b"2"))
            writer.start()
            writer.join()
            assert db.get_meta(b"k") == b"1"
        assert db.get_meta(b"k") == b"2"


def test_map_grows_between_and_within_batches(tmp_path: Path) -> None:
    with ChainDB(tmp_path / "chain", map_size=1 << 20) as db:
        start = db.map_size
        for batch in range(4):  # each batch alone overflows the initial map
            with db.write_batch():
                for i in range(3000):
                    db.put_node(keccak256(b"%d-%d" % (batch, i)), bytes(400))
        assert db.map_size > start
        assert db.count("nodes") == 12000
    with ChainDB(tmp_path / "chain2", map_size=1 << 20) as db:
        with db.write_batch():  # one batch far larger than the map: replayed
            for i in range(200_000):
                db.put_node(keccak256(b"%d" % i), bytes(100))
        assert db.count("nodes") == 200_000


def test_map_grows_only_when_readers_are_done(tmp_path: Path) -> None:
    with ChainDB(tmp_path / "chain", map_size=1 << 20) as db:
        db.put_meta(b"k", b"old")
        opened = threading.Event()
        release = threading.Event()
        seen: list[bytes | None] = []

        def reader() -> None:
            with db.snapshot():
                opened.set()
                release.wait(5)
                seen.append(db.get_meta(b"k"))

        thread = threading.Thread(target=reader)
        thread.start()
        opened.wait(5)
        threading.Timer(0.2, release.set).start()
        with db.write_batch():  # overflows the map: the resize waits for the reader
            for i in range(5000):
                db.put_node(keccak256(b"%d" % i), bytes(400))
            db.put_meta(b"k", b"new")
        thread.join()
        assert seen == [b"old"]
        assert db.count("nodes") == 5000 and db.map_size > 1 << 20
        with db.snapshot(), pytest.raises(StoreError):
            with db.write_batch():
                pass


def test_map_full_beyond_replay_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dbmod, "_REPLAY_LIMIT", 10)
    monkeypatch.setattr(dbmod, "_MIN_FREE", 0)
    aborted: list[int] = []
    with ChainDB(tmp_path / "chain", map_size=1 << 20) as db:
        db.put_meta(b"k", b"kept")

        def big_batch() -> None:
            with db.write_batch():
                db.on_abort(lambda: aborted.append(1))
                for i in range(20_000):
                    db.put_node(keccak256(b"%d" % i), bytes(200))

        with pytest.raises(StoreError):
            big_batch()
        assert aborted == [1]
        assert db.count("nodes") == 0 and db.get_meta(b"k") == b"kept"
        while True:  # the map was enlarged: retrying eventually fits
            try:
                big_batch()
                break
            except StoreError:
                continue
        assert db.count("nodes") == 20_000


def test_trie_on_lmdb_nodes(tmp_path: Path) -> None:
    with ChainDB(tmp_path / "chain") as db:
        trie = MPT(db.nodes)
        with db.write_batch():
            for i in range(500):
                trie.put(keccak256(i.to_bytes(4, "big")), b"v%d" % i)
            root = trie.commit()
        loaded = MPT(db.nodes, root, NodeCache())
        assert loaded.get(keccak256((7).to_bytes(4, "big"))) == b"v7"


_CHILD = """
import json, sys
from strikevm.state.db import ChainDB
sys.path.insert(0, sys.argv[2])
from test_db import _dump
with ChainDB(sys.argv[1], readonly=True) as db:
    print(json.dumps(_dump(db)))
"""


def test_reopen_in_new_process(tmp_path: Path) -> None:
    path = tmp_path / "chain"
    with ChainDB(path) as db:
        _fill(db)
        expected = json.loads(json.dumps(_dump(db)))
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == expected
    with ChainDB(path, readonly=True) as db, pytest.raises(StoreError):
        db.put_meta(b"k", b"v")


def _in_fork(work: object) -> bytes:
    """Run ``work()`` in a forked child; its bytes result (or the error) comes back."""
    import os

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            out = work()  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001
            out = f"error: {type(exc).__name__}: {exc}".encode()
        os.write(write_fd, out)
        os._exit(0)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 1 << 16):
        chunks.append(chunk)
    os.close(read_fd)
    os.waitpid(pid, 0)
    return b"".join(chunks)


def test_forked_child_reads_through_its_own_environment(tmp_path: Path) -> None:
    """A process forked from one holding a ChainDB (a parallel block executor) reads the
    committed tables through fresh read transactions, even from inside a snapshot the
    parent holds, and frees its reader slots; the parent's snapshot and writes go on."""
    with ChainDB(tmp_path / "chain") as db:
        _fill(db)
        with db.snapshot():

            def child() -> bytes:
                got = (db.get_account(0x10), db.get_storage(0x10, 5), db.readonly)
                return repr(got).encode()

            assert _in_fork(child) == repr((b"acct-10", 77, True)).encode()
            # only the parent's snapshot still holds a reader slot
            table = db._env.readers().splitlines()[1:]
            assert sum(1 for line in table if line.split()[-1] != "-") == 1, table
        db.put_meta(b"after", b"fork")
        assert db.get_meta(b"after") == b"fork" and db.get_account(0x10) == b"acct-10"


def test_compiled_code_cache_lock_is_fresh_in_a_forked_child() -> None:
    """A thread of the parent holding the compiled-code cache's lock at fork() does not
    leave the child stuck (parallel executors are forked from the node's process)."""
    from strikevm.vm import compiler

    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with compiler._CACHE_LOCK:
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    try:

        def child() -> bytes:
            import signal

            signal.alarm(5)  # a stuck child dies instead of hanging the test
            compiler.compiled(bytes([0x60, 0x01, 0x00]))
            return b"ok"

        assert _in_fork(child) == b"ok"
    finally:
        release.set()
        thread.join()
