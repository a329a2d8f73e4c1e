"""What every stage does the same way, so a stage file holds only its own logic.

    stage = Stage("split")
    train = TRAIN.read(args.train)                       # input checked against its contract
    stage.drop("contaminated", subject=..., question=..., detail={...})
    stage.validate(part, TRAIN)                          # the contract's GX suite
    with atomic_dir(args.out_dir) as tmp:                # all of it, or nothing
        write_parquet(part, tmp / "train.parquet")
        stage.write_rejects(tmp / "rejects.parquet")
    write_json(stage.metrics(rows=...), args.metrics)    # + dropped_<reason>, expectations, ...

Every dropped row is one `drop` call: the row goes to the stage's rejects table and its
`dropped_<reason>` counter up, under the same name. `metrics()` adds what every stage reports:
`expectations_evaluated`, the drop counters, and `sandbox_isolation` once the stage ran
model-written code (`uses_sandbox`).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from mathforge.contracts import Table
from mathforge.contracts.rejects import REJECTS
from mathforge.expectations import Validator, expectations_module
from mathforge.io import write_parquet
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
