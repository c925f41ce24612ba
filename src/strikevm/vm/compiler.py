"""Block compiler: the fast execution path.

Code is analysed once per distinct bytecode into basic blocks. Each block is
translated into one Python function that charges the block's static gas and
checks its stack bounds once, keeps intermediate stack values in local
variables (single-use pure values are folded into expressions, constants are
folded at compile time), calls the shared instruction functions for
everything with side effects, writes the resulting stack back once and
returns the next program counter (-1 when the frame halts).

Charging a block's static gas up front is exact: any out-of-gas inside a block
is an exceptional halt of the whole frame wherever it happens, and the
instructions that observe the remaining gas (GAS, SSTORE, calls, creates) end
their block, so nothing after them has been charged when they run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strikevm.vm import gas as G
from strikevm.vm.analysis import jumpdests, push_value
from strikevm.vm.errors import InvalidJump, InvalidOpcode, OutOfGas, StackOverflow, StackUnderflow
from strikevm.vm.frame import Frame
from strikevm.vm.instructions import arithmetic
from strikevm.vm.instructions import table as T
from strikevm.vm.instructions.arithmetic import CONDITIONS

Block = Callable[[Frame, list, bytearray], int]


class _Val:
    """A symbolic stack value: a literal, an entry-stack slot, or a computed value."""

    __slots__ = ("text", "uses", "const", "local", "cond", "defn")

    def __init__(self, text: str, const: int | None = None, local: bool = False) -> None:
        self.text = text
        self.uses = 0
        self.const = const
        self.local = local  # already a local variable or literal: never needs a definition
        self.cond: str | None = None  # boolean form, for JUMPI
        self.defn: str | None = None  # expression defining a computed value


def _stack_error(n: int, low: int, high: int) -> None:
    if n < low:
        raise StackUnderflow(f"block needs {low} stack items, has {n}")
    raise StackOverflow(f"block would grow the stack past {G.STACK_LIMIT}")


def _invalid(pc: int, op: int) -> None:
    raise InvalidOpcode(f"0x{op:02x} at pc {pc}")


class _BlockBuilder:
    """Symbolic execution of one basic block into Python source."""

    def __init__(self, code: bytes, dests: frozenset[int], start: int, ns: dict[str, Any]):
        self.code = code
        self.dests = dests
        self.start = start
        self.ns = ns
        self.sym: list[_Val] = []
        self.consumed = 0  # entry-stack items taken into the symbolic region
        self.max_rel = 0
        self.entries: dict[int, _Val] = {}
        self.stmts: list[tuple[str, Any]] = []  # ("def", val) | ("line", text)
        self.nvars = 0
        self.gas = 0
        self._vals: dict[str, _Val] = {}

    # -- symbolic stack --------------------------------------------------
    def _entry(self) -> _Val:
        self.consumed += 1
        k = self.consumed
        val = self.entries.get(k)
        if val is None:
            val = self.entries[k] = _Val(f"e{k}", local=True)
        return val

    def pop(self) -> _Val:
        val = self.sym.pop() if self.sym else self._entry()
        val.uses += 1
        return val

    def push(self, val: _Val) -> None:
        self.sym.append(val)
        rel = len(self.sym) - self.consumed
        if rel > self.max_rel:
            self.max_rel = rel

    def pull(self, depth: int) -> None:
        """Make sure the top ``depth`` items are in the symbolic region."""
        while len(self.sym) < depth:
            self.sym.insert(0, self._entry())

    def new_local(self) -> str:
        self.nvars += 1
        return f"v{self.nvars}"

    def text(self, val: _Val) -> str:
        return val.text

    # -- emission helpers ------------------------------------------------
    def expr_value(self, template: str, args: list[_Val], cond: str | None) -> _Val:
        if args and all(a.const is not None for a in args):
            value = eval(template.format(*(str(a.const) for a in args)), self.ns)  # noqa: S307
            return _Val(str(value), const=value, local=True)
        val = _Val(self.new_local())
        self._vals[val.text] = val
        val.defn = template.format(*(self._ref(a) for a in args))
        if cond == "not {0}" and args[0].cond is not None:
            # ISZERO of a comparison: negate the comparison's boolean form, which
            # is only valid when the comparison is inlined (resolved at render).
            val.cond = "\x01" + args[0].text
        elif cond is not None:
            val.cond = cond.format(*(self._ref(a) for a in args))
        self.stmts.append(("def", val))
        return val

    def _ref(self, val: _Val) -> str:
        # placeholder resolved at emission time (inline or local name)
        return "\x00" + val.text + "\x00"

    def line(self, text: str) -> None:
        self.stmts.append(("line", text))

    def fn_name(self, spec: T.OpSpec) -> str:
        name = "F_" + spec.name
        self.ns[name] = spec.fn
        return name

    # -- the block ---------------------------------------------------------
    def build(self) -> tuple[str, int]:
        """Translate from ``start``; return (source, end pc)."""
        code = self.code
        n = len(code)
        pc = self.start
        tail: list[str] = []
        while True:
            if pc >= n:
                tail = self._writeback() + ["return -1"]
                break
            op = code[pc]
            spec = T.OPCODES[op]
            if pc != self.start and op == 0x5B:
                tail = self._writeback() + [f"return {pc}"]
                break
            if spec is None:
                tail = [f"_invalid({pc}, {op})"]
                self.ns["_invalid"] = _invalid
                pc += 1
                break
            self.gas += spec.gas
            kind = spec.kind
            nxt = pc + 1
            if kind == T.PUSH:
                value = push_value(code, pc, spec.arg)
                self.push(_Val(str(value), const=value, local=True))
                nxt = pc + 1 + spec.arg
            elif kind == T.EXPR:
                args = [self.pop() for _ in range(spec.n_in)]
                if spec.name == "CODESIZE":
                    self.push(_Val(str(n), const=n, local=True))
                else:
                    self.push(self.expr_value(spec.expr, args, CONDITIONS.get(spec.name)))
            elif kind == T.FN:
                args = [self.pop() for _ in range(spec.n_in)]
                call = f"{self.fn_name(spec)}(f{''.join(', ' + self._ref(a) for a in args)})"
                if spec.n_out:
                    val = _Val(self.new_local(), local=True)
                    self.line(f"{val.text} = {call}")
                    self.push(val)
                else:
                    self.line(call)
                if spec.ends_block:
                    pc = nxt
                    tail = self._writeback() + [f"return {pc}"]
                    break
            elif kind == T.DUP:
                self.pull(spec.arg)
                self.push(self.sym[-spec.arg])
            elif kind == T.SWAP:
                self.pull(spec.arg + 1)
                s = self.sym
                i = -1 - spec.arg
                s[-1], s[i] = s[i], s[-1]
            elif kind == T.POP:
                val = self.pop()
                val.uses -= 1
            elif kind == T.JUMPDEST:
                pass
            elif kind == T.PC:
                self.push(_Val(str(pc), const=pc, local=True))
            elif kind == T.GAS:
                val = _Val(self.new_local(), local=True)
                self.line(f"{val.text} = f.gas")
                self.push(val)
                pc = nxt
                tail = self._writeback() + [f"return {pc}"]
                break
            elif kind == T.JUMP:
                dest = self.pop()
                tail = self._writeback() + self._jump(dest)
                pc = nxt
                break
            elif kind == T.JUMPI:
                dest = self.pop()
                cond = self.pop()
                wb = self._writeback()
                if cond.cond is not None and cond.uses == 1:
                    cond.uses -= 1  # the boolean form replaces the value
                    test = "\x02" + cond.text + "\x02"
                elif cond.const is not None:
                    test = "True" if cond.const else "False"
                else:
                    test = self._ref(cond)
                jump = self._jump(dest)
                tail = wb + [f"if {test}:"] + ["    " + x for x in jump] + [f"return {nxt}"]
                pc = nxt
                break
            elif kind == T.STOP:
                tail = ["return -1"]
                pc = nxt
                break
            elif kind == T.HALT:
                args = [self.pop() for _ in range(spec.n_in)]
                call = f"{self.fn_name(spec)}(f{''.join(', ' + self._ref(a) for a in args)})"
                tail = [call, "return -1"]
                pc = nxt
                break
            elif kind == T.INVALID:
                tail = [f"_invalid({pc}, {op})"]
                self.ns["_invalid"] = _invalid
                pc = nxt
                break
            pc = nxt
        return self._render(tail), pc

    def _cond_text(self, val: _Val, resolve: Callable[[str], str]) -> str:
        """Boolean expression for ``val`` (a comparison or ISZERO result)."""
        cond = val.cond or ""
        if cond.startswith("\x01"):
            inner = self._vals[cond[1:]]
            if inner.uses <= 1 and inner.cond is not None:
                return f"not ({self._cond_text(inner, resolve)})"
            return f"not {resolve(self._ref(inner))}"
        return resolve(cond)

    def _resolve_cond(self, text: str, resolve: Callable[[str], str]) -> str:
        if "\x02" in text:
            a, name, b = text.split("\x02")
            text = a + self._cond_text(self._vals[name], resolve) + b
        return resolve(text)

    def _jump(self, dest: _Val) -> list[str]:
        if dest.const is not None:
            if dest.const in self.dests:
                return [f"return {dest.const}"]
            return [f"raise InvalidJump('{dest.const}')"]
        ref = self._ref(dest)
        return [f"if {ref} not in JD:", f"    raise InvalidJump(str({ref}))", f"return {ref}"]

    def _writeback(self) -> list[str]:
        d = self.consumed
        items = self.sym
        # Skip entries that would be written back to their own slot.
        keep = 0
        while keep < len(items) and keep < d and items[keep] is self.entries.get(d - keep):
            keep += 1
        items = items[keep:]
        d -= keep
        for v in items:
            v.uses += 1
        refs = ", ".join(self._ref(v) for v in items)
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

    def _render(self, tail: list[str]) -> str:
        # Decide which computed values are inlined (used once) or bound to locals.
        inline: dict[str, str] = {}
        used: set[str] = set()

        def resolve(text: str) -> str:
            parts = text.split("\x00")
            out = []
            for i, part in enumerate(parts):
                if i % 2 == 1:
                    sub = inline.get(part)
                    if sub is None:
                        used.add(part)
                        out.append(part)
                    else:
                        out.append(sub)
                else:
                    out.append(part)
            return "".join(out)

        body: list[str] = []
        for kind, item in self.stmts:
            if kind == "def":
                val: _Val = item
                if val.uses <= 1:
                    if val.uses == 1:
                        inline[val.text] = "(" + resolve(val.defn or "") + ")"
                    else:
                        inline[val.text] = "0"
                    if val.cond is not None:
                        val.cond = resolve(val.cond)
                else:
                    body.append(f"{val.text} = {resolve(val.defn or '')}")
            else:
                body.append(resolve(item))
        tail = [self._resolve_cond(t, resolve) for t in tail]
        head = []
        if self.gas:
            head += [f"g = f.gas - {self.gas}", "if g < 0:", "    raise OutOfGas()", "f.gas = g"]
        low = max(self.entries) if self.entries else 0
        high = G.STACK_LIMIT - self.max_rel
        if low or self.max_rel > 0:
            conds = []
            if low:
                conds.append(f"n < {low}")
            if self.max_rel > 0:
                conds.append(f"n > {high}")
            head += [
                "n = len(stack)",
                f"if {' or '.join(conds)}:",
                f"    _stack_error(n, {low}, {high})",
            ]
        for k in sorted(self.entries):
            if f"e{k}" in used:
                head.append(f"e{k} = stack[-{k}]")
        lines = head + body + tail
        return f"def b{self.start}(f, stack, mem):\n" + "".join(f"    {x}\n" for x in lines)


class CompiledCode:
    """Block functions indexed by program counter (None where no block starts)."""

    __slots__ = ("blocks",)

    def __init__(self, blocks: list[Block | None]) -> None:
        self.blocks = blocks


def _namespace(dests: frozenset[int]) -> dict[str, Any]:
    ns: dict[str, Any] = dict(arithmetic.HELPERS)
    ns.update(
        JD=dests,
        OutOfGas=OutOfGas,
        InvalidJump=InvalidJump,
        _stack_error=_stack_error,
    )
    return ns


def translate(code: bytes) -> tuple[str, dict[str, Any], list[int]]:
    """Python source of all blocks of ``code``, its namespace and the block starts."""
    dests = jumpdests(code)
    ns = _namespace(dests)
    sources: list[str] = []
    starts: list[int] = []
    pc = 0
    n = len(code)
    while True:
        builder = _BlockBuilder(code, dests, pc, ns)
        src, end = builder.build()
        sources.append(src)
        starts.append(pc)
        if end >= n:
            break
        pc = end
    if starts[-1] != n:
        sources.append(f"def b{n}(f, stack, mem):\n    return -1\n")
        starts.append(n)
    return "\n".join(sources), ns, starts


def compile_code(code: bytes) -> CompiledCode:
    source, ns, starts = translate(code)
    exec(compile(source, "<strikevm-block>", "exec"), ns)  # noqa: S102
    blocks: list[Block | None] = [None] * (len(code) + 1)
    for s in starts:
        blocks[s] = ns[f"b{s}"]
    return CompiledCode(blocks)


_CACHE: dict[bytes, CompiledCode] = {}
_CACHE_LIMIT = 4096


def compiled(code: bytes) -> CompiledCode:
    cc = _CACHE.get(code)
    if cc is None:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        cc = _CACHE[code] = compile_code(code)
    return cc


def run(f: Frame) -> None:
    """Execute ``f.code`` with compiled blocks; raise an ExceptionalHalt on failure."""
    code = f.code
    cc = _CACHE.get(code)
    if cc is None:
        cc = compiled(code)
    blocks = cc.blocks
    stack = f.stack
    mem = f.memory
    pc = 0
    while pc >= 0:
        pc = blocks[pc](f, stack, mem)
