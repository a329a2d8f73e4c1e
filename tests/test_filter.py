"""The quality filter (mathforge.filtering, stage filter): every drop reason and their precedence,
top M among the paths that pass, ties, the hard flag, the stage end to end, the lineage query
through `mathforge query`, and clear errors. Real DuckDB and Great Expectations on small
hand-built Parquet files."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from mathforge.cli import app
from mathforge.config import load_params
from mathforge.contracts.filtering import SCORES
from mathforge.contracts.paths import PATHS
from mathforge.contracts.scores import CRITIQUE_SCORES, JUDGED, REWARD_SCORES
from mathforge.errors import UserError
from mathforge.expectations import ExpectationFailed
from mathforge.scoring import scoring_role
from mathforge.sqlchecks import contract_violations
from stages import filter as filter_stage

ROOT = Path(__file__).resolve().parents[1]
SCORING = load_params("filter", ROOT / "params.yaml").scoring

# The lineage query of the README: for one problem, every path with its reward, critique score,
# judge checks and why it was kept or dropped.
LINEAGE_SQL = """
SELECT p.path_id, p.model, p.sample_index, p.correct,
       s.reward, s.reward_rank, s.critique_score, s.kept, s.drop_reason,
       j.role, j.judge_score, j.checks, q.hard
FROM paths p
LEFT JOIN scores s USING (path_id)
LEFT JOIN judged j USING (path_id)
LEFT JOIN scored_problems q ON q.question_id = p.question_id
WHERE p.question_id = '{qid}'
ORDER BY s.reward_rank NULLS LAST, p.model, p.sample_index
"""


def problem_ids(role: str, n: int) -> list[str]:
    """`n` question ids whose role under params.yaml's scoring section is `role`."""
    found = []
    i = 0
    while len(found) < n:
        qid = "q_" + hashlib.sha256(f"problem {i}".encode()).hexdigest()[:16]
        if scoring_role(qid, SCORING.fit_fraction, SCORING.heldout_fraction, SCORING.seed) == role:
            found.append(qid)
        i += 1
    return found


def path_id(qid: str, model: str, index: int) -> str:
    return "p_" + hashlib.sha256(f"{qid}|{model}|{index}".encode()).hexdigest()[:16]


def path(
    qid: str,
    index: int,
    *,
    reward: float = 1.0,
    critique: int | None = 9,
    error_kind: str | None = None,
    correct: bool | None = True,
    reference_source: str = "gold",
    model: str = "m1",
    pid: str | None = None,
) -> dict:
    """One path with its reward and critique rows: by default it passes every check."""
    ran = error_kind is None
    return {
        "path_id": pid or path_id(qid, model, index),
        "question_id": qid,
        "subject": "arithmetic",
        "model": model,
        "sample_index": index,
        "text": f"reasoning {index}\n```python\nprint(4)\n```\nFinal answer: 4",
        "programs": ["print(4)"],
        "final_answer": "4",
        "exec_ok": ran,
        "error_kind": error_kind,
        "exec_stdout": "4\n" if ran else "",
        "exec_stderr": "",
        "predicted": "4" if ran else None,
        "reference": None if reference_source == "none" else "4",
        "reference_source": reference_source,
        "correct": correct,
        "prompt_tokens": 20,
        "completion_tokens": 30,
        "finish_reason": "stop",
        # the scorers' columns
        "reward": reward,
        "critique_score": critique,
        "critique_error": None if critique is not None else "no score line",
    }


def write_inputs(root: Path, rows: list[dict], judged: list[dict] = ()) -> None:
    """The sample stage's shards (one per model) and the scorers' files under `root/data`."""
    frame = pl.DataFrame(rows, infer_schema_length=None)
    for (model,), part in frame.group_by("model"):
        out = root / "data/paths" / model / "shard-00000.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        PATHS.frame(part).write_parquet(out)
    (root / "data/scores").mkdir(parents=True, exist_ok=True)
    scored = frame.filter(pl.col("question_id").is_in(problem_ids("score", 100)))
    REWARD_SCORES.frame(scored).write_parquet(root / "data/scores/reward.parquet")
    CRITIQUE_SCORES.frame(
        scored.with_columns(critique=pl.lit("Runs: pass\nScore: 9"), checks=pl.lit("{}"))
    ).write_parquet(root / "data/scores/critique.parquet")
    if judged:
        JUDGED.frame(judged).write_parquet(root / "data/scores/judged.parquet")


