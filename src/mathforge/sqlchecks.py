"""A table contract's column rules, checked by DuckDB on every row of a Parquet file.

Great Expectations (`Stage.validate`) runs on a pandas copy of a table: right for the tables of
thousands of rows most stages write, too slow and too big for the 10M paths of the scoring
stages. There the stage runs GX on a bounded sample and this module checks *every* row against
the same contract (`mathforge.contracts.Table`) in one aggregate query per file: the exact
columns and dtypes, not null, unique, non-empty, allowed values, ranges, regexes and JSON.

    failures = contract_violations(con, SCORES, "data/filter/scores.parquet")
    failures += relation_violations(con, {"kept rows = filtered rows": "select ..."})
    if failures: raise ExpectationFailed(report("scores", failures, evaluated))
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from mathforge.contracts import Column, Table

# DuckDB's type names for the contracts' polars dtypes.
DUCKDB_TYPES: dict[Any, str] = {
    pl.String: "VARCHAR",
    pl.Int64: "BIGINT",
    pl.Float64: "DOUBLE",
    pl.Boolean: "BOOLEAN",
    pl.List(pl.String): "VARCHAR[]",
}


def quote(value: Any) -> str:
    """A SQL literal (strings quoted, quotes doubled)."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def source(path: str | Path) -> str:
    """`read_parquet('<path>')` for a file or a glob."""
    return f"read_parquet({quote(str(path))})"


def one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple:
    """The one row `sql` returns. (DuckDB 2 keeps a result open after `fetchone()` and refuses
    the next statement until it is exhausted: fetch it all.)"""
    (row,) = con.execute(sql).fetchall()
    return row


def _column_checks(c: Column) -> dict[str, str]:
    """What each rule of `c` says, and the SQL count of the rows that break it."""
    col = f'"{c.name}"'
    checks = {}
    if not c.nullable:
        checks[f"{c.name} not null"] = f"count_if({col} IS NULL)"
    if c.unique:
        checks[f"{c.name} unique"] = f"count({col}) - count(DISTINCT {col})"
    if c.non_empty:
        checks[f"{c.name} non-empty"] = f"count_if(length({col}) = 0)"
    if c.values is not None:
        allowed = ", ".join(quote(v) for v in c.values)
        checks[f"{c.name} in {{{', '.join(map(str, c.values))}}}"] = (
            f"count_if({col} NOT IN ({allowed}))"
        )
    if c.between is not None:
        lo, hi = c.between
        if lo is not None:
            checks[f"{c.name} >= {lo}"] = f"count_if({col} < {lo})"
        if hi is not None:
            checks[f"{c.name} <= {hi}"] = f"count_if({col} > {hi})"
    if c.regex is not None:
        checks[f"{c.name} matches {c.regex}"] = (
            f"count_if(NOT regexp_full_match({col}, {quote(c.regex)}))"
        )
    if c.json:
        checks[f"{c.name} is JSON"] = f"count_if(NOT json_valid({col}))"
    return checks


def contract_violations(
    con: duckdb.DuckDBPyConnection, table: Table, path: str | Path, row_count: int | None = None
) -> tuple[list[str], int]:
    """Check every row of `path` against `table`'s column rules (and its row count: the
    contract's minimum, and `row_count` when given). Returns the broken rules, in words with
    their counts, and how many rules were evaluated."""
    described = con.execute(f"DESCRIBE SELECT * FROM {source(path)}").fetchall()
    found = {name: dtype for name, dtype, *_ in described}
    failures = []
    if list(found) != table.names:
        failures.append(f"columns are {list(found)}, expected {table.names}")
        return failures, 1
    wrong = [
        f"{c.name} is {found[c.name]}, expected {DUCKDB_TYPES[c.dtype]}"
        for c in table.columns
        if found[c.name] != DUCKDB_TYPES[c.dtype]
    ]
    if wrong:
        return [f"column types: {'; '.join(wrong)}"], 2
    checks = {rule: sql for c in table.columns for rule, sql in _column_checks(c).items()}
    checks["rows"] = "count(*)"
    names = list(checks)
    *broken, rows = one(
        con,
        "SELECT "
        + ", ".join(f"{sql}::BIGINT" for sql in checks.values())
        + f" FROM {source(path)}",
    )
    failures += [f"{rule}: {n} rows break it" for rule, n in zip(names, broken, strict=False) if n]
    if rows < table.min_rows:
        failures.append(f"at least {table.min_rows} row(s): {rows}")
    if row_count is not None and rows != row_count:
        failures.append(f"{row_count} rows expected: {rows}")
    return failures, 2 + len(names) + (row_count is not None)


def relation_violations(
    con: duckdb.DuckDBPyConnection, checks: Mapping[str, str]
) -> tuple[list[str], int]:
    """Run each `checks` query (it returns the count of rows that break the rule, 0 = holds)
    and return the broken rules with their counts, and how many were evaluated."""
    failures = []
    for rule, sql in checks.items():
        (broken,) = one(con, sql)
        if broken:
            failures.append(f"{rule}: {broken} rows break it")
    return failures, len(checks)


def report(name: str, failures: list[str], evaluated: int) -> str:
    """Failed rules as one readable message (the shape of mathforge.expectations' reports)."""
    lines = [f"{name}: {len(failures)} of {evaluated} checks failed (DuckDB, every row):"]
    return "\n".join(lines + [f"  - {failure}" for failure in failures])
