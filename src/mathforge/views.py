"""Named DuckDB views over every stage's Parquet outputs (`mathforge query`).

Each view is a glob relative to the repository root. A view whose files do not
exist yet is reported with the DVC stage that writes them (read from dvc.yaml).
"""

from __future__ import annotations

import glob
from pathlib import Path

import duckdb
import yaml

VIEWS: dict[str, str] = {
    "seeds": "data/taxonomy/seeds.parquet",
    "taxonomy": "data/taxonomy/taxonomy.parquet",
    "questions": "data/questions/questions.parquet",
    "train": "data/splits/train.parquet",
    "eval": "data/splits/eval.parquet",
    "test": "data/splits/test.parquet",
    # one row per sampled path (stage sample): text, programs, execution, grade, tokens
    "paths": "data/paths/*/shard-*.parquet",
    # one row per sampled problem: the reference its paths were graded against
    "sampled": "data/paths/problems.parquet",
    # every dropped row of every stage, with the stage and the reason
    "rejects": "data/*/rejects.parquet",
}


class MissingViewError(LookupError):
    """A query names a view whose stage has not produced its files yet."""


def producing_stage(path: str, root: Path) -> str | None:
    """The dvc.yaml stage whose outs contain `path` (a glob: its fixed leading directories)."""
    dvc_file = root / "dvc.yaml"
    if "*" in path:
        path = path[: path.index("*")].rsplit("/", 1)[0]
    if not path or not dvc_file.exists():
        return None
    stages = (yaml.safe_load(dvc_file.read_text(encoding="utf-8")) or {}).get("stages", {})
    for name, stage in stages.items():
        for out in stage.get("outs", []):
            out_path = next(iter(out)) if isinstance(out, dict) else out
            out_path = str(out_path).rstrip("/")
            if path == out_path or path.startswith(out_path + "/"):
                return name
    return None


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
            stage = producing_stage(VIEWS[name], root)
            run = f"run `dvc repro {stage}`" if stage else "run `dvc repro`"
            hints.append(f"view '{name}' has no data yet ({VIEWS[name]} is missing): {run}")
        raise MissingViewError("; ".join(hints))
    return con


def referenced_views(sql: str) -> set[str]:
    """Known view names a SQL statement refers to."""
    try:
        names = duckdb.get_table_names(sql)
    except duckdb.Error:
        return set()
    return {n for n in names if n in VIEWS}
