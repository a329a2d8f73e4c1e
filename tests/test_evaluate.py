"""`mathforge evaluate`: any model on any split, executed, graded, with intervals.

The model behind most tests is a real OpenAI-compatible server on loopback whose answers the
test scripts (tests/openai_server.py), so the accuracies are known in advance; the command
line runs a real tiny model directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tiny_models import save_tiny_model
from typer.testing import CliRunner

from mathforge.cli import app
from mathforge.comparison import paired_difference
from mathforge.config import load_params
from mathforge.errors import UserError
from mathforge.evaluation import bootstrap_ci, evaluate, limit_problems, model_generator
from mathforge.generation.openai_backend import OpenAIChatGenerator

ROOT = Path(__file__).resolve().parents[1]
SANDBOX = load_params("sandbox", ROOT / "params.yaml", {"timeout_s": 2.0})

PROBLEMS = pl.DataFrame(
    {
        "question_id": [f"q_{i:016x}" for i in range(6)],
        "subject": ["arithmetic"] * 3 + ["algebra"] * 3,
        "question": [f"What is {i} + {i}?" for i in range(6)],
        "answer": [str(2 * i) for i in range(6)],
        "ood": [False, False, True, False, False, True],
    }
)


def solution(value: object) -> str:
    return f"Add them.\n\n```python\nprint({value!r})\n```\n\nFinal answer: {value}"


def scripted(printed: dict[int, list[object]]):
    """A server response: for the question about i, the paths print printed[i] in turn."""

    def respond(request: dict) -> list[str]:
        question = request["messages"][-1]["content"]
        i = next(k for k in printed if f"What is {k} + {k}?" in question)
        return [solution(v) for v in printed[i][: request.get("n", 1)]]

    return respond


def test_bootstrap_interval_on_known_cases():
    assert bootstrap_ci([1.0] * 20) == [1.0, 1.0]
    assert bootstrap_ci([]) is None
    half = bootstrap_ci([1.0, 0.0] * 200, seed=1)
    # the normal approximation: 0.5 +- 1.96 * sqrt(0.25 / 400) = 0.5 +- 0.049
    assert half[0] == pytest.approx(0.451, abs=0.01) and half[1] == pytest.approx(0.549, abs=0.01)
    assert bootstrap_ci([1.0, 0.0] * 200, seed=1) == half  # seeded


def test_greedy_accuracy_with_groups_and_intervals(openai_server):
    # problems 0, 1, 3 right; 2 (ood) and 5 (ood) wrong; 4 prints nothing a grader can read
    openai_server.respond = scripted({0: [0], 1: [2], 2: [5], 3: [6], 4: ["four"], 5: [1]})
    generator = OpenAIChatGenerator(openai_server.base_url, "toy", concurrency=2, timeout_s=10)
    report, paths = evaluate(generator, PROBLEMS, model="toy", system=False, sandbox=SANDBOX)
    assert report["overall"]["accuracy"] == 0.5 and report["overall"]["problems"] == 6
    assert report["in_distribution"] == {**report["in_distribution"], "accuracy": 0.75}
    assert report["ood"]["accuracy"] == 0.0 and report["ood"]["ci95"] == [0.0, 0.0]
    lo, hi = report["overall"]["ci95"]
    assert 0.0 <= lo < 0.5 < hi <= 1.0
    assert report["by_subject"]["arithmetic"]["accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["ungradable_paths"] == 1  # "four" is not a number: ungradable, not solved
    assert paths.height == 6 and "pass@1" not in report
    assert all(r["body"]["temperature"] == 0.0 for r in map(vars, openai_server.requests)
               if r["body"])  # fmt: skip


def test_majority_vote_and_pass_at_k(openai_server):
    openai_server.respond = scripted(
        {
            0: [0, 0, 1],  # majority right
            1: [2, 3, 4],  # a three-way tie: no majority, unsolved; pass@3 yes
            2: [9, 9, 4],  # majority wrong, one path right: pass@3 yes
            3: [6, 6, 6],
            4: [1, 2, 3],
            5: [10, 10, 10],
        }
    )
    generator = OpenAIChatGenerator(openai_server.base_url, "toy", concurrency=2, timeout_s=10)
    report, paths = evaluate(
        generator, PROBLEMS, model="toy", system=False, sandbox=SANDBOX, samples=3,
        temperature=0.8,
    )  # fmt: skip
    assert paths.height == 18
    assert report["overall"]["accuracy"] == pytest.approx(3 / 6, abs=1e-4)  # 0, 3, 5
    assert report["pass@3"]["overall"]["accuracy"] == pytest.approx(5 / 6, abs=1e-4)
    assert report["path_accuracy"] == pytest.approx(10 / 18, abs=1e-4)  # 2+1+1+3+0+3


def test_samples_need_a_temperature():
    with pytest.raises(UserError, match="would all be the same"):
        evaluate(None, PROBLEMS, model="m", system=False, sandbox=SANDBOX, samples=4)


def test_limit_is_stratified_and_seeded():
    rows = pl.DataFrame(
        {
            "question_id": [f"q_{i:016x}" for i in range(400)],
            "subject": [["a", "b"][i % 2] for i in range(400)],
            "ood": [i % 4 == 0 for i in range(400)],
        }
    )
    picked = limit_problems(rows, 40, seed=3)
    assert picked.height == 40
    counts = picked.group_by("subject", "ood").len().sort("subject", "ood")["len"].to_list()
    assert counts == [10, 10, 20, 0] or counts == [10, 10, 20]  # a: 50% ood; b: never ood
    assert limit_problems(rows.reverse(), 40, seed=3).equals(picked)
    assert not limit_problems(rows, 40, seed=4).equals(picked)
    assert limit_problems(rows, None, seed=3).height == 400


def test_a_missing_or_foreign_model_directory_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="model directory .*absent not found"):
        model_generator(tmp_path / "absent")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("not a model")
    with pytest.raises(UserError, match="notes is not a model directory"):
        model_generator(tmp_path / "notes")


def test_the_command_writes_the_report_and_prints_the_table(tmp_path, tiny_tokenizer):
    model = tmp_path / "policy"
    save_tiny_model(model, tiny_tokenizer, system_prompt=False)
    split = tmp_path / "test.parquet"
    PROBLEMS.write_parquet(split)
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(
        app,
        ["evaluate", "--model", str(model), "--split", str(split), "--limit", "4",
         "--max-tokens", "16", "--output", str(out), "--params", str(ROOT / "params.yaml")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["overall"]["problems"] == 4 and report["model"] == "policy"
    assert set(report) >= {"overall", "in_distribution", "ood", "by_subject", "error_kinds"}
    assert np.isclose(sum(report["error_kinds"].values()), report["paths"])
    assert "in distribution" in result.output and "95% interval" in result.output
    bad = CliRunner().invoke(
        app, ["evaluate", "--model", str(tmp_path), "--split", str(split), "--output", str(out)]
    )
    assert bad.exit_code == 1 and "is not a model directory" in " ".join(bad.output.split())


def test_the_command_evaluates_an_endpoint_from_backend_settings(openai_server, tmp_path):
    openai_server.respond = scripted({i: [2 * i] for i in range(6)})  # all right
    engine = tmp_path / "engine.yaml"
    engine.write_text(
        f"backend: openai\nbase_url: {openai_server.base_url}\nmodel: toy\n"
        "api_key_env: NO_SUCH_KEY\nconcurrency: 2\nmax_retries: 0\ntimeout_s: 10\n"
    )
    split, out = tmp_path / "test.parquet", tmp_path / "eval.json"
    PROBLEMS.write_parquet(split)
    graded = tmp_path / "paths.parquet"
    args = ["evaluate", "--engine", str(engine), "--split", str(split), "--output", str(out),
            "--params", str(ROOT / "params.yaml")]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--paths", str(graded)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["model"] == "toy" and report["overall"]["accuracy"] == 1.0
    # --paths keeps every graded path, for reading the errors
    paths = pl.read_parquet(graded)
    assert paths.height == report["paths"] == len(PROBLEMS) and paths["correct"].all()
    # the endpoint got the format-teaching system message
    assert openai_server.requests[-1].body["messages"][0]["role"] == "system"
    engine.write_text("backend: vllm\ntensor_parallel_size: 1\n")
    bad = CliRunner().invoke(app, args)
    assert bad.exit_code == 1 and "not backend settings" in " ".join(bad.output.split())


def graded(outcomes: dict[str, list[bool | None]]) -> pl.DataFrame:
    """Graded paths: each problem's paths, correct or not (None: ungradable)."""
    rows = [(q, c) for q, paths in outcomes.items() for c in paths]
    return pl.DataFrame(
        rows, schema={"question_id": pl.String, "correct": pl.Boolean}, orient="row"
    )


