"""The JSON-RPC method table of the dev node, with the spec's hex encodings.

Quantities are ``0x``-prefixed hex without leading zeros, data is
``0x``-prefixed hex of whole bytes, addresses are 20 bytes in lower case.
Every parameter is checked before the node is asked anything: a malformed
one is answered with -32602 and a message naming the argument, and nothing
changes. Handlers run on the node's thread, except eth_call, eth_estimateGas
and debug_traceTransaction, which the server runs on its call threads (see
:mod:`strikevm.rpc.server`); they touch nothing but the store's committed data.

Filters (eth_newFilter, eth_newBlockFilter) expire when not polled for
``filter_timeout`` seconds (geth: 5 minutes), then answer "filter not found";
each poll scans at most ``max_log_blocks`` blocks and the next poll resumes
where it stopped.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from strikevm import __version__
from strikevm.chain import node as N
from strikevm.chain.executor import effective_gas_price
from strikevm.chain.mempool import tip as tx_tip
from strikevm.chain.store import StoredBlock
from strikevm.chain.transaction import Transaction
from strikevm.rpc.devtools import PREFIXES, DevTools
from strikevm.rpc.errors import InvalidParams, RpcError, from_node_error
from strikevm.vm.env import blob_base_fee

__all__ = ["Methods", "quantity", "data"]

MAX_FEE_HISTORY_BLOCKS = 1024
CALL_METHODS = frozenset(
    (
        "eth_call",
        "eth_estimateGas",
        "eth_createAccessList",
        "eth_simulateV1",
        "debug_traceTransaction",
        "debug_traceCall",
        "debug_traceBlockByNumber",
        "debug_traceBlockByHash",
        "trace_transaction",
        "trace_block",
        "ots_traceTransaction",
        "ots_getTransactionError",
    )
)
"""Methods that run EVM code: the server runs them on call threads, under the time limit."""
TARGET_BLOB_GAS = 393216
MAX_BLOB_GAS = 786432
_TAGS = ("latest", "earliest", "pending", "safe", "finalized")
_HEX = set("0123456789abcdefABCDEF")


# ---------------------------------------------------------------- encoding


def quantity(value: int) -> str:
    return hex(value)


def data(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def address(value: int | None) -> str | None:
    return None if value is None else f"0x{value:040x}"


def word(value: int) -> str:
    return f"0x{value:064x}"


def checksum(value: int) -> str:
    """An address in EIP-55 mixed case."""
    from eth_utils import to_checksum_address

    return str(to_checksum_address(f"0x{value:040x}"))


# ----------------------------------------------------------------- parsing


def _hex_body(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidParams(
            f"{what}: expected a 0x-prefixed hex string, got {type(value).__name__}"
        )
    if value[:2] not in ("0x", "0X"):
        raise InvalidParams(f"{what}: hex string without 0x prefix")
    body = value[2:]
    if not set(body) <= _HEX:
        raise InvalidParams(f"{what}: invalid hex string")
    return body


def parse_quantity(value: Any, what: str, *, bits: int = 256) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
        if number < 0:
            raise InvalidParams(f"{what}: negative number")
    else:
        body = _hex_body(value, what)
        if not body:
            raise InvalidParams(f'{what}: hex string "0x"')
        number = int(body, 16)
    if number >> bits:
        raise InvalidParams(f"{what}: number larger than {bits} bits")
    return number


def parse_data(value: Any, what: str) -> bytes:
    body = _hex_body(value, what)
    if len(body) % 2:
        raise InvalidParams(f"{what}: hex string of odd length")
    return bytes.fromhex(body)


def parse_fixed(value: Any, size: int, what: str) -> bytes:
    raw = parse_data(value, what)
    if len(raw) != size:
        raise InvalidParams(f"{what}: hex string has length {len(raw) * 2}, want {size * 2}")
    return raw


def parse_address(value: Any, what: str) -> int:
    return int.from_bytes(parse_fixed(value, 20, what), "big")


def parse_slot(value: Any, what: str) -> int:
    raw = parse_data(value, what) if isinstance(value, str) and len(value) % 2 == 0 else None
    if raw is None:
        return parse_quantity(value, what)
    if len(raw) > 32:
        raise InvalidParams(f"{what}: storage key longer than 32 bytes")
    return int.from_bytes(raw, "big")


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidParams(f"{what}: expected a boolean")
    return value


@dataclass
class _Args:
    """Positional parameters with geth's messages for missing or extra ones."""

    params: list[Any]

    def count(self, required: int, total: int) -> None:
        if len(self.params) > total:
            raise InvalidParams(f"too many arguments, want at most {total}")
        if len(self.params) < required:
            raise InvalidParams(f"missing value for required argument {len(self.params)}")

    def get(self, index: int, default: Any = None) -> Any:
        if index < len(self.params) and self.params[index] is not None:
            return self.params[index]
        return default


def _access_list(value: Any, what: str) -> tuple[tuple[int, tuple[int, ...]], ...]:
    if not isinstance(value, list):
        raise InvalidParams(f"{what}: access list must be an array")
    out = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise InvalidParams(f"{what}[{i}]: expected an object")
        addr = parse_address(entry.get("address"), f"{what}[{i}].address")
        keys = entry.get("storageKeys", [])
        if not isinstance(keys, list):
            raise InvalidParams(f"{what}[{i}].storageKeys: expected an array")
        slots = tuple(
            int.from_bytes(parse_fixed(k, 32, f"{what}[{i}].storageKeys"), "big") for k in keys
        )
        out.append((addr, slots))
    return tuple(out)


