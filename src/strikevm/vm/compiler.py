"""Trace compiler: the fast execution path, tiered behind a cold interpreter.

Code is analysed once per distinct bytecode (and fork) into basic blocks.
Execution starts in a cold tier that interprets one basic block at a time: the
block is decoded once by the native analysis (``vm.analysis``; a run of
JUMPDESTs at its start costs nothing more than its gas), its static gas is
charged and its stack bounds are checked once on entry, and each instruction is
a call of a small handler generated from the opcode table. A block that fails
its entry checks (it will halt) is run with the reference interpreter's
per-instruction checks instead, so it halts where and as the reference does.
Every block entry counts a hit on its pc and every interpreted gas unit is
credited to the code. A pc is
*hot*, and the compiler translates the region starting there, once it has been
entered ``HOT_ENTRIES`` times **and** the code's credit covers the largest
region the compiler may emit (``SOURCE_PER_INSTR * (REGION_BUDGET + MAX_BLOCK)
+ SOURCE_BASE`` characters at ``COMPILE_GAS_PER_CHAR`` gas each). The region's
actual source length times ``COMPILE_GAS_PER_CHAR`` is then debited, so all
compilation a code ever causes is bounded by the gas its callers paid to run it
interpreted: a one-shot contract, however adversarial, is never compiled.
``STRIKEVM_COMPILE=eager`` (read at import; tests and conformance runs use it
to exercise the compiler) compiles every region on its first entry.

The compiler follows the control flow from the hot pc, across fall-throughs
and jumps whose target is a known constant (including return addresses pushed
earlier in the same trace) and into both arms of JUMPI, and translates the
whole region into one Python function. In it, stack values are local variables
(single-use pure values are folded into expressions, constants are folded at
compile time); each basic block (split into chunks of at most ``MAX_BLOCK``
instructions) charges its static gas and checks its stack bounds once;
instructions with side effects call the shared functions in
``vm.instructions``. The function writes the stack back once when it leaves the
region and returns the next program counter (-1 when the frame halts).

Compile work is linear in the bytecode translated: an operand that an
expression template uses more than once is bound to a local and never
duplicated, inlined expressions are at most ``MAX_EXPR_DEPTH`` deep, and a
region's source may not exceed ``SOURCE_PER_INSTR`` characters per translated
instruction plus ``SOURCE_BASE`` (checked while translating, so the check is
cheap too). A region over the cap is retried as its entry block alone and, if
that is still over, its pc stays interpreted.

Compiled code lives in a bounded LRU keyed by (code, fork cache key): at most
``CACHE_ENTRIES`` codes and ``CACHE_CODE_BYTES`` bytes of code; the least
recently run code is evicted first, with its regions and credit.

Charging a basic block's static gas on entry is exact: an out-of-gas anywhere
in a block is an exceptional halt of the frame wherever it happens, and the
instructions that observe the remaining gas (GAS, SSTORE, calls, creates) end
their basic block, so nothing after them has been charged when they run.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from strikevm.crypto import _keccak_256
from strikevm.vm import analysis as A
from strikevm.vm import gas as G
from strikevm.vm.analysis import jumpdests, push_value
from strikevm.vm.errors import InvalidJump, InvalidOpcode, OutOfGas, StackOverflow, StackUnderflow
from strikevm.vm.frame import Frame
from strikevm.vm.instructions import arithmetic
from strikevm.vm.instructions import table as T
from strikevm.vm.instructions.arithmetic import CONDITIONS
from strikevm.vm.spec import CANCUN

Region = Callable[[Frame, list, bytearray], int]

# Upper bound on instructions translated into one region function (a region
# stops at the first chunk boundary after the budget is spent).
REGION_BUDGET = 600
# Straight-line code is split into chunks of at most this many instructions,
# each charged and stack-checked on entry like a basic block.
MAX_BLOCK = 256
# Source cap of a region: characters per translated instruction, plus a base.
SOURCE_PER_INSTR = 128
SOURCE_BASE = 4096
# Tiering: entries of a pc before it may be compiled, and the gas of credit
# (gas spent interpreting the code) each character of generated source costs.
HOT_ENTRIES = 8
COMPILE_GAS_PER_CHAR = 4
# Bounds of the compiled-code LRU.
CACHE_ENTRIES = 4096
CACHE_CODE_BYTES = 64 * 1024 * 1024
EAGER = os.environ.get("STRIKEVM_COMPILE", "") == "eager"
# Inlined expressions deeper than this are bound to a local, and JUMPI arms
# nested deeper than this leave the region, keeping generated code well within
# the parser's nesting limits.
MAX_EXPR_DEPTH = 24
MAX_BRANCH_DEPTH = 40
_MARK = "\x00"
_COND = "\x02"


class _Val:
    """A symbolic stack value: a literal, an entry-stack slot, or a computed value."""

    __slots__ = ("text", "uses", "const", "cond", "defn", "negates", "depth", "bound")

    def __init__(self, text: str, const: int | None = None) -> None:
        self.text = text
        self.depth = 0  # nesting depth of the expression if it were inlined
        self.bound = False  # always bound to a local (keeps expressions shallow)
        self.uses = 0
        self.const = const
        self.cond: str | None = None  # boolean form (comparisons), for JUMPI
        self.defn: str | None = None  # defining expression of a computed pure value
        self.negates: _Val | None = None  # ISZERO of this value


class _BlockInfo:
    __slots__ = ("gas", "need", "grow")

    def __init__(self, gas: int, need: int, grow: int) -> None:
        self.gas = gas
        self.need = need
        self.grow = grow


def _stack_error(n: int, low: int, high: int) -> None:
    if n < low:
        raise StackUnderflow(f"needs {low} stack items, has {n}")
    raise StackOverflow(f"stack would grow past {G.STACK_LIMIT}")


def _invalid(pc: int, op: int) -> None:
    raise InvalidOpcode(f"0x{op:02x} at pc {pc}")


def _block_info(code: bytes, start: int) -> _BlockInfo:
    """Static gas, required stack height and maximum growth of the chunk at ``start``.

    A chunk is the basic block at ``start`` cut after ``MAX_BLOCK`` instructions.
    """
    n = len(code)
    pc = start
    gas = need = grow = rel = count = 0
    while pc < n and count < MAX_BLOCK:
        count += 1
        op = code[pc]
        if pc != start and op == 0x5B:
            break
        spec = T.OPCODES[op]
        if spec is None:
            break
        gas += spec.gas
        if spec.n_in - rel > need:
            need = spec.n_in - rel
        rel += spec.n_out - spec.n_in
        if rel > grow:
            grow = rel
        if spec.ends_block:
            break
        pc += 1 + (spec.arg if spec.kind == T.PUSH else 0)
    return _BlockInfo(gas, need, grow)


class _Path:
    """Symbolic state along one path of a region; copied at each JUMPI."""

    __slots__ = (
        "sym", "consumed", "entries", "stmts", "visited", "checked_low", "checked_high",
        "pending_gas", "pending_high", "depth",
    )

    def __init__(self) -> None:
        self.sym: list[_Val] = []
        self.consumed = 0
        self.entries: dict[int, _Val] = {}
        self.stmts: list[Any] = []
        self.visited: set[int] = set()
        self.checked_low = 0
        self.checked_high = G.STACK_LIMIT  # highest entry height already proven safe
        self.pending_gas = 0  # static gas of executed blocks not yet charged
        self.pending_high = G.STACK_LIMIT  # entry-height bound not yet checked
        self.depth = 0  # JUMPI arms this path is nested in

    def fork(self) -> _Path:
        p = _Path()
        p.sym = list(self.sym)
        p.consumed = self.consumed
        p.entries = dict(self.entries)
        p.visited = set(self.visited)
        p.checked_low = self.checked_low
        p.checked_high = self.checked_high
        p.pending_gas = self.pending_gas
        p.pending_high = self.pending_high
        p.depth = self.depth
        return p


class _TooLarge(Exception):
    """The region's source would exceed its cap (or, with ``unpaid``, the credit)."""

    def __init__(self, size: int, unpaid: bool = False) -> None:
        super().__init__(size)
        self.size = size  # characters generated before giving up
        self.unpaid = unpaid


