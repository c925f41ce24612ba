"""Calls, creates, RETURN, REVERT and SELFDESTRUCT."""

from __future__ import annotations

from strikevm.crypto import keccak256
from strikevm.primitives import rlp
from strikevm.vm import gas as G
from strikevm.vm.env import Message
from strikevm.vm.errors import OutOfGas, WriteInStaticContext
from strikevm.vm.instructions.environment import A, access_cost
from strikevm.vm.instructions.memory import charge, expand, read

NONCE_LIMIT = (1 << 64) - 1


def create_address(sender: int, nonce: int) -> int:
    raw = keccak256(rlp.encode([sender.to_bytes(20, "big"), nonce]))
    return int.from_bytes(raw[12:], "big")


def create2_address(sender: int, salt: int, initcode: bytes) -> int:
    raw = keccak256(
        b"\xff" + sender.to_bytes(20, "big") + salt.to_bytes(32, "big") + keccak256(initcode)
    )
    return int.from_bytes(raw[12:], "big")


def _expand_two(f, a_off: int, a_size: int, b_off: int, b_size: int) -> None:  # noqa: ANN001
    # Charge the larger end first so the cost is that of one expansion to the max.
    if a_size and (not b_size or a_off + a_size >= b_off + b_size):
        expand(f, a_off, a_size)
        expand(f, b_off, b_size)
    else:
        expand(f, b_off, b_size)
        expand(f, a_off, a_size)