def parse_call(value: Any, what: str = "argument 0") -> N.CallRequest:
    if not isinstance(value, dict):
        raise InvalidParams("invalid argument 0: expected a transaction object")
    req = N.CallRequest()
    fields = value
    if fields.get("from") is not None:
        req.sender = parse_address(fields["from"], f"{what}.from")
    if fields.get("to") is not None:
        req.to = parse_address(fields["to"], f"{what}.to")
    for key, attr, bits in (
        ("gas", "gas", 64),
        ("gasPrice", "gas_price", 256),
        ("maxFeePerGas", "max_fee_per_gas", 256),
        ("maxPriorityFeePerGas", "max_priority_fee_per_gas", 256),
        ("nonce", "nonce", 64),
        ("type", "tx_type", 8),
        ("chainId", "chain_id", 256),
    ):
        if fields.get(key) is not None:
            setattr(req, attr, parse_quantity(fields[key], f"{what}.{key}", bits=bits))
    if fields.get("value") is not None:
        req.value = parse_quantity(fields["value"], f"{what}.value")
    payload = fields.get("input")
    other = fields.get("data")
    if payload is not None and other is not None and payload != other:
        raise InvalidParams('both "data" and "input" are set and not equal')
    if payload is None:
        payload = other
    if payload is not None:
        req.data = parse_data(payload, f"{what}.input")
    if fields.get("accessList") is not None:
        req.access_list = _access_list(fields["accessList"], f"{what}.accessList")
    if req.gas_price is not None and (
        req.max_fee_per_gas is not None or req.max_priority_fee_per_gas is not None
    ):
        raise InvalidParams("both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified")
    if (
        req.max_fee_per_gas is not None
        and req.max_priority_fee_per_gas is not None
        and req.max_priority_fee_per_gas > req.max_fee_per_gas
    ):
        raise InvalidParams("maxFeePerGas must be at least maxPriorityFeePerGas")
    return req


def parse_overrides(value: Any) -> dict[int, N.AccountOverride]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParams("invalid argument 2: state override must be an object")
    out: dict[int, N.AccountOverride] = {}
    for key, spec in value.items():
        addr = parse_address(key, "state override address")
        if not isinstance(spec, dict):
            raise InvalidParams(f"state override for {key}: expected an object")
        unknown = set(spec) - {"balance", "nonce", "code", "state", "stateDiff"}
        if unknown:
            raise InvalidParams(f"state override for {key}: unknown field {sorted(unknown)[0]}")
        o = N.AccountOverride()
        if spec.get("balance") is not None:
            o.balance = parse_quantity(spec["balance"], f"{key}.balance")
        if spec.get("nonce") is not None:
            o.nonce = parse_quantity(spec["nonce"], f"{key}.nonce", bits=64)
        if spec.get("code") is not None:
            o.code = parse_data(spec["code"], f"{key}.code")
        if spec.get("state") is not None and spec.get("stateDiff") is not None:
            raise InvalidParams(f"account {key} has both 'state' and 'stateDiff'")
        for name in ("state", "stateDiff"):
            slots = spec.get(name)
            if slots is None:
                continue
            if not isinstance(slots, dict):
                raise InvalidParams(f"{key}.{name}: expected an object")
            parsed = {
                int.from_bytes(parse_fixed(k, 32, f"{key}.{name} key"), "big"): int.from_bytes(
                    parse_fixed(v, 32, f"{key}.{name} value"), "big"
                )
                for k, v in slots.items()
            }
            if name == "state":
                o.state = parsed
            else:
                o.state_diff = parsed
        out[addr] = o
    return out


# -------------------------------------------------------------- formatting


def format_tx(tx: Transaction, stored: StoredBlock | None, index: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "blockHash": data(stored.hash) if stored is not None else None,
        "blockNumber": quantity(stored.number) if stored is not None else None,
        "from": address(tx.sender),
        "gas": quantity(tx.gas_limit),
        "hash": data(tx.hash),
        "input": data(tx.data),
        "nonce": quantity(tx.nonce),
        "to": address(tx.to),
        "transactionIndex": quantity(index) if stored is not None else None,
        "value": quantity(tx.value),
        "type": quantity(tx.tx_type),
        "v": quantity(tx.v),
        "r": quantity(tx.r),
        "s": quantity(tx.s),
    }
    if tx.chain_id is not None:
        out["chainId"] = quantity(tx.chain_id)
    if tx.tx_type == 0:
        out["gasPrice"] = quantity(tx.fee_cap)
    else:
        out["yParity"] = quantity(tx.y_parity)
        out["accessList"] = [
            {"address": address(a), "storageKeys": [word(k) for k in keys]}
            for a, keys in tx.access_list
        ]
        if tx.tx_type == 1:
            out["gasPrice"] = quantity(tx.fee_cap)
        else:
            out["maxFeePerGas"] = quantity(tx.fee_cap)
            out["maxPriorityFeePerGas"] = quantity(tx.priority_fee_cap)
            price = (
                effective_gas_price(tx, stored.header.base_fee_per_gas)
                if stored is not None
                else tx.fee_cap
            )
            out["gasPrice"] = quantity(price)
    return out


