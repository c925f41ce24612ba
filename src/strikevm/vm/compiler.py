"""Trace compiler: the fast execution path.

Code is analysed once per distinct bytecode into basic blocks. When execution
first reaches a program counter, the compiler follows the control flow from
there, across fall-throughs and jumps whose target is a known constant
(including return addresses pushed earlier in the same trace) and into both
arms of JUMPI, and translates the whole region into one Python function. In
it, stack values are local variables (single-use pure values are folded into
expressions, constants are folded at compile time); each basic block charges
its static gas and checks its stack bounds once; instructions with side
effects call the shared functions in ``vm.instructions``. The function writes
the stack back once when it leaves the region and returns the next program
counter (-1 when the frame halts).

Charging a basic block's static gas on entry is exact: an out-of-gas anywhere
in a block is an exceptional halt of the frame wherever it happens, and the
instructions that observe the remaining gas (GAS, SSTORE, calls, creates) end
their basic block, so nothing after them has been charged when they run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strikevm.crypto import _keccak_256
from strikevm.vm import gas as G
from strikevm.vm.analysis import jumpdests, push_value
from strikevm.vm.errors import InvalidJump, InvalidOpcode, OutOfGas, StackOverflow, StackUnderflow
from strikevm.vm.frame import Frame
from strikevm.vm.instructions import arithmetic
from strikevm.vm.instructions import table as T
from strikevm.vm.instructions.arithmetic import CONDITIONS

Region = Callable[[Frame, list, bytearray], int]

# Upper bound on instructions translated into one region function.
REGION_BUDGET = 600
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
    """Static gas, required stack height and maximum growth of the basic block at ``start``."""
    n = len(code)
    pc = start
    gas = need = grow = rel = 0
    while pc < n:
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


class _RegionBuilder:
    """Translates the region reachable from one entry pc into a Python function."""

    def __init__(self, unit: _Unit, entry: int) -> None:
        self.unit = unit
        self.code = unit.code
        self.entry = entry
        self.ns = unit.ns
        self.budget = REGION_BUDGET
        self.nvars = 0
        self.vals: dict[str, _Val] = {}

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
        val = _Val(f"v{self._uid()}")
        self.vals[val.text] = val
        val.defn = template.format(*(self.ref(a) for a in args))
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
        while True:
            if pc >= n:
                return pc
            op = code[pc]
            if pc != start and op == 0x5B:
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


def translate(code: bytes, entry: int, unit: _Unit | None = None) -> tuple[str, _Unit]:
    """Python source of the region function entered at ``entry``."""
    unit = unit or _Unit(code)
    return _RegionBuilder(unit, entry).build(), unit


class CompiledCode:
    """Region functions of one bytecode, indexed by entry pc, compiled on first use."""

    __slots__ = ("regions", "unit")

    def __init__(self, code: bytes) -> None:
        self.unit = _Unit(code)
        self.regions: list[Region | None] = [None] * (len(code) + 1)

    def region(self, pc: int) -> Region:
        src, unit = translate(self.unit.code, pc, self.unit)
        exec(compile(src, f"<strikevm-region-{pc}>", "exec"), unit.ns)  # noqa: S102
        fn = unit.ns.pop(f"r{pc}")
        self.regions[pc] = fn
        return fn


_CACHE: dict[bytes, CompiledCode] = {}
_CACHE_LIMIT = 4096


def compiled(code: bytes) -> CompiledCode:
    cc = _CACHE.get(code)
    if cc is None:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        cc = _CACHE[code] = CompiledCode(code)
    return cc


def run(f: Frame) -> None:
    """Execute ``f.code`` with compiled regions; raise an ExceptionalHalt on failure."""
    code = f.code
    cc = _CACHE.get(code)
    if cc is None:
        cc = compiled(code)
    regions = cc.regions
    stack = f.stack
    mem = f.memory
    pc = 0
    while pc >= 0:
        fn = regions[pc]
        if fn is None:
            fn = cc.region(pc)
        pc = fn(f, stack, mem)
