"""The sft stage: example selection, completion-only labels, a real SFTTrainer run, the stage."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

import polars as pl  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from profiles import write_tiny_params  # noqa: E402
from tiny_models import save_tiny_model  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from mathforge.config import ParamsError, load_params  # noqa: E402
from mathforge.evaluation import evaluate, limit_problems, model_generator  # noqa: E402
from mathforge.modeling.directory import uses_system_prompt  # noqa: E402
from mathforge.modeling.tokenizer import EOS  # noqa: E402
from mathforge.solution import solve_prompt  # noqa: E402
from mathforge.splitting import stratified_sample  # noqa: E402
from mathforge.teacher import SUBJECTS, VARIANTS, generate  # noqa: E402
from mathforge.training.sft import (  # noqa: E402
    completion_loss,
    plain_loss_trainer,
    prompt_completion_rows,
    select_examples,
    sft_config,
    to_dataset,
    tokenize_chat,
    train_sft,
)
from stages import sft as sft_stage  # noqa: E402

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]

FAST = {  # a few quick steps; every other field as params.yaml has it
    "max_examples": None,
    "eval_examples": 4,
    "max_steps": 4,
    "batch_size": 4,
    "learning_rate": 3e-3,
    "warmup_steps": 0,
    "logging_steps": 1,
}


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "question_id": pl.String,
            "subject": pl.String,
            "question": pl.String,
            "solution": pl.String,
            "generator": pl.String,
            "answer": pl.String,
            "ood": pl.Boolean,
        },
    )


@pytest.fixture(scope="module")
def problems() -> pl.DataFrame:
    """Real generated problems with mixed solutions: 3 per (subject, skill)."""
    rng = random.Random(0)
    rows = []
    for subject, skills in SUBJECTS.items():
        for skill in skills:
            for k in range(3):
                p = generate(subject, skill, rng, VARIANTS[k % 2])
                rows.append(
                    {
                        "question_id": f"q_{len(rows):016x}",
                        "subject": subject,
                        "question": p.question,
                        "solution": p.solution,
                        "generator": "programmatic",
                        "answer": str(p.answer),
                        "ood": False,
                    }
                )
    return frame(rows)


@pytest.fixture
def base_dir(tiny_policy) -> Path:
    """The session's tiny Llama, saved as stage base does (read only: SFT writes elsewhere)."""
    return tiny_policy


# ---------------------------------------------------------------- selection
def toy(sizes: dict[str, int], generator: str = "programmatic", start: int = 0) -> pl.DataFrame:
    rows, i = [], start
    for subject, n in sizes.items():
        for _ in range(n):
            rows.append(
                {"question_id": f"q_{i:016x}", "subject": subject, "question": f"Q{i}?",
                 "solution": f"S{i}", "generator": generator, "answer": "1", "ood": False}
            )  # fmt: skip
            i += 1
    return frame(rows)


def test_sources_and_missing_solutions_are_left_out_with_reasons():
    df = pl.concat(
        [toy({"a": 5}, "seed"), toy({"a": 6}, "programmatic", 100), toy({"b": 4}, "llm", 200)]
    )
    df = df.with_columns(
        pl.when(pl.col("question_id").is_in(["q_0000000000000000", "q_00000000000000c8"]))
        .then(None)
        .otherwise(pl.col("solution"))
        .alias("solution")
    )
    kept, dropped = select_examples(df, ["seed", "programmatic"], None, seed=0)
    assert kept.height == 10 and set(kept["generator"]) == {"seed", "programmatic"}
    assert kept["solution"].null_count() == 0
    assert dropped == {"no_solution": 2, "source_not_selected": 3, "over_max_examples": 0}
    only_seed, dropped = select_examples(df, ["seed"], None, seed=0)
    assert set(only_seed["generator"]) == {"seed"} and only_seed.height == 4
    assert sum(dropped.values()) + only_seed.height == df.height


def test_cap_is_stratified_by_subject():
    df = toy({"a": 60, "b": 30, "c": 10})
    kept, dropped = select_examples(df, ["programmatic"], 20, seed=0)
    counts = dict(kept.group_by("subject").len().iter_rows())
    assert counts == {"a": 12, "b": 6, "c": 2}
    assert dropped["over_max_examples"] == 80
    rare = stratified_sample(toy({"a": 100, "b": 1, "c": 1}), 5, seed=0)
    assert dict(rare.group_by("subject").len().iter_rows()) == {"a": 3, "b": 1, "c": 1}
    assert stratified_sample(toy({"a": 3, "b": 3}), 100, seed=0).height == 6


