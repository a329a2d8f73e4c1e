"""DPO pair mining (mathforge.pairs, stage pairs): each hard pair type found where its condition
holds and not where it fails, the caps and turns, best_worst and margin computed by hand, the
chosen texts, the stage end to end on the real filter's output with Great Expectations, the
lineage query through `mathforge query`, and clear errors. Hand-built rows and Parquet files;
the filter's helpers come from tests/test_filter.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml
from test_filter import path, problem_ids
from test_filter import run as run_filter
from test_filter import write_inputs as write_filter_inputs
from typer.testing import CliRunner

from mathforge.cli import app
from mathforge.config import ParamsError, load_params
from mathforge.contracts.pairs import PAIR_TYPES, PAIRS
from mathforge.contracts.splits import TRAIN
from mathforge.errors import UserError
from mathforge.expectations import ExpectationFailed
from mathforge.pairs import (
    mine_best_worst,
    mine_hard,
    mine_margin,
    pair_rows,
    program_steps,
    rounding_error,
)
from mathforge.solution import parse_solution, render_solution
from mathforge.stage import Stage
from stages import pairs as pairs_stage

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"

# A good program (37 seeds, 5 per pot, round up: 8) and the same with one constant wrong.
GOOD = "n1 = 37\nn2 = 5\nfull, rest = divmod(n1, n2)\nprint(full + (1 if rest else 0))"
ONE_OFF = GOOD.replace("n2 = 5", "n2 = 4")  # prints 10
FAR = (
    "total = 0\nfor i in range(37):\n    total = total + i * i\n"
    "avg = total / 5\nprint(int(avg) % 7 + 3)"
)  # a different computation altogether
(Q,) = problem_ids("score", 1)


def cfg(**overrides):
    return load_params("pairs", PARAMS, overrides)


def row(
    n: int,
    verdict: str = "kept",
    *,
    keep_rank: int | None = None,
    reward: float = 0.0,
    critique: int | None = 9,
    correct: bool | None = True,
    error_kind: str | None = None,
    written: str | None = "8",
    printed: str | None = "8",
    reference: str | None = "8",
    program: str = GOOD,
    hard: bool = False,
) -> dict:
    """One scored path of problem Q as the stage mines it: its `scores` verdict (`verdict` is
    kept, or the drop_reason) with its paths columns and hard flag."""
    good = verdict in ("kept", "below_top_m")
    return {
        "path_id": f"p_{n:016x}",
        "question_id": Q,
        "subject": "arithmetic",
        "model": "m1",
        "error_kind": error_kind,
        "correct": correct,
        "reward": reward,
        "critique_score": critique,
        "keep_rank": (keep_rank or n) if good else None,
        "kept": verdict == "kept",
        "drop_reason": None if verdict == "kept" else verdict,
        "text": render_solution(f"Seeds into pots, path {n}.", [program], written),
        "programs": [program],
        "final_answer": written,
        "predicted": printed,
        "reference": reference,
        "hard": hard,
    }


def wrong(n: int, printed: str, **kw) -> dict:
    return row(n, "wrong_answer", correct=False, printed=printed, **{"critique": 1, **kw})


def by_type(pairs) -> dict[str, list[tuple[int, int]]]:
    """pair_type -> [(chosen n, rejected n)] in mining order."""
    found: dict[str, list[tuple[int, int]]] = {}
    for p in pairs:
        ids = (int(p.chosen["path_id"][2:], 16), int(p.rejected["path_id"][2:], 16))
        found.setdefault(p.pair_type, []).append(ids)
    return found


# ---------------------------------------------------------------------- hard pair types
def test_cot_wrong_pot_right_only_where_the_written_answer_disagrees():
    rows = [
        row(1, reward=3.0),  # written 8, printed 8: agrees
        row(2, reward=2.0, written="5"),  # the program is right, the written answer is not
        row(3, "below_top_m", reward=1.0, written="8.0"),  # 8.0 states 8: agrees
        row(4, "below_top_m", reward=0.5, written=None),  # no written answer: nothing to say
        row(6, "below_top_m", reward=0.4, written="many seeds"),  # ungradable: not a "no"
        row(7, "below_top_m", reward=0.3, written="8 pots"),  # states 8
        wrong(5, "9", written="5", program=FAR),  # not a right answer
    ]
    pairs = mine_hard(rows, cfg(max_per_type=5))
    assert by_type(pairs) == {"cot_wrong_pot_right": [(1, 2)]}
    assert json.loads(json.dumps(pairs[0].detail)) == {"written": "5", "printed": "8"}
    # The rejected path is the only good one: no other good path to choose.
    assert mine_hard([row(2, written="5")], cfg()) == []


def test_chosen_texts_state_the_printed_answer_and_rejected_ones_stay_as_written():
    rows = [row(1, reward=3.0, written="11"), row(2, reward=2.0, written="5")]
    pairs = mine_hard(rows, cfg())
    # both disagree with what they printed: each is rejected once, the other chosen
    assert by_type(pairs) == {"cot_wrong_pot_right": [(2, 1), (1, 2)]}
    frame = pair_rows(pairs, "hard", {Q: "How many pots?"})
    for chosen, rejected in frame.select("chosen", "rejected").iter_rows():
        assert parse_solution(chosen).final_answer == "8"
        assert parse_solution(rejected).final_answer in ("11", "5")
        assert chosen.splitlines()[-1] == "Final answer: 8"
    assert frame["rejected"].to_list() == [rows[0]["text"], rows[1]["text"]]
    assert frame["prompt"].to_list() == ["How many pots?"] * 2


@pytest.mark.parametrize(
    ("predicted", "reference", "expected"),
    [
        ("0.67", "2/3", 0.005),  # a decimal for an exact value
        ("6.92", "6.91", 0.00145),  # a rounded cent
        ("12.5", "13", 0.0385),  # outside 1%
        ("12", "13", None),  # two integers: an arithmetic slip
        ("1000", "999", None),  # two integers within 1%: still a slip, not rounding
        ("100", "99.5", 0.00503),  # a rounded integer for a decimal
        ("0.7", "2/3", None),  # 5% off
        ("2/3", "2/3", None),  # equal: not an error at all
        ("sqrt(2)", "1.414", None),  # not a plain number
        ("50%", "0.5", None),
        (None, "8", None),
    ],
)
def test_rounding_error(predicted, reference, expected):
    got = rounding_error(predicted, reference, 0.01)
    if expected is None or expected > 0.01:
        assert got is None
    else:
        assert got == pytest.approx(expected, rel=0.01)


def test_rounding_pairs_a_near_number_and_not_a_far_one():
    rows = [
        row(1, reward=1.0, printed="2/3", reference="2/3", written="2/3"),
        wrong(2, "0.67", reference="2/3", written="0.67", reward=0.5, program="print(0.67)"),
        wrong(3, "0.7", reference="2/3", written="0.7", reward=0.9, program="print(0.7)"),
    ]
    pairs = mine_hard(rows, cfg())
    assert by_type(pairs) == {"rounding": [(1, 2)]}
    assert pairs[0].detail["relative_error"] == pytest.approx(0.005)
    assert by_type(mine_hard(rows, cfg(rounding_tolerance=0.1))) == {"rounding": [(1, 3), (1, 2)]}


def test_program_steps_count_statements_not_prints_or_imports():
    assert program_steps(GOOD) == 3
    assert program_steps("import math\nprint(math.gcd(28, 58))") == 0
    assert program_steps("x = 1\nfor i in range(3):\n    x = x * 2\nprint(x)") == 3
    assert program_steps("x = = 1") == 0  # does not parse: no steps


def test_one_step_wrong_pairs_the_nearest_good_program():
    other_good = GOOD.replace("full, rest = divmod(n1, n2)", "full = n1 // n2\nrest = n1 % n2")
    rows = [
        row(1, reward=2.0, program=other_good),  # good, keep_rank 1, a different program
        row(2, "below_top_m", reward=1.0),  # good, keep_rank 2, GOOD itself
        wrong(3, "10", program=ONE_OFF, reward=-1.0),  # one constant away from GOOD
        wrong(4, "11", program=FAR, reward=5.0),  # multi-step, far from both
        wrong(5, "9", program="print(9)", reward=4.0, written="9"),  # no steps
    ]
    pairs = mine_hard(rows, cfg())
    assert by_type(pairs)["one_step_wrong"] == [(2, 3)]  # the nearest, not the best ranked
    assert 0 < pairs[0].detail["distance"] <= 0.2
    assert "one_step_wrong" not in by_type(mine_hard(rows, cfg(max_step_distance=0.01)))
    assert "one_step_wrong" not in by_type(mine_hard(rows, cfg(min_steps=4)))


def test_wrong_reasoning_is_a_right_answer_the_critique_rejected_against_a_kept_path():
    rows = [
        row(1, "below_top_m", reward=5.0),  # good but not kept: never wrong_reasoning's chosen
        row(2, reward=1.0),  # kept
        row(3, "below_critique_threshold", critique=2, reward=3.0),  # right answer, low critique
        row(4, "below_critique_threshold", critique=2, correct=None, reward=4.0),  # ungradable
        row(5, "critique_unparseable", critique=None, reward=6.0),
    ]
    rows[0]["keep_rank"], rows[1]["keep_rank"] = 2, 1
    assert by_type(mine_hard(rows, cfg())) == {"wrong_reasoning": [(2, 3)]}
    # the kept path's own text, scored low on another sampling of it: no pair against itself
    rows[2]["text"] = rows[1]["text"]
    assert mine_hard(rows, cfg()) == []


def test_hard_problem_only_in_hard_problems_highest_reward_first():
    def problem(hard: bool) -> list[dict]:
        return [
            row(1, reward=0.0, hard=hard),
            wrong(2, "99", program="print(99)", written="99", reward=2.0, hard=hard),
            row(3, "execution_failed", error_kind="timeout", correct=False, printed=None,
                reward=5.0, hard=hard, critique=0),
            row(4, "critique_unparseable", critique=None, reward=9.0, hard=hard),
        ]  # fmt: skip

    assert by_type(mine_hard(problem(True), cfg())) == {"hard_problem": [(1, 3), (1, 2)]}
    assert mine_hard(problem(False), cfg()) == []
    assert mine_hard([r for r in problem(True) if r["drop_reason"]], cfg()) == []  # no good path


def test_paths_with_one_text_are_one_rejection():
    first = wrong(2, "99", program="print(99)", written="99", reward=2.0, hard=True)
    twin = wrong(3, "99", program="print(99)", written="99", reward=1.0, hard=True)
    rows = [row(1, hard=True), first, {**twin, "text": first["text"]}]  # sampled twice
    pairs = mine_hard(rows, cfg(max_per_type=5))
    assert by_type(pairs) == {"hard_problem": [(1, 2)]}


def test_caps_turns_and_rotation():
    good = [row(n, "kept" if n <= 2 else "below_top_m", reward=10.0 - n) for n in (1, 2, 3)]
    cot = [row(n, "below_top_m", reward=5.0 - n, written="5") for n in (4, 5, 6, 7)]  # good
    reasoning = [row(n, "below_critique_threshold", critique=3, reward=-n) for n in (8, 9, 10)]
    rows = good + cot + reasoning
    pairs = mine_hard(rows, cfg(max_per_type=2, max_per_problem=8))
    found = by_type(pairs)
    # two of each type, taking turns; chosen paths rotate by keep_rank (wrong_reasoning: kept)
    assert [p.pair_type for p in pairs] == ["cot_wrong_pot_right", "wrong_reasoning"] * 2
    assert found["cot_wrong_pot_right"] == [(1, 4), (2, 5)]
    assert found["wrong_reasoning"] == [(1, 8), (2, 9)]
    capped = mine_hard(rows, cfg(max_per_type=5, max_per_problem=5))
    assert [p.pair_type for p in capped] == ["cot_wrong_pot_right", "wrong_reasoning"] * 2 + [
        "cot_wrong_pot_right"
    ]
    assert [r for _, r in by_type(capped)["cot_wrong_pot_right"]] == [4, 5, 6]
    # every rejected path once; the chosen rotation skips the rejected path itself
    everything = mine_hard(rows, cfg(max_per_type=10, max_per_problem=20))
    rejected = [p.rejected["path_id"] for p in everything]
    assert len(rejected) == len(set(rejected)) == 7
    assert all(p.chosen["path_id"] != p.rejected["path_id"] for p in everything)
    assert [c for c, _ in by_type(everything)["wrong_reasoning"]] == [1, 2, 1]


# ------------------------------------------------------------------- best_worst, margin
def by_hand_problem() -> list[dict]:
    return [
        row(1, reward=1.0, critique=9, keep_rank=2),
        row(2, reward=2.0, critique=9, keep_rank=1),  # the best: critique 9, reward 2
        row(3, "below_critique_threshold", reward=0.5, critique=1),
        wrong(4, "3", reward=3.0, critique=0),
        row(5, "execution_failed", error_kind="syntax", correct=False, printed=None,
            reward=-1.0, critique=None),  # the lowest: an unparseable critique
        wrong(6, "4", reward=0.0, critique=0),
    ]  # fmt: skip


def test_best_worst_by_hand():
    (pair,) = mine_best_worst(by_hand_problem())
    assert by_type([pair]) == {"best_worst": [(2, 5)]}
    assert pair.detail == {"chosen_score": [9, 2.0], "rejected_score": [-1, -1.0]}
    # one good path, lowest of all (nothing scored below it): no pair
    alone = [row(1, reward=-5.0, critique=7, written="5"), wrong(2, "3", reward=0.0, critique=8)]
    assert mine_best_worst(alone) == []
    # the lowest is the best path sampled twice, word for word: the pair would teach nothing
    twice = [row(1, reward=2.0), {**row(2, reward=1.0), "text": row(1)["text"]}]
    assert mine_best_worst(twice) == []
    assert by_type(mine_best_worst([twice[0], row(2, reward=1.0)])) == {"best_worst": [(1, 2)]}
    assert mine_best_worst([wrong(2, "3")]) == []  # no good path


@pytest.mark.parametrize(("sigmas", "rejected"), [(0.0, 3), (1.0, 6), (2.0, 5)])
def test_margin_by_hand(sigmas, rejected):
    # rewards 1, 2, 0.5, 3, -1, 0: mean 0.9167, population std 1.3044; targets 0.917 (nearest
    # failed reward 0.5: path 3), -0.388 (0.0: path 6), -1.692 (-1.0: path 5)
    (pair,) = mine_margin(by_hand_problem(), sigmas)
    assert by_type([pair]) == {"margin": [(2, rejected)]}
    assert pair.detail["std"] == pytest.approx(1.30437, abs=1e-4)
    assert pair.detail["target"] == pytest.approx(0.916667 - sigmas * 1.30437, abs=1e-4)
    assert mine_margin([row(1), row(2, "below_top_m")], sigmas) == []  # nothing failed


# ------------------------------------------------------------------------- the stage
def sol(qid: str, i: int, *, written="8", printed="8", program=GOOD, **kw) -> dict:
    """A path of test_filter's shape with this module's texts, programs and answers."""
    base = path(qid, i, **kw)
    ran = base["error_kind"] is None
    return {
        **base,
        "text": render_solution(f"Path {i} of {qid}.", [program], written),
        "programs": [program],
        "final_answer": written,
        "predicted": printed if ran else None,
        "reference": "8",
    }


Q1, Q2, Q3 = problem_ids("score", 3)
(TRAIN_Q,) = problem_ids("train", 1)


def scenario() -> list[dict]:
    """Q1 (3 of 6 paths pass: not hard) holds one pair of every type but hard_problem; Q2
    (1 of 4 pass: hard) two hard_problem pairs (its two wrong paths are one text); Q3 has no
    good path; TRAIN_Q's paths are not scored."""
    w = {"correct": False, "critique": 1}
    return [
        sol(Q1, 0, reward=3.0),
        sol(Q1, 1, reward=2.0, written="5"),  # cot_wrong_pot_right
        sol(Q1, 2, reward=1.5, critique=3),  # wrong_reasoning
        sol(Q1, 3, reward=1.2, printed="8.04", written="8.04", **w),  # rounding
        sol(Q1, 4, reward=1.0),
        sol(Q1, 5, reward=-1.0, printed="10", written="10", program=ONE_OFF, **w),  # one step
        sol(Q2, 0, reward=1.0),
        sol(Q2, 1, reward=5.0, error_kind="timeout", correct=False, critique=0),
        sol(Q2, 2, reward=2.0, printed="99", written="99", program="print(99)", **w),
        {**sol(Q2, 3, reward=0.0, printed="99", written="99", program="print(99)", **w),
         "text": sol(Q2, 2, written="99", program="print(99)")["text"]},  # the same text
        sol(Q3, 0, printed="7", **w),
        sol(Q3, 1, printed="9", **w),
        sol(TRAIN_Q, 0),
    ]  # fmt: skip


