"""The `mathforge` command line."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.console import Console
from rich.table import Table

from mathforge.views import VIEWS, MissingViewError, connect, producing_stage, referenced_views

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
err = Console(stderr=True)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="SQL over the views, e.g. 'select * from seeds'")],
    format: Annotated[Format, typer.Option("--format", "-f", help="output format")] = Format.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write to FILE instead of stdout")
    ] = None,
    root: Annotated[Path, typer.Option(help="repository root holding data/ and dvc.yaml")] = Path(
        "."
    ),
    max_rows: Annotated[int, typer.Option(help="rows shown by --format table")] = 200,
) -> None:
    """Run SQL (DuckDB) over every stage's Parquet outputs, registered as named views."""
    if format is Format.parquet and output is None:
        raise typer.BadParameter("--format parquet needs --output FILE", param_hint="--output")
    try:
        con = connect(root, referenced_views(sql))
        if output is not None and format is not Format.table:
            options = {
                "csv": "FORMAT csv, HEADER",
                "json": "FORMAT json, ARRAY true",
                "parquet": "FORMAT parquet",
            }
            target = str(output).replace("'", "''")
            con.execute(
                f"COPY ({sql.rstrip().rstrip(';')}) TO '{target}' ({options[format.value]})"
            )
            err.print(f"wrote {output}")
            return
        result = con.sql(sql)
        if result is None:  # a statement without a result set
            return
        frame = result.pl()
    except MissingViewError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    except duckdb.Error as e:
        err.print(f"[red]query failed:[/red] {e}")
        raise typer.Exit(1) from None

    if format is Format.csv:
        sys.stdout.write(frame.write_csv())
    elif format is Format.json:
        sys.stdout.write(frame.write_json() + "\n")
    else:
        table = Table(*frame.columns, show_lines=False)
        for row in frame.head(max_rows).iter_rows():
            table.add_row(*("NULL" if v is None else str(v) for v in row))
        console = Console(file=output.open("w", encoding="utf-8") if output else None, width=200)
        console.print(table)
        if frame.height > max_rows:
            err.print(f"({frame.height} rows, showing {max_rows}; use --max-rows or --format csv)")


@app.command()
def views(root: Annotated[Path, typer.Option(help="repository root")] = Path(".")) -> None:
    """List the views `query` knows, their files, and the stage that writes them."""
    table = Table("view", "files", "stage", "available")
    for name, pattern in VIEWS.items():
        available = any((root).glob(pattern))
        table.add_row(
            name, pattern, producing_stage(pattern, root) or "-", "yes" if available else "no"
        )
    Console().print(table)


if __name__ == "__main__":
    app()