def format_block(stored: StoredBlock, full: bool) -> dict[str, Any]:
    h = stored.header
    txs = stored.block.transactions
    return {
        "number": quantity(h.number),
        "hash": data(stored.hash),
        "parentHash": data(h.parent_hash),
        "sha3Uncles": data(h.ommers_hash),
        "logsBloom": data(h.logs_bloom),
        "transactionsRoot": data(h.transactions_root),
        "stateRoot": data(h.state_root),
        "receiptsRoot": data(h.receipts_root),
        "miner": address(h.coinbase),
        "difficulty": quantity(h.difficulty),
        "totalDifficulty": quantity(0),
        "extraData": data(h.extra_data),
        "size": quantity(stored.block.size),
        "gasLimit": quantity(h.gas_limit),
        "gasUsed": quantity(h.gas_used),
        "timestamp": quantity(h.timestamp),
        "mixHash": data(h.prev_randao),
        "nonce": data(h.nonce),
        "baseFeePerGas": quantity(h.base_fee_per_gas),
        "withdrawalsRoot": data(h.withdrawals_root),
        "withdrawals": [],
        "blobGasUsed": quantity(h.blob_gas_used),
        "excessBlobGas": quantity(h.excess_blob_gas),
        "parentBeaconBlockRoot": data(h.parent_beacon_block_root),
        "uncles": [],
        "transactions": [format_tx(tx, stored, i) for i, tx in enumerate(txs)]
        if full
        else [data(tx.hash) for tx in txs],
    }


def format_pending_block(node: N.DevNode, full: bool) -> dict[str, Any]:
    """The block the pool's executable transactions would make now (geth's pending block).

    ``hash``, ``nonce`` and ``miner`` are null, as geth shows them; the roots are
    those of the head (the pending block is not sealed).
    """
    head = node.head()
    out = format_block(head, False)
    env = node.pending_env()
    txs = node.pending_transactions(env.gas_limit)
    out.update(
        {
            "number": quantity(env.number),
            "hash": None,
            "nonce": None,
            "miner": None,
            "parentHash": data(head.hash),
            "timestamp": quantity(env.timestamp),
            "baseFeePerGas": quantity(env.base_fee),
            "gasLimit": quantity(env.gas_limit),
            "gasUsed": quantity(sum(tx.gas_limit for tx in txs)),
            "transactions": [format_tx(tx, None, 0) for tx in txs]
            if full
            else [data(tx.hash) for tx in txs],
        }
    )
    return out


