"""Program normalization: one string per *reasoning*, whatever the names, comments and prints.

``normalize_program(code)`` parses ``code`` with ``ast`` (it never runs it) and rewrites the
tree in this order, then prints it with ``ast.unparse``:

1. **Noise.** Comments vanish with the parse; docstrings and other bare constants, ``assert``
   statements and every ``print(...)`` statement but the last one in source order are dropped
   (the last print shows the answer; the others are debug output). In the kept print, string
   labels (``print("Answer:", x)`` -> ``print(x)``) and ``sep``/``end``/``flush``/``file`` are
   dropped; f-strings are kept whole (their format spec is rounding, i.e. reasoning).
2. **Imports.** ``import m``, ``import m as a``, ``from m import f`` and ``from m import f as g``
   all become the qualified name: ``comb(...)``, ``math.comb(...)`` and ``m.comb(...)`` after
   ``import math as m`` print as ``math.comb(...)``; the import statements go. A name that is
   also assigned, and ``from m import *``, are left as written.
3. **``x += e``** is ``x = x + e`` (every augmented operator).
4. **Key-information form.** In each block, an assignment ``name = expr`` is not emitted but
   remembered, and ``name`` is replaced by ``expr`` where it is read later: the answer becomes
   one expression over the constants that determine it, and assignments nothing reads vanish.
   Soundness rules (so that no two *different* computations merge): a remembered value is
   written out as an assignment just before a statement that writes the name, writes a name
   the value reads, or mutates one of them (``xs.append(...)`` writes ``xs``); before a loop,
   ``if``, ``with`` or ``try`` that writes it; and at the end of a nested block (a loop body's
   values are live across iterations; a function's locals die with it). Values that read
   themselves (``s = s + i``), assignments whose value mutates a variable
   (``y = xs.pop()``), names read inside a function or lambda they are not local to,
   function arguments, comprehension variables, ``global``/``nonlocal`` names and values
   over ``_MAX_INLINE_NODES`` nodes are never inlined. Calls are taken to be pure except
   method calls on the program's own variables. Then, repeatedly, dead code is dropped: an
   assignment to names nothing reads, a function or class nothing calls, and a loop, ``if``
   or ``with`` without the answer's print whose writes nothing outside it reads (and without
   a bare call, ``return``, ``global`` or ``nonlocal``).
5. **Names.** Every name the program binds is renamed in order of first binding (a
   depth-first walk in source order): variables ``v0, v1, ...``, functions ``f0, ...``,
   classes ``c0, ...``, arguments ``a0, ...`` (keyword arguments naming them too). Builtins
   and imported names keep theirs. Scopes are not told apart: one name is one canonical name
   everywhere (a consistent renaming either way).
6. **Commutative order.** A chain of ``+`` (or of ``*``) is flattened and its operands sorted
   by their printed form, but only when every operand is *safe*: an int/float/complex
   constant; a name every binding of which gives a number (a numeric constant, arithmetic
   over safe operands, a safe call, a ``for`` over ``range``, ``divmod`` unpacked), computed
   to a fixed point; ``math.*`` constants; ``-x``/``+x`` and arithmetic (``+ - * / // % **``)
   over safe operands; and calls of ``abs round int float pow min max math.*`` over safe
   arguments, ``Fraction``/``Decimal`` over constants or safe arguments, ``sum``/``len`` of an
   argument without impure calls. Strings, lists, subscripts, attributes, function arguments
   and any other call are *unsafe* (``+`` may be concatenation, the call may have effects),
   so ``a + b`` on them keeps its order. Differences are not rearranged (``a - b + c`` keeps
   its shape) and regrouping floats (``(a + b) + c`` vs ``a + (b + c)``) is treated as the
   same reasoning although the last bit of the result may differ.

What it keeps apart (tests/test_diversity.py has a pair of each): a loop and a closed form,
``sympy.solve`` and arithmetic, ``/`` and ``//``, ``Decimal`` rounding and ``round``, different
constants, different operators.

**Fallback.** Code that does not parse (or nests deeper than the parser or ``ast.unparse``
allow) is normalized as text: comments (``#`` to the end of the line with no quote after
it) dropped, each line stripped and its whitespace runs collapsed to one space, blank lines
dropped, and ``# unparsed`` put first. A parsed program prints no comments, so a fallback
string never equals a parsed one; two unparseable programs equal up to comments and spacing
normalize the same.
"""

