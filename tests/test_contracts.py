"""Table contracts and the stage plumbing built on them (real Great Expectations)."""

from __future__ import annotations

import json

import polars as pl
import pytest

from mathforge.contracts import Column, Table
from mathforge.contracts.paths import PATHS
from mathforge.contracts.rejects import REJECTS
from mathforge.contracts.splits import TRAIN
from mathforge.errors import UserError
from mathforge.expectations import ExpectationFailed
from mathforge.lineage import question_id
from mathforge.stage import Stage, atomic_dir, run_log_path
from mathforge.views import TABLES, VIEWS

TOY = Table(
    name="toy",
    doc="A table for tests.",
    glob="data/toy/*.parquet",
    stage="toy_stage",
    min_rows=1,
    columns=(
        Column("id", pl.String, "an id", nullable=False, unique=True, regex=r"^t_\d+$"),
        Column("kind", pl.String, "a kind", values=("a", "b")),
        Column("score", pl.Float64, "a score", between=(0, 1)),
        Column("meta", pl.String, "JSON", json=True),
    ),
)


def toy() -> pl.DataFrame:
    return TOY.frame(
        [
            {"id": "t_1", "kind": "a", "score": 0.5, "meta": "{}"},
            {"id": "t_2", "kind": "b", "score": 1.0, "meta": "[]"},
        ]
    )


def test_frame_takes_the_contract_schema_and_order():
    frame = TOY.frame([{"meta": "{}", "id": "t_1"}])
    assert frame.columns == ["id", "kind", "score", "meta"]
    assert frame.schema["score"] == pl.Float64 and frame["kind"].to_list() == [None]


@pytest.mark.parametrize(
    ("change", "column"),
    [
        ({"id": ["t_1", "t_1"]}, "expect_column_values_to_be_unique"),
        ({"id": ["t_1", "x_2"]}, "expect_column_values_to_match_regex"),
        ({"id": ["t_1", None]}, "expect_column_values_to_not_be_null"),
        ({"kind": ["a", "c"]}, "expect_column_values_to_be_in_set"),
        ({"score": [0.5, 1.5]}, "expect_column_values_to_be_between"),
        ({"meta": ["{}", "{oops"]}, "expect_column_values_to_be_json_parseable"),
    ],
)
def test_every_column_rule_is_an_expectation_that_fails(change, column):
    stage = Stage("toy_stage")
    stage.validate(toy(), TOY)  # the valid table passes
    bad = toy().with_columns(pl.Series(k, v, dtype=TOY.schema[k]) for k, v in change.items())
    with pytest.raises(ExpectationFailed, match=column):
        stage.validate(bad, TOY)


def test_extra_columns_and_row_counts_fail():
    stage = Stage("toy_stage")
    with pytest.raises(ExpectationFailed, match="expect_table_columns_to_match_set"):
        stage.validate(toy().with_columns(extra=pl.lit(1)), TOY)
    with pytest.raises(ExpectationFailed, match="expect_table_row_count_to_equal"):
        stage.validate(toy(), TOY, row_count=3)
    with pytest.raises(ExpectationFailed, match="expect_table_row_count_to_be_between"):
        stage.validate(TOY.empty(), TOY)
    assert stage.expectations_evaluated == 0  # only passing suites are counted


def test_one_expectation_can_serve_many_suites():
    stage = Stage("toy_stage")
    rule = stage.gxe.ExpectColumnValuesToNotBeNull(column="kind")
    for _ in range(3):
        stage.validate(toy(), TOY, extra=[rule])
    assert stage.expectations_evaluated == 3 * len(TOY.expectations(stage.gxe, extra=[rule]))


def test_input_checks_name_the_file_the_columns_and_the_stage(tmp_path):
    path = tmp_path / "train.parquet"
    pl.DataFrame({"question_id": ["q"]}).write_parquet(path)
    with pytest.raises(UserError, match=r"train.parquet: not a `train` table: lacks column\(s\) "
                       r"subject, question \(written by stage split\)"):  # fmt: skip
        TRAIN.read(path, ["question_id", "subject", "question"])
    pl.DataFrame({"question_id": [1]}).write_parquet(path)
    with pytest.raises(UserError, match="question_id is Int64, expected String"):
        TRAIN.read(path, ["question_id"])
    pl.DataFrame({"question_id": []}, schema={"question_id": pl.String}).write_parquet(path)
    with pytest.raises(UserError, match="the `train` table is empty"):
        TRAIN.read(path, ["question_id"])
    with pytest.raises(UserError, match=r"absent.parquet not found \(run `dvc repro split`\)"):
        TRAIN.read(tmp_path / "absent.parquet")


