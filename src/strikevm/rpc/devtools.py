"""The dev node's tool methods: signing, anvil_/hardhat_ test helpers, tracing, txpool, ots_.

A mixin of :class:`strikevm.rpc.methods.Methods`: each ``prefix_name`` method is
a JSON-RPC handler. What each does, and how it differs from anvil, is listed in
docs/node.md ("Methods"). State edits (setBalance, setCode, setNonce,
setStorageAt, loadState) are committed in a block of their own (see
:meth:`strikevm.chain.node.DevNode.edit_state`), so every block's state root
is the chain's state.
"""

from __future__ import annotations

import gzip
import json
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from strikevm import __version__
from strikevm.chain import node as N
from strikevm.rpc.errors import InvalidParams, RpcError

if TYPE_CHECKING:
    from strikevm.chain.store import StoredBlock
    from strikevm.chain.transaction import Transaction

__all__ = ["DevTools", "PREFIXES"]

PREFIXES = ("personal_", "hardhat_", "trace_", "ots_")
_INSTANCE_ID = "0x" + N.keccak256(str(time.time_ns()).encode()).hex()


def _m() -> Any:
    from strikevm.rpc import methods

    return methods


class DevTools:
    """JSON-RPC handlers over ``self.node`` (a :class:`~strikevm.chain.node.DevNode`)."""

    node: N.DevNode
    interval_setter: Any = None  # set by the server: seconds (0/None: off) -> None

    # ------------------------------------------------------------- signing
    def _address(self, value: Any, what: str) -> int:
        return int(_m().parse_address(value, what))

    def personal_sign(self, params: list[Any]) -> str:
        m = _m()
        m._Args(params).count(2, 3)
        message = m.parse_data(params[0], "invalid argument 0")
        return str(
            m.data(self.node.sign_message(self._address(params[1], "invalid argument 1"), message))
        )

    def eth_sign(self, params: list[Any]) -> str:
        m = _m()
        m._Args(params).count(2, 2)
        message = m.parse_data(params[1], "invalid argument 1")
        return str(
            m.data(self.node.sign_message(self._address(params[0], "invalid argument 0"), message))
        )

    def eth_signTypedData_v4(self, params: list[Any]) -> str:  # noqa: N802 - JSON-RPC name
        m = _m()
        m._Args(params).count(2, 2)
        typed = params[1]
        if isinstance(typed, str):
            try:
                typed = json.loads(typed)
            except ValueError as exc:
                raise InvalidParams(f"invalid argument 1: not JSON typed data: {exc}") from None
        if not isinstance(typed, dict):
            raise InvalidParams("invalid argument 1: expected EIP-712 typed data")
        address = self._address(params[0], "invalid argument 0")
        try:
            signature = self.node.sign_typed_data(address, typed)
        except N.NodeError:
            raise
        except Exception as exc:  # eth-account's validation of the typed data
            raise InvalidParams(f"invalid argument 1: {exc}") from None
        return str(m.data(signature))

    eth_signTypedData = eth_signTypedData_v4  # noqa: N815

    def eth_signTransaction(self, params: list[Any]) -> str:  # noqa: N802
        m = _m()
        m._Args(params).count(1, 1)
        req = m.parse_call(params[0])
        if params[0].get("from") is None:
            raise InvalidParams("invalid argument 0: missing from")
        return str(m.data(self.node.sign_transaction_request(req)))

    def eth_sendUnsignedTransaction(self, params: list[Any]) -> str:  # noqa: N802
        m = _m()
        m._Args(params).count(1, 1)
        req = m.parse_call(params[0])
        if params[0].get("from") is None:
            raise InvalidParams("invalid argument 0: missing from")
        return str(m.data(self.node.send_transaction(req, unsigned=True)))

    # --------------------------------------------------------- state edits
    def _edit(self, params: list[Any], kind: str) -> None:
        m = _m()
        args = m._Args(params)
        if kind == "storage":
            args.count(3, 3)
            address = self._address(params[0], "invalid argument 0")
            slot = m.parse_slot(params[1], "invalid argument 1")
            value = int.from_bytes(
                m.parse_fixed(_word32(params[2]), 32, "invalid argument 2"), "big"
            )
            self.node.set_storage(address, slot, value)
            return
        args.count(2, 2)
        address = self._address(params[0], "invalid argument 0")
        if kind == "balance":
            self.node.set_balance(address, m.parse_quantity(params[1], "invalid argument 1"))
        elif kind == "code":
            self.node.set_code(address, m.parse_data(params[1], "invalid argument 1"))
        else:
            self.node.set_nonce(address, m.parse_quantity(params[1], "invalid argument 1", bits=64))

    def anvil_setBalance(self, params: list[Any]) -> None:  # noqa: N802
        self._edit(params, "balance")

    def hardhat_setBalance(self, params: list[Any]) -> bool:  # noqa: N802
        self._edit(params, "balance")
        return True

    def anvil_setCode(self, params: list[Any]) -> None:  # noqa: N802
        self._edit(params, "code")

    def hardhat_setCode(self, params: list[Any]) -> bool:  # noqa: N802
        self._edit(params, "code")
        return True

    def anvil_setNonce(self, params: list[Any]) -> None:  # noqa: N802
        self._edit(params, "nonce")

    def hardhat_setNonce(self, params: list[Any]) -> bool:  # noqa: N802
        self._edit(params, "nonce")
        return True

    def anvil_setStorageAt(self, params: list[Any]) -> bool:  # noqa: N802
        self._edit(params, "storage")
        return True

    def hardhat_setStorageAt(self, params: list[Any]) -> bool:  # noqa: N802
        self._edit(params, "storage")
        return True

    # ------------------------------------------------------- impersonation
    def anvil_impersonateAccount(self, params: list[Any]) -> None:  # noqa: N802
        _m()._Args(params).count(1, 1)
        self.node.impersonate(self._address(params[0], "invalid argument 0"))

    def hardhat_impersonateAccount(self, params: list[Any]) -> bool:  # noqa: N802
        self.anvil_impersonateAccount(params)
        return True

    def anvil_stopImpersonatingAccount(self, params: list[Any]) -> None:  # noqa: N802
        _m()._Args(params).count(1, 1)
        self.node.stop_impersonating(self._address(params[0], "invalid argument 0"))

    def hardhat_stopImpersonatingAccount(self, params: list[Any]) -> bool:  # noqa: N802
        self.anvil_stopImpersonatingAccount(params)
        return True

    def anvil_autoImpersonateAccount(self, params: list[Any]) -> None:  # noqa: N802
        m = _m()
        m._Args(params).count(1, 1)
        self.node.auto_impersonate = m._bool(params[0], "invalid argument 0")

    # --------------------------------------------------- blocks, fees, time
    def anvil_setNextBlockBaseFeePerGas(self, params: list[Any]) -> None:  # noqa: N802
        m = _m()
        m._Args(params).count(1, 1)
        self.node.set_next_base_fee(m.parse_quantity(params[0], "invalid argument 0"))

    def hardhat_setNextBlockBaseFeePerGas(self, params: list[Any]) -> bool:  # noqa: N802
        self.anvil_setNextBlockBaseFeePerGas(params)
        return True

    def _mine(self, params: list[Any]) -> None:
        m = _m()
        args = m._Args(params)
        args.count(0, 2)
        blocks = m.parse_quantity(
            args.get(0) if args.get(0) is not None else 1, "invalid argument 0", bits=32
        )
        if blocks > 10_000:
            raise InvalidParams("invalid argument 0: at most 10000 blocks per call")
        interval = args.get(1)
        seconds = (
            None if interval is None else m.parse_quantity(interval, "invalid argument 1", bits=32)
        )
        self.node.mine_interval(blocks, seconds)

    def anvil_mine(self, params: list[Any]) -> None:
        self._mine(params)

    def hardhat_mine(self, params: list[Any]) -> bool:
        self._mine(params)
        return True

    def evm_setBlockGasLimit(self, params: list[Any]) -> bool:  # noqa: N802
        m = _m()
        m._Args(params).count(1, 1)
        self.node.set_gas_limit(m.parse_quantity(params[0], "invalid argument 0", bits=64))
        return True

    anvil_setBlockGasLimit = evm_setBlockGasLimit  # noqa: N815

    def evm_setIntervalMining(self, params: list[Any]) -> bool:  # noqa: N802
        """Milliseconds between blocks (0: off), as hardhat; automine goes off while it runs."""
        m = _m()
        m._Args(params).count(1, 1)
        millis = m.parse_quantity(params[0], "invalid argument 0", bits=64)
        self._set_interval(millis / 1000)
        return True

    def anvil_setIntervalMining(self, params: list[Any]) -> None:  # noqa: N802
        """Seconds between blocks (0: off), as anvil."""
        m = _m()
        m._Args(params).count(1, 1)
        self._set_interval(float(m.parse_quantity(params[0], "invalid argument 0", bits=64)))

    def _set_interval(self, seconds: float) -> None:
        if self.interval_setter is None:
            raise RpcError(-32000, "interval mining needs the RPC server")
        self.node.config = replace(self.node.config, automine=not seconds)
        self.interval_setter(seconds or None)

    def anvil_setAutomine(self, params: list[Any]) -> None:  # noqa: N802
        m = _m()
        m._Args(params).count(1, 1)
        self.node.config = replace(
            self.node.config, automine=m._bool(params[0], "invalid argument 0")
        )

    def anvil_getAutomine(self, params: list[Any]) -> bool:  # noqa: N802
        return bool(self.node.config.automine)

    hardhat_getAutomine = anvil_getAutomine  # noqa: N815

    def anvil_increaseTime(self, params: list[Any]) -> str:  # noqa: N802
        return self.evm_increaseTime(params)  # type: ignore[attr-defined,no-any-return]

    def anvil_setNextBlockTimestamp(self, params: list[Any]) -> None:  # noqa: N802
        self.evm_setNextBlockTimestamp(params)  # type: ignore[attr-defined]

    def anvil_snapshot(self, params: list[Any]) -> str:
        return self.evm_snapshot(params)  # type: ignore[attr-defined,no-any-return]

    def anvil_revert(self, params: list[Any]) -> bool:
        return self.evm_revert(params)  # type: ignore[attr-defined,no-any-return]

    def anvil_setLoggingEnabled(self, params: list[Any]) -> None:  # noqa: N802
        return None

    def hardhat_setLoggingEnabled(self, params: list[Any]) -> bool:  # noqa: N802
        return True

    # ------------------------------------------------------------ metadata
    def hardhat_metadata(self, params: list[Any]) -> dict[str, Any]:
        head = self.node.head()
        return {
            "clientVersion": f"StrikeVM/v{__version__}",
            "chainId": self.node.chain_id,
            "instanceId": _INSTANCE_ID,
            "latestBlockNumber": head.number,
            "latestBlockHash": "0x" + head.hash.hex(),
        }

    anvil_metadata = hardhat_metadata

    def anvil_nodeInfo(self, params: list[Any]) -> dict[str, Any]:  # noqa: N802
        node = self.node
        head = node.head()
        base_fee = node.next_base_fee()
        return {
            "currentBlockNumber": head.number,
            "currentBlockTimestamp": head.header.timestamp,
            "currentBlockHash": "0x" + head.hash.hex(),
            "hardFork": "cancun",
            "transactionOrder": "fees",
            "environment": {
                "baseFee": base_fee,
                "chainId": node.chain_id,
                "gasLimit": node.config.gas_limit,
                "gasPrice": base_fee + N.DEFAULT_PRIORITY_FEE,
            },
            "forkConfig": {"forkUrl": None, "forkBlockNumber": None, "forkRetryBackoff": None},
        }

    # ------------------------------------------------------- dump / load
    def anvil_dumpState(self, params: list[Any]) -> str:  # noqa: N802
        """anvil's format: gzip of {"block": ..., "accounts": {address: account}} as hex."""
        head = self.node.head()
        accounts = {}
        for address, acct in self.node.dump_accounts().items():
            storage = {
                f"0x{slot:064x}": f"0x{value:064x}"
                for slot, value in sorted(acct.storage.items())
                if value
            }
            accounts[f"0x{address:040x}"] = {
                "nonce": acct.nonce,
                "balance": hex(acct.balance),
                "code": "0x" + acct.code.hex(),
                "storage": storage,
            }
        body = {
            "block": {
                "number": hex(head.number),
                "timestamp": hex(head.header.timestamp),
                "gas_limit": hex(head.header.gas_limit),
                "basefee": hex(head.header.base_fee_per_gas),
            },
            "accounts": accounts,
            "best_block_number": hex(head.number),
            "blocks": [],
            "transactions": [],
        }
        raw = gzip.compress(json.dumps(body, sort_keys=True).encode(), mtime=0)
        return "0x" + raw.hex()

    def anvil_loadState(self, params: list[Any]) -> bool:  # noqa: N802
        """Load accounts from anvil_dumpState's output (gzip or plain JSON), in one block."""
        m = _m()
        m._Args(params).count(1, 1)
        raw = m.parse_data(params[0], "invalid argument 0")
        try:
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            body = json.loads(raw)
            accounts = body["accounts"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidParams(f"invalid argument 0: not a state dump: {exc}") from None
        parsed: dict[int, N.AccountOverride] = {}
        for key, spec in accounts.items():
            address = self._address(key, "account")
            nonce = spec.get("nonce", 0)
            parsed[address] = N.AccountOverride(
                balance=m.parse_quantity(spec.get("balance", "0x0"), f"{key}.balance"),
                nonce=nonce if isinstance(nonce, int) else m.parse_quantity(nonce, f"{key}.nonce"),
                code=m.parse_data(spec.get("code", "0x"), f"{key}.code"),
                state={
                    m.parse_quantity(k, f"{key}.storage"): m.parse_quantity(v, f"{key}.storage")
                    for k, v in (spec.get("storage") or {}).items()
                },
            )
        self.node.load_accounts(parsed)
        return True

    # -------------------------------------------------------------- txpool
    def _pool_groups(self) -> tuple[dict[int, list[Any]], dict[int, list[Any]]]:
        node = self.node
        pending: dict[int, list[Any]] = {}
        queued: dict[int, list[Any]] = {}
        for tx in node.pool.transactions():
            group = pending if tx.nonce < node.pending_nonce(tx.sender) else queued
            group.setdefault(tx.sender, []).append(tx)
        return pending, queued

    def txpool_content(self, params: list[Any]) -> dict[str, Any]:
        m = _m()

        def render(group: dict[int, list[Transaction]]) -> dict[str, Any]:
            return {
                m.checksum(sender): {
                    str(tx.nonce): m.format_tx(tx, None, 0)
                    for tx in sorted(txs, key=lambda t: t.nonce)
                }
                for sender, txs in sorted(group.items())
            }

        pending, queued = self._pool_groups()
        return {"pending": render(pending), "queued": render(queued)}

    def txpool_inspect(self, params: list[Any]) -> dict[str, Any]:
        m = _m()

        def summary(tx: Transaction) -> str:
            to = m.checksum(tx.to) if tx.to is not None else "contract creation"
            return f"{to}: {tx.value} wei + {tx.gas_limit} gas × {tx.fee_cap} wei"

        def render(group: dict[int, list[Transaction]]) -> dict[str, Any]:
            return {
                m.checksum(sender): {str(tx.nonce): summary(tx) for tx in txs}
                for sender, txs in sorted(group.items())
            }

        pending, queued = self._pool_groups()
        return {"pending": render(pending), "queued": render(queued)}

    # ------------------------------------------------------------- tracing
    def _trace_options(self, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise InvalidParams("invalid argument 1: expected a tracer config object")
        return value

    def _trace_block(self, stored: StoredBlock | None, options: Any) -> list[dict[str, Any]]:
        from strikevm.rpc.trace import trace_block_transactions

        if stored is None:
            raise RpcError(-32000, "block not found")
        if stored.number == 0:
            raise RpcError(-32000, "genesis is not traceable")
        results = trace_block_transactions(
            self.node,
            stored,
            None,
            self._trace_options(options),
            max_logs=self.limits.trace_max_logs,  # type: ignore[attr-defined]
            max_bytes=self.limits.trace_max_bytes,  # type: ignore[attr-defined]
        )
        return [
            {"txHash": "0x" + tx.hash.hex(), "result": result}
            for tx, result in zip(stored.block.transactions, results, strict=True)
        ]

    def debug_traceBlockByNumber(self, params: list[Any]) -> list[dict[str, Any]]:  # noqa: N802
        m = _m()
        args = m._Args(params)
        args.count(1, 2)
        stored = self.node.store.block(self._block_number(params[0], "invalid argument 0"))  # type: ignore[attr-defined]
        return self._trace_block(stored, args.get(1))

    def debug_traceBlockByHash(self, params: list[Any]) -> list[dict[str, Any]]:  # noqa: N802
        m = _m()
        args = m._Args(params)
        args.count(1, 2)
        stored = self.node.store.block_by_hash(m.parse_fixed(params[0], 32, "invalid argument 0"))
        return self._trace_block(stored, args.get(1))

    def debug_traceCall(self, params: list[Any]) -> Any:  # noqa: N802
        from strikevm.rpc.trace import trace_call

        m = _m()
        args = m._Args(params)
        args.count(1, 3)
        req = m.parse_call(params[0])
        block = self._block_param(args.get(1))  # type: ignore[attr-defined]
        options = self._trace_options(args.get(2))
        overrides = m.parse_overrides(options.get("stateOverrides"))
        return trace_call(self.node, req, block, options, overrides)

    def _call_tree(self, tx_hash: bytes) -> tuple[dict[str, Any], StoredBlock, int]:
        from strikevm.rpc.trace import trace_block_transactions

        found = self.node.store.tx_location(tx_hash)
        if found is None:
            raise RpcError(-32000, "transaction not found")
        stored, index = found
        tree = trace_block_transactions(self.node, stored, [index], {"tracer": "callTracer"})[0]
        return tree, stored, index

    def trace_transaction(self, params: list[Any]) -> list[dict[str, Any]]:
        """Parity-style traces of one transaction, from its call tree."""
        m = _m()
        m._Args(params).count(1, 1)
        tx_hash = m.parse_fixed(params[0], 32, "invalid argument 0")
        tree, stored, index = self._call_tree(tx_hash)
        return _parity(tree, stored, index, tx_hash)

    def trace_block(self, params: list[Any]) -> list[dict[str, Any]]:
        m = _m()
        m._Args(params).count(1, 1)
        stored = self.node.store.block(self._block_number(params[0], "invalid argument 0"))  # type: ignore[attr-defined]
        if stored is None:
            return []
        from strikevm.rpc.trace import trace_block_transactions

        trees = trace_block_transactions(self.node, stored, None, {"tracer": "callTracer"})
        out: list[dict[str, Any]] = []
        for index, (tx, tree) in enumerate(zip(stored.block.transactions, trees, strict=True)):
            out.extend(_parity(tree, stored, index, tx.hash))
        return out

    # --------------------------------------------------------------- ots_
    def ots_getApiLevel(self, params: list[Any]) -> int:  # noqa: N802
        return 8

    def ots_hasCode(self, params: list[Any]) -> bool:  # noqa: N802
        m = _m()
        args = m._Args(params)
        args.count(1, 2)
        address = self._address(params[0], "invalid argument 0")
        return bool(self.node.code(address, self._state_block(args.get(1))))  # type: ignore[attr-defined]

    def ots_getTransactionError(self, params: list[Any]) -> str:  # noqa: N802
        m = _m()
        m._Args(params).count(1, 1)
        tree, _, _ = self._call_tree(m.parse_fixed(params[0], 32, "invalid argument 0"))
        return str(tree.get("output", "0x")) if tree.get("error") else "0x"

    def ots_traceTransaction(self, params: list[Any]) -> list[dict[str, Any]]:  # noqa: N802
        m = _m()
        m._Args(params).count(1, 1)
        tree, _, _ = self._call_tree(m.parse_fixed(params[0], 32, "invalid argument 0"))
        out: list[dict[str, Any]] = []

        def walk(frame: dict[str, Any], depth: int) -> None:
            out.append(
                {
                    "type": frame["type"],
                    "depth": depth,
                    "from": frame["from"],
                    "to": frame.get("to"),
                    "value": frame.get("value"),
                    "input": frame.get("input", "0x"),
                    "output": frame.get("output", "0x"),
                }
            )
            for child in frame.get("calls", []):
                walk(child, depth + 1)

        walk(tree, 0)
        return out

    def ots_getBlockDetails(self, params: list[Any]) -> dict[str, Any] | None:  # noqa: N802
        m = _m()
        m._Args(params).count(1, 1)
        stored = self.node.store.block(self._block_number(params[0], "invalid argument 0"))  # type: ignore[attr-defined]
        if stored is None:
            return None
        block = m.format_block(stored, False)
        count = len(block.pop("transactions"))
        block.pop("logsBloom")
        block["transactionCount"] = count
        fees = sum(
            self.node.receipt_at(stored, i).gas_used
            * self.node.receipt_at(stored, i).effective_gas_price
            for i in range(count)
        )
        return {
            "block": block,
            "issuance": {"blockReward": "0x0", "uncleReward": "0x0", "issuance": "0x0"},
            "totalFees": hex(fees),
        }

    def ots_getTransactionBySenderAndNonce(self, params: list[Any]) -> str | None:  # noqa: N802
        m = _m()
        m._Args(params).count(2, 2)
        sender = self._address(params[0], "invalid argument 0")
        nonce = m.parse_quantity(params[1], "invalid argument 1", bits=64)
        if nonce >= self.node.nonce(sender):
            return None
        for stored in self._blocks_backwards():
            for tx in stored.block.transactions:
                if tx.sender == sender and tx.nonce == nonce:
                    return "0x" + tx.hash.hex()
        return None

    def ots_getContractCreator(self, params: list[Any]) -> dict[str, str] | None:  # noqa: N802
        m = _m()
        m._Args(params).count(1, 1)
        address = self._address(params[0], "invalid argument 0")
        if not self.node.code(address):
            return None
        for stored in self._blocks_backwards():
            for index, tx in enumerate(stored.block.transactions):
                info = self.node.receipt_at(stored, index)
                if info.contract_address == address:
                    return {"hash": "0x" + tx.hash.hex(), "creator": m.checksum(tx.sender)}
        return None

    # ---------------------------------------------------------- simulate
    def eth_simulateV1(self, params: list[Any]) -> list[dict[str, Any]]:  # noqa: N802
        """geth's eth_simulateV1: blocks of calls on a scratch state, each with overrides.

        ``blockStateCalls`` is a list of ``{blockOverrides, stateOverrides, calls}``;
        each entry is one simulated block on top of the previous one (gaps in
        ``number`` are filled with empty blocks, as geth), 12 s apart unless
        ``time`` is given. Calls run in order on one state, so a call sees the
        effects of the earlier ones. With ``validation`` the calls are checked as
        transactions (nonce, fees against the block's base fee, balance, EOA sender);
        without it they run as eth_call (no fees, nonces not checked). Each block
        comes back as a block object (``stateRoot`` zero, as anvil) with ``calls``:
        ``returnData``, ``logs``, ``gasUsed``, ``status`` and, when a call failed,
        ``error`` (code 3 with the revert data, -32015 for other halts).
        """
        m = _m()
        args = m._Args(params)
        args.count(1, 2)
        opts = params[0]
        if not isinstance(opts, dict):
            raise InvalidParams("invalid argument 0: expected an object")
        unknown = set(opts) - {
            "blockStateCalls", "validation", "traceTransfers", "returnFullTransactions"
        }  # fmt: skip
        if unknown:
            raise InvalidParams(f"invalid argument 0: unknown field {sorted(unknown)[0]}")
        specs = opts.get("blockStateCalls")
        if not isinstance(specs, list) or not specs:
            raise InvalidParams("invalid argument 0: blockStateCalls must be a non-empty list")
        validation = bool(opts.get("validation", False))
        full = bool(opts.get("returnFullTransactions", False))
        if opts.get("traceTransfers"):
            raise InvalidParams("traceTransfers is not supported")
        base = self._block_param(args.get(1, "latest"))  # type: ignore[attr-defined]
        if base is None:
            base = self.node.head()
        state, _ = self.node.call_state(base)
        env0 = self.node.pending_env(base)
        parent = base.header
        out: list[dict[str, Any]] = []
        for i, spec in enumerate(specs):
            if not isinstance(spec, dict):
                raise InvalidParams(f"blockStateCalls[{i}]: expected an object")
            fields = m.parse_block_overrides(spec.get("blockOverrides"))
            number = fields.pop("number", parent.number + 1)
            if number <= parent.number:
                raise RpcError(
                    SIM_BLOCK_NUMBER_INVALID,
                    f"block numbers must be in order: {number} <= {parent.number}",
                )
            if len(out) + number - parent.number > MAX_SIMULATE_BLOCKS:
                raise RpcError(SIM_CLIENT_LIMIT, f"too many blocks (limit {MAX_SIMULATE_BLOCKS})")
            while parent.number + 1 < number:  # geth fills the gap with empty blocks
                header, block = self._sim_block(env0, parent, {}, [], [], full, validation)
                out.append(block)
                parent = header
            if "timestamp" in fields and fields["timestamp"] <= parent.timestamp:
                raise RpcError(
                    SIM_TIMESTAMP_INVALID,
                    f"block timestamps must be in order: {fields['timestamp']} <= "
                    f"{parent.timestamp}",
                )
            overrides = m.parse_overrides(spec.get("stateOverrides"))
            if overrides:
                N._apply_overrides(state, overrides)
            calls = spec.get("calls") or []
            if not isinstance(calls, list):
                raise InvalidParams(f"blockStateCalls[{i}].calls: expected a list")
            env = self._sim_env(env0, parent, fields, validation)
            results: list[tuple[N.CallRequest, int, N.CallResult]] = []
            used = 0
            for j, call in enumerate(calls):
                req = m.parse_call(call, f"blockStateCalls[{i}].calls[{j}]")
                gas = req.gas if req.gas is not None else env.gas_limit - used
                if used + gas > env.gas_limit:
                    raise RpcError(
                        SIM_GAS_LIMIT_REACHED,
                        f"block gas limit reached: {used} + {gas} > {env.gas_limit}",
                    )
                nonce = state.nonce(req.sender)
                if validation:
                    _sim_validate(state, req, nonce, env)
                    if req.gas_price is None and req.max_fee_per_gas is None:
                        req.max_fee_per_gas = env.base_fee
                        req.max_priority_fee_per_gas = 0
                try:
                    result = N.execute_call(
                        state,
                        env,
                        req,
                        gas,
                        engine=self.node.config.engine,
                        system=self.node.system,
                    )
                except N.NodeError as exc:
                    raise _sim_error(exc) from None
                used += result.gas_used
                results.append((req, nonce, result))
            header, block = self._sim_block(env0, parent, fields, results, calls, full, validation)
            out.append(block)
            parent = header
        return out

    def _sim_env(self, env0: Any, parent: Any, fields: dict[str, int], validation: bool) -> Any:
        from strikevm.chain.block import calc_base_fee, calc_excess_blob_gas

        values: dict[str, Any] = {
            "number": parent.number + 1,
            "timestamp": parent.timestamp + 12,
            "gas_limit": parent.gas_limit,
            "base_fee": calc_base_fee(parent.gas_limit, parent.gas_used, parent.base_fee_per_gas),
            "excess_blob_gas": calc_excess_blob_gas(parent.excess_blob_gas, parent.blob_gas_used),
            "prev_randao": 0,
        }
        values.update(fields)
        return replace(env0, **values)

    def _sim_block(
        self,
        env0: Any,
        parent: Any,
        fields: dict[str, int],
        results: list[tuple[N.CallRequest, int, N.CallResult]],
        calls: list[Any],
        full: bool,
        validation: bool,
    ) -> tuple[Any, dict[str, Any]]:
        from strikevm.chain.block import Header, encode_transaction, transactions_root
        from strikevm.chain.bloom import logs_bloom
        from strikevm.chain.receipt import Receipt, receipts_root

        m = _m()
        env = self._sim_env(env0, parent, fields, validation)
        chain_id = self.node.config.chain_id
        txs = []
        receipts = []
        cumulative = 0
        for req, nonce, result in results:
            tx = replace(N._call_tx(req, result.gas_used, nonce), chain_id=chain_id)
            if req.max_fee_per_gas is not None:
                tx = replace(
                    tx,
                    max_fee_per_gas=req.max_fee_per_gas,
                    max_priority_fee_per_gas=req.max_priority_fee_per_gas or 0,
                )
            if req.gas is not None:
                tx = replace(tx, gas_limit=req.gas)
            tx = replace(tx, hash=N.keccak256(encode_transaction(tx)))
            txs.append(tx)
            cumulative += result.gas_used
            receipts.append(Receipt.of(2, result.success, cumulative, result.logs))
        header = Header(
            parent_hash=parent.hash,
            coinbase=env.coinbase,
            state_root=b"\0" * 32,
            transactions_root=transactions_root(txs),
            receipts_root=receipts_root(receipts),
            logs_bloom=logs_bloom([log for _r, _n, res in results for log in res.logs]),
            number=env.number,
            gas_limit=env.gas_limit,
            gas_used=cumulative,
            timestamp=env.timestamp,
            prev_randao=env.prev_randao.to_bytes(32, "big"),
            base_fee_per_gas=env.base_fee,
            excess_blob_gas=env.excess_blob_gas,
        )
        block_hash = header.hash
        call_results: list[dict[str, Any]] = []
        log_index = 0
        for index, ((_req, _nonce, result), tx) in enumerate(zip(results, txs, strict=True)):
            logs = []
            for log in result.logs:
                logs.append(
                    {
                        "address": m.address(log.address),
                        "topics": [m.word(t) for t in log.topics],
                        "data": m.data(log.data),
                        "blockNumber": m.quantity(header.number),
                        "blockHash": m.data(block_hash),
                        "blockTimestamp": m.quantity(header.timestamp),
                        "transactionHash": m.data(tx.hash),
                        "transactionIndex": m.quantity(index),
                        "logIndex": m.quantity(log_index),
                        "removed": False,
                    }
                )
                log_index += 1
            entry: dict[str, Any] = {
                "returnData": m.data(result.output),
                "logs": logs,
                "gasUsed": m.quantity(result.gas_used),
                "status": "0x1" if result.success else "0x0",
            }
            if not result.success:
                if isinstance(result.error, N.Revert):
                    entry["error"] = {
                        "code": 3,
                        "message": N.revert_message(result.output),
                        "data": m.data(result.output),
                    }
                else:
                    entry["error"] = {"code": -32015, "message": N.halt_message(result.error)}
            call_results.append(entry)
        block = {
            "number": m.quantity(header.number),
            "hash": m.data(block_hash),
            "parentHash": m.data(header.parent_hash),
            "sha3Uncles": m.data(header.ommers_hash),
            "logsBloom": m.data(header.logs_bloom),
            "transactionsRoot": m.data(header.transactions_root),
            "stateRoot": m.data(header.state_root),
            "receiptsRoot": m.data(header.receipts_root),
            "miner": m.address(header.coinbase),
            "difficulty": "0x0",
            "extraData": "0x",
            "gasLimit": m.quantity(header.gas_limit),
            "gasUsed": m.quantity(header.gas_used),
            "timestamp": m.quantity(header.timestamp),
            "mixHash": m.data(header.prev_randao),
            "nonce": m.data(header.nonce),
            "baseFeePerGas": m.quantity(header.base_fee_per_gas),
            "withdrawalsRoot": m.data(header.withdrawals_root),
            "withdrawals": [],
            "blobGasUsed": "0x0",
            "excessBlobGas": m.quantity(header.excess_blob_gas),
            "parentBeaconBlockRoot": m.data(header.parent_beacon_block_root),
            "uncles": [],
            "transactions": [_sim_tx(m, tx, header, block_hash, k) for k, tx in enumerate(txs)]
            if full
            else [m.data(tx.hash) for tx in txs],
            "calls": call_results,
        }
        return header, block

    def _blocks_backwards(self) -> Any:
        node = self.node
        for number in range(node.head_number, 0, -1):
            stored = node.store.block(number)
            if stored is not None:
                yield stored


MAX_SIMULATE_BLOCKS = 256
# eth_simulateV1's error codes (geth internal/ethapi/errors.go, the execution-apis spec)
SIM_NONCE_TOO_LOW = -38010
SIM_NONCE_TOO_HIGH = -38011
SIM_INTRINSIC_GAS = -38013
SIM_INSUFFICIENT_FUNDS = -38014
SIM_GAS_LIMIT_REACHED = -38015
SIM_BLOCK_NUMBER_INVALID = -38020
SIM_TIMESTAMP_INVALID = -38021
SIM_SENDER_NOT_EOA = -38024
SIM_INITCODE_TOO_LARGE = -38025
SIM_CLIENT_LIMIT = -38026
SIM_FEE_CAP_TOO_LOW = -32005


def _sim_validate(state: Any, req: N.CallRequest, nonce: int, env: Any) -> None:
    """The transaction checks that eth_simulateV1 makes with ``validation``."""
    if req.nonce is not None and req.nonce < nonce:
        raise RpcError(
            SIM_NONCE_TOO_LOW,
            f"nonce too low: address 0x{req.sender:040x}, tx: {req.nonce} state: {nonce}",
        )
    if req.nonce is not None and req.nonce > nonce:
        raise RpcError(
            SIM_NONCE_TOO_HIGH,
            f"nonce too high: address 0x{req.sender:040x}, tx: {req.nonce} state: {nonce}",
        )
    if state.code(req.sender):
        raise RpcError(SIM_SENDER_NOT_EOA, f"sender not an eoa: address 0x{req.sender:040x}")


def _sim_error(exc: N.NodeError) -> RpcError:
    """geth's simulate code for a transaction the simulation refuses."""
    for cls, code in (
        (N.NonceTooLow, SIM_NONCE_TOO_LOW),
        (N.NonceTooHigh, SIM_NONCE_TOO_HIGH),
        (N.IntrinsicGasTooLow, SIM_INTRINSIC_GAS),
        (N.InsufficientFunds, SIM_INSUFFICIENT_FUNDS),
        (N.SenderNotEOA, SIM_SENDER_NOT_EOA),
        (N.InitcodeTooLarge, SIM_INITCODE_TOO_LARGE),
        (N.FeeCapTooLow, SIM_FEE_CAP_TOO_LOW),
    ):
        if isinstance(exc, cls):
            return RpcError(code, str(exc))
    from strikevm.rpc.errors import from_node_error

    return from_node_error(exc)


def _sim_tx(m: Any, tx: Any, header: Any, block_hash: bytes, index: int) -> dict[str, Any]:
    out = dict(m.format_tx(tx, None, index))
    out.update(
        blockHash=m.data(block_hash),
        blockNumber=m.quantity(header.number),
        transactionIndex=m.quantity(index),
        gasPrice=m.quantity(min(tx.fee_cap, header.base_fee_per_gas + tx.priority_fee_cap)),
    )
    return out


def _word32(value: Any) -> Any:
    """A storage value given as a quantity or as a 32-byte word."""
    if isinstance(value, str) and value[:2] in ("0x", "0X") and len(value) != 66:
        body = value[2:] or "0"
        if len(body) <= 64:
            return "0x" + body.rjust(64, "0")
    return value


def _parity(
    tree: dict[str, Any], stored: StoredBlock, index: int, tx_hash: bytes
) -> list[dict[str, Any]]:
    """Flatten a callTracer tree into Parity/OpenEthereum ``trace_*`` entries."""
    out: list[dict[str, Any]] = []

    def walk(frame: dict[str, Any], address: list[int]) -> None:
        kind = frame["type"]
        calls = frame.get("calls", [])
        entry: dict[str, Any]
        if kind in ("CREATE", "CREATE2"):
            action = {
                "from": frame["from"],
                "gas": frame["gas"],
                "init": frame["input"],
                "value": frame.get("value", "0x0"),
                "creationMethod": kind.lower(),
            }
            result = {
                "address": frame.get("to"),
                "code": frame.get("output", "0x"),
                "gasUsed": frame["gasUsed"],
            }
            entry = {"action": action, "result": result, "type": "create"}
        elif kind == "SELFDESTRUCT":
            action = {
                "address": frame["from"],
                "refundAddress": frame.get("to"),
                "balance": frame.get("value", "0x0"),
            }
            entry = {"action": action, "result": None, "type": "suicide"}
        else:
            action = {
                "from": frame["from"],
                "callType": kind.lower(),
                "gas": frame["gas"],
                "input": frame["input"],
                "to": frame.get("to"),
                "value": frame.get("value", "0x0"),
            }
            entry = {
                "action": action,
                "result": {"gasUsed": frame["gasUsed"], "output": frame.get("output", "0x")},
                "type": "call",
            }
        if frame.get("error"):
            entry["error"] = (
                "Reverted" if frame["error"] == "execution reverted" else frame["error"]
            )
            entry["result"] = None
        entry.update(
            {
                "blockHash": "0x" + stored.hash.hex(),
                "blockNumber": stored.number,
                "subtraces": len(calls),
                "traceAddress": list(address),
                "transactionHash": "0x" + tx_hash.hex(),
                "transactionPosition": index,
            }
        )
        out.append(entry)
        for i, child in enumerate(calls):
            walk(child, [*address, i])

    walk(tree, [])
    return out