from __future__ import annotations

import ast
import re
from collections import Counter

__all__ = ["FALLBACK_PREFIX", "normalize_program", "text_normalize"]

FALLBACK_PREFIX = "# unparsed\n"
_MAX_INLINE_NODES = 400  # an inlined value larger than this is written out as an assignment
_MAX_DCE_ROUNDS = 8

_COMMENT = re.compile(r"#[^'\"\n]*$")
_SPACE = re.compile(r"\s+")

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_LOOPISH = (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith)
_TERMINATORS = (ast.Return, ast.Raise)
_PRINT_KEYWORDS = {"sep", "end", "flush", "file"}
_ARITH = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_NUMERIC_CALLS = {"abs", "round", "int", "float", "pow", "min", "max"}
_EXACT_CALLS = {"fractions.Fraction", "decimal.Decimal", "Fraction", "Decimal"}
_PURE_CALLS = _NUMERIC_CALLS | _EXACT_CALLS | {"range", "sum", "len"}


def text_normalize(code: str) -> str:
    """The fallback for code that does not parse (see the module docstring)."""
    lines = []
    for line in code.splitlines():
        line = _SPACE.sub(" ", _COMMENT.sub("", line)).strip()
        if line:
            lines.append(line)
    return FALLBACK_PREFIX + "\n".join(lines)


