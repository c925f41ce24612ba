"""LOG0-LOG4."""

from __future__ import annotations

from strikevm.state.world import Log
from strikevm.vm import gas as G
from strikevm.vm.errors import WriteInStaticContext
from strikevm.vm.instructions.memory import charge, read


def _log(f, offset: int, size: int, topics: tuple[int, ...]) -> None:  # noqa: ANN001
    if f.is_static:
        raise WriteInStaticContext("LOG")
    if size:
        charge(f, G.LOG_DATA * size)
    data = read(f, offset, size)
    f.state.add_log(Log(f.address, topics, data))


def log0(f, offset: int, size: int) -> None:  # noqa: ANN001
    _log(f, offset, size, ())


def log1(f, offset: int, size: int, t1: int) -> None:  # noqa: ANN001
    _log(f, offset, size, (t1,))


def log2(f, offset: int, size: int, t1: int, t2: int) -> None:  # noqa: ANN001
    _log(f, offset, size, (t1, t2))


def log3(f, offset: int, size: int, t1: int, t2: int, t3: int) -> None:  # noqa: ANN001
    _log(f, offset, size, (t1, t2, t3))


def log4(f, offset: int, size: int, t1: int, t2: int, t3: int, t4: int) -> None:  # noqa: ANN001
    _log(f, offset, size, (t1, t2, t3, t4))
