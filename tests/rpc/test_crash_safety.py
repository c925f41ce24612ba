"""Crash safety: SIGKILL the node under load at random moments, 20 times, and check the store.

After every kill the data directory must hold a complete chain up to its head
(every block with its receipts, roots and transaction index, nothing beyond
the head), every block whose receipt a client was given, and flat state
tables whose root is the head's state root; the restarted node must resume
at that head with that state root.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from pathlib import Path

from strikevm.chain.block import decode_block, receipts_root, verify_body
from strikevm.chain.receipt import decode_receipt
from strikevm.state.commit import load
from strikevm.state.db import ChainDB
from strikevm.state.root import state_root

# the helper modules beside these tests, whatever pytest's import mode
_HERE = Path(__file__).resolve()
for _dir in (
    _HERE.parent,
    _HERE.parent.parent / "chain",
):
    if str(_dir) not in sys.path:
        sys.path.insert(0, str(_dir))

from nodehelpers import STORE_INITCODE, word  # noqa: E402
from rpchelpers import NodeProcess  # noqa: E402

KILLS = 20
SENDERS = [
    "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
    "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
    "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
    "0x90f79bf6eb2c4f870365e785982e1f101e93b906",
]


Seen = list[tuple[str, int, str]]  # (tx hash, block number, block hash) from receipts


def load_traffic(node: NodeProcess, contract: str, stop: threading.Event, seen: Seen) -> None:
    lock = threading.Lock()

    def worker(index: int) -> None:
        rng = random.Random(index)
        sender = SENDERS[index]
        while not stop.is_set():
            try:
                if rng.random() < 0.5:
                    tx = {
                        "from": sender,
                        "to": contract,
                        "data": "0x" + word(rng.getrandbits(64) + 1).hex(),
                    }
                else:
                    tx = {
                        "from": sender,
                        "to": SENDERS[(index + 1) % 4],
                        "value": hex(rng.randrange(1, 10**15)),
                    }
                tx_hash = node.call("eth_sendTransaction", tx)
                receipt = node.call("eth_getTransactionReceipt", tx_hash)
            except Exception:  # noqa: BLE001 - the node is being killed
                return
            if receipt is not None:
                with lock:
                    seen.append((tx_hash, int(receipt["blockNumber"], 16), receipt["blockHash"]))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(len(SENDERS))]
    for t in threads:
        t.start()
    stop.wait()
    for t in threads:
        t.join(30)


def check_datadir(path: Path, seen: Seen) -> tuple[int, bytes, bytes]:
    """Verify the whole stored chain; return (head number, head hash, head state root)."""
    db = ChainDB(path / "chaindata")
    try:
        head = db.head()
        assert head is not None
        number, head_hash = head
        parent = None
        header = None
        for n in range(number + 1):
            raw = db.get_block(n)
            assert raw is not None, f"block {n} missing below head {number}"
            block = decode_block(raw)
            header = block.header
            assert header.number == n and db.block_hash(n) == block.hash
            assert db.block_number(block.hash) == n
            if parent is not None:
                assert header.parent_hash == parent
            verify_body(block)
            receipts = [decode_receipt(r) for r in db.get_receipts(n) or []]
            assert len(receipts) == len(block.transactions), f"block {n}: partial receipts"
            assert receipts_root(receipts) == header.receipts_root
            for i, tx in enumerate(block.transactions):
                assert db.get_tx_location(tx.hash) == (n, i)
            parent = block.hash
        assert header is not None and parent == head_hash
        assert db.get_block(number + 1) is None, "a block beyond the head"
        assert db.get_receipts(number + 1) is None, "receipts beyond the head"
        state = load(db, header.state_root)
        assert state_root(state) == header.state_root
        for tx_hash, block_number, block_hash in seen:
            assert block_number <= number, f"receipt of {tx_hash} in lost block {block_number}"
            assert "0x" + db.block_hash(block_number).hex() == block_hash  # type: ignore[union-attr]
            assert db.get_tx_location(bytes.fromhex(tx_hash[2:]))[0] == block_number  # type: ignore[index]
        return number, head_hash, header.state_root
    finally:
        db.close()


def test_sigkill_under_load_loses_nothing_committed(tmp_path: Path) -> None:
    datadir = tmp_path / "data"
    rng = random.Random(20240601)
    seen: Seen = []
    node = NodeProcess(datadir).start()
    tx = node.call("eth_sendTransaction", {"from": SENDERS[0], "data": "0x" + STORE_INITCODE.hex()})
    contract = node.call("eth_getTransactionReceipt", tx)["contractAddress"]
    heads = []
    for round_ in range(KILLS):
        stop = threading.Event()
        traffic = threading.Thread(target=load_traffic, args=(node, contract, stop, seen))
        traffic.start()
        time.sleep(rng.uniform(0.2, 1.2))
        node.kill()
        stop.set()
        traffic.join(60)
        number, head_hash, root = check_datadir(datadir, seen)
        heads.append(number)
        node = NodeProcess(datadir).start()
        latest = node.call("eth_getBlockByNumber", "latest", False)
        assert latest["number"] == hex(number), f"round {round_}"
        assert latest["hash"] == "0x" + head_hash.hex()
        assert latest["stateRoot"] == "0x" + root.hex()
        # the restarted node serves the receipts it had given before the kill
        for tx_hash, block_number, _ in seen[-5:]:
            receipt = node.call("eth_getTransactionReceipt", tx_hash)
            assert receipt is not None and int(receipt["blockNumber"], 16) == block_number
    node.stop()
    assert heads[-1] > heads[0] > 0
    assert len(seen) > KILLS