def run(root: Path, *extra: str, overrides: dict | None = None) -> dict:
    """Run the stage's main() on `root/data`; return its metrics."""
    params = root / "params.yaml"
    if not params.exists() or overrides:
        raw = yaml.safe_load((ROOT / "params.yaml").read_text())
        raw["filter"].update(overrides or {})
        params.write_text(yaml.safe_dump(raw))
    filter_stage.main(
        [
            str(root / "data/paths"),
            str(root / "data/scores/reward.parquet"),
            str(root / "data/scores/critique.parquet"),
            str(root / "data/filter"),
            str(root / "metrics/filter.json"),
            "--params",
            str(params),
            *extra,
        ]
    )
    return json.loads((root / "metrics/filter.json").read_text())


def verdicts(root: Path) -> dict[str, tuple[bool, str | None]]:
    scores = pl.read_parquet(root / "data/filter/scores.parquet")
    return {r["path_id"]: (r["kept"], r["drop_reason"]) for r in scores.iter_rows(named=True)}


(Q1, Q2, Q3) = problem_ids("score", 3)


def test_every_drop_reason(tmp_path):
    rows = [
        path(Q1, 0, reward=10.0, error_kind="timeout", correct=False),  # the best reward: crashed
        path(Q1, 1, reward=9.0, correct=False),
        path(Q1, 2, reward=8.0, critique=None),
        path(Q1, 3, reward=7.5, critique=6),  # just under the threshold (7)
        path(Q1, 4, reward=7.0, critique=7),  # at the threshold: passes
        *[path(Q1, i, reward=7.0 - i) for i in range(5, 9)],  # rewards 2..-1
    ]
    write_inputs(tmp_path, rows)
    metrics = run(tmp_path, overrides={"top_m": 4})
    got = verdicts(tmp_path)
    expected = [
        (False, "execution_failed"),
        (False, "wrong_answer"),
        (False, "critique_unparseable"),
        (False, "below_critique_threshold"),
        (True, None),
        (True, None),
        (True, None),
        (True, None),
        (False, "below_top_m"),
    ]
    assert [got[r["path_id"]] for r in rows] == expected
    scores = pl.read_parquet(tmp_path / "data/filter/scores.parquet")
    by_id = {r["path_id"]: r for r in scores.iter_rows(named=True)}
    assert by_id[rows[0]["path_id"]]["reward_rank"] == 1  # ranked over all paths ...
    assert by_id[rows[0]["path_id"]]["keep_rank"] is None  # ... kept among those that passed
    assert [by_id[r["path_id"]]["keep_rank"] for r in rows[4:]] == [1, 2, 3, 4, 5]
    assert metrics["kept"] == 4 and metrics["paths_scored"] == 9
    assert {k: v for k, v in metrics.items() if k.startswith("dropped_")} == {
        "dropped_execution_failed": 1,
        "dropped_wrong_answer": 1,
        "dropped_critique_unparseable": 1,
        "dropped_below_critique_threshold": 1,
        "dropped_below_top_m": 1,
    }
    filtered = pl.read_parquet(tmp_path / "data/filter/filtered.parquet")
    assert filtered["path_id"].to_list() == [r["path_id"] for r in rows[4:8]]
    assert filtered["keep_rank"].to_list() == [1, 2, 3, 4]
    assert filtered["text"][0] == rows[4]["text"]
    assert filtered["programs"][0].to_list() == ["print(4)"]


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        # everything wrong at once: execution first
        ({"error_kind": "no_program", "correct": False, "critique": None}, "execution_failed"),
        ({"error_kind": "syntax", "correct": False, "critique": 2}, "execution_failed"),
        # a wrong answer before anything the critique model says
        ({"correct": False, "critique": None}, "wrong_answer"),
        ({"correct": False, "critique": 0}, "wrong_answer"),
        # an ungradable answer (correct null with a reference) is not wrong: the critique decides
        ({"correct": None, "critique": None}, "critique_unparseable"),
        ({"correct": None, "critique": 3}, "below_critique_threshold"),
        # no reference at all: nothing is wrong, the critique decides
        ({"correct": None, "reference_source": "none", "critique": 6}, "below_critique_threshold"),
        ({"correct": None, "reference_source": "none", "critique": 10}, None),
        # the highest reward does not save a path that fails a check
        ({"reward": 99.0, "critique": 4}, "below_critique_threshold"),
    ],
)
def test_precedence_gives_one_reason(tmp_path, spec, reason):
    rows = [path(Q1, 0, **spec), path(Q1, 1, reward=0.0)]
    write_inputs(tmp_path, rows)
    run(tmp_path, overrides={"top_m": 1})
    got = verdicts(tmp_path)
    assert got[rows[0]["path_id"]] == (reason is None, reason)
    # the other path is kept unless the first one took the one place
    assert got[rows[1]["path_id"]] == ((False, "below_top_m") if reason is None else (True, None))


