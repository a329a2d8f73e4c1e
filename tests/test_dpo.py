"""The dpo stage: preference rows, the DPO config and loss weights reaching TRL's DPOTrainer,
a real DPO run raising the chosen-over-rejected margin, the stage end to end, its errors."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

import polars as pl  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from preference_data import pairs_frame, teacher_problems  # noqa: E402
from profiles import write_tiny_params  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from mathforge.config import load_params  # noqa: E402
from mathforge.contracts.pairs import PAIRS  # noqa: E402
from mathforge.errors import UserError  # noqa: E402
from mathforge.modeling import PROMPT_FILE  # noqa: E402
from mathforge.solution import solve_prompt  # noqa: E402
from mathforge.training.dpo import (  # noqa: E402
    CURVE,
    dpo_config,
    dpo_trainer,
    preference_rows,
    train_dpo,
)
from mathforge.views import connect  # noqa: E402
from stages import dpo as dpo_stage  # noqa: E402

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
FAST = {  # a few quick steps; every other field as params.yaml has it
    "max_steps": 12, "batch_size": 4, "learning_rate": 5e-3, "warmup_steps": 0,
    "logging_steps": 1, "threads": 1, "sft_weight": 0.0,
}  # fmt: skip


@pytest.fixture(scope="module")
def problems() -> pl.DataFrame:
    return teacher_problems()


@pytest.fixture(scope="module")
def pairs(problems) -> pl.DataFrame:
    """Four hand-made pairs: a teacher solution over the same text printing a wrong answer."""
    return pairs_frame(problems.head(4))


@pytest.fixture(scope="module")
def trained(tiny_policy, pairs, tmp_path_factory):
    """Plain DPO (sft_weight 0) of the session's tiny Llama on the four pairs, 12 steps; shared
    by the tests that read what a run gives."""
    cfg = load_params("dpo", ROOT / "params.yaml", FAST)
    out = tmp_path_factory.mktemp("dpo") / "policy"
    metrics, curve = train_dpo(str(tiny_policy), pairs, cfg, out, system=True)
    return out, metrics, curve


def completion_logp(model, tokenizer, prompt, text: str) -> float:
    """Sum of the log-probs of the assistant message `text` after the chat `prompt`."""
    head = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_dict=True)
    full = tokenizer.apply_chat_template(
        prompt + [{"role": "assistant", "content": text}], return_dict=True
    )
    ids, start = full["input_ids"], len(head["input_ids"])
    assert ids[:start] == head["input_ids"]  # the prompt is a prefix: the completion is the rest
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, :-1].float()
    logps = torch.log_softmax(logits, -1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
    return float(logps[start - 1 :].sum())


def margins(model_dir: Path, pairs: pl.DataFrame) -> list[float]:
    """log p(chosen) - log p(rejected) of each pair under the model in `model_dir`."""
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    out = []
    for row in preference_rows(pairs, system=True):
        chosen = completion_logp(model, tokenizer, row["prompt"], row["chosen"][0]["content"])
        rejected = completion_logp(model, tokenizer, row["prompt"], row["rejected"][0]["content"])
        out.append(chosen - rejected)
    return out


# ------------------------------------------------------------------------- rows
def test_rows_are_conversational_preference_rows_on_the_solving_chat(pairs):
    for system in (True, False):
        rows = preference_rows(pairs, system=system)
        assert len(rows) == pairs.height
        for row, pair in zip(rows, pairs.iter_rows(named=True), strict=True):
            assert row["prompt"] == solve_prompt(pair["prompt"], system=system)
            assert row["prompt"][-1] == {"role": "user", "content": row["prompt"][-1]["content"]}
            assert pair["prompt"] in row["prompt"][-1]["content"]
            assert row["chosen"] == [{"role": "assistant", "content": pair["chosen"]}]
            assert row["rejected"] == [{"role": "assistant", "content": pair["rejected"]}]
        assert (rows[0]["prompt"][0]["role"] == "system") is system


# ----------------------------------------------------------------------- config
def test_config_is_cpu_safe_and_carries_the_sigmoid_plus_sft_loss(tmp_path):
    cfg = load_params("dpo", ROOT / "params.yaml", {**FAST, "sft_weight": 0.25, "beta": 0.3})
    args = dpo_config(cfg, tmp_path)
    assert args.loss_type == ["sigmoid", "sft"] and args.loss_weights == [1.0, 0.25]
    assert args.beta == 0.3 and args.max_length == cfg.max_length
    assert args.save_strategy == "no" and args.report_to == [] and not args.push_to_hub
    assert args.use_cpu and not args.bf16 and not args.activation_checkpointing
    assert (args.seed, args.max_steps, args.learning_rate) == (cfg.seed, 12, 5e-3)


def test_the_trainer_holds_the_weights_and_a_frozen_copy_as_reference(tiny_policy, pairs, tmp_path):
    cfg = load_params("dpo", ROOT / "params.yaml", {**FAST, "sft_weight": 0.5})
    trainer = dpo_trainer(str(tiny_policy), preference_rows(pairs), cfg, tmp_path)
    assert trainer.loss_types == ["sigmoid", "sft"] and trainer.loss_weights == [1.0, 0.5]
    assert trainer.ref_model is not trainer.model
    for ours, ref in zip(trainer.model.parameters(), trainer.ref_model.parameters(), strict=True):
        assert torch.equal(ours, ref)  # the init model, before training


def test_the_sft_weight_adds_the_chosen_nll_to_the_loss(tiny_policy, pairs, tmp_path):
    """At the first step the policy is its reference: DPO's sigmoid loss is exactly log 2, and
    the SFT term adds sft_weight x the chosen tokens' mean NLL (the same batch: seeded)."""
    first = {}
    for weight in (0.0, 1.0, 2.0):
        cfg = load_params(
            "dpo", ROOT / "params.yaml", {**FAST, "max_steps": 1, "sft_weight": weight}
        )
        _, curve = train_dpo(str(tiny_policy), pairs, cfg, tmp_path / str(weight))
        first[weight] = curve[0]["loss"]
    assert first[0.0] == pytest.approx(math.log(2), abs=1e-5)
    nll = first[1.0] - math.log(2)
    assert nll > 1.0  # a random tiny model: several nats a token
    assert first[2.0] - math.log(2) == pytest.approx(2 * nll, rel=1e-4)