def test_cap_is_deterministic_and_order_independent():
    df = toy({"a": 40, "b": 25, "c": 15})
    first = stratified_sample(df, 17, seed=3)["question_id"].to_list()
    shuffled = df.sample(fraction=1.0, shuffle=True, seed=9)
    assert stratified_sample(shuffled, 17, seed=3)["question_id"].to_list() == first
    assert len(first) == 17 and len(set(first)) == 17
    assert stratified_sample(df, 17, seed=4)["question_id"].to_list() != first


def test_rows_are_conversational_prompt_completion():
    df = toy({"a": 2})
    rows = prompt_completion_rows(df)
    assert rows[0]["prompt"] == solve_prompt("Q0?")
    assert rows[1]["completion"] == [{"role": "assistant", "content": "S1"}]
    assert set(to_dataset(df).column_names) == {"prompt", "completion"}


# ------------------------------------------------------------------ training
def trainer_for(base_dir: Path, train: pl.DataFrame, tmp_path: Path, **overrides):
    from trl import SFTTrainer

    cfg = load_params("sft", ROOT / "params.yaml", {**FAST, **overrides})
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    return SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(base_dir),
        args=sft_config(cfg, tmp_path / "trainer"),
        train_dataset=tokenize_chat(to_dataset(train), tokenizer, cfg.max_length),
        processing_class=tokenizer,
    )


def test_batched_tokenization_is_trls_own_preparation(base_dir, problems, tmp_path):
    """`tokenize_chat` gives the rows TRL's SFTTrainer prepares from the same chat rows:
    ids, labels, the cut to max_length, the rows dropped with nothing left to learn."""
    from datasets import Dataset
    from trl import SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    rows = prompt_completion_rows(problems.head(6), system=False)
    prompt = len(
        tokenizer.apply_chat_template(
            rows[0]["prompt"], add_generation_prompt=True, return_dict=True
        )["input_ids"]
    )
    rows[1]["prompt"][0]["content"] *= 40  # its prompt alone is longer than max_length
    max_length = prompt + 8  # the other rows' completions are cut
    ours = tokenize_chat(rows, tokenizer, max_length)
    args = sft_config(load_params("sft", ROOT / "params.yaml", FAST), tmp_path / "trl")
    args.dataset_kwargs, args.max_length = {}, max_length  # TRL prepares the rows itself
    theirs = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(base_dir), args=args,
        train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
    ).train_dataset  # fmt: skip
    assert ours.num_rows == theirs.num_rows == 5  # the long prompt's row: dropped
    assert ours["input_ids"] == theirs["input_ids"]
    assert ours["labels"] == theirs["labels"]
    assert max(len(ids) for ids in ours["input_ids"]) == max_length


def test_loss_covers_the_completion_only(base_dir, problems, tmp_path):
    train = problems.head(3)
    trainer = trainer_for(base_dir, train, tmp_path)
    tokenizer = trainer.processing_class
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(3)])
    for row, ids, labels in zip(
        train.iter_rows(named=True), batch["input_ids"], batch["labels"], strict=True
    ):
        prompt = tokenizer.apply_chat_template(
            solve_prompt(row["question"]), add_generation_prompt=True, tokenize=False
        )
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        n = len(prompt_ids)
        assert ids[:n].tolist() == prompt_ids  # right padding: the prompt comes first
        assert (labels[:n] == -100).all(), "a prompt token is trained on"
        trained = ids[labels != -100].tolist()
        assert tokenizer.decode(trained) == row["solution"] + EOS
        assert (labels[n : n + len(trained)] != -100).all()  # the completion, contiguous