def test_top_m_ties_break_by_path_id_whatever_the_file_order(tmp_path):
    ids = [f"p_{i:016x}" for i in (7, 3, 9, 1, 5)]
    rows = [path(Q1, i, reward=2.0, pid=pid) for i, pid in enumerate(ids)]
    rows.append(path(Q1, 5, reward=3.0, pid="p_" + "f" * 16))  # the best, by reward
    write_inputs(tmp_path, rows)
    run(tmp_path, overrides={"top_m": 3})
    kept = sorted(pid for pid, (k, _) in verdicts(tmp_path).items() if k)
    assert kept == sorted(["p_" + "f" * 16, f"p_{1:016x}", f"p_{3:016x}"])
    verdict = ["path_id", "reward_rank", "keep_rank", "kept", "drop_reason"]
    first = pl.read_parquet(tmp_path / "data/filter/scores.parquet").select(verdict)

    # The same rows in another order, split over two models' shards: the same verdicts.
    again = tmp_path / "again"
    shuffled = [dict(r, model="m2" if i % 2 else "m1") for i, r in enumerate(reversed(rows))]
    write_inputs(again, shuffled)
    run(again, overrides={"top_m": 3})
    scores = pl.read_parquet(again / "data/filter/scores.parquet")
    assert sorted(scores.filter("kept")["path_id"].to_list()) == kept
    assert scores["reward_rank"].to_list() == list(range(1, 7))
    assert scores.select(verdict).equals(first)


def test_top_m_ranks_only_the_paths_that_pass(tmp_path):
    """Three broken paths with the best rewards do not take the places of good ones."""
    rows = [path(Q1, i, reward=10.0 + i, correct=False) for i in range(3)]
    rows += [path(Q1, 3 + i, reward=float(i)) for i in range(3)]
    write_inputs(tmp_path, rows)
    run(tmp_path, overrides={"top_m": 2})
    got = verdicts(tmp_path)
    assert [got[r["path_id"]] for r in rows] == [(False, "wrong_answer")] * 3 + [
        (False, "below_top_m"),
        (True, None),
        (True, None),
    ]


def test_hard_flag_on_the_first_paths_by_sample_index_then_model(tmp_path):
    def problem(qid, passing_first):
        """16 paths (2 models x 8); of the first 10 (indices 0-4 of both models),
        `passing_first` pass; every later path passes (they must not count)."""
        rows = []
        for index in range(8):
            for model in ("m1", "m2"):
                order = index * 2 + (model == "m2")
                ok = order >= 10 or order < passing_first
                rows.append(path(qid, index, model=model, correct=ok, reward=float(-order)))
        return rows

    write_inputs(tmp_path, problem(Q1, 4) + problem(Q2, 5) + problem(Q3, 0))
    metrics = run(tmp_path, overrides={"hard_first_paths": 10, "hard_max_share": 0.5})
    problems = {
        r["question_id"]: r
        for r in pl.read_parquet(tmp_path / "data/filter/problems.parquet").iter_rows(named=True)
    }
    assert problems[Q1]["judged_correct_first"] == 4 and problems[Q1]["hard"]  # 40% < 50%
    assert problems[Q2]["judged_correct_first"] == 5 and not problems[Q2]["hard"]  # 50%: not
    assert problems[Q3]["hard"] and problems[Q3]["first_paths"] == 10
    assert problems[Q3]["passed"] == 6 and problems[Q3]["kept"] == 4 and problems[Q3]["paths"] == 16
    assert metrics["problems_hard"] == 2
    filtered = pl.read_parquet(tmp_path / "data/filter/filtered.parquet")
    assert dict(filtered.group_by("question_id").agg(pl.col("hard").first()).iter_rows()) == {
        Q1: True,
        Q2: False,
        Q3: True,
    }


