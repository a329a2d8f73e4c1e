"""Stages critique_train and critique_score on a tiny model: real TRL training, real
generation, the judge's real critiques of hand-made paths."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest
import torch
from profiles import question_ids_by_role, write_tiny_params
from transformers import AutoModelForCausalLM

from mathforge.contracts.scores import CRITIQUE_MODEL, CRITIQUE_SCORES, JUDGED
from mathforge.critique import JudgeItem, judge_many
from mathforge.critique.model import agreement, score_histogram
from mathforge.errors import UserError
from mathforge.teacher import generate
from stages import critique_score, critique_train


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Two problems of each role, three paths each (the reference solution, its answer printed
    as a literal: right answer, wrong reasoning; no program), and the judge's labels of the
    fit problems."""
    root = tmp_path_factory.mktemp("critique-inputs")
    rng = random.Random(0)
    problems, paths = [], []
    for role, ids in question_ids_by_role(2).items():
        for q in ids:
            p = generate("number_theory", "gcd", rng, "base")
            problems.append({"question_id": q, "question": p.question, "solution": p.solution,
                             "generator": "programmatic"})  # fmt: skip
            literal = f"It is {p.answer}.\n\n```python\nprint({p.answer})\n```"
            texts = [p.solution, literal, "I give up."]
            for k, text in enumerate(texts):
                paths.append({"path_id": f"p_{len(paths):016x}", "question_id": q, "role": role,
                              "text": text, "reference": p.answer, "correct": k < 2,
                              "predicted": p.answer if k < 2 else None,
                              "error_kind": "no_program" if k == 2 else None})  # fmt: skip
    train = pl.DataFrame(problems)
    frame = pl.DataFrame(paths)
    fit = frame.filter(pl.col("role") != "score").join(train, on="question_id")
    verdicts = judge_many([JudgeItem(r["question"], r["reference"], r["text"], r["solution"])
                           for r in fit.iter_rows(named=True)])  # fmt: skip
    judged = JUDGED.frame(
        fit.with_columns(
            subject=pl.lit("number_theory"), model=pl.lit("m"),
            judge_score=pl.Series([v.score for v in verdicts], dtype=pl.Int64),
            accepted=pl.Series([v.accepted for v in verdicts]),
            critique=pl.Series([v.critique for v in verdicts]),
            checks=pl.Series([json.dumps(v.checks) for v in verdicts]),
            judge_error=pl.lit(None, pl.String),
        )
    )  # fmt: skip
    train.write_parquet(root / "train.parquet")
    (root / "paths" / "m").mkdir(parents=True)
    frame.drop("role").write_parquet(root / "paths" / "m" / "shard-00000.parquet")
    judged.write_parquet(root / "judged.parquet")
    return {"train": root / "train.parquet", "paths": root / "paths",
            "judged": root / "judged.parquet"}  # fmt: skip


def train_argv(inputs, base: Path, out: Path, judged: Path | None = None) -> list[str]:
    return [str(inputs["train"]), str(inputs["paths"]), str(judged or inputs["judged"]),
            str(base), str(out / "models/critique"), str(out / "m.json"), str(out / "loss.csv"),
            str(out / "hist.csv"), "--params", str(out / "params.yaml")]  # fmt: skip


