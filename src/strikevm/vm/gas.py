"""Cancun gas schedule constants and the memory expansion cost."""

from strikevm.vm.errors import OutOfGas

ZERO = 0
BASE = 2
VERYLOW = 3
LOW = 5
MID = 8
HIGH = 10
JUMPDEST = 1
WARM_ACCESS = 100
COLD_ACCOUNT_ACCESS = 2600
COLD_SLOAD = 2100
STORAGE_SET = 20000
STORAGE_UPDATE = 5000
STORAGE_CLEAR_REFUND = 4800
CALL_VALUE = 9000
CALL_STIPEND = 2300
NEW_ACCOUNT = 25000
SELFDESTRUCT = 5000
CREATE = 32000
CODE_DEPOSIT = 200
INITCODE_WORD = 2
KECCAK256 = 30
KECCAK256_WORD = 6
COPY_WORD = 3
LOG = 375
LOG_TOPIC = 375
LOG_DATA = 8
EXP = 10
EXP_BYTE = 50
MEMORY = 3
BLOCKHASH = 20
BLOBHASH = 3
TX_BASE = 21000
TX_CREATE = 32000
TX_DATA_ZERO = 4
TX_DATA_NONZERO = 16
TX_ACCESS_LIST_ADDRESS = 2400
TX_ACCESS_LIST_STORAGE_KEY = 1900

STACK_LIMIT = 1024
CALL_DEPTH_LIMIT = 1024
MAX_CODE_SIZE = 0x6000
MAX_INITCODE_SIZE = 2 * MAX_CODE_SIZE
MAX_REFUND_QUOTIENT = 5

# Memory past this many bytes can never be paid for with any gas limit a
# transaction can carry, so larger offsets are rejected before allocating.
MEMORY_LIMIT = 1 << 32


def memory_cost(words: int) -> int:
    return MEMORY * words + (words * words) // 512


def expansion_cost(current_bytes: int, end: int) -> int:
    """Gas to grow memory from ``current_bytes`` to cover byte offset ``end``."""
    if end <= current_bytes:
        return 0
    if end > MEMORY_LIMIT:
        raise OutOfGas("memory expansion beyond any affordable size")
    new_words = (end + 31) >> 5
    old_words = current_bytes >> 5
    return MEMORY * (new_words - old_words) + (new_words * new_words) // 512 - (
        old_words * old_words
    ) // 512


def words(size: int) -> int:
    return (size + 31) >> 5