def source_cap(instructions: int) -> int:
    """Most characters of source a region translating ``instructions`` may have."""
    return SOURCE_PER_INSTR * instructions + SOURCE_BASE


# Largest source any region may have.
MAX_REGION_SOURCE = source_cap(REGION_BUDGET + MAX_BLOCK)
# Least credit with which a hot pc is translated at all.
MIN_CREDIT = SOURCE_BASE * COMPILE_GAS_PER_CHAR

_MULTI_USE: dict[str, tuple[int, ...]] = {}


def _multi_use(template: str) -> tuple[int, ...]:
    """Operand indices that ``template`` mentions more than once."""
    found = _MULTI_USE.get(template)
    if found is None:
        found = _MULTI_USE[template] = tuple(
            i for i in range(3) if template.count(f"{{{i}}}") > 1
        )
    return found


class _RegionBuilder:
    """Translates the region reachable from one entry pc into a Python function."""

    def __init__(
        self, unit: _Unit, entry: int, budget: int = REGION_BUDGET, limit: int | None = None
    ) -> None:
        self.unit = unit
        self.code = unit.code
        self.entry = entry
        self.ns = unit.ns
        self.budget = budget
        self.initial_budget = budget
        self.nvars = 0
        self.size = 0  # running estimate of the source size, for the early cap check
        self.limit = limit  # most characters the credit pays for (None: unlimited)
        self.vals: dict[str, _Val] = {}

    @property
    def translated(self) -> int:
        """Instructions translated so far."""
        return self.initial_budget - self.budget

    def grow(self, chars: int) -> None:
        """Account ``chars`` of source; abort when past the region's cap."""
        self.size += chars
        if self.limit is not None and self.size > self.limit:
            raise _TooLarge(self.size, unpaid=True)
        if self.size > source_cap(self.translated):
            raise _TooLarge(self.size)

    # -- symbolic stack --------------------------------------------------------
    def _entry(self, p: _Path) -> _Val:
        p.consumed += 1
        k = p.consumed
        val = p.entries.get(k)
        if val is None:
            val = p.entries[k] = _Val(f"e{k}_{self._uid()}")
            p.stmts.append(("line", f"{val.text} = stack[-{k}]"))
        return val

    def _uid(self) -> int:
        self.nvars += 1
        return self.nvars

    def pop(self, p: _Path) -> _Val:
        val = p.sym.pop() if p.sym else self._entry(p)
        val.uses += 1
        return val

    def pull(self, p: _Path, depth: int) -> None:
        while len(p.sym) < depth:
            p.sym.insert(0, self._entry(p))

    @staticmethod
    def ref(val: _Val) -> str:
        return _MARK + val.text + _MARK

    def expr_value(self, p: _Path, spec: T.OpSpec, args: list[_Val]) -> _Val:
        template = spec.expr or ""
        if args and all(a.const is not None for a in args):
            value = eval(template.format(*(str(a.const) for a in args)), self.ns)  # noqa: S307
            return _Val(str(value), const=value)
        for i in _multi_use(template):  # never duplicate an operand's expression
            self.local(p, args[i])
        val = _Val(f"v{self._uid()}")
        self.vals[val.text] = val
        val.defn = template.format(*(self.ref(a) for a in args))
        self.grow(len(val.defn))
        val.depth = 1 + max((a.depth for a in args), default=0)
        if val.depth > MAX_EXPR_DEPTH:
            val.bound = True
            val.depth = 0
        cond = CONDITIONS.get(spec.name)
        if spec.name == "ISZERO":
            val.negates = args[0]
            val.cond = "not " + self.ref(args[0])
        elif cond is not None:
            val.cond = cond.format(*(self.ref(a) for a in args))
        p.stmts.append(("def", val))
        return val

    def fn_name(self, spec: T.OpSpec) -> str:
        name = "F_" + spec.name
        self.ns[name] = spec.fn
        return name

    def call_text(self, p: _Path, spec: T.OpSpec) -> str:
        args = [self.pop(p) for _ in range(spec.n_in)]
        return f"{self.fn_name(spec)}(f{''.join(', ' + self.ref(a) for a in args)})"

    def local(self, p: _Path, val: _Val) -> str:
        """Reference to ``val`` that may be used several times (forces a local)."""
        if val.const is None:
            val.uses += 2
        return self.ref(val)

    def inline_fn(self, p: _Path, spec: T.OpSpec) -> bool:
        """Inline fast paths of hot memory instructions; False when not applicable."""
        name = spec.name
        line = p.stmts.append
        if name == "MSTORE":
            o = self.pop(p)
            v = self.pop(p)
            ro, rv = self.local(p, o), self.ref(v)
            line(("line", f"if {ro} + 32 <= len(mem):"))
            data = repr(v.const.to_bytes(32, "big")) if v.const is not None else (
                f"({rv}).to_bytes(32, 'big')"
            )
            line(("line", f"    mem[{ro}:{ro} + 32] = {data}"))
            v.uses += 1
            line(("line", "else:"))
            line(("line", f"    {self.fn_name(spec)}(f, {ro}, {self.local(p, v)})"))
            return True
        if name == "MLOAD":
            o = self.pop(p)
            ro = self.local(p, o)
            val = _Val(f"r{self._uid()}")
            line(("line", f"if {ro} + 32 <= len(mem):"))
            line(("line", f"    {val.text} = int.from_bytes(mem[{ro}:{ro} + 32], 'big')"))
            line(("line", "else:"))
            line(("line", f"    {val.text} = {self.fn_name(spec)}(f, {ro})"))
            p.sym.append(val)
            return True
        if name == "KECCAK256" and len(p.sym) >= 2 and p.sym[-2].const is not None:
            if not p.sym[-2].const:
                return False  # empty input: the generic path handles it
            o = self.pop(p)
            size = self.pop(p).const or 0
            ro = self.local(p, o)
            val = _Val(f"r{self._uid()}")
            cost = G.KECCAK256_WORD * ((size + 31) >> 5)
            line(("line", f"if {ro} + {size} <= len(mem):"))
            line(("line", f"    g = f.gas - {cost}"))
            line(("line", "    if g < 0:"))
            line(("line", "        raise OutOfGas()"))
            line(("line", "    f.gas = g"))
            line(("line", f"    {val.text} = int.from_bytes(K(mem[{ro}:{ro} + {size}]).digest(), 'big')"))
            line(("line", "else:"))
            line(("line", f"    {val.text} = {self.fn_name(spec)}(f, {ro}, {size})"))
            p.sym.append(val)
            return True
        return False

    # -- exits -------------------------------------------------------------------
    def writeback(self, p: _Path) -> list[str]:
        d = p.consumed
        items = p.sym
        keep = 0
        while keep < len(items) and keep < d and items[keep] is p.entries.get(d - keep):
            keep += 1
        items = items[keep:]
        d -= keep
        for v in items:
            v.uses += 1
        refs = ", ".join(self.ref(v) for v in items)
        self.grow(len(refs) + 24)
        if d == 0:
            if not items:
                return []
            if len(items) == 1:
                return [f"stack.append({refs})"]
            return [f"stack.extend(({refs},))"]
        if not items:
            return [f"del stack[-{d}:]"]
        if d == 1 and len(items) == 1:
            return [f"stack[-1] = {refs}"]
        return [f"stack[-{d}:] = ({refs},)"]

    def leave(self, p: _Path, pc_text: str) -> None:
        self.flush(p)
        for line in self.writeback(p):
            p.stmts.append(("line", line))
        p.stmts.append(("line", f"return {pc_text}"))

    def jump(self, p: _Path, dest: _Val) -> None:
        """Continue at a jump destination: inline when constant and new on this path."""
        if dest.const is not None:
            target = dest.const
            if target not in self.unit.dests:
                p.stmts.append(("line", f"raise InvalidJump('{target}')"))
                return
            self.walk(p, target)
            return
        self.flush(p)
        for line in self.writeback(p):
            p.stmts.append(("line", line))
        r = self.ref(dest)
        dest.uses += 2
        p.stmts.append(("line", f"if {r} not in JD:"))
        p.stmts.append(("line", f"    raise InvalidJump(str({r}))"))
        p.stmts.append(("line", f"return {r}"))

    # -- the walk ----------------------------------------------------------------
    def walk(self, p: _Path, pc: int) -> None:
        """Translate basic blocks from ``pc`` along path ``p`` until the path exits."""
        code = self.code
        n = len(code)
        while True:
            if pc >= n:
                self.flush(p)
                p.stmts.append(("line", "return -1"))
                return
            if pc in p.visited or (self.budget <= 0 and pc != self.entry):
                self.leave(p, str(pc))
                return
            p.visited.add(pc)
            self.grow(32)
            info = self.unit.info(pc)
            self.check_block(p, info)
            pc = self.block(p, pc)
            if pc < 0:
                return

    def check_block(self, p: _Path, info: _BlockInfo) -> None:
        """Account a block's static gas and stack bounds on entry.

        Underflow is checked at once (entry slots are about to be read); static
        gas and overflow are accumulated and checked by ``flush`` before the
        next instruction that can observe them (see the module docstring).
        """
        p.pending_gas += info.gas
        s = len(p.sym)
        c = p.consumed
        low = info.need - s + c
        if low > p.checked_low:
            p.stmts.append(("line", f"if n < {low}:"))
            p.stmts.append(("line", f"    _stack_error(n, {low}, {G.STACK_LIMIT})"))
            p.checked_low = low
        if info.grow > 0:
            high = G.STACK_LIMIT - info.grow + c - s
            if high < p.pending_high:
                p.pending_high = high

    def flush(self, p: _Path) -> None:
        """Charge pending static gas and check the pending stack bound."""
        if p.pending_gas:
            p.stmts.append(("line", f"g = f.gas - {p.pending_gas}"))
            p.stmts.append(("line", "if g < 0:"))
            p.stmts.append(("line", "    raise OutOfGas()"))
            p.stmts.append(("line", "f.gas = g"))
            p.pending_gas = 0
        if p.pending_high < p.checked_high:
            p.stmts.append(("line", f"if n > {p.pending_high}:"))
            p.stmts.append(("line", f"    _stack_error(n, 0, {p.pending_high})"))
            p.checked_high = p.pending_high

    def block(self, p: _Path, start: int) -> int:
        """Translate one basic block; return the pc to continue at, or -1 when done."""
        code = self.code
        n = len(code)
        pc = start
        end = self.budget - MAX_BLOCK  # the chunk ends after MAX_BLOCK instructions
        while True:
            if pc >= n:
                return pc
            op = code[pc]
            if pc != start and op == 0x5B or self.budget == end:
                return pc
            spec = T.OPCODES[op]
            self.budget -= 1
            if spec is None:
                self.ns["_invalid"] = _invalid
                p.stmts.append(("line", f"_invalid({pc}, {op})"))
                return -1
            kind = spec.kind
            nxt = pc + 1
            if kind == T.PUSH:
                value = push_value(code, pc, spec.arg)
                p.sym.append(_Val(str(value), const=value))
                nxt = pc + 1 + spec.arg
            elif kind == T.EXPR:
                args = [self.pop(p) for _ in range(spec.n_in)]
                if spec.name == "CODESIZE":
                    p.sym.append(_Val(str(n), const=n))
                else:
                    p.sym.append(self.expr_value(p, spec, args))
            elif kind == T.FN:
                if spec.ends_block:
                    self.flush(p)
                elif self.inline_fn(p, spec):
                    pc = nxt
                    continue
                call = self.call_text(p, spec)
                if spec.n_out:
                    val = _Val(f"r{self._uid()}")
                    p.stmts.append(("line", f"{val.text} = {call}"))
                    p.sym.append(val)
                else:
                    p.stmts.append(("line", call))
                if spec.ends_block:
                    return nxt
            elif kind == T.DUP:
                self.pull(p, spec.arg)
                p.sym.append(p.sym[-spec.arg])
            elif kind == T.SWAP:
                self.pull(p, spec.arg + 1)
                s = p.sym
                i = -1 - spec.arg
                s[-1], s[i] = s[i], s[-1]
            elif kind == T.POP:
                self.pop(p).uses -= 1
            elif kind == T.JUMPDEST:
                pass
            elif kind == T.PC:
                p.sym.append(_Val(str(pc), const=pc))
            elif kind == T.GAS:
                self.flush(p)
                val = _Val(f"r{self._uid()}")
                p.stmts.append(("line", f"{val.text} = f.gas"))
                p.sym.append(val)
                return nxt
            elif kind == T.JUMP:
                dest = self.pop(p)
                self.jump(p, dest)
                return -1
            elif kind == T.JUMPI:
                dest = self.pop(p)
                cond = self.pop(p)
                if cond.const is not None:
                    if cond.const:
                        self.jump(p, dest)
                        return -1
                    return nxt
                taken = p.fork()
                taken.depth += 1
                fall = p.fork()
                test = _COND + cond.text + _COND
                p.stmts.append(("if", test, taken.stmts, fall.stmts))
                if taken.depth > MAX_BRANCH_DEPTH and dest.const in self.unit.dests:
                    self.leave(taken, str(dest.const))
                else:
                    self.jump(taken, dest)
                self.walk(fall, nxt)
                return -1
            elif kind == T.STOP:
                self.flush(p)
                p.stmts.append(("line", "return -1"))
                return -1
            elif kind == T.HALT:
                self.flush(p)
                p.stmts.append(("line", self.call_text(p, spec)))
                p.stmts.append(("line", "return -1"))
                return -1
            else:  # INVALID
                self.ns["_invalid"] = _invalid
                p.stmts.append(("line", f"_invalid({pc}, {op})"))
                return -1
            pc = nxt

    # -- rendering -------------------------------------------------------------
    def build(self) -> str:
        root = _Path()
        self.walk(root, self.entry)
        self.inline: dict[str, str] = {}
        out: list[str] = ["n = len(stack)"]
        self.render(root.stmts, out, "")
        return f"def r{self.entry}(f, stack, mem):\n" + "".join(f"    {x}\n" for x in out)

    def resolve(self, text: str) -> str:
        if _MARK not in text:
            return text
        parts = text.split(_MARK)
        inline = self.inline
        for i in range(1, len(parts), 2):
            parts[i] = inline.get(parts[i], parts[i])
        return "".join(parts)

    def cond_text(self, val: _Val) -> str:
        """Boolean expression testing ``val`` (used by JUMPI)."""
        if val.uses == 1 and val.negates is not None and not val.bound:
            inner = val.negates
            if inner.uses == 1 and inner.cond is not None and not inner.bound:
                return f"not ({self.cond_text(inner)})"
            return "not " + self.resolve(self.ref(inner))
        if val.uses == 1 and val.cond is not None and val.negates is None and not val.bound:
            return self.resolve(val.cond)
        return self.resolve(self.ref(val))

    def render(self, stmts: list[Any], out: list[str], indent: str) -> None:
        for item in stmts:
            kind = item[0]
            if kind == "def":
                val: _Val = item[1]
                expr = self.resolve(val.defn or "")
                if val.uses == 1 and not val.bound:
                    self.inline[val.text] = "(" + expr + ")"
                elif val.uses > 1 or val.bound:
                    out.append(f"{indent}{val.text} = {expr}")
            elif kind == "line":
                out.append(indent + self.resolve(item[1]))
            else:  # if
                _, test, then_stmts, else_stmts = item
                name = test.strip(_COND)
                val = self.vals.get(name)
                if val is not None:
                    text = self.cond_text(val)
                else:
                    text = self.resolve(self.ref(_Val(name)))
                out.append(f"{indent}if {text}:")
                self.render(then_stmts, out, indent + "    ")
                self.render(else_stmts, out, indent)


