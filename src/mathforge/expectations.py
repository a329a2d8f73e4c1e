"""Great Expectations, run the same way by every stage on its outputs.

A :class:`Validator` holds one ephemeral GX context (nothing written to disk) for a whole
stage run; :meth:`Validator.validate` runs a list of expectations on a polars frame and raises
:class:`ExpectationFailed` with a readable report, so the stage writes nothing. Suites come from
the table contracts (`mathforge.contracts`); `mathforge.stage.Stage.validate` is what stages
call.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

import polars as pl

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


class ExpectationFailed(RuntimeError):
    """An output table violated its stage's expectation suite."""


def expectations_module() -> Any:
    """`great_expectations.expectations` (imported lazily: GX takes ~2 s to import)."""
    import great_expectations.expectations as gxe

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    return gxe


def _report(name: str, results: list) -> str:
    failures = [r for r in results if not r.success]
    lines = [f"{name}: {len(failures)} of {len(results)} expectations failed:"]
    for r in failures:
        cfg = r.expectation_config
        kwargs = {k: v for k, v in cfg.kwargs.items() if k != "batch_id"}
        res = r.result or {}
        observed = res.get("observed_value")
        unexpected = res.get("partial_unexpected_list")
        detail = f"observed {observed!r}" if observed is not None else ""
        if unexpected:
            detail = f"{res.get('unexpected_count')} unexpected, e.g. {unexpected[:5]!r}"
        if r.exception_info and r.exception_info.get("raised_exception"):
            detail = r.exception_info.get("exception_message", "")
        lines.append(f"  - {cfg.type} {kwargs}: {detail}")
    return "\n".join(lines)


class Validator:
    """One GX context for a stage run; each `validate` call adds and then removes its suite."""

    def __init__(self) -> None:
        self._ctx = None
        self._source = None
        self._calls = 0

    def _context(self):
        if self._ctx is None:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            expectations_module()  # quiets GX's logger
            self._gx = gx
            self._ctx = gx.get_context(mode="ephemeral")
            self._ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
            self._source = self._ctx.data_sources.add_pandas("mathforge")
        return self._ctx

    def validate(self, df: pl.DataFrame, name: str, expectations: list) -> int:
        """Run `expectations` on `df`; raise ExpectationFailed listing every violation.
        Returns how many expectations were evaluated."""
        ctx = self._context()
        gx = self._gx
        self._calls += 1
        key = f"{name}_{self._calls}"
        asset = self._source.add_dataframe_asset(name=key)
        batch = asset.add_batch_definition_whole_dataframe(key)
        suite = ctx.suites.add(gx.ExpectationSuite(name=key))
        for expectation in expectations:  # a copy: one expectation may serve many suites
            expectation = expectation.copy()
            expectation.id = None
            suite.add_expectation(expectation)
        definition = ctx.validation_definitions.add(
            gx.ValidationDefinition(data=batch, suite=suite, name=key)
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = definition.run(batch_parameters={"dataframe": df.to_pandas()})
        finally:
            ctx.validation_definitions.delete(key)
            ctx.suites.delete(key)
            self._source.delete_asset(key)
        if not result.success:
            raise ExpectationFailed(_report(name, result.results))
        return len(result.results)
