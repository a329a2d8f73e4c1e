"""What a stage's code is: the static import closure of its `stages.<name>` module.

DVC reruns a stage when one of its `deps` changes, so every module a stage
imports (directly, through another module, or lazily inside a function) must be
covered by a dep in dvc.yaml, and every code dep listed there must be imported.
`tests/test_dvc_deps.py` checks both for each stage with :func:`import_closure`.

Imports are read with `ast`, never executed: ``import a.b`` and
``from a import b`` (also relative, also inside functions) count, as does every
package ``__init__.py`` on the way (importing ``mathforge.teacher.base`` runs
``mathforge/teacher/__init__.py``). Names built at run time
(``importlib.import_module(name)``) are not seen; the library has none.
"""

from __future__ import annotations

import ast
from pathlib import Path

# Shared plumbing: neither a dep of any stage nor followed into. It does not change what a
# stage computes (typed params, atomic writes, error reporting, the expectations runner,
# the query views, the CLI, the package's version string); listing it would rerun every
# stage on each refactor of it. A module joins this list only if that is true of it.
PLUMBING = frozenset(
    {
        "mathforge",  # src/mathforge/__init__.py: the docstring and __version__
        "mathforge.config",
        "mathforge.io",
        "mathforge.errors",
        "mathforge.expectations",
        "mathforge.views",
        "mathforge.cli",
        "mathforge.stage",  # drops with reasons, validation, common metrics, atomic dirs
        "mathforge.contracts",  # the Table/Column machinery (each table module is a real dep)
        "mathforge.contracts.rejects",  # the rejects table every stage writes through Stage
    }
)
PACKAGE = "mathforge"


def module_file(name: str, src: Path) -> Path | None:
    """The file that defines module `name` under `src` (a package: its __init__.py)."""
    base = src.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Dotted names of the modules (or module attributes) `tree` imports anywhere."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against this module's package
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # maybe submodules
    return names


def import_closure(module: str, src: Path, entry: Path | None = None) -> set[str]:
    """Modules of the `mathforge` package that running `module` imports, plumbing excluded.

    `entry` is the file of `module` when it lives outside `src` (a `stages/` script).
    Packages on the way count (their __init__ runs); plumbing is neither counted nor
    followed. Returns dotted module names (packages by their own name).
    """
    seen: set[str] = set()
    todo = [(module, entry)]
    while todo:
        name, path = todo.pop()
        path = path or module_file(name, src)
        if path is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for dotted in _imported_names(tree, name, path.name == "__init__.py"):
            parts = dotted.split(".")
            if parts[0] != PACKAGE:
                continue
            # `import a.b.c` runs a, a.b and a.b.c; `from a.b import c` may name an attribute.
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix in seen or prefix in PLUMBING or module_file(prefix, src) is None:
                    continue
                seen.add(prefix)
                todo.append((prefix, None))
    return seen


def closure_files(module: str, src: Path, entry: Path | None = None) -> set[Path]:
    """The files of :func:`import_closure`, relative to `src`'s parent (e.g. src/mathforge/x.py)."""
    root = src.parent
    files = {module_file(name, src) for name in import_closure(module, src, entry)}
    return {p.relative_to(root) for p in files if p is not None}