class _Unit:
    """Analysis of one bytecode shared by all its region functions."""

    def __init__(self, code: bytes) -> None:
        self.code = code
        self.dests = jumpdests(code)
        self.ns: dict[str, Any] = dict(arithmetic.HELPERS)
        self.ns.update(
            K=_keccak_256,
            JD=self.dests, OutOfGas=OutOfGas, InvalidJump=InvalidJump, _stack_error=_stack_error
        )
        self._info: dict[int, _BlockInfo] = {}

    def info(self, pc: int) -> _BlockInfo:
        info = self._info.get(pc)
        if info is None:
            info = self._info[pc] = _block_info(self.code, pc)
        return info


def translate(
    code: bytes,
    entry: int,
    unit: _Unit | None = None,
    budget: int = REGION_BUDGET,
    limit: int | None = None,
) -> tuple[str, _Unit]:
    """Python source of the region function entered at ``entry``.

    Raises ``_TooLarge`` when the source would exceed ``source_cap`` of the
    instructions translated, or ``limit`` characters.
    """
    unit = unit or _Unit(code)
    builder = _RegionBuilder(unit, entry, budget, limit)
    src = builder.build()
    if limit is not None and len(src) > limit:
        raise _TooLarge(len(src), unpaid=True)
    if len(src) > source_cap(builder.translated):
        raise _TooLarge(len(src))
    return src, unit


