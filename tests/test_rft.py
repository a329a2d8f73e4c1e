"""RFT (stage rft, mathforge.training.weighted): the hard-sample weights and their schedules,
that the weights change the gradients as intended and that gradient accumulation does not,
and the stage end to end on a tiny locally built model."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

import polars as pl  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from profiles import write_tiny_params  # noqa: E402
from tiny_models import save_tiny_model  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from mathforge.config import load_params  # noqa: E402
from mathforge.contracts.diversity import SELECTED  # noqa: E402
from mathforge.contracts.models import EXAMPLES_FILE, SFT_EXAMPLES  # noqa: E402
from mathforge.errors import UserError  # noqa: E402
from mathforge.solution import solve_prompt  # noqa: E402
from mathforge.training.sft import sft_config  # noqa: E402
from mathforge.training.weighted import (  # noqa: E402
    HardWeights,
    sample_losses,
    weighted_dataset,
    weighted_trainer,
)
from stages import rft as rft_stage  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = "Multiply.\n\n```python\nprint(3 * 4)\n```\n\nFinal answer: 12"


def chat(question: str, completion: str) -> dict:
    return {"prompt": solve_prompt(question),
            "completion": [{"role": "assistant", "content": completion}]}  # fmt: skip


# ------------------------------------------------------------------------- the weights
def test_the_three_rules():
    hard = torch.tensor([1, 0])
    assert HardWeights("none", 3.0, 0.9).weights(hard).tolist() == [1.0, 1.0]
    assert HardWeights("fixed", 3.0, 0.9).weights(hard).tolist() == [3.0, 1.0]
    dynamic = HardWeights("dynamic", 3.0, 0.5)
    assert dynamic.hard() == 1.0  # nothing seen yet
    dynamic.update(torch.tensor([2.0]), torch.tensor([1]))
    assert dynamic.hard() == 1.0  # no easy loss yet
    dynamic.update(torch.tensor([1.0, 3.0]), torch.tensor([0, 0]))
    assert (dynamic.hard_loss, dynamic.easy_loss) == (2.0, 2.0) and dynamic.hard() == 1.0
    with pytest.raises(ValueError):
        HardWeights("sometimes", 2.0, 0.9)
    with pytest.raises(ValueError):
        HardWeights("fixed", 0.5, 0.9)


def test_the_dynamic_weight_rises_as_the_easy_samples_converge():
    weights = HardWeights("dynamic", 2.5, 0.5)
    seen = []
    for step in range(12):  # easy losses fall fast, hard ones slowly
        weights.update(torch.tensor([2.0 * 0.6**step, 2.0 * 0.95**step]), torch.tensor([0, 1]))
        seen.append(weights.hard())
    assert seen[0] == 1.0
    assert all(b >= a for a, b in zip(seen, seen[1:], strict=False))  # never falls here
    assert seen[-1] == 2.5  # capped at the ceiling
    # hard samples converging faster than easy ones: the ratio is below 1, the weight stays 1
    weights = HardWeights("dynamic", 2.5, 0.5)
    weights.update(torch.tensor([1.0, 0.1]), torch.tensor([0, 1]))
    assert weights.hard() == 1.0


# --------------------------------------------------------------- gradients, accumulation
@pytest.fixture
def trainer_factory(tiny_policy, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_policy)
    rows = [chat(f"What is {i} times 4?", SOLUTION.replace("3", str(i))) for i in range(4)]
    hard = [False, True, False, True]

    def make(weighting: str, batch_size: int = 2, accumulation: int = 1, **overrides):
        torch.manual_seed(0)
        cfg = load_params("rft", ROOT / "params.yaml", {
            "weighting": weighting, "hard_weight": 3.0, "batch_size": batch_size,
            "gradient_accumulation_steps": accumulation, "max_steps": 1, "warmup_steps": 0,
            "lr_scheduler_type": "constant", "learning_rate": 0.1, "logging_steps": 1,
            **overrides,
        })  # fmt: skip
        args = sft_config(cfg, tmp_path / "trainer")
        args.optim = "sgd"  # an update proportional to the gradient (AdamW's first is its sign)
        args.max_grad_norm = 0  # unclipped: clipping to norm 1 would hide a scale error
        return weighted_trainer(HardWeights(cfg.weighting, cfg.hard_weight, cfg.loss_ema))(
            model=AutoModelForCausalLM.from_pretrained(tiny_policy),
            args=args,
            train_dataset=weighted_dataset(rows, hard, tokenizer, cfg.max_length),
            processing_class=tokenizer,
        )

    return make


def _grads(model) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


@pytest.mark.parametrize(("weighting", "hard_weight"), [("none", 1.0), ("fixed", 3.0)])
def test_the_weights_scale_each_samples_gradient(trainer_factory, weighting, hard_weight):
    trainer = trainer_factory(weighting)
    model = trainer.model
    rows = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    easy = next(r for r in rows if r["hard"] == 0)
    hard = next(r for r in rows if r["hard"] == 1)
    batch = trainer.data_collator([easy, hard])
    assert batch["hard"].tolist() == [0, 1]  # the flags survive the collator
    model.train()
    trainer.compute_loss(model, dict(batch)).backward()
    together = _grads(model)
    alone = []
    for row in (easy, hard):
        model.zero_grad()
        single = trainer.data_collator([row])
        single.pop("hard")
        sample_losses(model, single).sum().backward()
        alone.append(_grads(model))
    expected = (alone[0] + hard_weight * alone[1]) / 2
    assert torch.allclose(together, expected, atol=1e-6, rtol=1e-4)


def test_gradient_accumulation_gives_the_same_update(trainer_factory):
    """4 rows in one batch, or 2 + 2 accumulated: the same SGD step (fixed weights)."""
    params = []
    for batch_size, accumulation in ((4, 1), (2, 2)):
        trainer = trainer_factory("fixed", batch_size, accumulation)
        trainer.train()
        params.append(torch.cat([p.detach().flatten() for p in trainer.model.parameters()]))
    start = torch.cat([
        p.flatten() for p in AutoModelForCausalLM.from_pretrained(
            trainer.model.name_or_path).parameters()
    ])  # fmt: skip
    assert not torch.allclose(params[0], start)  # it moved
    assert torch.allclose(params[0], params[1], atol=1e-6, rtol=1e-4)


def test_fixed_weights_move_the_model_differently_from_none(trainer_factory):
    moved = []
    for weighting in ("none", "fixed"):
        trainer = trainer_factory(weighting, 4, 1)
        trainer.train()
        moved.append(torch.cat([p.detach().flatten() for p in trainer.model.parameters()]))
    assert not torch.allclose(moved[0], moved[1])


# ------------------------------------------------------------------------------ the stage
@pytest.fixture
def inputs(tiny_policy, tiny_tokenizer, tmp_path):
    """A tiny SFT model directory (with its sft_examples), a pretrained one of other weights
    (seed 1), the RFT set, train and eval."""
    sft = tmp_path / "models" / "sft" / "policy_small"
    shutil.copytree(tiny_policy, sft)
    save_tiny_model(tmp_path / "models" / "pretrained" / "policy_small", tiny_tokenizer, seed=1)
    questions = [(f"q_{i:016x}", f"What is {i} times 4?", str(4 * i)) for i in range(8)]
    split = pl.DataFrame({
        "question_id": [q for q, _, _ in questions], "subject": ["arithmetic"] * 8,
        "question": [t for _, t, _ in questions], "answer": [a for _, _, a in questions],
        "solution": [SOLUTION] * 8, "ood": [False, True] * 4,
    })  # fmt: skip
    split.write_parquet(tmp_path / "train.parquet")
    split.write_parquet(tmp_path / "eval.parquet")
    SFT_EXAMPLES.frame(
        split.head(3).select(
            "question_id", "subject", model=pl.lit("policy_small"), generator=pl.lit("programmatic")
        )  # fmt: skip
    ).write_parquet(sft / EXAMPLES_FILE)
    selected = SELECTED.frame(
        split.slice(3, 4).select(
            "question_id", "subject", path_id=pl.format("p_{}", pl.col("question_id").str.slice(2)),
            model=pl.lit("policy_small"), sample_index=pl.lit(0, pl.Int64),
            prompt=pl.col("question"), text=pl.lit(SOLUTION), predicted=pl.lit("12"),
            reference=pl.lit("12"), critique_score=pl.lit(9, pl.Int64), reward=pl.lit(1.0),
            keep_rank=pl.lit(1, pl.Int64), form_id=pl.lit("f_" + "0" * 16),
            hard=pl.Series([True, False, True, False]),
        )
    )  # fmt: skip
    selected.write_parquet(tmp_path / "selected.parquet")
    return tmp_path, sft


def run_stage(root: Path, sft: Path, **rft) -> dict:
    write_tiny_params(root / "params.yaml", rft={"init": "sft", **rft})
    rft_stage.main([
        str(root / "train.parquet"), str(root / "eval.parquet"), str(root / "selected.parquet"),
        str(sft), str(root / "models/rft/policy_small"), str(root / "metrics/rft.json"),
        str(root / "plots/rft/train.csv"), "--params", str(root / "params.yaml"),
        "--pretrained", str(root / "models/pretrained/policy_small"),
    ])  # fmt: skip
    return json.loads((root / "metrics/rft.json").read_text())


def test_stage_end_to_end(inputs):
    root, sft = inputs
    metrics = run_stage(root, sft, weighting="fixed", hard_weight=2.0)
    assert (metrics["rft_paths"], metrics["sft_examples"], metrics["hard_paths"]) == (4, 3, 2)
    assert metrics["train_rows"] == 7 and metrics["hard_rows"] == 2 and metrics["steps"] == 2
    assert metrics["hard_weight_final"] == 2.0 and metrics["weighting"] == "fixed"
    assert metrics["heldout_accuracy_problems"] + metrics["heldout_ood_accuracy_problems"] == 4
    assert "train_seconds" not in metrics  # timings are printed, not tracked
    out = root / "models/rft/policy_small"
    lineage = pl.read_parquet(out / rft_stage.RFT_EXAMPLES_FILE)
    assert sorted(lineage["source"].to_list()) == ["rft_path"] * 4 + ["sft_example"] * 3
    assert lineage.filter(pl.col("source") == "rft_path")["path_id"].null_count() == 0
    manifest = pl.read_parquet(out / "manifest.parquet").row(0, named=True)
    assert (manifest["stage"], manifest["parent"], manifest["examples"]) == ("rft", str(sft), 7)
    curve = pl.read_csv(root / "plots/rft/train.csv")
    assert curve.columns == ["step", "loss", "learning_rate", "hard_weight"]
    # without the SFT data: the RFT paths alone
    metrics = run_stage(root, sft, sft_data=False, weighting="none")
    assert (metrics["train_rows"], metrics["sft_examples"], metrics["hard_weight_final"]) == (
        4, 0, 1.0)  # fmt: skip


def test_rft_starts_from_the_pretrained_model_with_the_sft_models_examples(inputs):
    root, sft = inputs
    from_sft = run_stage(root, sft, weighting="none")
    pretrained = root / "models/pretrained/policy_small"
    metrics = run_stage(root, sft, init="pretrained", weighting="none")
    assert (metrics["parent"], metrics["init"], metrics["sft_examples"]) == (
        str(pretrained), "pretrained", 3)  # fmt: skip
    # the loss before training is the start model's: the two directories hold other weights
    assert metrics["heldout_loss_before"] != from_sft["heldout_loss_before"]
    manifest = pl.read_parquet(root / "models/rft/policy_small/manifest.parquet").row(0, named=True)
    assert manifest["parent"] == str(pretrained)


def test_stage_errors(inputs):
    root, sft = inputs
    with pytest.raises(UserError, match="not the SFT model of rft.target"):
        rft_stage.main([
            str(root / "train.parquet"), str(root / "eval.parquet"),
            str(root / "selected.parquet"), str(root / "models/sft/other"), str(root / "out"),
            str(root / "m.json"), str(root / "p.csv"), "--params", str(ROOT / "params.yaml"),
        ])  # fmt: skip
    pretrained = root / "models/pretrained/policy_small"
    shutil.rmtree(pretrained)
    missing = r"pretrained model .* not found \(run `dvc repro pretrain@policy_small`"
    with pytest.raises(UserError, match=missing):
        run_stage(root, sft, init="pretrained")
    write_tiny_params(root / "params.yaml", rft={"init": "pretrained"})
    with pytest.raises(UserError, match="rft.init is pretrained: pass --pretrained"):
        rft_stage.main([
            str(root / "train.parquet"), str(root / "eval.parquet"),
            str(root / "selected.parquet"), str(sft), str(root / "out"),
            str(root / "m.json"), str(root / "p.csv"), "--params", str(root / "params.yaml"),
        ])  # fmt: skip
    (root / "selected.parquet").unlink()
    with pytest.raises(UserError, match=r"selected.parquet not found \(run `dvc repro diversity`"):
        run_stage(root, sft)
    assert not (root / "models/rft").exists()
