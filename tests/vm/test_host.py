"""The native-contract host API: persistent storage, logs, sub-calls, policy, faults, hooks.

A test native contract (``native_vault.NativeVault``) keeps balances in its own storage,
pulls a real ERC-20 (``contracts/HookToken.sol``, compiled with the pinned solc-js) with
``transferFrom``, and is re-entered by the token during that call. Host metering is held
equal to the EVM's own SSTORE/LOG/CALL costs.
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode as eth_decode
from eth_abi import encode as eth_encode
from native_vault import (
    BALANCE_SIG,
    BLOCK_EVENT,
    BOOM_SIG,
    DEPOSIT_EVENT,
    DEPOSIT_SIG,
    SPIN_SIG,
    NativeVault,
    balance_slot,
    error,
    selector,
)

from strikevm.chain.executor import TxResult, apply_transaction
from strikevm.chain.transaction import sign_transaction
from strikevm.crypto import private_key_to_address
from strikevm.finance.system import default_registry
from strikevm.state.account import Account
from strikevm.state.world import WorldState
from strikevm.vm import gas as G
from strikevm.vm.env import BlockEnv, Message, TxEnv
from strikevm.vm.errors import OutOfGas, WriteInStaticContext
from strikevm.vm.evm import EVM
from strikevm.vm.frame import Frame
from strikevm.vm.hooks import HOOK_GAS, run_block_hooks
from strikevm.vm.host import ERR_DELEGATE, ERR_REENTRANT, ERR_VALUE, Host, NativeFault
from strikevm.vm.instructions import storage as S
from strikevm.vm.system import empty_registry, install_system_accounts, marker_code

ROOT = Path(__file__).resolve().parents[2]
VAULT = 0x53540100
KEY = (0x5354_0007_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0001).to_bytes(
    32, "big"
)
SENDER = int.from_bytes(private_key_to_address(KEY), "big")


@cache
def token_artifact() -> dict[str, Any]:
    proc = subprocess.run(
        ["node", "contracts/compile.js", "tests/vm/contracts/HookToken.sol"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    if proc.returncode:
        pytest.fail(f"solc failed (run `make test`, which installs solc-js):\n{proc.stderr}")
    return json.loads(proc.stdout)["contracts"]["tests/vm/contracts/HookToken.sol"]["HookToken"]


def registry(vault: NativeVault | None = None) -> Any:
    reg = default_registry()
    reg.register(VAULT, vault if vault is not None else NativeVault())
    return reg


class Chain:
    """A world state with the system accounts installed and a funded signer."""

    def __init__(self, vault: NativeVault | None = None) -> None:
        self.system = registry(vault)
        self.state = WorldState({SENDER: Account(balance=10**24)})
        install_system_accounts(self.state, self.system)
        self.block = BlockEnv(number=7, timestamp=1_800_000_000, base_fee=7, chain_id=1)
        self.nonce = 0

    def send(self, to: int | None, data: bytes, gas: int = 3_000_000, value: int = 0) -> TxResult:
        tx = sign_transaction(
            KEY, tx_type=2, chain_id=1, nonce=self.nonce, gas_limit=gas, to=to, data=data,
            value=value, max_priority_fee_per_gas=1, max_fee_per_gas=10,
        )  # fmt: skip
        self.nonce += 1
        return apply_transaction(self.state, self.block, tx, system=self.system)

    def call(self, to: int, signature: str, types: list[str], args: list[Any], **kw: Any) -> TxResult:
        return self.send(to, selector(signature) + eth_encode(types, args), **kw)

    def read(self, to: int, signature: str, types: list[str], args: list[Any], out: str) -> Any:
        result = self.call(to, signature, types, args)
        assert result.success, result.output
        return eth_decode([out], result.output)[0]

    def deploy_token(self, supply: int = 10**30) -> int:
        code = bytes.fromhex(token_artifact()["evm"]["bytecode"]["object"])
        result = self.send(None, code + eth_encode(["uint256"], [supply]))
        assert result.success and result.contract_address is not None
        return result.contract_address


def addr(value: int) -> str:
    return "0x" + value.to_bytes(20, "big").hex()


# ------------------------------------------------------------ the must-show scenario


def test_native_contract_keeps_state_emits_logs_pulls_erc20_and_blocks_reentry() -> None:
    chain = Chain()
    token = chain.deploy_token()
    assert chain.call(token, "approve(address,uint256)", ["address", "uint256"], [addr(VAULT), 10**21]).success

    # transaction 1: deposit writes the vault's storage, emits, and pulls the tokens
    r1 = chain.call(VAULT, DEPOSIT_SIG, ["address", "uint256"], [addr(token), 500])
    assert r1.success, r1.output
    assert eth_decode(["uint256"], r1.output)[0] == 500
    deposit_logs = [log for log in r1.logs if log.address == VAULT]
    assert len(deposit_logs) == 1
    assert deposit_logs[0].topics == (DEPOSIT_EVENT, SENDER, token)
    assert int.from_bytes(deposit_logs[0].data, "big") == 500
    assert any(log.address == token for log in r1.logs)  # the token's Transfer event

    # the vault's account survived end-of-transaction cleanup, storage included
    assert chain.state.code(VAULT) == marker_code(chain.system[VAULT])
    assert chain.state.sload(VAULT, balance_slot(SENDER, token)) == 500

    # transaction 2 reads what transaction 1 wrote
    assert chain.read(VAULT, BALANCE_SIG, ["address", "address"], [addr(SENDER), addr(token)], "uint256") == 500
    assert chain.read(token, "balanceOf(address)", ["address"], [addr(VAULT)], "uint256") == 500

    # the token re-enters the vault from inside transferFrom: that inner call reverts
    reenter = selector(DEPOSIT_SIG) + eth_encode(["address", "uint256"], [addr(token), 1])
    assert chain.call(token, "setHook(address,bytes)", ["address", "bytes"], [addr(VAULT), reenter]).success
    r3 = chain.call(VAULT, DEPOSIT_SIG, ["address", "uint256"], [addr(token), 250])
    assert r3.success, r3.output
    assert chain.read(token, "hookTried()", [], [], "bool") is True
    assert chain.read(token, "hookSucceeded()", [], [], "bool") is False
    assert chain.read(token, "hookResult()", [], [], "bytes") == error(ERR_REENTRANT)
    # only the outer deposit counted
    assert chain.state.sload(VAULT, balance_slot(SENDER, token)) == 750
    assert chain.state.sload(VAULT, balance_slot(token, token)) == 0


def test_failed_pull_reverts_the_vault_write() -> None:
    chain = Chain()
    token = chain.deploy_token()
    # no approval: transferFrom reverts, so the credit written before the call is undone
    result = chain.call(VAULT, DEPOSIT_SIG, ["address", "uint256"], [addr(token), 5])
    assert not result.success
    assert result.output == error("TransferFailed()")
    assert chain.state.sload(VAULT, balance_slot(SENDER, token)) == 0
    assert result.logs == []


def test_without_marker_code_cleanup_would_delete_the_account() -> None:
    """Why system accounts carry code: an empty touched account is deleted (EIP-161)."""
    system = registry()
    state = WorldState({SENDER: Account(balance=10**24)})
    block = BlockEnv(number=1, base_fee=7, chain_id=1)
    tx = sign_transaction(
        KEY, tx_type=2, chain_id=1, nonce=0, gas_limit=100_000, to=VAULT,
        data=selector(SPIN_SIG)[:0] + selector("unknown()"), max_priority_fee_per_gas=1,
        max_fee_per_gas=10,
    )  # fmt: skip
    apply_transaction(state, block, tx, system=system)
    assert VAULT not in state.accounts
    install_system_accounts(state, system)
    assert state.is_alive(VAULT)


# ------------------------------------------------------------------------ the policy


def _proxy(opcode: int, target: int, with_value: bool) -> bytes:
    """Forward calldata to ``target`` with CALL/DELEGATECALL/STATICCALL; return its output."""
    code = bytes([0x36, 0x5F, 0x5F, 0x37])  # CALLDATACOPY(0, 0, size)
    code += bytes([0x5F, 0x5F, 0x36, 0x5F])  # retSize retOff argsSize argsOff
    if opcode in (0xF1, 0xF2):
        code += b"\x34" if with_value else b"\x5f"  # CALLVALUE or no value
    code += b"\x63" + target.to_bytes(4, "big") + b"\x5a" + bytes([opcode])
    # store success at 0x..., return returndata
    code += bytes([0x3D, 0x5F, 0x5F, 0x3E, 0x3D, 0x5F, 0xF3])  # RETURNDATACOPY(0,0,rds) RETURN
    return code


@pytest.mark.parametrize(
    ("opcode", "value", "expected"),
    [
        (0xF4, 0, error(ERR_DELEGATE)),  # DELEGATECALL into a stateful native contract
        (0xF2, 0, error(ERR_DELEGATE)),  # CALLCODE likewise
        (0xF1, 9, error(ERR_VALUE) + (9).to_bytes(32, "big")),  # CALL with value
    ],
)
def test_call_policy(opcode: int, value: int, expected: bytes) -> None:
    chain = Chain()
    proxy = 0xABC0
    chain.state.accounts[proxy] = Account(code=_proxy(opcode, VAULT, True))
    result = chain.send(proxy, selector(BALANCE_SIG) + bytes(64), value=value)
    assert result.success
    assert result.output == expected


def test_delegatecall_carrying_value_is_rejected_like_non_payable_code() -> None:
    """A DELEGATECALL from a frame that received value passes that value on (CALLVALUE):
    the pure pricing contract, delegatable but not payable, rejects it as Solidity would."""
    from strikevm.finance.pricing_contract import PRICING_ADDRESS

    chain = Chain()
    proxy = 0xABC1
    chain.state.accounts[proxy] = Account(code=_proxy(0xF4, PRICING_ADDRESS, False))
    result = chain.send(proxy, b"\x00" * 4, value=5)
    assert result.output == error(ERR_VALUE) + (5).to_bytes(32, "big")
    delegated = chain.send(proxy, b"\x00" * 4, value=0)
    assert delegated.output[:4] == selector("UnknownSelector(bytes4)")


def test_static_call_cannot_write() -> None:
    chain = Chain()
    token = chain.deploy_token()
    proxy = 0xABC2
    chain.state.accounts[proxy] = Account(code=_proxy(0xFA, VAULT, False))
    result = chain.send(proxy, selector(DEPOSIT_SIG) + eth_encode(["address", "uint256"], [addr(token), 1]))
    assert result.success and result.output == b""  # the inner frame halted, no data
    view = chain.send(proxy, selector(BALANCE_SIG) + bytes(64))
    assert view.success and view.output == bytes(32)


# ----------------------------------------------------------------- exception boundary


def test_exception_inside_native_contract_fails_only_its_frame() -> None:
    chain = Chain()
    before = chain.state.balance(SENDER)
    result = chain.call(VAULT, BOOM_SIG, [], [], gas=100_000)
    assert not result.success
    assert result.gas_used == 100_000  # a fault consumes the frame's gas, like a halt
    assert chain.state.nonce(SENDER) == 1
    assert chain.state.balance(SENDER) < before
    assert chain.state.sload(VAULT, 0) == 0


def test_fault_is_reported_and_caller_frame_goes_on() -> None:
    chain = Chain()
    evm = EVM(chain.state, chain.block, TxEnv(origin=SENDER), system=chain.system)
    proxy = 0xABC3
    chain.state.accounts[proxy] = Account(code=_proxy(0xF1, VAULT, False))
    msg = Message(SENDER, proxy, 0, selector(BOOM_SIG), 200_000, chain.state.code(proxy), proxy)
    result = evm.process_message(msg)
    assert result.success  # the proxy survived its callee's fault
    assert len(evm.faults) == 1 and isinstance(evm.faults[0], NativeFault)
    assert "deliberately broken" in str(evm.faults[0])


def test_out_of_gas_inside_native_contract() -> None:
    chain = Chain()
    result = chain.call(VAULT, SPIN_SIG, [], [], gas=60_000)
    assert not result.success and result.gas_used == 60_000


# ------------------------------------------------------------------------- metering


def _frame_for(state: WorldState, gas: int, static: bool = False) -> tuple[EVM, Message]:
    evm = EVM(state, BlockEnv(), TxEnv(), system=empty_registry())
    msg = Message(SENDER, VAULT, 0, b"", gas, b"", VAULT, is_static=static)
    return evm, msg


@pytest.mark.parametrize("original", [0, 1, 7])
@pytest.mark.parametrize("current_step", [None, 0, 1, 7, 9])
@pytest.mark.parametrize("new", [0, 1, 7, 9])
@pytest.mark.parametrize("warm", [False, True])
def test_sstore_metering_equals_the_instruction(original: int, current_step: int | None, new: int, warm: bool) -> None:
    """Host.sstore charges and refunds exactly what SSTORE (100 static + dynamic) does."""
    outcomes = []
    for engine in ("host", "evm"):
        state = WorldState({VAULT: Account(nonce=1, code=b"\xfe")})
        state.accounts[VAULT].storage[3] = original
        state.begin_transaction()
        if current_step is not None:  # an earlier write in the same transaction
            state.sstore(VAULT, 3, current_step)
        if warm:
            state.warm_slot(VAULT, 3)
        evm, msg = _frame_for(state, 100_000)
        if engine == "host":
            host = Host(evm, msg)
            host.sstore(3, new)
            gas = host.gas
        else:
            frame = Frame(evm, msg)
            frame.gas -= G.WARM_ACCESS  # SSTORE's static gas
            S.sstore(frame, 3, new)
            gas = frame.gas
        outcomes.append((gas, state.refund, state.sload(VAULT, 3)))
    assert outcomes[0] == outcomes[1]


def test_sstore_stipend_rule_and_static() -> None:
    state = WorldState({VAULT: Account(nonce=1, code=b"\xfe")})
    evm, msg = _frame_for(state, G.CALL_STIPEND)
    with pytest.raises(OutOfGas):
        Host(evm, msg).sstore(1, 1)
    evm, msg = _frame_for(state, 100_000, static=True)
    with pytest.raises(WriteInStaticContext):
        Host(evm, msg).sstore(1, 1)
    with pytest.raises(WriteInStaticContext):
        Host(evm, msg).emit([1], b"")


@pytest.mark.parametrize("stored", [0, 7, (1 << 256) - 1])
def test_accumulate_is_a_flat_priced_addition(stored: int) -> None:
    """Host.accumulate: slot += delta (mod 2**256), 5,000 gas whatever the slot holds, no
    refund; it halts in a static frame and at or below the stipend like SSTORE."""
    state = WorldState({VAULT: Account(nonce=1, code=b"\xfe", storage={4: stored})})
    state.begin_transaction()
    evm, msg = _frame_for(state, 100_000)
    host = Host(evm, msg)
    host.accumulate(4, 5)
    host.accumulate(4, -2)  # a negative delta wraps as two's complement
    assert state.sload(VAULT, 4) == (stored + 3) % (1 << 256)
    assert 100_000 - host.gas == 2 * 5_000 and state.refund == 0
    host.accumulate(9, 0)  # nothing to add: charged, nothing written
    assert 9 not in state.accounts[VAULT].storage
    evm, msg = _frame_for(state, G.CALL_STIPEND)
    with pytest.raises(OutOfGas):
        Host(evm, msg).accumulate(4, 1)
    evm, msg = _frame_for(state, 100_000, static=True)
    with pytest.raises(WriteInStaticContext):
        Host(evm, msg).accumulate(4, 1)


def test_sload_and_log_metering() -> None:
    state = WorldState({VAULT: Account(nonce=1, code=b"\xfe")})
    evm, msg = _frame_for(state, 100_000)
    host = Host(evm, msg)
    host.sload(5)
    assert host.gas == 100_000 - G.COLD_SLOAD
    host.sload(5)
    assert host.gas == 100_000 - G.COLD_SLOAD - G.WARM_ACCESS
    before = host.gas
    host.emit([1, 2], b"x" * 10)
    assert before - host.gas == G.LOG + 2 * G.LOG_TOPIC + 10 * G.LOG_DATA


def test_subcall_forwards_all_but_one_64th() -> None:
    state = WorldState({VAULT: Account(nonce=1, code=b"\xfe")})
    # callee: GAS PUSH0 MSTORE PUSH1 32 PUSH0 RETURN -> reports the gas it was given
    callee = 0xC0FFEE
    state.accounts[callee] = Account(code=bytes([0x5A, 0x5F, 0x52, 0x60, 0x20, 0x5F, 0xF3]))
    state.begin_transaction()
    evm, msg = _frame_for(state, 1_000_000)
    host = Host(evm, msg)
    outcome = host.call(callee, b"")
    assert outcome.success
    available = 1_000_000 - G.COLD_ACCOUNT_ACCESS
    forwarded = available - available // 64
    assert int.from_bytes(outcome.output, "big") == forwarded - G.BASE  # GAS itself costs 2


# ---------------------------------------------------------------------- block steps


def test_end_of_block_step_writes_state_and_emits() -> None:
    chain = Chain()
    env = BlockEnv(number=42, timestamp=1_800_000_000, chain_id=1)
    logs = run_block_hooks(chain.state, env, chain.system, "end")
    assert chain.state.sload(VAULT, 0) == 1 and chain.state.sload(VAULT, 1) == 42
    assert [(log.address, log.topics) for log in logs] == [(VAULT, (BLOCK_EVENT,))]
    assert run_block_hooks(chain.state, env, chain.system, "begin") == []  # no begin step
    run_block_hooks(chain.state, env, chain.system, "end")
    assert chain.state.sload(VAULT, 0) == 2


def test_broken_end_of_block_step_is_reverted_alone() -> None:
    chain = Chain(NativeVault(broken_end_block=True))
    faults: list[Exception] = []
    logs = run_block_hooks(chain.state, BlockEnv(number=3), chain.system, "end", faults=faults)
    assert logs == [] and chain.state.sload(VAULT, 0) == 0
    assert len(faults) == 1 and isinstance(faults[0], NativeFault)
    assert HOOK_GAS == 30_000_000