@pytest.fixture(scope="module")
def trained(inputs, tiny_policy, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("critique-run")
    write_tiny_params(out / "params.yaml")
    critique_train.main(train_argv(inputs, tiny_policy, out))
    return out


def test_critique_train_learns_from_train_problems_and_is_measured_on_heldout(trained, tiny_policy):
    model_dir = trained / "models/critique"
    manifest = pl.read_parquet(model_dir / "manifest.parquet")
    assert manifest.columns == CRITIQUE_MODEL.names and manifest["examples"][0] == 6
    name = "model.layers.0.mlp.up_proj.weight"
    weights = AutoModelForCausalLM.from_pretrained(model_dir).state_dict()[name]
    assert not torch.equal(
        weights, AutoModelForCausalLM.from_pretrained(tiny_policy).state_dict()[name]
    )
    metrics = json.loads((trained / "m.json").read_text())
    assert metrics["train_paths"] == 6 and metrics["steps"] == 2
    heldout = metrics["heldout"]
    assert heldout["paths"] == 6 and heldout["wrong_reasoning_paths"] == 2  # the literals
    assert 0 <= heldout["agreement"] <= 1
    hist = (trained / "hist.csv").read_text().splitlines()
    assert hist[0] == "score,judge,critique_model" and len(hist) == 13
    assert sum(int(line.split(",")[1]) for line in hist[1:]) == 6  # every heldout path


def test_critique_score_scores_every_path_of_the_score_problems(trained, inputs):
    out = trained / "critique.parquet"
    critique_score.main([str(inputs["train"]), str(inputs["paths"]),
                         str(trained / "models/critique"), str(out), str(trained / "s.json"),
                         "--params", str(trained / "params.yaml")])  # fmt: skip
    scores = pl.read_parquet(out)
    assert scores.columns == CRITIQUE_SCORES.names and scores.height == 6
    assert set(scores["question_id"]) == set(question_ids_by_role(2)["score"])
    unparsed = scores.filter(pl.col("critique_score").is_null())
    assert unparsed["critique_error"].is_not_null().all()  # a reject says why
    metrics = json.loads((trained / "s.json").read_text())
    assert metrics["paths"] == 6 and metrics["unparseable"] == unparsed.height


def test_the_judge_as_critic_rejects_the_right_answer_wrong_reasoning_paths(inputs, tmp_path):
    """critique_model.critic: judge: the judge critiques the score paths in the critique
    model's format, so the filter reads them unchanged; the literal-answer paths (right
    answer, no working) are rejected and the reference solutions accepted."""
    write_tiny_params(tmp_path / "params.yaml", critique_model={"critic": "judge"})
    out = tmp_path / "critique.parquet"
    critique_score.main([str(inputs["train"]), str(inputs["paths"]),
                         str(tmp_path / "no-model"), str(out), str(tmp_path / "s.json"),
                         "--params", str(tmp_path / "params.yaml")])  # fmt: skip
    scores = pl.read_parquet(out).join(
        pl.read_parquet(inputs["paths"] / "m" / "shard-00000.parquet").select("path_id", "text"),
        on="path_id",
    )
    assert scores.columns[:6] == CRITIQUE_SCORES.names and scores.height == 6
    literal = scores.filter(pl.col("text").str.starts_with("It is"))
    reference = scores.filter(
        pl.col("text").str.contains("print") & ~pl.col("text").str.starts_with("It is")
    )
    assert literal.height == 2 and (literal["critique_score"] < 7).all()
    assert reference.height == 2 and (reference["critique_score"] >= 7).all()
    metrics = json.loads((tmp_path / "s.json").read_text())
    assert metrics["critic"] == "judge" and metrics["accepted"] == 2


def test_bad_inputs_fail_clearly_and_write_nothing(inputs, tiny_policy, tmp_path):
    write_tiny_params(tmp_path / "params.yaml")
    with pytest.raises(UserError, match="base model .*nowhere not found"):
        critique_train.main(train_argv(inputs, tmp_path / "nowhere", tmp_path))
    only_train = tmp_path / "judged.parquet"
    pl.read_parquet(inputs["judged"]).filter(pl.col("role") == "train").write_parquet(only_train)
    with pytest.raises(UserError, match="no path of a `heldout` problem"):
        critique_train.main(train_argv(inputs, tiny_policy, tmp_path, only_train))
    stray = tmp_path / "stray.parquet"
    judged = pl.read_parquet(inputs["judged"])
    judged.with_columns(path_id=pl.lit("p_ffffffffffffffff")).head(1).vstack(
        judged.slice(1)
    ).write_parquet(stray)
    with pytest.raises(UserError, match="1 labelled path.* not in"):
        critique_train.main(train_argv(inputs, tiny_policy, tmp_path, stray))
    assert not (tmp_path / "models/critique").exists()


def test_agreement_counts_decisions_and_the_wrong_reasoning_paths_apart():
    judge = [True, True, False, False, False]
    model = [9, 3, 10, None, 0]
    tricky = [False, False, True, True, False]
    out = agreement(judge, model, tricky, threshold=7)
    assert out["agreement"] == 0.6 and out["wrong_reasoning_agreement"] == 0.5
    assert out["always_reject_agreement"] == 0.6
    assert (out["judge_accepts_model_rejects"], out["judge_rejects_model_accepts"]) == (1, 1)
    assert out["unparseable"] == 1
    lines = score_histogram([10, 1, None], [10, 10, 3]).splitlines()
    assert lines[11] == "10,1,2" and lines[-1] == "none,1,0" and lines[4] == "3,0,1"
