"""Static vetting: may a program run in a worker's shared in-process *runner*?

``is_vetted(source)`` is True only for programs that import nothing outside ``ALLOWED_IMPORTS``,
name nothing starting with ``_``, call none of ``BANNED_NAMES``, touch none of numpy's file or
C-level helpers (``BANNED_ATTRIBUTES``), never assign or delete an attribute of an imported
name, and use neither ``global`` nor ``nonlocal`` nor any coroutine syntax (``async def``,
``await``, ``async for``/``with``, async comprehensions).  Everything else (and anything that
does not parse) runs in its own forked child.  The check errs on the side of "no": a false "no"
costs a fork, a false "yes" lets a program share a process with the programs after it.

This file is also sent into the sandbox ahead of ``worker.py`` (the worker vets every request
itself), so it imports only the standard library and has no ``from __future__`` line.
"""

import ast

# ruff: noqa: SIM905  (word lists read better as one string)

ALLOWED_IMPORTS = frozenset(
    "math cmath fractions decimal itertools functools collections statistics operator heapq "
    "bisect string random sympy numpy".split()
)
BANNED_NAMES = frozenset(
    "exec eval compile open input getattr setattr delattr globals locals vars breakpoint exit "
    "quit help memoryview dir type object super classmethod staticmethod property "
    "threading os sys subprocess ctypes".split()
)
# numpy / sympy entry points that read or write files, load code or reach C pointers.
BANNED_ATTRIBUTES = frozenset(
    "save savez savez_compressed savetxt load loadtxt genfromtxt fromfile tofile fromregex "
    "memmap DataSource ctypeslib ctypes lib f2py testing distutils dump dumps show_config "
    "lookfor info source setbufsize seterrcall set_string_function lambdify "
    "init_printing preview".split()
)
# Coroutines (async def, await, async for / with / comprehensions) take the fork path.
_ASYNC = (ast.AsyncFunctionDef, ast.Await, ast.AsyncFor, ast.AsyncWith)
MAX_SOURCE = 60_000  # bigger programs take the fork path (keeps runner messages small)


def _bad_path(dotted: str) -> bool:
    return any(p.startswith("_") or p in BANNED_ATTRIBUTES for p in dotted.split("."))


def _root(node: ast.AST) -> ast.AST:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node


def is_vetted(source: str) -> bool:
    """True when ``source`` may run in the shared runner (see the module docstring)."""
    if len(source) > MAX_SOURCE or "\0" in source:
        return False
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] not in ALLOWED_IMPORTS or _bad_path(alias.name):
                    return False
                imported.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level or module.split(".")[0] not in ALLOWED_IMPORTS or _bad_path(module):
                return False
            for alias in node.names:
                if alias.name == "*" or _bad_path(alias.name):
                    return False
                imported.add(alias.asname or alias.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal, *_ASYNC)) or (
            isinstance(node, ast.comprehension) and node.is_async
        ):
            return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id.startswith("_") or node.id in BANNED_NAMES:
                return False
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_") or node.attr in BANNED_ATTRIBUTES:
                return False
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                root = _root(node)
                if not isinstance(root, (ast.Name, ast.Call)):
                    return False
                if isinstance(root, ast.Name) and root.id in imported:
                    return False
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            if node.name.startswith("_"):
                return False
        elif isinstance(node, ast.arg):
            if node.arg.startswith("_"):
                return False
        elif isinstance(node, ast.keyword) and node.arg is not None and node.arg.startswith("_"):
            return False
    return True