def _expr_function(spec: T.OpSpec) -> Any:
    args = "".join(f", a{i}" for i in range(spec.n_in))
    body = spec.expr.format(*(f"a{i}" for i in range(spec.n_in))) if spec.expr else ""
    return eval(f"lambda f{args}: {body}", dict(arithmetic.HELPERS))  # noqa: S307


# Pure templates as functions of (frame, operands), for the cold tier.
_EXPR_FNS: list[Any] = [
    _expr_function(s) if s is not None and s.kind == T.EXPR else None for s in T.OPCODES
]


# -- cold tier ---------------------------------------------------------------------
# Each instruction of a cold block is a small function ``handler(f, stack, arg)``
# generated from the opcode table once at import; the block's static gas and stack
# bounds are checked once on entry (see ``_interpret``).


def _handler_source(spec: T.OpSpec) -> str | None:
    """Body of the cold-tier handler of ``spec`` (None: the opcode needs none)."""
    kind, name, n_in = spec.kind, spec.name, spec.n_in
    if kind == T.EXPR:
        template = spec.expr or ""
        if n_in == 0:
            return f"s.append({template})"
        names = [f"a{i}" for i in range(n_in)]
        binds = "".join(f"{a} = s.pop()\n" for a in names[:-1]) + f"{names[-1]} = s[-1]\n"
        return binds + f"s[-1] = {template.format(*names)}"
    if kind == T.FN or kind == T.HALT:
        if name == "MSTORE":
            return (
                "o = s.pop()\nv = s.pop()\nm = f.memory\n"
                "if o + 32 <= len(m):\n    m[o:o + 32] = v.to_bytes(32, 'big')\n"
                "else:\n    FN(f, o, v)"
            )
        if name == "MLOAD":
            return (
                "o = s[-1]\nm = f.memory\n"
                "s[-1] = int.from_bytes(m[o:o + 32], 'big') if o + 32 <= len(m) else FN(f, o)"
            )
        if name == "CALLDATALOAD":
            return (
                "o = s[-1]\nd = f.data\n"
                "s[-1] = int.from_bytes(d[o:o + 32], 'big') if o + 32 <= len(d) else FN(f, o)"
            )
        call = "FN(f" + ", s.pop()" * n_in + ")"
        return f"s.append({call})" if spec.n_out else call
    if kind == T.PUSH or kind == T.PC:
        return "s.append(a)"
    if kind == T.DUP:
        return f"s.append(s[-{spec.arg}])"
    if kind == T.SWAP:
        k = spec.arg + 1
        return f"s[-1], s[-{k}] = s[-{k}], s[-1]"
    if kind == T.POP:
        return "del s[-1]"
    if kind == T.GAS:
        return "s.append(f.gas)"
    return None


