"""Named DuckDB views over every stage's Parquet outputs (`mathforge query`).

One view per table contract (`mathforge.contracts`) with a glob relative to the repository
root. A view whose files do not exist yet is reported with the DVC stage that writes them
(read from dvc.yaml).
"""

from __future__ import annotations

import glob
from pathlib import Path

import duckdb
import yaml

from mathforge.contracts import Table
from mathforge.contracts.models import MODELS, SFT_EXAMPLES
from mathforge.contracts.paths import PATHS, SAMPLED
from mathforge.contracts.questions import QUESTIONS
from mathforge.contracts.rejects import REJECTS
from mathforge.contracts.seeds import SEEDS, TAXONOMY
from mathforge.contracts.splits import SPLIT_TABLES

# Every contract with files is a view; the order is the pipeline's.
TABLES: tuple[Table, ...] = (
    SEEDS,
    TAXONOMY,
    QUESTIONS,
    *SPLIT_TABLES.values(),
    MODELS,
    SFT_EXAMPLES,
    PATHS,
    SAMPLED,
    REJECTS,
)
VIEWS: dict[str, str] = {table.name: table.glob for table in TABLES if table.glob}


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