# ------------------------------------------------------------------------ train
def test_dpo_raises_the_chosen_over_rejected_margin_against_the_reference(
    trained, tiny_policy, pairs
):
    out, metrics, curve = trained
    before, after = margins(tiny_policy, pairs), margins(out, pairs)
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)
    assert sum(after) - sum(before) > 1.0
    # what the trainer logged agrees: all four pairs ranked right at the end, margins grown
    assert metrics["reward_accuracy_first"] == 0.0 and metrics["reward_margin_first"] == 0.0
    assert metrics["reward_accuracy_final"] == 1.0 and metrics["reward_margin_final"] > 0
    assert curve[-1]["loss"] < math.log(2) < curve[0]["loss"] + 1e-5


def test_a_run_reports_its_steps_and_curve_and_saves_a_model(trained, tiny_policy):
    out, metrics, curve = trained
    assert (metrics["pairs"], metrics["pairs_trained"], metrics["problems"]) == (4, 4, 4)
    assert metrics["dropped_prompt_fills_max_length"] == 0
    assert metrics["steps"] == 12 and metrics["epochs"] == 12.0
    assert metrics["loss_type"] == ["sigmoid", "sft"] and metrics["loss_weights"] == [1.0, 0.0]
    assert metrics["seconds"] > 0  # for the stage to print; it pops it before writing
    assert [p["step"] for p in curve] == list(range(1, 13))
    assert set(curve[0]) == {"step", *CURVE}
    model = AutoModelForCausalLM.from_pretrained(out)
    init = AutoModelForCausalLM.from_pretrained(tiny_policy)
    assert not torch.equal(model.model.embed_tokens.weight, init.model.embed_tokens.weight)
    assert AutoTokenizer.from_pretrained(out).chat_template is not None
    assert not (out / "training_args.bin").exists()


def test_pairs_whose_prompt_fills_max_length_are_dropped_and_counted(
    tiny_policy, problems, tmp_path
):
    pairs = pairs_frame(problems.head(4))
    prompt_tokens = [
        len(AutoTokenizer.from_pretrained(tiny_policy).apply_chat_template(
            row["prompt"], add_generation_prompt=True, return_dict=True)["input_ids"])
        for row in preference_rows(pairs)
    ]  # fmt: skip
    cut = sorted(prompt_tokens)[2]  # two prompts are shorter than this, two are not
    cfg = load_params("dpo", ROOT / "params.yaml", {**FAST, "max_steps": 1, "max_length": cut})
    metrics, _ = train_dpo(str(tiny_policy), pairs, cfg, tmp_path / "out")
    kept = sum(n < cut for n in prompt_tokens)
    assert metrics["pairs_trained"] == kept < 4
    assert metrics["dropped_prompt_fills_max_length"] == 4 - kept