def test_the_plain_loss_is_trls_loss(base_dir, problems, tmp_path):
    """The trainer the stages use computes the model's own cross-entropy instead of TRL's
    chunked fused LM head: on the same batch the loss is the same."""
    trl_trainer = trainer_for(base_dir, problems.head(4), tmp_path)
    plain = plain_loss_trainer()(
        model=AutoModelForCausalLM.from_pretrained(base_dir),
        args=trl_trainer.args,
        train_dataset=trl_trainer.train_dataset,
        processing_class=AutoTokenizer.from_pretrained(base_dir),
    )
    batch = trl_trainer.data_collator([trl_trainer.train_dataset[i] for i in range(4)])
    with torch.no_grad():
        theirs = trl_trainer.compute_loss(trl_trainer.model, dict(batch))
        ours = plain.compute_loss(plain.model, dict(batch))
    assert float(ours) == pytest.approx(float(theirs), rel=1e-5)
    assert float(ours) > 1.0  # an untrained model: not a trivially equal zero


def test_the_completion_loss_is_the_full_forward_loss_and_gradient(base_dir, problems, tmp_path):
    """Logits at the labelled positions alone give the loss and the gradients of the model's
    full forward, and gradient accumulation's token count divides the sum."""
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    cfg = load_params("sft", ROOT / "params.yaml", FAST)
    trainer = plain_loss_trainer()(
        model=AutoModelForCausalLM.from_pretrained(base_dir),
        args=sft_config(cfg, tmp_path),
        train_dataset=tokenize_chat(to_dataset(problems.head(4)), tokenizer, cfg.max_length),
        processing_class=tokenizer,
    )
    batch = dict(trainer.data_collator([trainer.train_dataset[i] for i in range(4)]))
    model = trainer.model
    full = model(**batch, use_cache=False).loss
    full.backward()
    expected = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    ours = completion_loss(model, batch)
    ours.backward()
    assert float(ours) == pytest.approx(float(full), rel=1e-5)
    for theirs, mine in zip(expected, (p.grad for p in model.parameters()), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-6)
    learned = int((batch["labels"][:, 1:] != -100).sum())
    halved = completion_loss(model, batch, num_items_in_batch=2 * learned)
    assert float(halved) == pytest.approx(float(full) / 2, rel=1e-5)


def test_sft_lowers_the_loss_and_saves_a_model_that_generates(base_dir, problems, tmp_path):
    repeated = pl.concat([problems.head(4)] * 4)
    cfg = load_params("sft", ROOT / "params.yaml", {**FAST, "max_steps": 12})
    metrics, curve = train_sft(str(base_dir), repeated, problems.head(4), cfg, tmp_path / "out")
    assert [p["step"] for p in curve][:2] == [1, 2] and curve[-1]["step"] == 12
    assert curve[-1]["loss"] < curve[0]["loss"] - 0.5
    assert metrics["heldout_loss"] < metrics["heldout_loss_before"]  # seen rows: must drop
    assert metrics["steps"] == 12 and metrics["examples"] == 16
    assert 0 < metrics["completion_tokens"] < metrics["example_tokens"]

    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "out")
    before = AutoModelForCausalLM.from_pretrained(base_dir)
    assert not torch.equal(model.model.embed_tokens.weight, before.model.embed_tokens.weight)
    inputs = tokenizer.apply_chat_template(
        solve_prompt(problems["question"][0]),
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]


