"""Great Expectations suites that every stage runs on its outputs before writing them.

A stage builds its suite from the helpers below (the same columns its docstring
promises) and calls :func:`validate`; a violated expectation raises
:class:`ExpectationFailed` with a readable report, and the stage writes nothing.
GX runs in ephemeral mode (nothing written to disk) on a pandas frame.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence

import polars as pl

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


class ExpectationFailed(RuntimeError):
    """An output table violated its stage's expectation suite."""


def _gx():
    # Imported lazily: GX takes ~2 s to import and most library calls never need it.
    import great_expectations as gx
    import great_expectations.expectations as gxe

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    return gx, gxe


def expectations_module():
    """`great_expectations.expectations`, for stages that build suites."""
    return _gx()[1]


def table_contract(
    gxe,
    columns: Sequence[str],
    *,
    not_null: Sequence[str] = (),
    unique: Sequence[str] = (),
    non_empty_text: Sequence[str] = (),
    in_set: dict[str, Sequence[str]] | None = None,
    between: dict[str, tuple[float | None, float | None]] | None = None,
    row_count: int | None = None,
    min_rows: int | None = None,
) -> list:
    """The common shape of a stage's suite: exact column set, nulls, uniqueness, ranges."""
    suite = [gxe.ExpectTableColumnsToMatchSet(column_set=list(columns), exact_match=True)]
    suite += [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in not_null]
    suite += [gxe.ExpectColumnValuesToBeUnique(column=c) for c in unique]
    suite += [
        gxe.ExpectColumnValueLengthsToBeBetween(column=c, min_value=1) for c in non_empty_text
    ]
    suite += [
        gxe.ExpectColumnValuesToBeInSet(column=c, value_set=list(values))
        for c, values in (in_set or {}).items()
    ]
    suite += [
        gxe.ExpectColumnValuesToBeBetween(column=c, min_value=lo, max_value=hi)
        for c, (lo, hi) in (between or {}).items()
    ]
    if row_count is not None:
        suite.append(gxe.ExpectTableRowCountToEqual(value=row_count))
    if min_rows is not None:
        suite.append(gxe.ExpectTableRowCountToBeBetween(min_value=min_rows))
    return suite


def validate(df: pl.DataFrame, name: str, expectations: list) -> dict[str, int]:
    """Run `expectations` on `df`; raise ExpectationFailed listing every violation.

    Returns {"evaluated": n, "failed": 0} for the stage's metrics.
    """
    gx, _ = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = (
        ctx.data_sources.add_pandas(f"{name}_source")
        .add_dataframe_asset(name=name)
        .add_batch_definition_whole_dataframe(f"{name}_batch")
    )
    suite = ctx.suites.add(gx.ExpectationSuite(name=f"{name}_suite"))
    for expectation in expectations:
        suite.add_expectation(expectation)
    definition = ctx.validation_definitions.add(
        gx.ValidationDefinition(data=batch_def, suite=suite, name=f"{name}_validation")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = definition.run(batch_parameters={"dataframe": df.to_pandas()})
    failures = [r for r in result.results if not r.success]
    if failures:
        lines = [f"{name}: {len(failures)} of {len(result.results)} expectations failed:"]
        for r in failures:
            cfg = r.expectation_config
            kwargs = {k: v for k, v in cfg.kwargs.items() if k != "batch_id"}
            res = r.result or {}
            observed = res.get("observed_value")
            unexpected = res.get("partial_unexpected_list")
            detail = f"observed {observed!r}" if observed is not None else ""
            if unexpected:
                count = res.get("unexpected_count")
                detail = f"{count} unexpected, e.g. {unexpected[:5]!r}"
            if r.exception_info and r.exception_info.get("raised_exception"):
                detail = r.exception_info.get("exception_message", "")
            lines.append(f"  - {cfg.type} {kwargs}: {detail}")
        raise ExpectationFailed("\n".join(lines))
    return {"evaluated": len(result.results), "failed": 0}