def test_the_paired_difference_is_per_problem_and_split_by_distribution(tmp_path):
    baseline = graded({"q1": [True], "q2": [True], "q3": [False], "q4": [False], "q9": [True]})
    candidate = graded({"q1": [True], "q2": [False], "q3": [True, True], "q4": [True, None]})
    split = pl.DataFrame({"question_id": ["q1", "q2", "q3", "q4"], "ood": [False] * 3 + [True]})
    report = paired_difference(baseline, candidate, split)
    # q9 was not graded for the candidate: left out; q4's ungradable path is not a solved one
    assert report["overall"] == {
        "baseline": 0.5, "candidate": 0.625, "difference": 0.125,
        "ci95": bootstrap_ci([0, -1, 1, 0.5]), "problems": 4,
    }  # fmt: skip
    assert report["in_distribution"]["difference"] == 0.0
    assert report["in_distribution"]["problems"] == 3
    assert report["ood"] == {
        "baseline": 0.0, "candidate": 0.5, "difference": 0.5, "ci95": [0.5, 0.5], "problems": 1
    }  # fmt: skip
    assert set(paired_difference(baseline, candidate)) == {"overall"}  # no split: no groups
    with pytest.raises(UserError, match="share no problem"):
        paired_difference(baseline, graded({"q7": [True]}))