# --------------------------------------------------------------------- stage
def test_stage_writes_model_metrics_and_curve(base_dir, problems, tmp_path):
    train = problems.with_columns(
        pl.when(pl.int_range(pl.len()) < 3)
        .then(pl.lit("seed"))
        .when(pl.int_range(pl.len()) < 6)
        .then(pl.lit("llm"))
        .otherwise(pl.col("generator"))
        .alias("generator")
    )
    train.write_parquet(tmp_path / "train.parquet")
    eval_df = problems.with_columns(ood=pl.int_range(pl.len()) % 2 == 0)
    eval_df.write_parquet(tmp_path / "eval.parquet")
    sft = {**FAST, "max_examples": 10, "max_steps": 3, "logging_steps": 2, "eval_max_tokens": 16,
           "accuracy_problems": 8}  # fmt: skip
    write_tiny_params(tmp_path / "params.yaml", sft=sft)
    out = tmp_path / "models" / "sft" / "tiny"
    metrics = tmp_path / "metrics" / "sft" / "tiny.json"
    plot = tmp_path / "plots" / "sft" / "tiny.csv"
    argv = [tmp_path / "train.parquet", tmp_path / "eval.parquet", base_dir, out, metrics, plot]
    sft_stage.main([*map(str, argv), "--params", str(tmp_path / "params.yaml")])

    report = json.loads(metrics.read_text())
    assert report["examples"] == 10 and report["steps"] == 3 and report["heldout_examples"] == 4
    assert report["dropped_source_not_selected"] == 3
    assert report["dropped_over_max_examples"] == train.height - 3 - 10
    assert "llm" not in report["examples_by_generator"]
    assert report["train_loss_final"] > 0 and "train_seconds" not in report
    assert json.loads(metrics.with_name("tiny.run.json").read_text())["train_seconds"] > 0
    # held-out accuracy: mathforge evaluate on 8 eval problems, stratified (4 in distribution,
    # 4 ood), greedy, executed, graded: the same report the command gives for this model
    assert report["heldout_accuracy_problems"] == report["heldout_ood_accuracy_problems"] == 4
    cfg = load_params("sft", tmp_path / "params.yaml")
    generator, system = model_generator(out, threads=1)
    direct, _ = evaluate(
        generator, limit_problems(eval_df, 8, cfg.seed), model="tiny", system=system,
        sandbox=cfg.sandbox, max_tokens=16, seed=cfg.seed,
    )  # fmt: skip
    assert report["heldout_accuracy"] == direct["in_distribution"]["accuracy"]
    assert report["heldout_ood_accuracy_ci95"] == direct["ood"]["ci95"]
    assert sum(report["heldout_error_kinds"].values()) == 8
    assert report["sandbox_isolation"] == "bubblewrap"
    manifest = pl.read_parquet(out / "manifest.parquet").row(0, named=True)
    assert (manifest["stage"], manifest["model"], manifest["examples"]) == ("sft", "tiny", 10)
    assert manifest["parent"] == str(base_dir) and manifest["load_check"] == "generate"
    curve = pl.read_csv(plot)
    assert curve.columns == ["step", "loss", "learning_rate"]
    assert curve["step"].to_list() == [1, 2]
    lineage = pl.read_parquet(out / sft_stage.EXAMPLES_FILE)
    assert lineage.height == 10 and set(lineage["question_id"]) <= set(train["question_id"])
    vocab = len(AutoTokenizer.from_pretrained(base_dir))
    assert AutoModelForCausalLM.from_pretrained(out).config.vocab_size == vocab
    assert AutoTokenizer.from_pretrained(out).chat_template is not None
    assert not (out.parent / ".tiny.tmp").exists() and not (out.parent / ".tiny.trainer").exists()
    # The prompt setting travels with the model, so sampling prompts it as it was trained.
    assert report["system_prompt"] is True and uses_system_prompt(out)
    # What made the model travels with it: seeds, libraries, hardware (no time: a rerun here
    # writes the same record, so the model's hash stays).
    record = json.loads((out / "training.json").read_text())
    assert (record["seed"], record["data_seed"], record["full_determinism"]) == (
        cfg.seed,
        cfg.seed,
        True,
    )
    assert record["libraries"]["torch"] == torch.__version__ and record["processes"] == 1
    assert record["torch_threads"] == torch.get_num_threads() and record["device"] == "cpu"
    assert record["hardware"]["logical_cpus"] == os.cpu_count() and record["hardware"]["gpus"] == []


def test_models_trained_without_the_system_message_get_prompts_without_it(tmp_path, tiny_tokenizer):
    df = pl.DataFrame({"question": ["Q?"], "solution": ["S"]})
    (row,) = prompt_completion_rows(df, system=False)
    assert [m["role"] for m in row["prompt"]] == ["user"]
    (row,) = prompt_completion_rows(df)
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    save_tiny_model(tmp_path / "m", tiny_tokenizer, system_prompt=False)
    assert uses_system_prompt(tmp_path / "m") is False
    assert uses_system_prompt(tmp_path / "elsewhere") is True  # no setting: the full prompt


# ------------------------------------------------------------ params / dvc.yaml
def test_sft_params_reject_unknown_sources():
    with pytest.raises(
        ParamsError, match=r"sft\.sources\.0\b.*'seed', 'programmatic' or 'llm'.*'annotators'"
    ):
        load_params("sft", ROOT / "params.yaml", {"sources": ["annotators"]})
    with pytest.raises(ParamsError, match=r"sft\.sources\b.*at least 1 item"):
        load_params("sft", ROOT / "params.yaml", {"sources": []})