_CLASS = {
    T.EXPR: A.CLS_OP, T.FN: A.CLS_OP, T.DUP: A.CLS_OP, T.SWAP: A.CLS_OP, T.POP: A.CLS_OP,
    T.PUSH: A.CLS_PUSH, T.PC: A.CLS_PC, T.JUMPDEST: A.CLS_JUMPDEST, T.GAS: A.CLS_END,
    T.HALT: A.CLS_HALT, T.STOP: A.CLS_STOP, T.JUMP: A.CLS_JUMP, T.JUMPI: A.CLS_JUMPI,
    T.INVALID: A.CLS_INVALID,
}  # fmt: skip


def _cold_entries(opcodes: list[T.OpSpec | None]) -> list[A.Entry | None]:
    """Block-table entries (class, static gas, arity, immediate size, handler) of a fork."""
    entries: list[A.Entry | None] = [None] * 256
    for spec in opcodes:
        if spec is None:
            continue
        body = _handler_source(spec)
        handler = None
        if body is not None:
            ns: dict[str, Any] = dict(arithmetic.HELPERS, FN=spec.fn)
            src = "def h(f, s, a):\n" + "".join(f"    {x}\n" for x in body.splitlines())
            exec(compile(src, f"<strikevm-cold-{spec.name}>", "exec"), ns)  # noqa: S102
            handler = ns["h"]
        cls = _CLASS[spec.kind]
        if spec.kind == T.FN and spec.ends_block:
            cls = A.CLS_END  # SSTORE, calls and creates: the block ends after them
        imm = spec.arg if spec.kind == T.PUSH else 0
        entries[spec.opcode] = (cls, spec.gas, spec.n_in, spec.n_out, imm, handler)
    return entries