def parse_block_overrides(value: Any) -> dict[str, int]:
    """eth_call's 4th argument (geth's BlockOverrides) as BlockEnv fields."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParams("invalid argument 3: block overrides must be an object")
    fields = {
        "number": ("number", 64),
        "time": ("timestamp", 64),
        "gasLimit": ("gas_limit", 64),
        "baseFee": ("base_fee", 256),
        "baseFeePerGas": ("base_fee", 256),
        "prevRandao": ("prev_randao", 256),
        "random": ("prev_randao", 256),
        "difficulty": ("prev_randao", 256),
    }
    out: dict[str, int] = {}
    for key, raw in value.items():
        if raw is None:
            continue
        if key in ("coinbase", "feeRecipient"):
            out["coinbase"] = parse_address(raw, f"invalid argument 3: {key}")
        elif key in fields:
            name, bits = fields[key]
            out[name] = parse_quantity(raw, f"invalid argument 3: {key}", bits=bits)
        elif key == "blobBaseFee":
            raise InvalidParams("invalid argument 3: blobBaseFee overrides are not supported")
        else:
            raise InvalidParams(f"invalid argument 3: unknown block override {key}")
    return out


def format_log(entry: N.LogEntry) -> dict[str, Any]:
    log = entry.log
    return {
        "address": address(log.address),
        "topics": [word(t) for t in log.topics],
        "data": data(log.data),
        "blockNumber": quantity(entry.block.number),
        "blockHash": data(entry.block.hash),
        "blockTimestamp": quantity(entry.block.header.timestamp),
        "transactionHash": data(entry.tx_hash),
        "transactionIndex": quantity(entry.tx_index),
        "logIndex": quantity(entry.log_index),
        "removed": False,
    }


def format_receipt(info: N.ReceiptInfo) -> dict[str, Any]:
    tx = info.tx
    stored = info.block
    logs = [
        format_log(N.LogEntry(log, stored, info.index, info.first_log_index + i))
        for i, log in enumerate(info.receipt.logs)
    ]
    return {
        "transactionHash": data(tx.hash),
        "transactionIndex": quantity(info.index),
        "blockHash": data(stored.hash),
        "blockNumber": quantity(stored.number),
        "from": address(tx.sender),
        "to": address(tx.to),
        "cumulativeGasUsed": quantity(info.receipt.cumulative_gas_used),
        "gasUsed": quantity(info.gas_used),
        "contractAddress": address(info.contract_address),
        "logs": logs,
        "logsBloom": data(info.receipt.bloom),
        "type": quantity(tx.tx_type),
        "status": quantity(1 if info.receipt.success else 0),
        "effectiveGasPrice": quantity(info.effective_gas_price),
    }


def format_proof(proof: Any) -> dict[str, Any]:
    return {
        "address": address(proof.address),
        "accountProof": [data(p) for p in proof.account_proof],
        "balance": quantity(proof.balance),
        "codeHash": data(proof.code_hash),
        "nonce": quantity(proof.nonce),
        "storageHash": data(proof.storage_hash),
        "storageProof": [
            {
                "key": quantity(s.slot),
                "value": quantity(s.value),
                "proof": [data(p) for p in s.proof],
            }
            for s in proof.storage_proof
        ],
    }


# ----------------------------------------------------------------- filters


@dataclass
class LogFilter:
    first: int | None  # None: follow the head
    last: int | None
    addresses: list[int] | None
    topics: list[list[int] | None]
    block_hash: bytes | None = None


def parse_topics(value: Any) -> list[list[int] | None]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidParams("topics: expected an array")
    if len(value) > 4:
        raise InvalidParams("topics: more than 4 positions")
    out: list[list[int] | None] = []
    for i, item in enumerate(value):
        if item is None:
            out.append(None)
        elif isinstance(item, list):
            if not item:
                out.append(None)
            else:
                out.append(
                    [int.from_bytes(parse_fixed(t, 32, f"topics[{i}]"), "big") for t in item]
                )
        else:
            out.append([int.from_bytes(parse_fixed(item, 32, f"topics[{i}]"), "big")])
    return out


# ------------------------------------------------------------------ budgets


@dataclass(frozen=True)
class RpcLimits:
    """The RPC server's denial-of-service budgets (defaults as geth's); 0 disables one.

    Node-side budgets (gas cap, eth_getLogs range, snapshots) are in
    :class:`~strikevm.chain.node.NodeConfig`.
    """

    batch_items: int = 1000  # --rpc-batch-limit (geth BatchRequestLimit)
    batch_response_bytes: int = 25_000_000  # --rpc-batch-response-limit (geth: 25 MB)
    evm_timeout: float = 5.0  # --rpc-evm-timeout seconds (geth RPCEVMTimeout)
    filter_timeout: float = 300.0  # --rpc-filter-timeout seconds (geth: 5 minutes)
    trace_max_logs: int = 100_000  # --trace-max-logs
    trace_max_bytes: int = 64 * 1024 * 1024  # --trace-max-bytes
    ws_queue_messages: int = 10_000  # --ws-max-queue
    ws_queue_bytes: int = 64 * 1024 * 1024  # --ws-max-queue-bytes
    call_workers: int = 2  # --rpc-call-workers


@dataclass
class _Filter:
    kind: str  # "logs", "blocks" or "pending"
    spec: Any
    since: int  # first block the next poll reports
    polled: float  # clock() at creation or the last poll


# ------------------------------------------------------------------ methods


Handler = Callable[[list[Any]], Any]


class Methods(DevTools):
    """Method name -> handler over one :class:`~strikevm.chain.node.DevNode`."""

    def __init__(
        self,
        node: N.DevNode,
        limits: RpcLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.node = node
        self.limits = limits if limits is not None else RpcLimits()
        self.clock = clock
        self.filters: dict[int, _Filter] = {}
        self._filter_id = 0
        self.table: dict[str, Handler] = {}
        for name in dir(self):
            if name.startswith(
                ("eth_", "net_", "web3_", "evm_", "debug_", "anvil_", "txpool_", *PREFIXES)
            ):
                self.table[name] = getattr(self, name)

    def call(self, method: str, params: Any) -> Any:
        """Run ``method``; raise :class:`RpcError` for any refusal."""
        handler = self.table.get(method)
        if handler is None:
            raise RpcError(-32601, f"the method {method} does not exist/is not available")
        if params is None:
            params = []
        if isinstance(params, dict):
            raise InvalidParams("named parameters are not supported; pass an array")
        if not isinstance(params, list):
            raise InvalidParams("params must be an array")
        try:
            return handler(params)
        except N.NodeError as exc:
            raise from_node_error(exc) from None

    # ---------------------------------------------------------- resolution
    def _block_param(self, value: Any, what: str = "block") -> StoredBlock | None:
        """The block a block parameter names; None for "pending". Raises if unknown."""
        node = self.node
        if value is None or value == "latest" or value == "safe" or value == "finalized":
            return node.head()
        if value == "pending":
            return None
        if value == "earliest":
            return node.block(0)
        if isinstance(value, dict):
            if "blockHash" in value:
                block_hash = parse_fixed(value["blockHash"], 32, f"{what}.blockHash")
                found = node.store.block_by_hash(block_hash)
                if found is None:
                    raise RpcError(-32000, f"header for hash 0x{block_hash.hex()} not found")
                return found
            if "blockNumber" in value:
                return self._block_param(value["blockNumber"], what)
            raise InvalidParams(f"{what}: expected blockHash or blockNumber")
        if isinstance(value, str) and value not in _TAGS and not value.startswith(("0x", "0X")):
            raise InvalidParams(f"{what}: unknown block tag {value[:32]!r}")
        number = parse_quantity(value, what, bits=64)
        found = node.store.block(number)
        if found is None:
            raise RpcError(-32000, "header not found")
        return found

    def _state_block(self, value: Any) -> StoredBlock | None:
        """Block whose post-state answers a state query (None: pending = latest state)."""
        block = self._block_param(value)
        return block if block is not None else self.node.head()

    def _block_number(self, value: Any, what: str) -> int:
        node = self.node
        if value is None or value in ("latest", "safe", "finalized", "pending"):
            return node.head_number
        if value == "earliest":
            return 0
        if isinstance(value, str) and not value.startswith(("0x", "0X")):
            raise InvalidParams(f"{what}: unknown block tag {value[:32]!r}")
        return parse_quantity(value, what, bits=64)

    # ----------------------------------------------------------- web3/net
    def web3_clientVersion(self, params: list[Any]) -> str:
        _Args(params).count(0, 0)
        return f"StrikeVM/v{__version__}/python{sys.version_info[0]}.{sys.version_info[1]}"

    def web3_sha3(self, params: list[Any]) -> str:
        args = _Args(params)
        args.count(1, 1)
        from strikevm.crypto import keccak256

        return data(keccak256(parse_data(params[0], "argument 0")))

    def net_version(self, params: list[Any]) -> str:
        _Args(params).count(0, 0)
        return str(self.node.chain_id)

    def net_listening(self, params: list[Any]) -> bool:
        return True

    def net_peerCount(self, params: list[Any]) -> str:
        return quantity(0)

    # ----------------------------------------------------------------- eth
    def eth_chainId(self, params: list[Any]) -> str:
        _Args(params).count(0, 0)
        return quantity(self.node.chain_id)

    def eth_syncing(self, params: list[Any]) -> bool:
        return False

    def eth_mining(self, params: list[Any]) -> bool:
        return self.node.config.automine

    def eth_coinbase(self, params: list[Any]) -> str | None:
        return address(self.node.config.coinbase)

    def eth_accounts(self, params: list[Any]) -> list[str | None]:
        _Args(params).count(0, 0)
        return [address(a) for a, _ in self.node.accounts]

    def eth_blockNumber(self, params: list[Any]) -> str:
        _Args(params).count(0, 0)
        return quantity(self.node.head_number)

    def eth_gasPrice(self, params: list[Any]) -> str:
        _Args(params).count(0, 0)
        return quantity(self.node.next_base_fee() + N.DEFAULT_PRIORITY_FEE)

    def eth_maxPriorityFeePerGas(self, params: list[Any]) -> str:
        _Args(params).count(0, 0)
        return quantity(N.DEFAULT_PRIORITY_FEE)

    def eth_blobBaseFee(self, params: list[Any]) -> str:
        return quantity(self.node.pending_env().blob_base_fee)

    def eth_getBalance(self, params: list[Any]) -> str:
        args = _Args(params)
        args.count(1, 2)
        addr = parse_address(params[0], "invalid argument 0")
        return quantity(self.node.balance(addr, self._state_block(args.get(1))))

    def eth_getCode(self, params: list[Any]) -> str:
        args = _Args(params)
        args.count(1, 2)
        addr = parse_address(params[0], "invalid argument 0")
        return data(self.node.code(addr, self._state_block(args.get(1))))

    def eth_getStorageAt(self, params: list[Any]) -> str:
        args = _Args(params)
        args.count(2, 3)
        addr = parse_address(params[0], "invalid argument 0")
        slot = parse_slot(params[1], "invalid argument 1")
        return word(self.node.storage(addr, slot, self._state_block(args.get(2))))

    def eth_getTransactionCount(self, params: list[Any]) -> str:
        args = _Args(params)
        args.count(1, 2)
        addr = parse_address(params[0], "invalid argument 0")
        if args.get(1) == "pending":
            return quantity(self.node.pending_nonce(addr))
        return quantity(self.node.nonce(addr, self._state_block(args.get(1))))

    def eth_getProof(self, params: list[Any]) -> dict[str, Any]:
        args = _Args(params)
        args.count(2, 3)
        addr = parse_address(params[0], "invalid argument 0")
        if not isinstance(params[1], list):
            raise InvalidParams("invalid argument 1: expected an array of storage keys")
        slots = [parse_slot(k, "invalid argument 1") for k in params[1]]
        return format_proof(self.node.proof(addr, slots, self._state_block(args.get(2))))

    def eth_sendRawTransaction(self, params: list[Any]) -> str:
        _Args(params).count(1, 1)
        raw = parse_data(params[0], "invalid argument 0")
        return data(self.node.submit_raw(raw))

    def eth_sendTransaction(self, params: list[Any]) -> str:
        _Args(params).count(1, 1)
        req = parse_call(params[0])
        if params[0].get("from") is None:
            raise InvalidParams("invalid argument 0: missing from")
        return data(self.node.send_transaction(req))

    def eth_call(self, params: list[Any]) -> str:
        args = _Args(params)
        args.count(1, 4)
        req = parse_call(params[0])
        block = self._block_param(args.get(1))
        overrides = parse_overrides(args.get(2))
        env_overrides = parse_block_overrides(args.get(3))
        result = self.node.call(req, block, overrides, env_overrides)
        if not result.success:
            N.raise_call_error(result)
        return data(result.output)

    def eth_createAccessList(self, params: list[Any]) -> dict[str, Any]:
        """geth's access list: addresses and slots the call touches, and its gas with them."""
        args = _Args(params)
        args.count(1, 2)
        req = parse_call(params[0])
        block = self._block_param(args.get(1, "pending"))
        accessed, gas_used, error = self.node.access_list(req, block)
        out: dict[str, Any] = {
            "accessList": [
                {"address": address(a), "storageKeys": [word(k) for k in keys]}
                for a, keys in accessed
            ],
            "gasUsed": quantity(gas_used),
        }
        if error:
            out["error"] = error
        return out

    def eth_estimateGas(self, params: list[Any]) -> str:
        args = _Args(params)
        args.count(1, 3)
        req = parse_call(params[0])
        block = self._block_param(args.get(1, "pending"))
        overrides = parse_overrides(args.get(2))
        return quantity(self.node.estimate_gas(req, block, overrides))

    def eth_getBlockByNumber(self, params: list[Any]) -> dict[str, Any] | None:
        args = _Args(params)
        args.count(1, 2)
        full = _bool(args.get(1, False), "invalid argument 1")
        value = params[0]
        if value == "pending":
            return format_pending_block(self.node, full)
        number = self._block_number(value, "invalid argument 0")
        found = self.node.store.block(number)
        return format_block(found, full) if found is not None else None

    def eth_getBlockByHash(self, params: list[Any]) -> dict[str, Any] | None:
        args = _Args(params)
        args.count(1, 2)
        block_hash = parse_fixed(params[0], 32, "invalid argument 0")
        full = _bool(args.get(1, False), "invalid argument 1")
        found = self.node.store.block_by_hash(block_hash)
        return format_block(found, full) if found is not None else None

    def eth_getBlockTransactionCountByNumber(self, params: list[Any]) -> str | None:
        _Args(params).count(1, 1)
        found = self.node.store.block(self._block_number(params[0], "invalid argument 0"))
        return quantity(len(found.block.transactions)) if found is not None else None

    def eth_getBlockTransactionCountByHash(self, params: list[Any]) -> str | None:
        _Args(params).count(1, 1)
        found = self.node.store.block_by_hash(parse_fixed(params[0], 32, "invalid argument 0"))
        return quantity(len(found.block.transactions)) if found is not None else None

    def eth_getUncleCountByBlockNumber(self, params: list[Any]) -> str:
        return quantity(0)

    def eth_getUncleCountByBlockHash(self, params: list[Any]) -> str:
        return quantity(0)

    def eth_getTransactionByHash(self, params: list[Any]) -> dict[str, Any] | None:
        _Args(params).count(1, 1)
        tx_hash = parse_fixed(params[0], 32, "invalid argument 0")
        try:
            tx, stored, index = self.node.transaction(tx_hash)
        except LookupError:
            return None
        return format_tx(tx, stored, index)

    def _tx_by_index(self, stored: StoredBlock | None, index: Any) -> dict[str, Any] | None:
        i = parse_quantity(index, "invalid argument 1", bits=64)
        if stored is None or i >= len(stored.block.transactions):
            return None
        return format_tx(stored.block.transactions[i], stored, i)

    def eth_getTransactionByBlockNumberAndIndex(self, params: list[Any]) -> Any:
        _Args(params).count(2, 2)
        stored = self.node.store.block(self._block_number(params[0], "invalid argument 0"))
        return self._tx_by_index(stored, params[1])

    def eth_getTransactionByBlockHashAndIndex(self, params: list[Any]) -> Any:
        _Args(params).count(2, 2)
        stored = self.node.store.block_by_hash(parse_fixed(params[0], 32, "invalid argument 0"))
        return self._tx_by_index(stored, params[1])

    def eth_getTransactionReceipt(self, params: list[Any]) -> dict[str, Any] | None:
        _Args(params).count(1, 1)
        info = self.node.receipt(parse_fixed(params[0], 32, "invalid argument 0"))
        return format_receipt(info) if info is not None else None

    def eth_getBlockReceipts(self, params: list[Any]) -> list[dict[str, Any]] | None:
        _Args(params).count(1, 1)
        try:
            stored = self._block_param(params[0], "invalid argument 0")
        except RpcError as exc:
            if exc.code == -32000:
                return None
            raise
        if stored is None:
            stored = self.node.head()
        return [
            format_receipt(self.node.receipt_at(stored, i))
            for i in range(len(stored.block.transactions))
        ]

    def _parse_filter(self, value: Any) -> LogFilter:
        if not isinstance(value, dict):
            raise InvalidParams("invalid argument 0: expected a filter object")
        addresses: list[int] | None = None
        raw_addr = value.get("address")
        if isinstance(raw_addr, list):
            addresses = [parse_address(a, "address") for a in raw_addr] or None
        elif raw_addr is not None:
            addresses = [parse_address(raw_addr, "address")]
        topics = parse_topics(value.get("topics"))
        if value.get("blockHash") is not None:
            if value.get("fromBlock") is not None or value.get("toBlock") is not None:
                raise InvalidParams(
                    "invalid argument 0: cannot specify both BlockHash and FromBlock/ToBlock, "
                    "choose one or the other"
                )
            block_hash = parse_fixed(value["blockHash"], 32, "blockHash")
            return LogFilter(None, None, addresses, topics, block_hash)
        first = value.get("fromBlock")
        last = value.get("toBlock")
        return LogFilter(
            None
            if first in (None, "latest", "pending", "safe", "finalized")
            else self._block_number(first, "fromBlock"),
            None
            if last in (None, "latest", "pending", "safe", "finalized")
            else self._block_number(last, "toBlock"),
            addresses,
            topics,
        )

    def _run_filter(
        self, flt: LogFilter, since: int | None = None, until: int | None = None
    ) -> list[dict[str, Any]]:
        node = self.node
        if flt.block_hash is not None:
            stored = node.store.block_by_hash(flt.block_hash)
            if stored is None:
                raise RpcError(-32000, "unknown block")
            return [format_log(e) for e in node.block_logs(stored, flt.addresses, flt.topics)]
        head = node.head_number
        first = flt.first if flt.first is not None else head
        last = flt.last if flt.last is not None else head
        if since is not None:
            first = max(first, since)
        if flt.first is not None and flt.last is not None and flt.first > flt.last:
            raise InvalidParams("invalid block range params")
        last = min(last, head)
        if until is not None:
            last = min(last, until)
        return [format_log(e) for e in node.logs(first, last, flt.addresses, flt.topics)]

    def eth_getLogs(self, params: list[Any]) -> list[dict[str, Any]]:
        _Args(params).count(1, 1)
        return self._run_filter(self._parse_filter(params[0]))

    def eth_feeHistory(self, params: list[Any]) -> dict[str, Any]:
        args = _Args(params)
        args.count(2, 3)
        count = parse_quantity(params[0], "invalid argument 0", bits=64)
        newest = self._block_number(params[1], "invalid argument 1")
        percentiles = args.get(2)
        if percentiles is not None:
            if not isinstance(percentiles, list) or len(percentiles) > 100:
                raise InvalidParams("invalid argument 2: expected at most 100 percentiles")
            previous = -1.0
            for p in percentiles:
                if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 100:
                    raise InvalidParams(f"invalid reward percentile: {p!r}")
                if p < previous:
                    raise InvalidParams(f"invalid reward percentile: #{p} < previous {previous}")
                previous = float(p)
        node = self.node
        newest = min(newest, node.head_number)
        count = min(count, MAX_FEE_HISTORY_BLOCKS, newest + 1)
        if count == 0:
            return {"oldestBlock": quantity(0), "baseFeePerGas": [], "gasUsedRatio": []}
        oldest = newest - count + 1
        base_fees: list[str] = []
        blob_fees: list[str] = []
        ratios: list[float] = []
        blob_ratios: list[float] = []
        rewards: list[list[str]] = []
        last_header = None
        for stored in node.store.iter_blocks(oldest, newest):
            h = stored.header
            last_header = h
            base_fees.append(quantity(h.base_fee_per_gas))
            blob_fees.append(quantity(blob_base_fee(h.excess_blob_gas)))
            ratios.append(h.gas_used / h.gas_limit if h.gas_limit else 0.0)
            blob_ratios.append(h.blob_gas_used / MAX_BLOB_GAS)
            if percentiles is not None:
                rewards.append([quantity(r) for r in _rewards(stored, percentiles)])
        assert last_header is not None
        from strikevm.chain.block import calc_base_fee, calc_excess_blob_gas

        base_fees.append(
            quantity(
                calc_base_fee(
                    last_header.gas_limit, last_header.gas_used, last_header.base_fee_per_gas
                )
            )
        )
        blob_fees.append(
            quantity(
                blob_base_fee(
                    calc_excess_blob_gas(last_header.excess_blob_gas, last_header.blob_gas_used)
                )
            )
        )
        out: dict[str, Any] = {
            "oldestBlock": quantity(oldest),
            "baseFeePerGas": base_fees,
            "gasUsedRatio": ratios,
            "baseFeePerBlobGas": blob_fees,
            "blobGasUsedRatio": blob_ratios,
        }
        if percentiles is not None:
            out["reward"] = rewards
        return out

    # ------------------------------------------------------------ filters
    def _expire_filters(self) -> None:
        """Drop filters not polled for ``filter_timeout`` seconds (as geth does)."""
        timeout = self.limits.filter_timeout
        if not timeout:
            return
        oldest = self.clock() - timeout
        for fid in [fid for fid, f in self.filters.items() if f.polled < oldest]:
            del self.filters[fid]

    def _new_filter(self, kind: str, spec: Any) -> str:
        self._expire_filters()
        self._filter_id += 1
        self.filters[self._filter_id] = _Filter(kind, spec, self.node.head_number + 1, self.clock())
        return quantity(self._filter_id)

    def _filter(self, value: Any) -> tuple[int, _Filter]:
        fid = parse_quantity(value, "invalid argument 0")
        self._expire_filters()
        found = self.filters.get(fid)
        if found is None:
            raise RpcError(-32000, "filter not found")
        found.polled = self.clock()
        return fid, found

    def eth_newFilter(self, params: list[Any]) -> str:
        _Args(params).count(1, 1)
        return self._new_filter("logs", self._parse_filter(params[0]))

    def eth_newBlockFilter(self, params: list[Any]) -> str:
        _Args(params).count(0, 0)
        return self._new_filter("blocks", None)

    def eth_newPendingTransactionFilter(self, params: list[Any]) -> str:
        return self._new_filter("pending", None)

    def eth_uninstallFilter(self, params: list[Any]) -> bool:
        _Args(params).count(1, 1)
        fid = parse_quantity(params[0], "invalid argument 0")
        self._expire_filters()
        return self.filters.pop(fid, None) is not None

    def eth_getFilterChanges(self, params: list[Any]) -> list[Any]:
        """What happened since the last poll, at most ``max_log_blocks`` blocks per poll."""
        _Args(params).count(1, 1)
        _, flt = self._filter(params[0])
        since = flt.since
        last = self.node.head_number
        span = self.node.config.max_log_blocks
        if span and last - since + 1 > span:
            last = since + span - 1  # the next poll goes on from here
        flt.since = max(since, last + 1)
        if flt.kind == "blocks":
            return [data(s.hash) for s in self.node.store.iter_blocks(since, last)]
        if flt.kind == "pending":
            return []
        spec: LogFilter = flt.spec
        if spec.block_hash is not None:
            return []
        return self._run_filter(spec, since, last)

    def eth_getFilterLogs(self, params: list[Any]) -> list[Any]:
        _Args(params).count(1, 1)
        _, flt = self._filter(params[0])
        if flt.kind != "logs":
            raise RpcError(-32000, "filter not found")
        return self._run_filter(flt.spec)

    # ------------------------------------------------------------- txpool
    def txpool_status(self, params: list[Any]) -> dict[str, str]:
        node = self.node
        pending = 0
        for tx in node.pool.transactions():
            if tx.nonce < node.pending_nonce(tx.sender):
                pending += 1
        return {"pending": quantity(pending), "queued": quantity(len(node.pool) - pending)}

    # ---------------------------------------------------------------- debug
    def debug_traceTransaction(self, params: list[Any]) -> Any:
        args = _Args(params)
        args.count(1, 2)
        tx_hash = parse_fixed(params[0], 32, "invalid argument 0")
        options = args.get(1, {})
        if not isinstance(options, dict):
            raise InvalidParams("invalid argument 1: expected a tracer config object")
        from strikevm.rpc.trace import (
            TraceOptions,
            trace_block_transactions,
            trace_transaction,
            tracer_name,
        )

        if tracer_name(options) is not None:
            found = self.node.store.tx_location(tx_hash)
            if found is None:
                raise RpcError(-32000, "transaction not found")
            return trace_block_transactions(self.node, found[0], [found[1]], options)[0]
        return trace_transaction(
            self.node,
            tx_hash,
            TraceOptions.parse(options),
            max_logs=self.limits.trace_max_logs,
            max_bytes=self.limits.trace_max_bytes,
        )

    # ------------------------------------------------------------------ evm
    def evm_mine(self, params: list[Any]) -> str:
        args = _Args(params)
        args.count(0, 1)
        spec = args.get(0)
        blocks = 1
        timestamp = None
        if isinstance(spec, dict):
            if spec.get("timestamp") is not None:
                timestamp = parse_quantity(spec["timestamp"], "timestamp", bits=64)
            if spec.get("blocks") is not None:
                blocks = parse_quantity(spec["blocks"], "blocks", bits=32)
        elif spec is not None:
            timestamp = parse_quantity(spec, "invalid argument 0", bits=64)
        if blocks > 10_000:
            raise InvalidParams("blocks: at most 10000 blocks per call")
        self.node.mine_blocks(blocks, timestamp)
        return "0x0"

    def evm_snapshot(self, params: list[Any]) -> str:
        _Args(params).count(0, 0)
        return quantity(self.node.snapshot())

    def evm_revert(self, params: list[Any]) -> bool:
        _Args(params).count(1, 1)
        return self.node.revert(parse_quantity(params[0], "invalid argument 0", bits=64))

    def evm_increaseTime(self, params: list[Any]) -> str:
        _Args(params).count(1, 1)
        seconds = parse_quantity(params[0], "invalid argument 0", bits=64)
        return quantity(self.node.increase_time(seconds))

    def evm_setNextBlockTimestamp(self, params: list[Any]) -> None:
        _Args(params).count(1, 1)
        self.node.set_next_block_timestamp(parse_quantity(params[0], "invalid argument 0", bits=64))
        return None

    def evm_setAutomine(self, params: list[Any]) -> None:
        _Args(params).count(1, 1)
        enabled = _bool(params[0], "invalid argument 0")
        self.node.config = replace(self.node.config, automine=enabled)
        return None


def _rewards(stored: StoredBlock, percentiles: list[float]) -> list[int]:
    """geth's gas-weighted tip percentiles of one block."""
    txs = stored.block.transactions
    if not txs:
        return [0 for _ in percentiles]
    base_fee = stored.header.base_fee_per_gas
    items = []
    previous = 0
    for tx, receipt in zip(txs, stored.receipts, strict=True):
        items.append((tx_tip(tx, base_fee), receipt.cumulative_gas_used - previous))
        previous = receipt.cumulative_gas_used
    items.sort()
    total = stored.header.gas_used
    out = []
    index = 0
    cumulative = items[0][1]
    for p in percentiles:
        threshold = total * p / 100
        while cumulative < threshold and index < len(items) - 1:
            index += 1
            cumulative += items[index][1]
        out.append(items[index][0])
    return out
