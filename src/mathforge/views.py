"""Named DuckDB views over every stage's Parquet outputs (`mathforge query`).

One view per table contract (`mathforge.contracts`) with a glob relative to the repository
root. A view whose files do not exist yet is reported with the DVC stage that writes them
(the contract's `stage`).
"""

from __future__ import annotations

import glob
import importlib
import pkgutil
from pathlib import Path

import duckdb

from mathforge import contracts
from mathforge.contracts import Table


def all_tables() -> tuple[Table, ...]:
    """Every table declared in a module of `mathforge.contracts`, in module then file order:
    declaring a contract is all it takes to get a view."""
    found: dict[str, Table] = {}
    for info in sorted(
        pkgutil.iter_modules(contracts.__path__), key=lambda m: ORDER.get(m.name, 99)
    ):
        module = importlib.import_module(f"{contracts.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Table):
                found.setdefault(value.name, value)
    return tuple(found.values())


# Contract modules in pipeline order (the views' and ARCHITECTURE's order); others after.
ORDER = {
    "seeds": 0, "questions": 1, "splits": 2, "corpus": 3, "models": 4, "paths": 5, "scores": 6,
    "filtering": 7, "diversity": 8, "pairs": 9, "policies": 10, "evaluation": 11,
    "rejects": 12,
}  # fmt: skip
TABLES = all_tables()
VIEWED: dict[str, Table] = {table.name: table for table in TABLES if table.glob}
VIEWS: dict[str, str] = {name: table.glob for name, table in VIEWED.items()}  # type: ignore[misc]


class MissingViewError(LookupError):
    """A query names a view whose stage has not produced its files yet."""


def connect(
    root: str | Path = ".", referenced: set[str] | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with every available view registered.

    `referenced`: view names a query uses; any of them without files raises
    MissingViewError naming the stage to run.
    """
    root = Path(root)
    con = duckdb.connect()
    missing = []
    for name, pattern in VIEWS.items():
        files = sorted(glob.glob(str(root / pattern)))
        if files:
            listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            con.execute(
                f"CREATE VIEW {name} AS SELECT * FROM read_parquet([{listing}], union_by_name=true)"
            )
        elif referenced and name in referenced:
            missing.append(name)
    if missing:
        hints = []
        for name in missing:
            stage = VIEWED[name].stage
            run = f"run `dvc repro {stage}`" if stage else "run `dvc repro`"
            hints.append(f"view '{name}' has no data yet ({VIEWS[name]} is missing): {run}")
        raise MissingViewError("; ".join(hints))
    return con


def contracts_markdown() -> str:
    """Every table contract as Markdown: the schema section of ARCHITECTURE.md."""
    return "\n".join(table.markdown() for table in TABLES)


def referenced_views(sql: str) -> set[str]:
    """Known view names a SQL statement refers to."""
    try:
        names = duckdb.get_table_names(sql)
    except duckdb.Error:
        return set()
    return {n for n in names if n in VIEWS}