# Instructions a cold block emits at most: a longer straight line is run as several
# blocks, each charged and checked on entry (so a block that fails its checks and is run
# instruction by instruction is at most this long).
COLD_BLOCK = 512
_TABLE = A.block_table(_cold_entries(T.OPCODES), COLD_BLOCK, G.STACK_LIMIT)
_NEXT, _STOP, _JUMP, _JUMPI, _CHUNK = (
    A.TERM_NEXT, A.TERM_STOP, A.TERM_JUMP, A.TERM_JUMPI, A.TERM_CHUNK
)


def _interpret(f: Frame, cc: CompiledCode, pc: int) -> int:
    """Cold tier: run the block entered at ``pc`` (see ``analysis.PyBlockTable.decode``).

    The block is decoded once per code (native analysis), its static gas charged and its
    stack bounds checked once on entry, and its instructions run by their handlers. The
    charge on entry is exact for the reason given in the module docstring: instructions
    that observe the remaining gas end their block. A block whose gas or stack bounds
    fail on entry is run by ``_interpret_exact`` instead, which halts exactly where and
    as the reference interpreter does. Returns the next pc, or -1 when the frame halts.
    """
    stack = f.stack
    while True:
        blk = cc.blocks.get(pc)
        if blk is None:
            blk = _TABLE.decode(cc.unit.code, pc)
            if cc.decoded < cc.decode_cap:
                cc.blocks[pc] = blk
                cc.decoded += len(blk[3]) + 1
        gas, need, high, ops, term, nxt = blk
        depth = len(stack)
        g = f.gas - gas
        if g < 0 or depth < need or depth > high:
            return _interpret_exact(f, cc, pc)
        f.gas = g
        for h, a in ops:
            if a is None:
                h(f, stack, a)
            else:  # PUSHn and PC carry the value they push
                stack.append(a)
        if term != _CHUNK:
            break
        pc = nxt  # the same straight line goes on: no new entry point for tiering
    if term == _NEXT:
        return nxt
    if term == _JUMPI:
        dest = stack.pop()
        if stack.pop():
            if dest not in cc.unit.dests:
                raise InvalidJump(str(dest))
            return dest
        return nxt
    if term == _JUMP:
        dest = stack.pop()
        if dest not in cc.unit.dests:
            raise InvalidJump(str(dest))
        return dest
    if term == _STOP:
        return -1
    op = cc.unit.code[nxt]
    if op == 0xFE:
        raise InvalidOpcode(f"INVALID at pc {nxt}")
    raise InvalidOpcode(f"0x{op:02x} at pc {nxt}")