def write_inputs(root: Path, rows: list[dict]) -> None:
    """The sample stage's shards, the real filter's outputs on them, and the train split."""
    write_filter_inputs(root, rows)
    run_filter(root)
    qids = sorted({r["question_id"] for r in rows})
    (root / "data/splits").mkdir(parents=True, exist_ok=True)
    TRAIN.frame(
        [{"question_id": q, "question": f"Question {q}: 37 seeds, 5 a pot. Pots?", "split": "train",
          "ood": False, "subject": "arithmetic"} for q in qids]
    ).write_parquet(root / "data/splits/train.parquet")  # fmt: skip


def run(root: Path, **overrides) -> dict:
    """The stage's main() on `root/data` with params.yaml's pairs section (and `overrides`)."""
    params = root / "params.yaml"
    raw = yaml.safe_load((params if params.exists() else PARAMS).read_text())
    raw["pairs"] = {**yaml.safe_load(PARAMS.read_text())["pairs"], **overrides}
    params.write_text(yaml.safe_dump(raw))
    pairs_stage.main(
        [
            str(root / "data/paths"),
            str(root / "data/filter"),
            str(root / "data/splits/train.parquet"),
            str(root / "data/pairs"),
            str(root / "metrics/pairs.json"),
            "--params",
            str(params),
        ]
    )
    return json.loads((root / "metrics/pairs.json").read_text())


