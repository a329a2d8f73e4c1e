"""Table contracts: every Parquet table the pipeline writes, declared once.

A :class:`Table` names its columns (dtype, one line of meaning, per-column rules), where its
files live (the DuckDB view's glob) and which stage writes it. Everything else is derived:

- ``table.schema`` / ``table.frame(rows)``: the polars schema a stage builds its output with;
- ``table.expectations(gxe, ...)``: the Great Expectations suite run on the output
  (``mathforge.stage.Stage.validate``);
- ``table.check_input(df, path)``: the check of a stage's *input* (columns and dtypes);
- ``mathforge.views``: one DuckDB view per table with a glob;
- ``table.markdown()``: the schema tables in ARCHITECTURE.md (tested equal).

The tables themselves live in one module per producing stage (``contracts/seeds.py``,
``questions.py``, ``splits.py``, ``paths.py``, ``models.py``, ``rejects.py``), so a stage's
DVC dependencies name only the contracts it reads and writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from mathforge.errors import UserError


@dataclass(frozen=True)
class Column:
    """One column: its dtype, what it means, and the rules every row must keep."""

    name: str
    dtype: pl.DataType
    doc: str
    nullable: bool = True
    unique: bool = False
    non_empty: bool = False  # text of at least one character
    values: tuple[Any, ...] | None = None  # every non-null value is one of these
    between: tuple[float | None, float | None] | None = None
    regex: str | None = None
    json: bool = False  # every value parses as JSON


@dataclass(frozen=True)
class Table:
    """A table's contract: columns, files, producing stage, and table-level rules."""

    name: str
    doc: str
    columns: tuple[Column, ...]
    glob: str | None = None  # files of the DuckDB view, relative to the repository root
    stage: str | None = None  # the dvc.yaml stage that writes it
    min_rows: int = 0
    # Table-level expectations beyond the columns' own, built from the GX expectations module,
    # and what they say in words (for the docs).
    rules: Callable[[Any], list] = field(default=lambda gxe: [], repr=False)
    rules_doc: str = ""

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name}: duplicate column names")

    @property
    def schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.dtype for c in self.columns}

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def frame(self, rows: Iterable[Mapping[str, Any]] | pl.DataFrame) -> pl.DataFrame:
        """`rows` (dicts, or a frame with these columns in any order) in this table's schema."""
        if isinstance(rows, pl.DataFrame):
            return rows.select(self.names).cast(self.schema)  # type: ignore[arg-type]
        return pl.DataFrame(
            [{name: row.get(name) for name in self.names} for row in rows], schema=self.schema
        )

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)

    def expectations(self, gxe: Any, *, row_count: int | None = None, extra: Sequence = ()) -> list:
        """The GX suite: exact columns, then each column's rules, then the table's own."""
        suite = [gxe.ExpectTableColumnsToMatchSet(column_set=self.names, exact_match=True)]
        for c in self.columns:
            if not c.nullable:
                suite.append(gxe.ExpectColumnValuesToNotBeNull(column=c.name))
            if c.unique:
                suite.append(gxe.ExpectColumnValuesToBeUnique(column=c.name))
            if c.non_empty:
                suite.append(gxe.ExpectColumnValueLengthsToBeBetween(column=c.name, min_value=1))
            if c.values is not None:
                suite.append(gxe.ExpectColumnValuesToBeInSet(column=c.name, value_set=c.values))
            if c.between is not None:
                lo, hi = c.between
                suite.append(
                    gxe.ExpectColumnValuesToBeBetween(column=c.name, min_value=lo, max_value=hi)
                )
            if c.regex is not None:
                suite.append(gxe.ExpectColumnValuesToMatchRegex(column=c.name, regex=c.regex))
            if c.json:
                suite.append(gxe.ExpectColumnValuesToBeJsonParseable(column=c.name))
        suite += self.rules(gxe)
        if self.min_rows:
            suite.append(gxe.ExpectTableRowCountToBeBetween(min_value=self.min_rows))
        if row_count is not None:
            suite.append(gxe.ExpectTableRowCountToEqual(value=row_count))
        return suite + list(extra)

    def check_input(
        self, df: pl.DataFrame, path: str | Path, needed: Sequence[str] | None = None
    ) -> pl.DataFrame:
        """`df` read from `path` as this table: the `needed` columns (default: all) exist with
        this contract's dtypes and the table is not empty; else a UserError naming the file."""
        needed = list(needed) if needed is not None else self.names
        missing = [name for name in needed if name not in df.columns]
        if missing:
            raise UserError(
                f"{path}: not a `{self.name}` table: lacks column(s) {', '.join(missing)}"
                + (f" (written by stage {self.stage})" if self.stage else "")
            )
        wrong = [
            f"{name} is {df.schema[name]}, expected {self.column(name).dtype}"
            for name in needed
            if df.schema[name] != self.column(name).dtype
            and not (df.schema[name] == pl.Null and self.column(name).nullable)
        ]
        if wrong:
            raise UserError(f"{path}: `{self.name}` column types: {'; '.join(wrong)}")
        if df.height == 0:
            raise UserError(f"{path}: the `{self.name}` table is empty")
        return df.select(needed)

    def read(self, path: str | Path, needed: Sequence[str] | None = None) -> pl.DataFrame:
        """Read `path` (Parquet) and check it as an input of this contract."""
        path = Path(path)
        if not path.is_file():
            hint = f" (run `dvc repro {self.stage}`)" if self.stage else ""
            raise UserError(f"{path} not found{hint}")
        return self.check_input(pl.read_parquet(path), path, needed)

    def markdown(self) -> str:
        """The schema as a Markdown table (ARCHITECTURE.md embeds these, tested equal)."""
        where = f"`{self.glob}`" if self.glob else "(not a view)"
        lines = [
            f"#### `{self.name}` — {where}" + (f", stage `{self.stage}`" if self.stage else ""),
            "",
            self.doc,
            "",
            "| column | type | meaning | rules |",
            "|---|---|---|---|",
        ]
        for c in self.columns:
            rules = []
            if not c.nullable:
                rules.append("not null")
            if c.unique:
                rules.append("unique")
            if c.non_empty:
                rules.append("non-empty")
            if c.values is not None:
                rules.append("in {" + ", ".join(map(str, c.values)) + "}")
            if c.between is not None:
                lo, hi = c.between
                rules.append(
                    f"{lo}–{hi}" if lo is not None and hi is not None
                    else f"≥ {lo}" if lo is not None else f"≤ {hi}"
                )  # fmt: skip
            if c.regex is not None:
                rules.append(f"matches `{c.regex}`")
            if c.json:
                rules.append("JSON")
            cells = (f"`{c.name}`", str(c.dtype), c.doc, ", ".join(rules))
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        if self.min_rows:
            lines += ["", f"At least {self.min_rows} row(s)."]
        if self.rules_doc:
            lines += ["", self.rules_doc]
        return "\n".join(lines) + "\n"
