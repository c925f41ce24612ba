"""256-bit word constants and helpers (two's complement views of EVM words)."""

UINT256_MAX = (1 << 256) - 1
UINT256_CEIL = 1 << 256
SIGN_BIT = 1 << 255
UINT160_MAX = (1 << 160) - 1


def to_signed(value: int) -> int:
    """Interpret a 256-bit word as a two's complement signed integer."""
    return value - UINT256_CEIL if value & SIGN_BIT else value


def to_unsigned(value: int) -> int:
    """Wrap a (possibly negative) integer into a 256-bit word."""
    return value & UINT256_MAX


def ceil32(value: int) -> int:
    """Round up to the next multiple of 32."""
    return (value + 31) & ~31
