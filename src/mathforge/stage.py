"""What every stage does the same way, so a stage file holds only its own logic.

    stage = Stage("split")
    train = TRAIN.read(args.train)                       # input checked against its contract
    stage.drop("contaminated", subject=..., question=..., detail={...})
    stage.validate(part, TRAIN)                          # the contract's GX suite
    with atomic_dir(args.out_dir) as tmp:                # all of it, or nothing
        write_parquet(part, tmp / "train.parquet")
        stage.write_rejects(tmp / "rejects.parquet")
    stage.write_metrics(args.metrics, rows=..., train_seconds=...)  # + dropped_<reason>, ...

Every dropped row is one `drop` call: the row goes to the stage's rejects table and its
`dropped_<reason>` counter up, under the same name. `metrics()` adds what every stage reports:
`expectations_evaluated`, the drop counters, and `sandbox_isolation` once the stage ran
model-written code (`uses_sandbox`).

The metrics file is a DVC output kept in git, so it holds only what the stage's inputs, params
and code determine: a rerun writes it byte for byte again and leaves `dvc.lock` and
`git status` as they were. What describes one run on one machine (wall-clock seconds, rates,
shards resumed after a crash: `is_run_fact`) goes to `run_log_path(metrics)` beside it,
`metrics/<stage>.run.json`, which git ignores and DVC does not track.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from mathforge.contracts import Table
from mathforge.contracts.rejects import REJECTS
from mathforge.expectations import Validator, expectations_module
from mathforge.io import write_json, write_parquet
from mathforge.lineage import question_id as make_question_id


class Stage:
    """One stage run: its drops, its validations and its common metrics."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.rejects: list[dict[str, Any]] = []
        self.dropped: Counter[str] = Counter()  # reason -> rows
        self.dropped_by: dict[str, Counter[str]] = {}  # subject -> reason -> rows
        self.expectations_evaluated = 0
        self.sandbox_isolation: str | None = None
        self._validator = Validator()

    def drop(
        self,
        reason: str,
        *,
        subject: str | None = None,
        question: str | None = None,
        question_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Record one dropped row: a rejects row and its `dropped_<reason>` counter."""
        if question_id is None and question is not None:
            question_id = make_question_id(question)
        self.rejects.append(
            {
                "stage": self.name,
                "reason": reason,
                "subject": subject,
                "question_id": question_id,
                "question": question,
                "detail": json.dumps(dict(detail or {}), sort_keys=True, default=str),
            }
        )
        self.dropped[reason] += 1
        if subject is not None:
            self.dropped_by.setdefault(subject, Counter())[reason] += 1

    def drop_counts(self, subject: str | None = None) -> dict[str, int]:
        """`dropped_<reason>` counters, for the whole stage or one subject."""
        counts = self.dropped if subject is None else self.dropped_by.get(subject, Counter())
        return {f"dropped_{reason}": n for reason, n in sorted(counts.items())}

    def rejects_frame(self) -> pl.DataFrame:
        """The stage's rejects, validated against the rejects contract."""
        frame = REJECTS.frame(self.rejects)
        self.validate(frame, REJECTS, row_count=len(self.rejects))
        return frame

    def write_rejects(self, path: Path) -> pl.DataFrame:
        frame = self.rejects_frame()
        write_parquet(frame, path)
        return frame

    def validate(
        self,
        df: pl.DataFrame,
        table: Table,
        *,
        name: str | None = None,
        row_count: int | None = None,
        extra: Sequence = (),
    ) -> None:
        """Run `table`'s suite (plus `extra`, built from `expectations()`) on `df`; a violation
        raises ExpectationFailed and the stage writes nothing."""
        suite = table.expectations(self.gxe, row_count=row_count, extra=extra)
        self.expectations_evaluated += self._validator.validate(df, name or table.name, suite)

    def check(self, df: pl.DataFrame, name: str, expectations: Sequence) -> None:
        """Run expectations that relate tables (row counts between stages, sums) on `df`."""
        self.expectations_evaluated += self._validator.validate(df, name, list(expectations))

    @property
    def gxe(self) -> Any:
        """The GX expectations module, for stage-specific expectations (`extra=`)."""
        return expectations_module()

    def uses_sandbox(self, isolation: str) -> None:
        """Note the sandbox isolation model-written code ran under (for the metrics)."""
        self.sandbox_isolation = isolation

    def metrics(self, **values: Any) -> dict[str, Any]:
        """`values` plus the metrics every stage reports."""
        common: dict[str, Any] = {
            **self.drop_counts(),
            "rejects": len(self.rejects),
            "expectations_evaluated": self.expectations_evaluated,
        }
        if self.sandbox_isolation is not None:
            common["sandbox_isolation"] = self.sandbox_isolation
        return {**values, **common}

    def write_metrics(self, path: Path, **values: Any) -> dict[str, Any]:
        """Write `metrics(**values)` to `path` without its run facts, and the run facts (with
        when and where the stage ran) to `run_log_path(path)`; returns what went to `path`."""
        metrics, run = split_run_facts(self.metrics(**values))
        write_json(metrics, path)
        log = {
            "stage": self.name,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "host": {
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
            },
            **run,
        }
        write_json(log, run_log_path(Path(path)))
        return metrics


# Metrics that describe one run rather than its outputs, by name: wall-clock times and the rates
# computed from them (`train_seconds`, `seconds_per_step`, `tokens_per_s`,
# `paths_per_second`, ...) and how much of the work a crashed run had already done.
RUN_FACTS = frozenset({"shards_resumed"})


def is_run_fact(key: str) -> bool:
    """True for a metric that changes from one run to the next with the same outputs."""
    return "seconds" in key or key.endswith(("_per_s", "_per_second")) or key in RUN_FACTS


def split_run_facts(metrics: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`metrics` as (what the outputs determine, this run's facts), nested dicts split alike
    (a per-model rate goes to the run facts under the same model key)."""
    kept: dict[str, Any] = {}
    run: dict[str, Any] = {}
    for key, value in metrics.items():
        if is_run_fact(key):
            run[key] = value
        elif isinstance(value, Mapping):
            kept[key], inner = split_run_facts(value)
            if inner:
                run[key] = inner
        else:
            kept[key] = value
    return kept, run


def run_log_path(metrics_path: Path) -> Path:
    """Where `write_metrics` puts one run's facts: beside the metrics, `<name>.run.json`."""
    return metrics_path.with_name(f"{metrics_path.stem}.run.json")


@contextmanager
def atomic_dir(out: Path) -> Iterator[Path]:
    """A scratch directory beside `out` that replaces `out` when the block succeeds; on an
    error it is deleted and `out` is left as it was."""
    out = Path(out)
    tmp = out.parent / f".{out.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