def _interpret_exact(f: Frame, cc: CompiledCode, pc: int) -> int:
    """Run from ``pc`` to the end of its basic block, one instruction at a time.

    Checks, charges and executes each instruction exactly as the reference
    interpreter does, so an exceptional halt is raised where and as the reference
    raises it. Used for a block whose gas or stack bounds fail on entry (which then
    always halts). Returns the next pc, or -1 when the frame halts.
    """
    code = cc.unit.code
    n = len(code)
    stack = f.stack
    specs = T.OPCODES
    while pc < n:
        op = code[pc]
        spec = specs[op]
        if spec is None:
            raise InvalidOpcode(f"0x{op:02x} at pc {pc}")
        depth = len(stack)
        if depth < spec.n_in:
            raise StackUnderflow(spec.name)
        if depth - spec.n_in + spec.n_out > G.STACK_LIMIT:
            raise StackOverflow(spec.name)
        g = f.gas - spec.gas
        if g < 0:
            raise OutOfGas(spec.name)
        f.gas = g
        kind = spec.kind
        if kind == T.PUSH:
            stack.append(push_value(code, pc, spec.arg))
            pc += 1 + spec.arg
        elif kind == T.EXPR:
            n_in = spec.n_in
            if n_in == 2:
                a = stack.pop()
                stack[-1] = _EXPR_FNS[op](f, a, stack[-1])
            elif n_in == 1:
                stack[-1] = _EXPR_FNS[op](f, stack[-1])
            elif n_in == 0:
                stack.append(_EXPR_FNS[op](f))
            else:
                args = [stack.pop() for _ in range(n_in)]
                stack.append(_EXPR_FNS[op](f, *args))
            pc += 1
        elif kind == T.FN:
            args = [stack.pop() for _ in range(spec.n_in)]
            result = spec.fn(f, *args)  # type: ignore[misc]
            if spec.n_out:
                stack.append(result)
            pc += 1
            if spec.ends_block:  # SSTORE, calls and creates
                return pc
        elif kind == T.DUP:
            stack.append(stack[-spec.arg])
            pc += 1
        elif kind == T.SWAP:
            i = -1 - spec.arg
            stack[-1], stack[i] = stack[i], stack[-1]
            pc += 1
        elif kind == T.POP:
            stack.pop()
            pc += 1
        elif kind == T.JUMPDEST:
            pc += 1
        elif kind == T.PC:
            stack.append(pc)
            pc += 1
        elif kind == T.GAS:
            stack.append(g)
            return pc + 1
        elif kind == T.JUMP:
            dest = stack.pop()
            if dest not in cc.unit.dests:
                raise InvalidJump(str(dest))
            return dest
        elif kind == T.JUMPI:
            dest = stack.pop()
            cond = stack.pop()
            if cond:
                if dest not in cc.unit.dests:
                    raise InvalidJump(str(dest))
                return dest
            return pc + 1
        elif kind == T.STOP:
            return -1
        elif kind == T.HALT:
            args = [stack.pop() for _ in range(spec.n_in)]
            spec.fn(f, *args)  # type: ignore[misc]
            return -1
        else:
            raise InvalidOpcode(f"INVALID at pc {pc}")
        if pc < n and code[pc] == 0x5B:
            break
    return pc if pc < n else -1