def _generic_call(
    f,  # noqa: ANN001
    gas: int,
    extra: int,
    value: int,
    stipend: int,
    caller: int,
    target: int,
    code_address: int,
    transfer: bool,
    is_static: bool,
    in_off: int,
    in_size: int,
    out_off: int,
    out_size: int,
) -> int:
    """Shared tail of the CALL family after memory and access costs are known."""
    avail = f.gas
    if avail < extra:
        raise OutOfGas("call")
    avail -= extra
    child_gas = min(gas, avail - avail // 64)
    f.gas = avail - child_gas
    state = f.state
    f.returndata = b""
    if f.depth + 1 > G.CALL_DEPTH_LIMIT or (
        transfer and value and state.balance(f.address) < value
    ):
        f.gas += child_gas + stipend
        return 0
    msg = Message(
        caller=caller,
        target=target,
        value=value,
        data=bytes(f.memory[in_off : in_off + in_size]) if in_size else b"",
        gas=child_gas + stipend,
        code=state.code(code_address),
        code_address=code_address,
        depth=f.depth + 1,
        is_static=is_static,
        transfer_value=transfer,
    )
    result = f.evm.process_message(msg)
    f.gas += result.gas_left
    out = result.output
    f.returndata = out
    if out_size and out:
        n = min(out_size, len(out))
        f.memory[out_off : out_off + n] = out[:n]
    return 1 if result.success else 0


def call(f, gas: int, to: int, value: int, in_off: int, in_size: int, out_off: int, out_size: int) -> int:  # noqa: ANN001,E501
    to &= A
    _expand_two(f, in_off, in_size, out_off, out_size)
    extra = access_cost(f, to)
    stipend = 0
    if value:
        extra += G.CALL_VALUE
        stipend = G.CALL_STIPEND
        if not f.state.is_alive(to):
            extra += G.NEW_ACCOUNT
        if f.is_static:
            raise WriteInStaticContext("CALL with value")
    return _generic_call(
        f, gas, extra, value, stipend, f.address, to, to, True, f.is_static,
        in_off, in_size, out_off, out_size,
    )  # fmt: skip


def callcode(f, gas: int, to: int, value: int, in_off: int, in_size: int, out_off: int, out_size: int) -> int:  # noqa: ANN001,E501
    to &= A
    _expand_two(f, in_off, in_size, out_off, out_size)
    extra = access_cost(f, to)
    stipend = 0
    if value:
        extra += G.CALL_VALUE
        stipend = G.CALL_STIPEND
    return _generic_call(
        f, gas, extra, value, stipend, f.address, f.address, to, True, f.is_static,
        in_off, in_size, out_off, out_size,
    )  # fmt: skip


def delegatecall(f, gas: int, to: int, in_off: int, in_size: int, out_off: int, out_size: int) -> int:  # noqa: ANN001,E501
    to &= A
    _expand_two(f, in_off, in_size, out_off, out_size)
    extra = access_cost(f, to)
    return _generic_call(
        f, gas, extra, f.value, 0, f.caller, f.address, to, False, f.is_static,
        in_off, in_size, out_off, out_size,
    )  # fmt: skip


def staticcall(f, gas: int, to: int, in_off: int, in_size: int, out_off: int, out_size: int) -> int:  # noqa: ANN001,E501
    to &= A
    _expand_two(f, in_off, in_size, out_off, out_size)
    extra = access_cost(f, to)
    return _generic_call(
        f, gas, extra, 0, 0, f.address, to, to, True, True,
        in_off, in_size, out_off, out_size,
    )  # fmt: skip


def _create(f, value: int, offset: int, size: int, salt: int | None) -> int:  # noqa: ANN001
    if size > G.MAX_INITCODE_SIZE:
        raise OutOfGas("initcode larger than the EIP-3860 limit")
    word_cost = G.INITCODE_WORD + (G.KECCAK256_WORD if salt is not None else 0)
    if size:
        charge(f, word_cost * ((size + 31) >> 5))
    initcode = read(f, offset, size)
    if f.is_static:
        raise WriteInStaticContext("CREATE")
    state = f.state
    sender = f.address
    if salt is None:
        address = create_address(sender, state.nonce(sender))
    else:
        address = create2_address(sender, salt, initcode)
    state.warm_address(address)
    avail = f.gas
    child_gas = avail - avail // 64
    f.gas = avail - child_gas
    f.returndata = b""
    if (
        state.balance(sender) < value
        or state.nonce(sender) >= NONCE_LIMIT
        or f.depth + 1 > G.CALL_DEPTH_LIMIT
    ):
        f.gas += child_gas
        return 0
    state.increment_nonce(sender)
    if state.has_code_or_nonce_or_storage(address):
        return 0
    msg = Message(
        caller=sender,
        target=address,
        value=value,
        data=b"",
        gas=child_gas,
        code=initcode,
        code_address=address,
        depth=f.depth + 1,
        is_static=False,
        is_create=True,
    )
    result = f.evm.process_create(msg)
    f.gas += result.gas_left
    if result.success:
        return address
    f.returndata = result.output
    return 0


def create(f, value: int, offset: int, size: int) -> int:  # noqa: ANN001
    return _create(f, value, offset, size, None)


def create2(f, value: int, offset: int, size: int, salt: int) -> int:  # noqa: ANN001
    return _create(f, value, offset, size, salt)


def return_(f, offset: int, size: int) -> None:  # noqa: ANN001
    f.output = read(f, offset, size)


def revert(f, offset: int, size: int) -> None:  # noqa: ANN001
    f.output = read(f, offset, size)
    f.reverted = True


def selfdestruct(f, beneficiary: int) -> None:  # noqa: ANN001
    beneficiary &= A
    state = f.state
    cost = 0 if state.warm_address(beneficiary) else G.COLD_ACCOUNT_ACCESS
    me = f.address
    amount = state.balance(me)
    if amount and not state.is_alive(beneficiary):
        cost += G.NEW_ACCOUNT
    charge(f, cost)
    if f.is_static:
        raise WriteInStaticContext("SELFDESTRUCT")
    state.touch(beneficiary)
    if amount:
        state.transfer(me, beneficiary, amount)
    if me in state.created:
        if state.balance(me):
            state.set_balance(me, 0)
        state.mark_destruct(me)