def test_the_compare_command_prints_and_writes_the_report(tmp_path):
    a, b, split, out = (tmp_path / n for n in ("a.parquet", "b.parquet", "s.parquet", "c.json"))
    graded({"q1": [False], "q2": [False]}).write_parquet(a)
    graded({"q1": [True], "q2": [True]}).write_parquet(b)
    pl.DataFrame({"question_id": ["q1", "q2"], "ood": [False, False]}).write_parquet(split)
    result = CliRunner().invoke(
        app, ["compare", str(a), str(b), "--split", str(split), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "+100.0%" in result.output
    report = json.loads(out.read_text())
    assert report["in_distribution"]["difference"] == 1.0 and report["ood"]["problems"] == 0
    missing = CliRunner().invoke(app, ["compare", str(a), str(tmp_path / "none.parquet")])
    assert missing.exit_code == 1 and "not found" in " ".join(missing.output.split())


def test_compare_picks_each_sides_stage_from_eval_paths_files(tmp_path):
    """The evaluate stage's file holds every stage's greedy and sampled paths: --stage and
    --candidate-stage pick the two models (the candidate's file may be an experiment's)."""
    rows = [
        ("rft", "greedy", "q1", True), ("rft", "greedy", "q2", False),
        ("dpo", "greedy", "q1", True), ("dpo", "greedy", "q2", True),
        ("dpo", "sampled", "q1", False), ("dpo", "sampled", "q2", False),
    ]  # fmt: skip
    schema = ["stage", "mode", "question_id", "correct"]
    ours, theirs, out = (tmp_path / n for n in ("eval.parquet", "exp.parquet", "c.json"))
    pl.DataFrame(rows, schema=schema, orient="row").write_parquet(ours)
    experiment = pl.DataFrame(rows[:2], schema=schema, orient="row")
    experiment.with_columns(correct=pl.lit(True)).write_parquet(theirs)

    def compare(candidate: Path, *args: str) -> dict:
        result = CliRunner().invoke(
            app, ["compare", str(ours), str(candidate), *args, "--output", str(out)]
        )
        assert result.exit_code == 0, result.output
        return json.loads(out.read_text())["overall"]

    assert compare(ours, "--stage", "rft", "--candidate-stage", "dpo")["difference"] == 0.5
    sampled = compare(ours, "--stage", "dpo", "--mode", "sampled")
    assert sampled["baseline"] == sampled["candidate"] == 0.0  # dpo's sampled rows, both sides
    assert compare(theirs, "--stage", "rft")["difference"] == 0.5  # the experiment's rft
    for args, message in (
        ([], "holds the paths of several stages"),
        (["--stage", "sft"], "has no stage 'sft' (dpo, rft)"),
        (["--stage", "rft", "--mode", "sampled"], "no 'sampled' paths of stage 'rft'"),
    ):
        failed = CliRunner().invoke(app, ["compare", str(ours), str(ours), *args])
        assert failed.exit_code == 1 and message in " ".join(failed.output.split()), args