class CompiledCode:
    """Region functions of one bytecode, indexed by entry pc, compiled once hot."""

    __slots__ = (
        "regions", "unit", "hits", "credit", "cold", "need", "source_chars", "blocks",
        "decoded", "decode_cap",
    )

    def __init__(self, code: bytes) -> None:
        self.unit = _Unit(code)
        self.regions: list[Region | None] = [None] * (len(code) + 1)
        self.hits: dict[int, int] = {}  # entries of each not yet compiled pc
        self.credit = 0  # gas spent interpreting this code, less compile debits
        self.cold: set[int] = set()  # pcs whose region exceeds the source cap
        self.need: dict[int, int] = {}  # credit a pc waits for after an unpaid attempt
        self.source_chars = 0  # source generated for this code so far
        # Decoded cold blocks by entry pc; at most about one emitted instruction per byte
        # of code is kept (entries inside a leading JUMPDEST run repeat their block's
        # instructions; past the cap blocks are decoded again at each entry).
        self.blocks: dict[int, A.Block] = {}
        self.decoded = 0
        self.decode_cap = len(code) + COLD_BLOCK

    def region(self, pc: int) -> Region | None:
        """Compile the region entered at ``pc`` within the credit.

        A region over the source cap is retried as its entry block alone; a pc
        whose entry block is over the cap too stays interpreted. A region the
        credit does not cover is abandoned until the credit doubles what was
        spent on it. Every character generated, kept or not, is debited.
        """
        code = self.unit.code
        limit = None if EAGER else self.credit // COMPILE_GAS_PER_CHAR
        src = ""
        try:
            src, _ = translate(code, pc, self.unit, limit=limit)
        except _TooLarge as exc:
            self.credit -= exc.size * COMPILE_GAS_PER_CHAR
            if exc.unpaid:
                self.need[pc] = 2 * exc.size * COMPILE_GAS_PER_CHAR
                return None
            try:
                limit = None if EAGER else max(self.credit, 0) // COMPILE_GAS_PER_CHAR
                src, _ = translate(code, pc, self.unit, budget=1, limit=limit)
            except _TooLarge as again:
                self.credit -= again.size * COMPILE_GAS_PER_CHAR
                if again.unpaid:
                    self.need[pc] = 2 * again.size * COMPILE_GAS_PER_CHAR
                else:
                    self.cold.add(pc)
                return None
        ns = self.unit.ns
        exec(compile(src, f"<strikevm-region-{pc}>", "exec"), ns)  # noqa: S102
        fn = ns.pop(f"r{pc}")
        self.regions[pc] = fn
        self.source_chars += len(src)
        self.credit -= len(src) * COMPILE_GAS_PER_CHAR
        return fn

    def promote(self, pc: int) -> Region | None:
        """Count an entry of ``pc``; compile it when hot and paid for (see module doc)."""
        hits = self.hits.get(pc, 0) + 1
        self.hits[pc] = hits
        if hits < HOT_ENTRIES and not EAGER:
            return None
        return self.hot(pc)

    def hot(self, pc: int) -> Region | None:
        """Compile the region at ``pc``, entered ``HOT_ENTRIES`` times, if paid for."""
        if pc in self.cold:
            return None
        if not EAGER and self.credit < self.need.get(pc, MIN_CREDIT):
            return None
        return self.region(pc)


_CACHE: OrderedDict[tuple[bytes, str], CompiledCode] = OrderedDict()
_cache_bytes = 0
# The node runs calls on several threads: the LRU's look-up, reorder and eviction are
# one critical section (a CompiledCode itself only ever gains regions, which any thread
# may compile; the results are the same).
_CACHE_LOCK = threading.Lock()


def _reinit_cache_lock() -> None:  # pragma: no cover - runs in a forked child
    # A thread of the parent may have held the lock at fork(); the child has no such
    # thread, so the copy would stay held (chain.parallel forks block executors).
    global _CACHE_LOCK
    _CACHE_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_cache_lock)


def compiled(code: bytes, fork: str = CANCUN.cache_key) -> CompiledCode:
    """The compiled code of ``code`` under fork ``fork``, from the LRU or new."""
    global _cache_bytes
    key = (code, fork)
    with _CACHE_LOCK:
        cc = _CACHE.get(key)
        if cc is not None:
            _CACHE.move_to_end(key)
            return cc
        cc = _CACHE[key] = CompiledCode(code)
        _cache_bytes += len(code)
        while len(_CACHE) > CACHE_ENTRIES or (_cache_bytes > CACHE_CODE_BYTES and len(_CACHE) > 1):
            (old, _), _ = _CACHE.popitem(last=False)
            _cache_bytes -= len(old)
        return cc


def clear_cache() -> None:
    """Forget all compiled code (tests and benchmarks start cold with it)."""
    global _cache_bytes
    with _CACHE_LOCK:
        _CACHE.clear()
        _cache_bytes = 0


class _Tally(threading.local):
    """Gas credited by the frames of the running transaction (one per thread)."""

    credited = 0


_TALLY = _Tally()


def run(f: Frame) -> None:
    """Execute ``f.code`` with compiled regions; raise an ExceptionalHalt on failure.

    Gas the frame spends in its own code (its consumption less what its
    descendant frames credited) is credited to its code whenever a cold pc becomes
    a candidate for compilation (entered ``HOT_ENTRIES`` times) and when the frame
    ends normally, so interpreted and compiled execution alike pay for compiling
    the code's hot regions. (The credit is a running difference of absolute
    amounts, so settling it only when it is read gives the same value.)
    """
    cc = compiled(f.code, getattr(f.evm, "spec", CANCUN).cache_key)
    regions = cc.regions
    stack = f.stack
    mem = f.memory
    tally = _TALLY
    base = f.msg.gas + tally.credited  # own gas spent = base - f.gas - tally.credited
    settled = 0
    hits = cc.hits
    pc = 0
    while pc >= 0:
        fn = regions[pc]
        if fn is None:
            count = hits.get(pc, 0) + 1
            hits[pc] = count
            if count >= HOT_ENTRIES or EAGER:
                own = base - f.gas - tally.credited
                cc.credit += own - settled
                settled = own
                fn = cc.hot(pc)
            if fn is None:
                pc = _interpret(f, cc, pc)
                continue
        pc = fn(f, stack, mem)
    own = base - f.gas - tally.credited
    cc.credit += own - settled
    tally.credited += own
