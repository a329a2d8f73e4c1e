"""The `diversity` stage (stages/diversity.py, mathforge.diversity.rft) on hand-built inputs run
through the real filter stage first: duplicates collapse to one path and name it, the spread
set is the brute-force best here, the RFT text states the executed answer, the per-problem and
pooled-model counts, the lineage query, and clear errors that write nothing."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from mathforge.cli import app
from mathforge.contracts.paths import SAMPLED
from mathforge.contracts.splits import TRAIN
from mathforge.diversity import normalize_program, program_distance
from mathforge.errors import UserError
from mathforge.solution import parse_solution
from stages import diversity as diversity_stage
from tests.test_filter import ROOT, path, problem_ids, run, write_inputs

(Q1, Q2) = problem_ids("score", 2)
(QT,) = problem_ids("train", 1)

# One problem's programs, all printing 12: A and A2 are one reasoning (names, a comment and a
# debug print differ); B, C and D are other approaches.
A = "price = 3\ncount = 4\nprint(price * count)"
A2 = "# total cost\nx = 3\ny = 4\nprint('debug', x)\nprint(x * y)"
B = "total = 0\nfor _ in range(4):\n    total += 3\nprint(total)"
C = "import math\nprint(math.prod([3, 4]))"
D = "from decimal import Decimal\nprint(Decimal(3) * Decimal(4))"


def good(qid: str, index: int, program: str, *, reward: float, critique: int = 9,
         model: str = "m1", final: str = "13") -> dict:  # fmt: skip
    """A path that passes every filter check, with `program`, printing 12; its text states
    `final` (the policies' unexecuted final answer, often wrong)."""
    row = path(qid, index, reward=reward, critique=critique, model=model)
    text = f"Multiply.\n\n```python\n{program}\n```\n\nFinal answer: {final}"
    return {**row, "text": text, "programs": [program], "final_answer": final,
            "exec_stdout": "12\n", "predicted": "12", "reference": "12"}  # fmt: skip


def write_sampled_and_train(root: Path, rows: list[dict]) -> None:
    frame = pl.DataFrame(rows, infer_schema_length=None)
    problems = frame.group_by("question_id").agg(
        pl.col("subject").first(), pl.col("reference").first(),
        pl.col("reference_source").first(), paths=pl.len().cast(pl.Int64),
        correct_paths=pl.col("correct").fill_null(False).sum().cast(pl.Int64),
    ).with_columns(majority_share=None, ungradable_paths=pl.lit(0, pl.Int64))  # fmt: skip
    SAMPLED.frame(problems).write_parquet(root / "data/paths/problems.parquet")
    (root / "data/splits").mkdir(parents=True, exist_ok=True)
    TRAIN.frame(
        [
            {
                "question_id": q,
                "subject": "arithmetic",
                "skill": "s",
                "variant": "v",
                "question": f"What is 3 times 4? ({q})",
                "answer": "12",
                "solution": "s",
                "generator": "g",
                "seed_ids": [],
                "params": "{}",
                "synth_index": 0,
                "split": "train",
                "ood": False,
            }
            for q in problems["question_id"]
        ]  # fmt: skip
    ).write_parquet(root / "data/splits/train.parquet")


def run_diversity(root: Path, **overrides) -> dict:
    params = root / "params.yaml"
    raw = yaml.safe_load(params.read_text())
    raw["diversity"].update({"workers": 1, **overrides})
    params.write_text(yaml.safe_dump(raw))
    diversity_stage.main([
        str(root / "data/paths"), str(root / "data/filter"),
        str(root / "data/splits/train.parquet"), str(root / "data/diversity"),
        str(root / "metrics/diversity.json"), str(root / "plots/diversity"),
        "--params", str(params),
    ])  # fmt: skip
    return json.loads((root / "metrics/diversity.json").read_text())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Q1: five good paths (A, its duplicate A2, B, C, D) of two models, and one wrong one;
    Q2: one good path that prints the answer as a literal (the judge rejects it); QT: a
    train problem (not filtered). Filter keeps 8 per problem,
    diversity k = 3."""
    root = tmp_path_factory.mktemp("diversity")
    rows = [
        good(Q1, 0, A, reward=5.0, critique=8),
        good(Q1, 1, A2, reward=4.0, critique=10, model="m2"),  # duplicate of A, preferred
        good(Q1, 2, B, reward=3.0),
        good(Q1, 3, C, reward=2.0, model="m2"),
        good(Q1, 4, D, reward=1.0),
        path(Q1, 5, reward=9.0, correct=False),
        good(Q2, 0, "print(12)", reward=1.0, final="12"),  # the answer as a literal
        good(QT, 0, A, reward=1.0),
        good(QT, 0, B, reward=1.0, model="m2"),
    ]
    write_inputs(root, rows)
    write_sampled_and_train(root, rows)
    run(root, overrides={"top_m": 8})
    metrics = run_diversity(root, k=3)
    read = {name: pl.read_parquet(root / f"data/diversity/{name}.parquet")
            for name in ("selected", "candidates", "problems")}  # fmt: skip
    return root, rows, metrics, read


def test_duplicates_collapse_to_the_preferred_path_and_name_it(built):
    _, rows, metrics, read = built
    verdict = {r["path_id"]: r for r in read["candidates"].iter_rows(named=True)}
    a, a2 = verdict[rows[0]["path_id"]], verdict[rows[1]["path_id"]]
    assert a["form_id"] == a2["form_id"]
    # A2 has the higher critique score: it stands for the form, A is its duplicate
    assert a2["selected"] and not a["selected"]
    assert (a["drop_reason"], a["of_path_id"], a["distance"]) == ("duplicate", a2["path_id"], 0.0)
    assert metrics["dropped_duplicate"] == 1
    assert read["candidates"].height == 6  # the 5 good paths of Q1 and the one of Q2


def test_the_spread_set_is_the_brute_force_best_here(built):
    _, rows, metrics, read = built
    q1 = read["selected"].filter(pl.col("question_id") == Q1)
    assert q1.height == 3 and q1["form_id"].n_unique() == 3
    forms = {i: normalize_program(rows[i]["programs"][0]) for i in (1, 2, 3, 4)}

    def spread(ids):
        return min(program_distance(forms[a], forms[b]) for a, b in itertools.combinations(ids, 2))

    best = max(spread(ids) for ids in itertools.combinations(forms, 3))
    chosen = [i for i in forms if rows[i]["path_id"] in set(q1["path_id"])]
    assert spread(chosen) == pytest.approx(best)
    problem = read["problems"].filter(pl.col("question_id") == Q1).row(0, named=True)
    assert problem["min_distance"] == pytest.approx(best, abs=1e-6)
    # the one left out is less_spread and names its nearest selected path
    (out,) = read["candidates"].filter(pl.col("drop_reason") == "less_spread").to_dicts()
    assert out["of_path_id"] in set(q1["path_id"])
    assert metrics["dropped_less_spread"] == 1 and metrics["selected"] == 4


def test_the_rft_text_states_the_executed_answer(built):
    _, rows, _, read = built
    for row in read["selected"].iter_rows(named=True):
        parsed = parse_solution(row["text"])
        assert parsed.final_answer == row["predicted"] == "12"  # the paths wrote 13
        assert row["prompt"].startswith("What is 3 times 4?")
    assert QT not in set(read["selected"]["question_id"])  # a train problem is not filtered


def test_problem_counts_and_pooled_models(built):
    _, _, metrics, read = built
    problems = {r["question_id"]: r for r in read["problems"].iter_rows(named=True)}
    q1 = problems[Q1]
    assert (q1["role"], q1["samples"], q1["correct_paths"]) == ("score", 6, 5)
    # as written: A, A2, B, C, D and the wrong path's print(4): 6; normalized, A = A2: 5
    assert (q1["distinct_raw"], q1["distinct_forms"]) == (6, 5)
    assert (q1["correct_raw"], q1["correct_forms"]) == (5, 4)
    assert (q1["candidates"], q1["candidate_forms"], q1["selected"]) == (5, 4, 3)
    assert problems[QT]["candidates"] == 0 and problems[QT]["role"] == "train"
    assert metrics["normalization"]["correct_paths"]["collapsed"] == 1
    # distinct correct forms: Q1 {A: m1+m2, B: m1, C: m2, D: m1}, Q2 {12: m1}, QT {A: m1, B: m2}
    pooled = metrics["models"]["correct_paths"]
    assert pooled["forms"] == 7
    assert pooled["share"] == {"m1": round(5 / 7, 4), "m2": round(3 / 7, 4)}
    assert pooled["overlap"] == round(1 / 7, 4)
    assert pooled["only"] == {"m1": round(4 / 7, 4), "m2": round(2 / 7, 4)}


def test_the_judge_audits_what_the_filter_let_through(built):
    """Q2's path is right but prints the answer as a literal: the critique-stand-in filter
    kept it, the judge rejects it; Q1's computed paths it accepts."""
    _, _, metrics, _ = built
    audit = metrics["judge_audit"]
    assert (audit["filtered"]["paths"], audit["filtered"]["rejected"]) == (6, 1)
    assert (audit["selected"]["paths"], audit["selected"]["rejected"]) == (4, 1)
    assert audit["selected"]["rejected_share"] == 0.25
    lo, hi = audit["selected"]["ci95"]
    assert 0 <= lo <= 0.25 <= hi <= 1


def test_the_plots_tables(built):
    root, _, _, _ = built
    distinct = pl.read_csv(root / "plots/diversity/distinct.csv")
    assert distinct.columns == ["count", "samples", "correct", "candidates", "selected"]
    # two score problems: Q1 selected 3, Q2 selected 1
    assert dict(zip(distinct["count"], distinct["selected"], strict=True))[3] == 1
    assert distinct["selected"].sum() == 2
    models = pl.read_csv(root / "plots/diversity/models.csv")
    assert models["source"].to_list() == ["m1", "m2", "2+ models"] * 2
    assert models["label"].to_list()[:3] == [
        "1.1 correct paths · m1",
        "1.2 correct paths · m2",
        "1.3 correct paths · 2+ models",
    ]
    correct = models.filter(pl.col("paths") == "correct paths")
    assert correct["share"].to_list() == [round(5 / 7, 4), round(3 / 7, 4), round(1 / 7, 4)]


def test_the_lineage_query_from_the_rft_set(built):
    """From a selected path: its problem, its scores and filter verdict, and the paths
    dropped as its duplicates."""
    root, rows, _, _ = built
    sql = (
        "SELECT s.path_id, t.question, sc.reward, sc.kept, d.path_id AS duplicate "
        "FROM selected s JOIN train t USING (question_id) JOIN scores sc USING (path_id) "
        "LEFT JOIN diversity d ON d.of_path_id = s.path_id AND d.drop_reason = 'duplicate' "
        f"WHERE s.path_id = '{rows[1]['path_id']}'"
    )
    result = CliRunner().invoke(app, ["query", sql, "--root", str(root), "--format", "json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["duplicate"] == rows[0]["path_id"] and row["kept"] and row["reward"] == 4.0
    assert row["question"].startswith("What is 3 times 4?")


def test_errors_name_the_file_and_write_nothing(tmp_path):
    rows = [good(Q1, 0, A, reward=1.0)]
    write_inputs(tmp_path, rows)
    write_sampled_and_train(tmp_path, rows)
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    with pytest.raises(UserError, match=r"filtered.parquet not found \(run `dvc repro filter`\)"):
        run_diversity(tmp_path)
    run(tmp_path, overrides={"top_m": 8})
    # the sample stage's table and its shards disagree: a problem only in the table
    extra = pl.read_parquet(tmp_path / "data/paths/problems.parquet").with_columns(
        question_id=pl.lit(Q2)
    )
    pl.concat([pl.read_parquet(tmp_path / "data/paths/problems.parquet"), extra]).write_parquet(
        tmp_path / "data/paths/problems.parquet"
    )
    with pytest.raises(UserError, match="the shards' problems and problems.parquet's differ"):
        run_diversity(tmp_path)
    assert not (tmp_path / "data/diversity").exists()
    assert not (tmp_path / "metrics/diversity.json").exists()
    with pytest.raises(Exception, match="k"):
        run_diversity(tmp_path, k=0)