def normalize_program(code: str) -> str:
    """The normalized form of one program (module docstring); never executes ``code``."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return text_normalize(code)
    try:
        return _Normalizer(tree).run()
    except RecursionError:
        return text_normalize(code)


# ----------------------------------------------------------------------------- tree helpers


_SKIP_FIELDS = {"ctx", "op", "ops", "type_comment", "kind"}
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(kind: type) -> tuple[str, ...]:
    fields = _CHILD_FIELDS.get(kind)
    if fields is None:
        fields = _CHILD_FIELDS[kind] = tuple(f for f in kind._fields if f not in _SKIP_FIELDS)
    return fields


def _walk(node: ast.AST) -> list[ast.AST]:
    """Every node below ``node`` (itself included) but contexts and operators, in no order.

    ``ast.walk`` yields those too, through generators; this list is ~3x faster and the
    normalizer walks a lot."""
    out = [node]
    i = 0
    fields = _CHILD_FIELDS
    while i < len(out):
        n = out[i]
        i += 1
        kind = type(n)
        names = fields.get(kind) or _fields(kind)
        for f in names:
            v = getattr(n, f, None)
            if type(v) is list:
                out.extend(x for x in v if isinstance(x, ast.AST))
            elif isinstance(v, ast.AST):
                out.append(v)
    return out


def _dfs(node: ast.AST) -> list[ast.AST]:
    """Every node below ``node`` (itself included), depth first in source (field) order."""
    out = []
    stack = [node]
    fields = _CHILD_FIELDS
    while stack:
        n = stack.pop()
        out.append(n)
        kind = type(n)
        children = []
        for f in fields.get(kind) or _fields(kind):
            v = getattr(n, f, None)
            if type(v) is list:
                children.extend(x for x in v if isinstance(x, ast.AST))
            elif isinstance(v, ast.AST):
                children.append(v)
        children.reverse()
        stack.extend(children)
    return out


def _loads(node: ast.AST) -> set[str]:
    return {n.id for n in _walk(node) if type(n) is ast.Name and type(n.ctx) is ast.Load}


def _call_name(call: ast.Call) -> str | None:
    """``f`` for ``f(...)``, ``math.comb`` for ``math.comb(...)``, else None."""
    func, parts = call.func, []
    while type(func) is ast.Attribute:
        parts.append(func.attr)
        func = func.value
    if type(func) is not ast.Name:
        return None
    parts.append(func.id)
    return ".".join(reversed(parts))


def _root(node: ast.AST) -> str | None:
    while type(node) in (ast.Attribute, ast.Subscript, ast.Starred):
        node = node.value
    return node.id if type(node) is ast.Name else None


def _is_print(stmt: ast.AST) -> bool:
    return (
        type(stmt) is ast.Expr
        and type(stmt.value) is ast.Call
        and type(stmt.value.func) is ast.Name
        and stmt.value.func.id == "print"
    )


def _assign(name: str, value: ast.expr) -> ast.Assign:
    return ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=value, lineno=0)


def _blocks(stmt: ast.stmt):
    """The statement lists directly inside ``stmt`` (bodies, else, finally, handlers, cases)."""
    for field in ("body", "orelse", "finalbody"):
        block = getattr(stmt, field, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            yield stmt, field
    for holder in getattr(stmt, "handlers", ()) or getattr(stmt, "cases", ()):
        yield holder, "body"


class _Normalizer:
    def __init__(self, tree: ast.Module):
        self.tree = tree
        self.bound: set[str] = set()  # every name the program binds (not imports)

    # ------------------------------------------------------------------------------ driver
    def run(self) -> str:
        self._scan()
        has_print = self._drop_noise()
        self.tree.body = self._inline_block(self.tree.body, {}, scope="module", answer=has_print)
        if has_print and self.tree.body != [self.answer]:
            self._dead_code()
        self._rename()
        self._reorder()
        return ast.unparse(self.tree)

    # ------------------------------------------------------------------ 1-2: scan, imports
    def _scan(self) -> None:
        imports: dict[str, str] = {}
        never: set[str] = set()
        self.nodes = _dfs(self.tree)  # source order; the tree is unchanged until step 4
        for node in self.nodes:
            kind = type(node)
            if kind is ast.Name:
                if type(node.ctx) is not ast.Load:
                    self.bound.add(node.id)
                    if type(node.ctx) is ast.Del:
                        never.add(node.id)
            elif kind in _DEFS:
                self.bound.add(node.name)
            elif kind is ast.arg:
                self.bound.add(node.arg)
                never.add(node.arg)
            elif kind is ast.ExceptHandler and node.name:
                self.bound.add(node.name)
                never.add(node.name)
            elif kind in (ast.Global, ast.Nonlocal):
                never.update(node.names)
            elif kind is ast.comprehension:
                never.update(n.id for n in _walk(node.target) if type(n) is ast.Name)
            elif kind is ast.NamedExpr:
                never.add(node.target.id)
            if kind is ast.Import:
                for a in node.names:
                    if a.asname:
                        imports[a.asname] = a.name
                    else:
                        top = a.name.split(".")[0]
                        imports[top] = top
            elif kind is ast.ImportFrom:
                module = "." * node.level + (node.module or "")
                for a in node.names:
                    if a.name != "*":
                        imports[a.asname or a.name] = f"{module}.{a.name}" if module else a.name
        # names a function or lambda reads but does not bind itself run later: never inline
        for node in self.nodes:
            if type(node) in _FUNCS:
                local = {
                    n.id for n in _walk(node) if type(n) is ast.Name and type(n.ctx) is not ast.Load
                }
                local.update(a.arg for a in _walk(node.args) if type(a) is ast.arg)
                body = node.body if isinstance(node.body, list) else [node.body]
                for stmt in body:
                    never.update(_loads(stmt) - local)
        self.never = never
        self.imports = {name: full for name, full in imports.items() if name not in self.bound}

    def _drop_noise(self) -> bool:
        """Steps 1-3 in one pass; returns whether the program prints at all."""
        prints = [n for n in self.nodes if _is_print(n)]
        answer = prints[-1] if prints else None
        if answer is not None:
            call = answer.value
            call.keywords = [k for k in call.keywords if k.arg not in _PRINT_KEYWORDS]
            shown = [
                a for a in call.args if not (type(a) is ast.Constant and isinstance(a.value, str))
            ]
            if shown:
                call.args = shown
        self.answer = answer
        imports = self.imports
        for node in self.nodes:
            kind = type(node)
            if kind is ast.Name:
                if imports and node.id in imports:
                    node.id = imports[node.id]
            elif isinstance(node, ast.stmt):
                for holder, field in _blocks(node):
                    block = getattr(holder, field)
                    setattr(holder, field, self._clean_block(block, answer) or [ast.Pass()])
        if isinstance(self.tree, ast.Module):
            self.tree.body = self._clean_block(self.tree.body, answer)
        return answer is not None

    def _clean_block(self, block: list[ast.stmt], answer: ast.stmt | None) -> list[ast.stmt]:
        out = []
        for stmt in block:
            kind = type(stmt)
            if kind is ast.Expr:
                if type(stmt.value) is ast.Constant or (_is_print(stmt) and stmt is not answer):
                    continue
            elif kind is ast.Assert:
                continue
            elif kind is ast.Import or kind is ast.ImportFrom:
                if all(a.name != "*" and (a.asname or a.name) in self.imports for a in stmt.names):
                    continue
                if kind is ast.Import and all(
                    a.asname is None and a.name.split(".")[0] in self.imports for a in stmt.names
                ):
                    continue
            elif kind is ast.AugAssign:
                load = _as_load(stmt.target)
                stmt = ast.Assign(
                    targets=[stmt.target], value=ast.BinOp(load, stmt.op, stmt.value), lineno=0
                )
            elif kind is ast.AnnAssign:
                if stmt.value is None:
                    continue
                stmt = ast.Assign(targets=[stmt.target], value=stmt.value, lineno=0)
            out.append(stmt)
        return out

    # --------------------------------------------------------------- 4: key-information form
    def _writes(self, node: ast.AST) -> set[str]:
        """Names ``node`` binds or mutates (the root of a stored or method-called target)."""
        out = set()
        for n in _walk(node):
            kind = type(n)
            if kind is ast.Name:
                if type(n.ctx) is not ast.Load:
                    out.add(n.id)
            elif kind in _DEFS:
                out.add(n.name)
            elif kind in (ast.Attribute, ast.Subscript):
                if type(n.ctx) is not ast.Load:
                    root = _root(n)
                    if root:
                        out.add(root)
            elif kind is ast.Call and type(n.func) is ast.Attribute:
                root = _root(n.func.value)
                if root in self.bound:
                    out.add(root)
        return out

    def _inline_block(
        self, block: list[ast.stmt], env: dict, scope: str, answer: bool = True
    ) -> list[ast.stmt]:
        """Step 4 on one block; ``env`` maps a name to ``(value, names the value reads)``.

        ``scope``: "module" (the program; with a print, what is left in ``env`` at the end is
        dead), "function" (a function body: locals die), "nested" (a loop, ``if``, ``with`` or
        ``try`` block: its own values are written out at its end) or "nested-in-function"
        (the same, but a ``return`` ends the function, so its values die there).
        """
        inherited = set(env)
        out: list[ast.stmt] = []

        def flush(names) -> None:
            for name in [x for x in env if x in names or env[x][1] & names]:
                out.append(_assign(name, env.pop(name)[0]))

        def flush_own() -> None:
            for name in [x for x in env if x not in inherited]:
                out.append(_assign(name, env.pop(name)[0]))

        in_function = scope in ("function", "nested-in-function")
        inner_scope = "nested-in-function" if in_function else "nested"
        for stmt in block:
            kind = type(stmt)
            if (
                kind is ast.Assign
                and len(stmt.targets) == 1
                and type(stmt.targets[0]) is ast.Name
                and stmt.targets[0].id not in self.never
                and not self._writes(stmt.value)
            ):
                name = stmt.targets[0].id
                value = _subst(stmt.value, env) if env else stmt.value
                reads = _loads(value)
                # values that read the old ``name`` are written out before it changes
                for x in [x for x in env if name in env[x][1]]:
                    out.append(_assign(x, env.pop(x)[0]))
                env.pop(name, None)
                if name in reads or _size(value) > _MAX_INLINE_NODES:
                    out.append(_assign(name, value))
                else:
                    env[name] = (value, reads)
                continue
            if kind in (ast.Break, ast.Continue, ast.Raise):
                if kind is ast.Raise and env:
                    _subst_header(stmt, env)
                flush_own()
                out.append(stmt)
                continue
            # the answer's print is the last thing that counts: its method calls mutate nothing
            writes = set() if stmt is self.answer else self._writes(stmt)
            if writes:
                flush(writes)
            if kind in (ast.FunctionDef, ast.AsyncFunctionDef):
                stmt.body = self._inline_block(stmt.body, {}, scope="function") or [ast.Pass()]
                if env:
                    stmt.decorator_list = [_subst(d, env) for d in stmt.decorator_list]
                    stmt.args = _subst(stmt.args, env)
                out.append(stmt)
                continue
            if kind is ast.ClassDef:
                out.append(stmt)
                continue
            if env:
                _subst_header(stmt, env)
            for holder, field in _blocks(stmt):
                if holder is not stmt and env:
                    _subst_header(holder, env)
                inner = self._inline_block(getattr(holder, field), dict(env), scope=inner_scope)
                setattr(holder, field, inner or [ast.Pass()])
            out.append(stmt)
            if kind is ast.Return and in_function:
                for x in set(env) - inherited:
                    env.pop(x)
        if scope == "function" or (scope == "module" and answer):
            return out
        flush_own()
        return out

    def _dead_code(self) -> None:
        answer = self.answer
        for _ in range(_MAX_DCE_ROUNDS):
            loads = Counter(
                n.id for n in _walk(self.tree) if type(n) is ast.Name and type(n.ctx) is ast.Load
            )
            changed = False
            for node in _dfs(self.tree):
                for holder, field in _blocks(node) if isinstance(node, ast.stmt) else ():
                    new = [s for s in getattr(holder, field) if not self._dead(s, loads, answer)]
                    if len(new) != len(getattr(holder, field)):
                        changed = True
                        setattr(holder, field, new or [ast.Pass()])
            body = [s for s in self.tree.body if not self._dead(s, loads, answer)]
            if len(body) != len(self.tree.body):
                changed = True
                self.tree.body = body
            if not changed:
                return

    def _dead(self, stmt: ast.stmt, loads: Counter, answer: ast.stmt) -> bool:
        kind = type(stmt)
        if kind is ast.Assign:
            names: list[str] = []
            for target in stmt.targets:
                if not _target_names(target, names):
                    return False
            return not self._writes(stmt.value) and not any(loads[n] for n in names)
        if kind in _DEFS:
            return not loads[stmt.name]
        if kind is ast.Pass:
            return True
        if kind not in _LOOPISH and not (kind is ast.Expr and type(stmt.value) is ast.Call):
            return False
        inside = Counter()
        for n in _walk(stmt):
            nk = type(n)
            if n is answer or nk in (ast.Return, ast.Global, ast.Nonlocal, ast.Yield):
                return False
            if (
                nk is ast.Call
                and type(n.func) is not ast.Attribute
                and _call_name(n) not in _PURE_CALLS
            ):
                return False
            if nk is ast.Name and type(n.ctx) is ast.Load:
                inside[n.id] += 1
        return not any(loads[w] - inside[w] > 0 for w in self._writes(stmt))

    # --------------------------------------------------------------------------- 5: names
    def _rename(self) -> None:
        mapping: dict[str, str] = {}
        counters = {"v": 0, "f": 0, "c": 0, "a": 0}
        args = set()

        def bind(name: str, prefix: str) -> None:
            if name not in mapping:
                mapping[name] = f"{prefix}{counters[prefix]}"
                counters[prefix] += 1

        nodes = _dfs(self.tree)
        for node in nodes:
            kind = type(node)
            if kind is ast.Name and type(node.ctx) is not ast.Load:
                bind(node.id, "v")
            elif kind in (ast.FunctionDef, ast.AsyncFunctionDef):
                bind(node.name, "f")
            elif kind is ast.ClassDef:
                bind(node.name, "c")
            elif kind is ast.arg:
                bind(node.arg, "a")
                args.add(node.arg)
            elif kind is ast.ExceptHandler and node.name:
                bind(node.name, "v")
        if not mapping:
            return
        seen = set()
        for node in nodes:
            if id(node) in seen:
                continue
            seen.add(id(node))
            kind = type(node)
            if kind is ast.Name:
                node.id = mapping.get(node.id, node.id)
            elif kind in _DEFS:
                node.name = mapping[node.name]
            elif kind is ast.arg or kind is ast.keyword and node.arg in args:
                node.arg = mapping[node.arg]
            elif kind is ast.ExceptHandler and node.name:
                node.name = mapping[node.name]
            elif kind in (ast.Global, ast.Nonlocal):
                node.names = [mapping.get(n, n) for n in node.names]

    # ------------------------------------------------------------------ 6: commutative order
    def _reorder(self) -> None:
        """Step 6, children before parents; each chain is rebuilt in its own root node."""
        safe = None
        for node in reversed(_dfs(self.tree)):
            if type(node) is not ast.BinOp:
                continue
            op = type(node.op)
            if op is not ast.Add and op is not ast.Mult:
                continue
            operands: list[ast.expr] = []
            stack = [node.right, node.left]
            while stack:
                n = stack.pop()
                if type(n) is ast.BinOp and type(n.op) is op:
                    stack.append(n.right)
                    stack.append(n.left)
                else:
                    operands.append(n)
            if safe is None:
                safe = self._safe_names()
            if not all(_numeric(o, safe) for o in operands):
                continue
            operands.sort(key=_sort_key)
            left = operands[0]
            for operand in operands[1:-1]:
                left = ast.BinOp(left, op(), operand)
            node.left, node.right = left, operands[-1]

    def _safe_names(self) -> set[str]:
        """Bound names every binding of which is a number (a fixed point from all of them)."""
        bindings: list[tuple[str, ast.expr | None]] = []
        for node in _walk(self.tree):
            kind = type(node)
            if kind is ast.Assign:
                for target in node.targets:
                    bindings.extend(_target_values(target, node.value))
            elif kind in (ast.For, ast.AsyncFor, ast.comprehension):
                it = node.iter
                ranged = type(it) is ast.Call and _call_name(it) == "range"
                for n in _walk(node.target):
                    if type(n) is ast.Name:
                        bindings.append((n.id, ast.Constant(0) if ranged else None))
            elif kind is ast.NamedExpr:
                bindings.append((node.target.id, node.value))
            elif kind is ast.arg:
                bindings.append((node.arg, None))
            elif kind is ast.ExceptHandler and node.name:
                bindings.append((node.name, None))
            elif kind in (ast.With, ast.AsyncWith):
                for item in node.items:
                    if item.optional_vars is not None:
                        names: list[str] = []
                        _target_names(item.optional_vars, names)
                        bindings.extend((n, None) for n in names)
            elif kind is ast.Name and type(node.ctx) is ast.Del:
                bindings.append((node.id, None))
        safe = {name for name, _ in bindings}
        changed = True
        while changed:
            changed = False
            for name, value in bindings:
                if name in safe and (value is None or not _numeric(value, safe)):
                    safe.discard(name)
                    changed = True
        return safe


def _target_names(target: ast.expr, names: list[str]) -> bool:
    """Append the names ``target`` binds; False if it stores into anything but names."""
    if type(target) is ast.Name:
        names.append(target.id)
        return True
    if type(target) in (ast.Tuple, ast.List):
        return all(_target_names(t, names) for t in target.elts)
    if type(target) is ast.Starred:
        return _target_names(target.value, names)
    return False


def _target_values(target: ast.expr, value: ast.expr):
    if type(target) is ast.Name:
        yield target.id, value
    elif type(target) in (ast.Tuple, ast.List):
        names = target.elts
        if type(value) in (ast.Tuple, ast.List) and len(value.elts) == len(names):
            for t, v in zip(names, value.elts, strict=True):
                yield from _target_values(t, v)
        elif (
            type(value) is ast.Call
            and _call_name(value) == "divmod"
            and len(names) == 2
            and len(value.args) == 2
        ):
            for t in names:
                yield from _target_values(
                    t, ast.BinOp(value.args[0], ast.FloorDiv(), value.args[1])
                )
        else:
            for t in names:
                for n in _walk(t):
                    if type(n) is ast.Name:
                        yield n.id, None
    elif type(target) is ast.Starred:
        yield from _target_values(target.value, ast.List(elts=[]))


def _numeric(node: ast.expr, safe: set[str]) -> bool:
    """Is ``node`` a number, computed without side effects (module docstring, step 6)?"""
    kind = type(node)
    if kind is ast.Constant:
        return type(node.value) in (int, float, complex, bool)
    if kind is ast.Name:
        return node.id in safe or node.id.startswith("math.")
    if kind is ast.Attribute:
        return type(node.value) is ast.Name and node.value.id == "math"
    if kind is ast.UnaryOp:
        return type(node.op) in (ast.USub, ast.UAdd) and _numeric(node.operand, safe)
    if kind is ast.BinOp:
        return type(node.op) in _ARITH and _numeric(node.left, safe) and _numeric(node.right, safe)
    if kind is ast.Call:
        name = _call_name(node)
        if name is None or node.keywords and name not in ("round",):
            return False
        if name in _NUMERIC_CALLS or name.startswith("math."):
            return all(_numeric(a, safe) for a in node.args)
        if name in _EXACT_CALLS:
            return all(type(a) is ast.Constant or _numeric(a, safe) for a in node.args)
        if name in ("sum", "len") and len(node.args) == 1:
            return _pure(node.args[0])
    return False


def _pure(node: ast.expr) -> bool:
    for n in _walk(node):
        kind = type(n)
        if kind is ast.Call:
            name = _call_name(n)
            if name is None or not (name in _PURE_CALLS or name.startswith("math.")):
                return False
        elif kind in (ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom, ast.Lambda):
            return False
    return True


def _sort_key(node: ast.expr) -> str:
    kind = type(node)
    if kind is ast.Name:
        return node.id
    if kind is ast.Constant:
        return repr(node.value)
    return ast.unparse(node)


def _as_load(target: ast.expr) -> ast.expr:
    if type(target) is ast.Name:
        return ast.Name(id=target.id, ctx=ast.Load())
    if type(target) is ast.Attribute:
        return ast.Attribute(value=target.value, attr=target.attr, ctx=ast.Load())
    if type(target) is ast.Subscript:
        return ast.Subscript(value=target.value, slice=target.slice, ctx=ast.Load())
    return target


def _size(node: ast.AST) -> int:
    return sum(1 for _ in _walk(node))


def _subst(node: ast.AST, env: dict) -> ast.AST:
    """``node`` with every read of a name in ``env`` replaced by its remembered value."""
    if type(node) is ast.Name:
        if type(node.ctx) is ast.Load and node.id in env:
            return env[node.id][0]
        return node
    for field, value in ast.iter_fields(node):
        if type(value) is list:
            for i, item in enumerate(value):
                if isinstance(item, ast.AST) and not isinstance(item, ast.stmt):
                    value[i] = _subst(item, env)
        elif isinstance(value, ast.AST):
            setattr(node, field, _subst(value, env))
    return node


def _subst_header(stmt: ast.AST, env: dict) -> None:
    """Substitute into ``stmt``'s own expressions, not into its nested blocks."""
    for field, value in ast.iter_fields(stmt):
        if field in ("body", "orelse", "finalbody", "handlers", "cases"):
            continue
        if type(value) is list:
            for i, item in enumerate(value):
                if isinstance(item, ast.AST):
                    value[i] = _subst(item, env)
        elif isinstance(value, ast.AST):
            setattr(stmt, field, _subst(value, env))
