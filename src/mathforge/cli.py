"""The `mathforge` command line."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import duckdb
import polars as pl
import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from tqdm import tqdm

from mathforge.config import (
    ParamsError,
    SandboxParams,
    check_all,
    closest,
    dvc_params_errors,
    load_params,
)
from mathforge.errors import UserError
from mathforge.grading import Graded, grade_programs
from mathforge.io import write_parquet, write_text
from mathforge.launch import launch_errors
from mathforge.profiles import apply_profile
from mathforge.sandbox import SandboxUnavailable
from mathforge.solution import parse_solution, program_of
from mathforge.views import VIEWED, MissingViewError, connect, contracts_markdown, referenced_views

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
        wall_timeout_s=None,
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
    for name, contract in VIEWED.items():
        available = any(root.glob(contract.glob or ""))
        table.add_row(name, contract.glob, contract.stage or "-", "yes" if available else "no")
    Console().print(table)


@app.command()
def contracts() -> None:
    """Print every table contract (columns, types, meaning, rules) as Markdown."""
    sys.stdout.write(contracts_markdown())


def _print_report(report: dict) -> None:
    table = Table("problems", "group", "accuracy", "95% interval", title=report["model"])
    rows = [("all", report["overall"]), ("in distribution", report["in_distribution"]),
            ("out of distribution", report["ood"])]  # fmt: skip
    rows += [(f"  {s}", v) for s, v in report["by_subject"].items()]
    for name, entry in rows:
        accuracy = "-" if entry["accuracy"] is None else f"{entry['accuracy']:.1%}"
        ci = "-" if entry["ci95"] is None else f"{entry['ci95'][0]:.1%} – {entry['ci95'][1]:.1%}"
        table.add_row(str(entry["problems"]), name, accuracy, ci)
    err.print(table)
    kinds = ", ".join(f"{k} {v}" for k, v in report["error_kinds"].items())
    err.print(f"paths: {report['paths']} ({kinds}); ungradable {report['ungradable_paths']}")


@app.command()
def evaluate(
    model: Annotated[
        Path | None, typer.Option(help="a model directory (models/sft/<name>, ...)")
    ] = None,
    split: Annotated[Path, typer.Option(help="problems: a split's Parquet file")] = Path(
        "data/splits/test.parquet"
    ),
    output: Annotated[Path, typer.Option(help="where the JSON report goes")] = Path("eval.json"),
    paths: Annotated[
        Path | None,
        typer.Option(help="also write every graded path here (Parquet, the paths contract)"),
    ] = None,
    engine: Annotated[
        Path | None,
        typer.Option(help="YAML backend settings (sample.engine's shape, or an openai endpoint)"),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="at most N problems, stratified by subject and ood, seeded")
    ] = None,
    samples: Annotated[int, typer.Option(help="paths per problem; >1: majority vote, pass@K")] = 1,
    temperature: Annotated[float, typer.Option(help="0 = greedy")] = 0.0,
    seed: Annotated[int, typer.Option(help="seed of the subset, the sampling, the intervals")] = 0,
    max_tokens: Annotated[int, typer.Option(help="new tokens per solution")] = 256,
    batch_size: Annotated[int, typer.Option(help="sequences decoded together")] = 64,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads")] = None,
    device: Annotated[str, typer.Option(help="torch device")] = "cpu",
    params: Annotated[
        Path, typer.Option(help="params.yaml whose sandbox section runs programs")
    ] = (Path("params.yaml")),
) -> None:
    """Accuracy of a model on a split: generate, run in the sandbox, grade; with intervals."""
    from mathforge.evaluation import engine_generator, limit_problems, model_generator
    from mathforge.evaluation import evaluate as run_evaluation

    try:
        if engine is not None:
            generator, system, name = engine_generator(engine, model)
        elif model is not None:
            generator, system = model_generator(
                model, device=device, batch_size=batch_size, threads=threads
            )
            name = model.name
        else:
            raise UserError("give --model DIR (a model directory) or --engine FILE")
        if not split.is_file():
            raise UserError(f"split file {split} not found")
        problems = limit_problems(pl.read_parquet(split), limit, seed)
        sandbox = load_params("sandbox", params)
        report, graded = run_evaluation(
            generator, problems, model=name, system=system, sandbox=sandbox,
            samples=samples, temperature=temperature, max_tokens=max_tokens, seed=seed,
        )  # fmt: skip
    except (UserError, ParamsError, SandboxUnavailable) as e:
        err.print(f"[red]error:[/red] {escape(str(e))}")
        raise typer.Exit(1) from None
    report["split"] = str(split)
    write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", output)
    if paths is not None:
        write_parquet(graded, paths)
    _print_report(report)
    err.print(f"wrote {output}" + (f" and {paths}" if paths is not None else ""))


@app.command()
def compare(
    baseline: Annotated[
        Path, typer.Argument(help="graded paths of the baseline (evaluate --paths)")
    ],
    candidate: Annotated[Path, typer.Argument(help="graded paths of the candidate, same problems")],
    split: Annotated[
        Path | None, typer.Option(help="the split evaluated: reports in and out of distribution")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="also write the report here (JSON)")] = None,
    seed: Annotated[int, typer.Option(help="seed of the bootstrap")] = 0,
    stage: Annotated[
        str | None,
        typer.Option(help="eval_paths files (the evaluate stage's): the baseline's stage"),
    ] = None,
    candidate_stage: Annotated[
        str | None, typer.Option(help="eval_paths files: the candidate's stage (default --stage)")
    ] = None,
    mode: Annotated[
        str, typer.Option(help="eval_paths files: greedy, or sampled (the majority's samples)")
    ] = "greedy",
) -> None:
    """Candidate minus baseline accuracy, paired by problem, with a 95% bootstrap interval.
    From the evaluate stage's data/eval/paths.parquet (of this commit, or of an experiment:
    `dvc get . data/eval/paths.parquet --rev <exp> -o exp.parquet`), pick each side's model
    with --stage and --candidate-stage."""
    from mathforge.comparison import paired_difference, stage_paths

    try:
        for path in (baseline, candidate, split):
            if path is not None and not path.is_file():
                raise UserError(f"{path} not found")
        problems = pl.read_parquet(split) if split is not None else None
        report = paired_difference(
            stage_paths(pl.read_parquet(baseline), baseline, stage, mode),
            stage_paths(pl.read_parquet(candidate), candidate, candidate_stage or stage, mode),
            problems,
            seed,
        )
    except UserError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}")
        raise typer.Exit(1) from None
    table = Table("problems", "group", "baseline", "candidate", "difference", "95% interval")
    for name, entry in report.items():
        if entry["problems"] == 0:
            continue
        lo, hi = entry["ci95"]
        table.add_row(
            str(entry["problems"]), name.replace("_", " "), f"{entry['baseline']:.1%}",
            f"{entry['candidate']:.1%}", f"{entry['difference']:+.1%}", f"{lo:+.1%} – {hi:+.1%}",
        )  # fmt: skip
    err.print(table)
    if output is not None:
        write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", output)
        err.print(f"wrote {output}")


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="folder to write (replaced whole)")],
    root: Annotated[Path, typer.Option(help="repository root holding data/ and params.yaml")] = (
        Path(".")
    ),
    license: Annotated[str, typer.Option(help="the licence the dataset card declares")] = (
        "apache-2.0"
    ),
) -> None:
    """The RFT set, the DPO pairs and the eval set as a Hugging Face dataset: a DatasetDict
    (save_to_disk), one Parquet file per split and a dataset card generated from the metrics."""
    from mathforge.export import export_dataset

    try:
        rows = export_dataset(root, out, license)
    except (UserError, ParamsError) as e:
        err.print(f"[red]error:[/red] {escape(str(e))}")
        raise typer.Exit(1) from None
    sizes = ", ".join(f"{name} {n:,}" for name, n in rows.items())
    err.print(f"wrote {out}: {sizes} rows (dataset/, data/*.parquet, README.md)")


@app.command()
def check(root: Annotated[Path, typer.Option(help="repository root")] = Path(".")) -> None:
    """Validate params.yaml (every section) and dvc.yaml's params references before DVC runs:
    `dvc repro` deletes a stage's outputs before it notices a missing param."""
    params, dvc_yaml = root / "params.yaml", root / "dvc.yaml"
    problems: list[str] = []
    try:
        sections = check_all(params)
    except (ParamsError, OSError, yaml.YAMLError) as e:
        sections, problems = {}, [str(e)]
    try:
        problems += dvc_params_errors(dvc_yaml, params)
    except (ParamsError, OSError, yaml.YAMLError) as e:
        problems.append(str(e))
    if sections:
        problems += launch_errors(sections["launch"], root)
        # The sample stage samples every model directory in models/sft: one left behind by
        # a model removed from base.models would be sampled too.
        names = set(sections["base"].models)
        stale = [p for p in sorted((root / "models/sft").glob("[!.]*")) if p.is_dir()]
        problems += [
            f"{p}: not in {params} base.models, yet the sample stage would sample it; "
            f"delete it (rm -r {p}) or add the model back"
            for p in stale
            if p.name not in names
        ]
        per_model = {
            "pretrain.max_steps_by_model": sections["pretrain"].max_steps_by_model,
            "sample.temperature_by_model": sections["sample"].temperature_by_model,
        }
        problems += [
            f"{params} {key}: '{name}' is not in base.models" + closest(name, names)
            for key, entries in per_model.items()
            for name in entries
            if name not in names
        ]
    for line in problems:
        err.print(f"[red]error:[/red] {escape(line)}", soft_wrap=True, highlight=False)
    if problems:
        raise typer.Exit(1)
    err.print(f"{params} and {dvc_yaml}: ok ({len(sections)} sections)")


@app.command()
def profile(
    file: Annotated[Path, typer.Argument(help="a profile: configs/profiles/gpu.yaml or tiny.yaml")],
    root: Annotated[Path, typer.Option(help="repository root")] = Path("."),
) -> None:
    """Lay a params profile over params.yaml (comments kept), then check it as `check` does.
    Back to the CPU demo: git checkout params.yaml."""
    try:
        apply_profile(file, root / "params.yaml")
    except (ParamsError, OSError, yaml.YAMLError) as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from None
    err.print(f"{root / 'params.yaml'}: {file} laid over it (undo: git checkout params.yaml)")
    check(root)


if __name__ == "__main__":
    app()