def test_a_drop_is_a_reject_row_and_a_counter_under_one_name():
    stage = Stage("split")
    stage.drop("contaminated", subject="algebra", question="What is x?", detail={"overlap": 0.9})
    stage.drop("contaminated", subject="calculus", question="Find dy/dx.")
    stage.drop("not_novel", subject="algebra", question="What is y?")
    rejects = stage.rejects_frame()
    assert rejects["reason"].to_list() == ["contaminated", "contaminated", "not_novel"]
    assert rejects["question_id"][0] == question_id("What is x?")
    assert json.loads(rejects["detail"][0]) == {"overlap": 0.9}
    assert stage.drop_counts() == {"dropped_contaminated": 2, "dropped_not_novel": 1}
    assert stage.drop_counts("algebra") == {"dropped_contaminated": 1, "dropped_not_novel": 1}
    metrics = stage.metrics(rows=5)
    assert metrics["rows"] == 5 and metrics["rejects"] == 3
    assert metrics["expectations_evaluated"] == len(REJECTS.expectations(stage.gxe, row_count=3))
    assert "sandbox_isolation" not in metrics
    stage.uses_sandbox("bubblewrap")
    assert stage.metrics()["sandbox_isolation"] == "bubblewrap"


def test_a_rerun_writes_the_same_metrics_and_its_timings_apart(tmp_path):
    """The metrics file is tracked by DVC and git: what differs from run to run (seconds, rates,
    resumed shards, also nested under a model) goes to the untracked run log beside it."""
    path = tmp_path / "metrics" / "sample.json"
    written = []
    for seconds in (1.5, 2.5):
        stage = Stage("sample")
        stage.write_metrics(
            path, paths=8, models={"tiny": {"accuracy": 0.5, "tokens_per_s": 80 / seconds}},
            train_seconds=seconds, seconds_per_step=seconds / 4, paths_per_second=8 / seconds,
            shards_resumed=int(seconds), wall_seconds_this_run=seconds,
        )  # fmt: skip
        written.append(path.read_bytes())
        log = json.loads(run_log_path(path).read_text())
        assert log["train_seconds"] == seconds and log["models"] == {
            "tiny": {"tokens_per_s": 80 / seconds}
        }
        assert log["stage"] == "sample" and log["shards_resumed"] == int(seconds)
    assert written[0] == written[1]
    assert json.loads(written[0]) == {
        "paths": 8, "models": {"tiny": {"accuracy": 0.5}}, "rejects": 0, "expectations_evaluated": 0
    }  # fmt: skip
    assert run_log_path(path) == tmp_path / "metrics" / "sample.run.json"


def test_a_reason_that_is_not_a_name_fails_the_rejects_suite():
    stage = Stage("split")
    stage.drop("Not Novel!", subject="algebra", question="What is x?")
    with pytest.raises(ExpectationFailed, match="reason"):
        stage.rejects_frame()


def test_atomic_dir_replaces_the_output_or_leaves_it_alone(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(out) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError("the stage failed half way")
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    with atomic_dir(out) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in out.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no scratch left


def test_every_contract_with_files_is_a_view():
    assert {t.name for t in TABLES if t.glob} == set(VIEWS)
    assert VIEWS["paths"] == PATHS.glob
    assert len({t.name for t in TABLES}) == len(TABLES)


def test_markdown_lists_every_column_and_rule():
    text = TOY.markdown()
    assert "`data/toy/*.parquet`, stage `toy_stage`" in text
    assert "| `id` | String | an id | not null, unique, matches `^t_\\d+$` |" in text
    assert "| `score` | Float64 | a score | 0–1 |" in text
    assert "At least 1 row(s)." in text


def test_the_same_question_is_one_id_whatever_its_case_or_spacing():
    assert question_id("What is  2 + 3?\n") == question_id("what is 2 + 3?")
    assert question_id("What is 2 + 3?") != question_id("What is 2 + 4?")