# From a DPO pair to both paths, their scores and their problem (README, "Mining DPO pairs").
LINEAGE_SQL = """
SELECT d.pair_type, t.question,
       c.path_id AS chosen_path, c.predicted AS chosen_printed, cs.reward AS chosen_reward,
       cs.critique_score AS chosen_critique, cs.drop_reason AS chosen_verdict,
       r.path_id AS rejected_path, r.predicted AS rejected_printed, rs.reward AS rejected_reward,
       rs.critique_score AS rejected_critique, rs.drop_reason AS rejected_verdict
FROM pairs d
JOIN train t ON t.question_id = d.question_id
JOIN paths c ON c.path_id = d.chosen_path_id
JOIN scores cs ON cs.path_id = d.chosen_path_id
JOIN paths r ON r.path_id = d.rejected_path_id
JOIN scores rs ON rs.path_id = d.rejected_path_id
ORDER BY d.question_id, d.pair_type
"""


def test_stage_end_to_end_and_the_lineage_query(tmp_path):
    rows = scenario()
    write_inputs(tmp_path, rows)
    metrics = run(tmp_path, strategy="hard", max_per_type=3)
    assert metrics["by_type"] == {
        "cot_wrong_pot_right": 1, "rounding": 1, "one_step_wrong": 1, "wrong_reasoning": 1,
        "hard_problem": 2, "best_worst": 0, "margin": 0,
    }  # fmt: skip
    assert set(metrics["by_type"]) == set(PAIR_TYPES)
    assert metrics["pairs"] == 6 and metrics["strategy"] == "hard"
    assert metrics["problems"] == 3 and metrics["problems_with_pair"] == 2
    assert metrics["problems_hard"] == 2 and metrics["problems_without_good_path"] == 1
    assert metrics["paths_used"] == 8 and metrics["chosen_paths"] == 2
    assert metrics["expectations_evaluated"] > 30
    assert not any("second" in key for key in metrics)  # no timings: dvc.lock stays put
    run_log = json.loads((tmp_path / "metrics/pairs.run.json").read_text())  # they are here
    assert run_log["seconds"] >= run_log["seconds_mining"] > 0
    out = pl.read_parquet(tmp_path / "data/pairs/pairs.parquet")
    assert out.schema == PAIRS.schema
    assert sorted(p.name for p in (tmp_path / "data/pairs").iterdir()) == ["pairs.parquet"]
    by_id = {r["path_id"]: r for r in rows}
    for qid, chosen, rejected in out.select(
        "question_id", "chosen_path_id", "rejected_path_id"
    ).rows():
        assert by_id[chosen]["question_id"] == by_id[rejected]["question_id"] == qid
    hard_pairs = out.filter(pl.col("pair_type") == "hard_problem")
    assert hard_pairs["rejected_path_id"].to_list() == [rows[7]["path_id"], rows[8]["path_id"]]
    assert hard_pairs["hard"].to_list() == [True, True]

    # Mined one problem at a time, the same rows.
    again = tmp_path / "again"
    shutil.copytree(tmp_path / "data", again / "data")
    run(again, strategy="hard", max_per_type=3, batch_problems=1)
    assert pl.read_parquet(again / "data/pairs/pairs.parquet").equals(out)

    result = CliRunner().invoke(
        app, ["query", LINEAGE_SQL, "--root", str(tmp_path), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert len(got) == 6
    rounding = next(r for r in got if r["pair_type"] == "rounding")
    assert rounding["chosen_path"] == rows[0]["path_id"]
    assert rounding["rejected_path"] == rows[3]["path_id"]
    assert (rounding["chosen_printed"], rounding["rejected_printed"]) == ("8", "8.04")
    assert (rounding["chosen_reward"], rounding["rejected_reward"]) == (3.0, 1.2)
    assert (rounding["chosen_verdict"], rounding["rejected_verdict"]) == (None, "wrong_answer")
    assert rounding["question"].startswith(f"Question {Q1}")
    assert {r["chosen_verdict"] for r in got} <= {None, "below_top_m"}


def test_best_worst_and_margin_through_the_stage(tmp_path):
    rows = scenario()
    write_inputs(tmp_path, rows)
    metrics = run(tmp_path, strategy="best_worst")
    assert metrics["by_type"]["best_worst"] == metrics["pairs"] == 2
    out = pl.read_parquet(tmp_path / "data/pairs/pairs.parquet")
    # Q1: best = path 0 (critique 9, reward 3); lowest = path 5 (critique 1, reward -1.0).
    # Q2: best = path 0; lowest = path 1 (critique 0).
    assert set(out.select("chosen_path_id", "rejected_path_id").rows()) == {
        (rows[0]["path_id"], rows[5]["path_id"]),
        (rows[6]["path_id"], rows[7]["path_id"]),
    }
    assert set(out["strategy"]) == {"best_worst"}
    # margin, target = the mean: Q1's rewards average 1.283, nearest failed path 3 (1.2); Q2's
    # average 2.0: path 2 (2.0)
    metrics = run(tmp_path, strategy="margin", margin_sigmas=0.0)
    assert metrics["by_type"]["margin"] == 2 and metrics["by_type"]["best_worst"] == 0
    out = pl.read_parquet(tmp_path / "data/pairs/pairs.parquet")
    assert set(out["rejected_path_id"]) == {rows[3]["path_id"], rows[8]["path_id"]}


def test_missing_inputs_name_the_file_and_the_stage_and_write_nothing(tmp_path):
    write_inputs(tmp_path, scenario())
    run(tmp_path)
    before = (tmp_path / "data/pairs/pairs.parquet").read_bytes()
    train = tmp_path / "data/splits/train.parquet"
    moved = tmp_path / "train.parquet"
    train.rename(moved)
    with pytest.raises(UserError, match=r"train\.parquet not found \(run `dvc repro split`\)"):
        run(tmp_path)
    pl.read_parquet(moved).filter(pl.col("question_id") != Q2).write_parquet(train)
    with pytest.raises(UserError, match=rf"train\.parquet: 1 scored problem\(s\) are not in the "
                       rf"train split \(e\.g\. {Q2}\)"):  # fmt: skip
        run(tmp_path)
    (tmp_path / "data/filter/scores.parquet").unlink()
    with pytest.raises(UserError, match=r"scores\.parquet not found \(run `dvc repro filter`\)"):
        run(tmp_path)
    shutil.rmtree(tmp_path / "data/paths")
    with pytest.raises(UserError, match=r"no path shards .* `dvc repro sample`"):
        run(tmp_path)
    assert (tmp_path / "data/pairs/pairs.parquet").read_bytes() == before
    assert not list(tmp_path.glob("data/.pairs*"))


def test_inputs_that_disagree_or_have_the_wrong_type_fail_clearly(tmp_path):
    rows = scenario()
    write_inputs(tmp_path, rows)
    scores = tmp_path / "data/filter/scores.parquet"
    original = pl.read_parquet(scores)
    original.with_columns(pl.col("reward").cast(pl.String)).write_parquet(scores)
    with pytest.raises(UserError, match=r"scores\.parquet: `scores` column types: reward is "
                       r"String, expected Float64"):  # fmt: skip
        run(tmp_path)
    shard = tmp_path / "data/paths/m1/shard-00000.parquet"
    pl.read_parquet(shard).filter(pl.col("path_id") != rows[4]["path_id"]).write_parquet(shard)
    original.write_parquet(scores)
    missing = rf"1 scored path\(s\) are not in the path shards .* \(e\.g\. {rows[4]['path_id']}\)"
    with pytest.raises(UserError, match=rf"scores\.parquet: {missing}.*`dvc repro filter`"):
        run(tmp_path)
    problems = tmp_path / "data/filter/problems.parquet"
    write_inputs(tmp_path, rows)
    pl.read_parquet(problems).filter(pl.col("question_id") != Q3).write_parquet(problems)
    with pytest.raises(UserError, match=rf"problems\.parquet: 1 problem\(s\) of .*scores\.parquet "
                       rf"have no row \(e\.g\. {Q3}\)"):  # fmt: skip
        run(tmp_path)


def test_no_pair_at_all_is_an_error(tmp_path):
    write_inputs(tmp_path, [sol(Q1, i, printed="7", correct=False, critique=1) for i in range(3)])
    with pytest.raises(UserError, match=r"no pair mined \(strategy hard\) from 1 problems.*1 of "
                       r"them without a path that passed every check"):  # fmt: skip
        run(tmp_path)
    assert not (tmp_path / "data/pairs").exists()


def test_the_checks_fail_on_broken_pairs(tmp_path):
    write_inputs(tmp_path, scenario())
    run(tmp_path, max_per_type=3)
    out = pl.read_parquet(tmp_path / "data/pairs/pairs.parquet")
    stage = Stage("pairs")
    stage.validate(out, PAIRS)
    same = out.with_columns(  # one row's rejected path is its chosen one (still unique)
        rejected_path_id=pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.col("chosen_path_id"))
        .otherwise(pl.col("rejected_path_id"))
    )
    with pytest.raises(ExpectationFailed, match=r"expect_column_values_to_be_null.*"
                       r"chosen_path_id==rejected_path_id"):  # fmt: skip
        stage.validate(same, PAIRS)
    scores = tmp_path / "data/filter/scores.parquet"
    pairs_cfg = cfg(max_per_type=3)
    pairs_stage.check_relations(stage, out, scores, pairs_cfg)  # the real pairs hold
    swapped = out.with_columns(
        chosen_path_id=pl.col("rejected_path_id"), rejected_path_id=pl.col("chosen_path_id")
    )
    with pytest.raises(ExpectationFailed, match=r"chosen_drop_reason"):
        pairs_stage.check_relations(stage, swapped, scores, pairs_cfg)
    with pytest.raises(ExpectationFailed, match=r"expect_column_max_to_be_between.*pairs"):
        pairs_stage.check_relations(stage, out, scores, cfg(max_per_type=3, max_per_problem=3))
    with pytest.raises(ExpectationFailed, match=r"pair_type"):
        pairs_stage.check_relations(stage, out, scores, cfg(strategy="margin"))


def test_a_strategy_must_be_known():
    with pytest.raises(ParamsError, match=r"pairs\.strategy"):
        cfg(strategy="best_vs_worst")
