"""Stage pretrain: a base model trained on the corpus, checked, described and evaluated."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest
import torch
from profiles import write_tiny_params
from tiny_models import save_tiny_model
from transformers import AutoModelForCausalLM

from mathforge.contracts.corpus import CORPUS
from mathforge.errors import UserError
from mathforge.lineage import question_id
from mathforge.modeling import uses_system_prompt
from mathforge.teacher import generate
from mathforge.teacher.corpus import FORMATS, render_formats
from stages import pretrain as pretrain_stage

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_tokenizer) -> Path:
    """A corpus of 40 problems x 3 formats, an eval split of 8 (4 ood), a tiny base model."""
    root = tmp_path_factory.mktemp("pretrain")
    rng = random.Random(3)
    rows = []
    for i in range(40):
        p = generate("number_theory", rng.choice(["gcd", "lcm"]), rng, "base")
        qid = question_id(p.question)
        for r in render_formats(p, FORMATS):
            rows.append({"row_id": f"c_{i:04d}{FORMATS.index(r['format']):012d}",
                         "question_id": qid, "subject": p.subject, "skill": p.skill,
                         "variant": p.variant, "draw_index": i, **r})  # fmt: skip
    CORPUS.frame(rows).write_parquet(root / "corpus.parquet")
    problems = [generate("number_theory", "gcd", rng, v) for v in ["base"] * 4 + ["ood"] * 4]
    pl.DataFrame(
        {
            "question_id": [question_id(p.question) for p in problems],
            "subject": [p.subject for p in problems],
            "question": [p.question for p in problems],
            "answer": [p.answer for p in problems],
            "ood": [p.variant == "ood" for p in problems],
        }
    ).write_parquet(root / "eval.parquet")
    save_tiny_model(root / "base" / "tiny", tiny_tokenizer, system_prompt=False)
    return root


def run(root: Path, out: Path, **pretrain) -> dict:
    out.parent.mkdir(parents=True, exist_ok=True)
    params = write_tiny_params(out.parent / "params.yaml", pretrain=pretrain)
    argv = [root / "corpus.parquet", root / "eval.parquet", root / "base" / "tiny", out,
            out.parent / "metrics.json", out.parent / "curve.csv"]  # fmt: skip
    pretrain_stage.main([*map(str, argv), "--params", str(params)])
    return json.loads((out.parent / "metrics.json").read_text())


def test_the_stage_trains_checks_and_evaluates_the_model(inputs, tmp_path):
    out = tmp_path / "pretrained" / "tiny"
    report = run(inputs, out, max_steps=3, heldout_rows=16, accuracy_problems=8)
    assert report["steps"] == 3 and report["examples"] == 40 * len(FORMATS) - 16
    assert (
        report["heldout_examples"] == 16 and report["heldout_loss"] < report["heldout_loss_before"]
    )
    # the program format's held-out accuracy, with intervals, on 4 + 4 eval problems
    assert report["heldout_accuracy_problems"] == report["heldout_ood_accuracy_problems"] == 4
    assert len(report["heldout_accuracy_ci95"]) == 2
    assert sum(report["heldout_error_kinds"].values()) == 8
    assert report["sandbox_isolation"] == "bubblewrap"
    trained = AutoModelForCausalLM.from_pretrained(out)
    base = AutoModelForCausalLM.from_pretrained(inputs / "base" / "tiny")
    assert not torch.equal(trained.model.embed_tokens.weight, base.model.embed_tokens.weight)
    assert uses_system_prompt(out) is False  # the base's prompt setting travels on
    manifest = pl.read_parquet(out / "manifest.parquet").row(0, named=True)
    assert (manifest["stage"], manifest["examples"], manifest["load_check"]) == (
        "pretrain",
        40 * len(FORMATS) - 16,
        "generate",
    )
    assert pl.read_csv(out.parent / "curve.csv")["step"].to_list() == [1, 2, 3]
    assert not list(out.parent.glob(".*.tmp"))


def test_a_model_named_in_max_steps_by_model_trains_for_its_own_steps(inputs, tmp_path):
    out = tmp_path / "pretrained" / "tiny"
    report = run(inputs, out, max_steps=3, max_steps_by_model={"tiny": 2, "other": 5},
                 heldout_rows=16, accuracy_problems=2)  # fmt: skip
    assert report["steps"] == 2


def test_a_corpus_not_larger_than_the_held_out_rows_is_an_error(inputs, tmp_path):
    out = tmp_path / "pretrained" / "tiny"
    rows = 40 * len(FORMATS)
    with pytest.raises(UserError, match=f"{rows} rows, not more than heldout_rows"):
        run(inputs, out, heldout_rows=rows)
    assert not out.exists()