def test_stage_end_to_end_and_the_lineage_query(tmp_path):
    """Score and train problems; the stage filters the score problems' paths only; one query
    through the real CLI answers "every path of problem X with its scores and verdict"."""
    (train_q,) = problem_ids("train", 1)
    rows = [
        path(Q1, 0, reward=0.5),
        path(Q1, 1, reward=0.9, critique=3),
        path(Q1, 0, reward=0.7, model="m2", error_kind="timeout", correct=False),
        path(Q2, 0, reward=0.1),
        path(train_q, 0),
        path(train_q, 1, correct=False),
    ]
    judged = [
        {**r, "role": "train", "judge_score": 8 - 6 * i, "accepted": i == 0,
         "critique": "Step 1: ok", "judge_error": None,
         "checks": json.dumps({"uses_numbers": "pass" if i == 0 else "fail"})}
        for i, r in enumerate(rows[4:])
    ]  # fmt: skip
    write_inputs(tmp_path, rows, judged)
    metrics = run(tmp_path)
    assert metrics["paths_in"] == 6 and metrics["paths_scored"] == 4
    assert metrics["paths_not_scored"] == 2 and metrics["problems_scored"] == 2
    assert metrics["kept"] == 2 and metrics["critique_threshold"] == SCORING.accept_threshold
    assert metrics["expectations_evaluated"] > 50 and "seconds" not in metrics
    run_log = json.loads((tmp_path / "metrics/filter.run.json").read_text())
    assert run_log["stage"] == "filter" and run_log["seconds"] >= run_log["seconds_filter"] > 0
    assert sorted(p.name for p in (tmp_path / "data/filter").iterdir()) == [
        "filtered.parquet",
        "problems.parquet",
        "scores.parquet",
    ]
    assert not list(tmp_path.glob("data/.filter*"))  # no scratch left beside it

    runner = CliRunner()
    result = runner.invoke(
        app,
        ["query", LINEAGE_SQL.format(qid=Q1), "--root", str(tmp_path), "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert [(r["model"], r["sample_index"], r["reward_rank"], r["kept"], r["drop_reason"])
            for r in got] == [
        ("m1", 1, 1, False, "below_critique_threshold"),
        ("m2", 0, 2, False, "execution_failed"),
        ("m1", 0, 3, True, None),
    ]  # fmt: skip
    assert {r["hard"] for r in got} == {True}  # 1 of its 3 paths passed
    result = runner.invoke(
        app,
        ["query", LINEAGE_SQL.format(qid=train_q), "--root", str(tmp_path), "--format", "json"],
    )
    got = json.loads(result.stdout)
    assert [(r["role"], r["judge_score"], r["kept"], r["reward"]) for r in got] == [
        ("train", 8, None, None),
        ("train", 2, None, None),
    ]
    assert json.loads(got[1]["checks"]) == {"uses_numbers": "fail"}
    result = runner.invoke(
        app,
        ["query", "select count(*) as n from filtered", "--root", str(tmp_path), "-f", "csv"],
    )
    assert result.stdout.splitlines() == ["n", "2"]


def test_missing_input_names_the_file_and_its_stage(tmp_path):
    write_inputs(tmp_path, [path(Q1, 0)])
    (tmp_path / "data/scores/reward.parquet").unlink()
    with pytest.raises(
        UserError, match=r"reward\.parquet not found \(run `dvc repro reward_score`\)"
    ):
        run(tmp_path)
    shutil.rmtree(tmp_path / "data/paths")
    with pytest.raises(UserError, match="no path shards .* `dvc repro sample`"):
        run(tmp_path)
    assert not (tmp_path / "data/filter").exists()


def test_a_wrong_column_type_names_the_file(tmp_path):
    write_inputs(tmp_path, [path(Q1, 0)])
    bad = tmp_path / "data/scores/critique.parquet"
    pl.read_parquet(bad).with_columns(pl.col("critique_score").cast(pl.Float64)).write_parquet(bad)
    with pytest.raises(UserError, match=r"critique\.parquet: `critique_scores` column types"):
        run(tmp_path)


def test_inputs_that_disagree_fail_and_write_nothing(tmp_path):
    rows = [path(Q1, 0), path(Q1, 1)]
    write_inputs(tmp_path, rows)
    run(tmp_path)
    before = (tmp_path / "data/filter/scores.parquet").read_bytes()
    reward = tmp_path / "data/scores/reward.parquet"
    pl.read_parquet(reward).head(1).write_parquet(reward)  # one scored path without a reward
    with pytest.raises(UserError, match=r"reward\.parquet: paths of `score` problems without a "
                       r"reward row: 1 \(e\.g\. p_"):  # fmt: skip
        run(tmp_path)
    critique = tmp_path / "data/scores/critique.parquet"
    write_inputs(tmp_path, rows + [path(problem_ids("heldout", 1)[0], 0)])
    frame = pl.read_parquet(critique)
    other = frame.head(1).with_columns(path_id=pl.lit("p_" + "0" * 16))
    pl.concat([frame, other]).write_parquet(critique)
    with pytest.raises(UserError, match="critique rows of paths that are not a `score` problem"):
        run(tmp_path)
    write_inputs(tmp_path, rows)
    pl.concat([pl.read_parquet(critique)] * 2).write_parquet(critique)
    pl.read_parquet(reward).with_columns(reward=float("nan")).write_parquet(reward)
    with pytest.raises(UserError) as failed:
        run(tmp_path)
    assert "critique.parquet: path_id repeats: 2" in str(failed.value)
    assert "reward.parquet: reward is not finite: 2 (e.g. p_" in str(failed.value)
    assert (tmp_path / "data/filter/scores.parquet").read_bytes() == before


def test_a_failed_check_leaves_the_previous_output(tmp_path, monkeypatch):
    write_inputs(tmp_path, [path(Q1, 0), path(Q1, 1, critique=2)])
    run(tmp_path)
    before = (tmp_path / "data/filter/scores.parquet").read_bytes()
    broken = {"a rule that never holds": "SELECT 1"}
    monkeypatch.setattr(filter_stage, "relation_checks", lambda *a: broken)
    with pytest.raises(ExpectationFailed, match="a rule that never holds: 1 rows break it"):
        run(tmp_path)
    assert (tmp_path / "data/filter/scores.parquet").read_bytes() == before
    assert not list(tmp_path.glob("data/.filter*"))


def test_contract_violations_checks_every_row(tmp_path):
    write_inputs(tmp_path, [path(Q1, 0), path(Q1, 1)])
    run(tmp_path)
    scores = pl.read_parquet(tmp_path / "data/filter/scores.parquet")
    bad = tmp_path / "bad.parquet"
    scores.with_columns(
        critique_score=pl.Series([11, 3], dtype=pl.Int64),
        drop_reason=pl.Series(["mystery", None]),
    ).write_parquet(bad)
    con = duckdb.connect()
    failures, evaluated = contract_violations(con, SCORES, bad, row_count=3)
    assert failures == [
        "critique_score <= 10: 1 rows break it",
        "drop_reason in {execution_failed, wrong_answer, critique_unparseable, "
        "below_critique_threshold, below_top_m}: 1 rows break it",
        "3 rows expected: 2",
    ]
    assert evaluated > 15
    assert contract_violations(con, SCORES, tmp_path / "data/filter/scores.parquet")[0] == []
    scores.drop("kept").write_parquet(bad)
    assert "columns are" in contract_violations(con, SCORES, bad)[0][0]