# ------------------------------------------------------------------------ stage
def stage_inputs(tmp_path: Path, tiny_policy: Path, pairs: pl.DataFrame, problems: pl.DataFrame):
    pairs.write_parquet(tmp_path / "pairs.parquet")
    problems.with_columns(ood=pl.int_range(pl.len()) % 3 == 0).write_parquet(
        tmp_path / "eval.parquet"
    )
    init = tmp_path / "models" / "rft" / "tiny"
    shutil.copytree(tiny_policy, init)
    params = write_tiny_params(tmp_path / "params.yaml")
    out = tmp_path / "models" / "dpo" / "tiny"
    metrics, plot = tmp_path / "metrics" / "dpo.json", tmp_path / "plots" / "dpo" / "train.csv"
    argv = [tmp_path / "pairs.parquet", tmp_path / "eval.parquet", init, out, metrics, plot]
    return [*map(str, argv), "--params", str(params)], init, out


def test_stage_writes_model_manifest_metrics_and_curve(tmp_path, tiny_policy, pairs, problems):
    argv, init, out = stage_inputs(tmp_path, tiny_policy, pairs, problems)
    dpo_stage.main(argv)

    report = json.loads((tmp_path / "metrics" / "dpo.json").read_text())
    cfg = load_params("dpo", tmp_path / "params.yaml")
    assert report["pairs"] == 4 and report["steps"] == cfg.max_steps == 2
    assert report["loss_weights"] == [1.0, cfg.sft_weight] and report["strategy"] == "hard"
    assert report["pairs_by_type"] == {"hard_problem": 4}
    assert report["heldout_accuracy_problems"] + report["heldout_ood_accuracy_problems"] == 4
    assert report["sandbox_isolation"] == "bubblewrap" and report["init_model"] == str(init)
    assert not [k for k in report if "second" in k or "time" in k]  # no wall-clock in metrics
    manifest = pl.read_parquet(out / "manifest.parquet").row(0, named=True)
    assert (manifest["stage"], manifest["model"], manifest["examples"]) == ("dpo", "tiny", 4)
    assert manifest["parent"] == str(init) and manifest["load_check"] == "generate"
    assert json.loads((out / PROMPT_FILE).read_text()) == json.loads(
        (init / PROMPT_FILE).read_text()
    )
    curve = pl.read_csv(tmp_path / "plots" / "dpo" / "train.csv")
    assert curve.columns == ["step", *CURVE] and curve["step"].to_list() == [1, 2]
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny"]  # no scratch left behind
    # the manifest is a row of the `models` view too (its glob covers models/<stage>/<name>)
    rows = connect(tmp_path).execute("select stage, model from models where stage = 'dpo'")
    assert rows.fetchall() == [("dpo", "tiny")]


def test_stage_errors_name_the_stage_to_run_and_write_nothing(
    tmp_path, tiny_policy, pairs, problems
):
    argv, init, out = stage_inputs(tmp_path, tiny_policy, pairs, problems)
    missing = [*argv[:2], str(tmp_path / "models" / "rft" / "absent"), *argv[3:]]
    with pytest.raises(UserError, match=r"init model .*absent not found \(run `dvc repro rft`\)"):
        dpo_stage.main(missing)
    PAIRS.empty().write_parquet(tmp_path / "pairs.parquet")
    with pytest.raises(UserError, match=r"pairs\.parquet has no pairs.*`dvc repro pairs`"):
        dpo_stage.main(argv)
    (tmp_path / "pairs.parquet").unlink()
    with pytest.raises(UserError, match=r"pairs\.parquet not found \(run `dvc repro pairs`\)"):
        dpo_stage.main(argv)
    pairs.drop("rejected").write_parquet(tmp_path / "pairs.parquet")
    with pytest.raises(UserError, match=r"not a `pairs` table: lacks column\(s\) rejected"):
        dpo_stage.main(argv)
    assert not out.exists() and not (tmp_path / "metrics").exists()
