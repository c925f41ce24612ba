"""Exceptional halts of an EVM frame (each consumes all gas of the frame) and REVERT."""


class ExceptionalHalt(Exception):
    """The frame stops, consumes all its gas and reverts its state changes."""


class OutOfGas(ExceptionalHalt):
    pass


class StackUnderflow(ExceptionalHalt):
    pass


class StackOverflow(ExceptionalHalt):
    pass


class InvalidJump(ExceptionalHalt):
    pass


class InvalidOpcode(ExceptionalHalt):
    pass


class WriteInStaticContext(ExceptionalHalt):
    pass


class ReturnDataOutOfBounds(ExceptionalHalt):
    pass


class InvalidContractPrefix(ExceptionalHalt):
    """EIP-3541: deployed code may not start with 0xEF."""


class CodeSizeExceeded(ExceptionalHalt):
    """EIP-170 deployed code or EIP-3860 initcode too large."""
