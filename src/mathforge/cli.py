"""The `mathforge` command line."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from mathforge.config import SandboxParams
from mathforge.errors import UserError
from mathforge.grading import Graded, grade_programs
from mathforge.io import write_text
from mathforge.sandbox import SandboxUnavailable
from mathforge.solution import parse_solution, program_of
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


def _read_exec_file(path: Path) -> list[dict]:
    """Lines of {"program": ...} or {"solution": ...}, optional "id" and "answer"."""
    rows = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{lineno}: malformed JSON: {e.msg}") from None
        if not isinstance(obj, dict) or ("program" in obj) == ("solution" in obj):
            raise UserError(
                f"{path}:{lineno}: expected an object with exactly one of 'program' or 'solution'"
            )
        text = obj.get("program", obj.get("solution"))
        if not isinstance(text, str):
            raise UserError(f"{path}:{lineno}: the program must be a string")
        answer = obj.get("answer")
        rows.append(
            {
                "id": str(obj.get("id", lineno)),
                "program": obj["program"] if "program" in obj else program_of(parse_solution(text)),
                "answer": None if answer is None else str(answer),
            }
        )
    return rows


@app.command("exec")
def exec_programs(
    file: Annotated[Path, typer.Argument(help="JSONL: program or solution, optional id, answer")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="results JSONL (default: stdout)")
    ] = None,
    timeout_s: Annotated[
        float, typer.Option(help="CPU seconds per program (sleeping or blocked: 5x that, wall)")
    ] = 5.0,
    memory_mb: Annotated[int, typer.Option(help="memory a program may add, MiB")] = 1024,
    workers: Annotated[int | None, typer.Option(help="sandbox workers (default: CPUs)")] = None,
    allow_unsandboxed: Annotated[
        bool, typer.Option(help="run with rlimits only if bubblewrap is missing")
    ] = False,
    chunk: Annotated[int, typer.Option(help="programs per sandbox batch")] = 1000,
) -> None:
    """Run programs (or mixed solutions' programs) from FILE in the sandbox; grade answers."""
    try:
        rows = _read_exec_file(file)
    except (UserError, OSError, UnicodeDecodeError) as e:
        err.print(f"[red]error:[/red] {e}", soft_wrap=True)
        raise typer.Exit(2) from None
    cfg = SandboxParams(
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        workers=workers,
        allow_unsandboxed=allow_unsandboxed,
    )
    graded: list[Graded] = []
    try:
        with tqdm(total=len(rows), desc="exec", unit="program", disable=None) as bar:
            for start in range(0, len(rows), chunk):
                part = rows[start : start + chunk]
                programs, golds = [r["program"] for r in part], [r["answer"] for r in part]
                graded += grade_programs(programs, golds, cfg)
                bar.update(len(part))
    except SandboxUnavailable as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    lines = []
    for row, g in zip(rows, graded, strict=True):
        result = {"ok": False, "stdout": "", "stderr": "", "duration_s": 0.0}
        if g.exec is not None:
            result = {
                "ok": g.exec.ok,
                "stdout": g.exec.stdout,
                "stderr": g.exec.stderr,
                "duration_s": round(g.exec.duration_s, 4),
            }
        record = {"id": row["id"], **result, "error_kind": g.error_kind}
        lines.append(json.dumps({**record, "predicted": g.predicted, "correct": g.correct}))
    text = "".join(line + "\n" for line in lines)
    if output is None:
        sys.stdout.write(text)
    else:
        write_text(text, output)
    n_ok = sum(g.exec is not None and g.exec.ok for g in graded)
    n_correct = sum(g.correct is True for g in graded)
    err.print(f"{n_ok}/{len(graded)} programs ran ok; {n_correct} graded correct")


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
