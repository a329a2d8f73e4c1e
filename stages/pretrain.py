"""pretrain: one base model + the corpus → a model that reads problems and writes programs.

Reads   CORPUS       data/corpus/corpus.parquet (stage corpus): prompt, completion per row
        EVAL         data/splits/eval.parquet: problems for the held-out program accuracy
        BASE_MODEL   models/base/<name>/ (stage base)
Writes  OUT_DIR      models/pretrained/<name>/: the trained model and tokenizer, its prompt
                     setting (copied from the base) and manifest.parquet (contract `models`)
        METRICS      metrics/pretrain/<name>.json: rows, steps, train loss (seconds: the run
                     log, metrics/pretrain/<name>.run.json), held-out
                     loss before/after (`pretrain.heldout_rows` corpus rows never trained on),
                     and held-out accuracy in the program format (question -> program,
                     greedy, executed in the sandbox, graded; in distribution and OOD, 95%
                     intervals)
        PLOT         plots/pretrain/<name>.csv: step, loss, learning_rate
The stand-in for a real base model's pretraining: TRL's SFTTrainer with the loss on the
completions only. The mixed CoT+PoT solutions are not in the corpus: SFT teaches that format.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from transformers.utils import logging as hf_logging

from mathforge.config import PretrainParams, load_params
from mathforge.contracts.corpus import CORPUS
from mathforge.contracts.splits import EVAL
from mathforge.errors import UserError, run_stage
from mathforge.evaluation import heldout_accuracy
from mathforge.grading import sandbox_isolation
from mathforge.io import write_text
from mathforge.modeling import POINTER_FILE, PROMPT_FILE, resolve_model_path, uses_system_prompt
from mathforge.modeling.manifest import write_trained_manifest
from mathforge.prompts import render
from mathforge.stage import Stage, atomic_dir
from mathforge.teacher.corpus import TEMPLATE
from mathforge.training.sft import chat_rows, curve_csv, train_chat


def program_prompt(question: str) -> list[dict[str, str]]:
    """The corpus's program format: the question, then the request for a program."""
    prompt = render(TEMPLATE, format="program", question=question).strip()
    return [{"role": "user", "content": prompt}]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("corpus", "eval", "base_model", "out_dir", "metrics", "plot"):
        parser.add_argument(name, type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: PretrainParams = load_params("pretrain", args.params)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_warning()
    if not args.base_model.is_dir():
        raise UserError(f"base model {args.base_model} not found (run `dvc repro base`)")
    stage = Stage("pretrain")
    if (args.base_model / POINTER_FILE).is_file():  # GPU profile: a real pretrained model
        with atomic_dir(args.out_dir) as tmp:
            shutil.copytree(args.base_model, tmp, dirs_exist_ok=True)
        stage.write_metrics(args.metrics, model=args.out_dir.name, skipped="a pretrained model")
        write_text("step,loss,learning_rate\n", args.plot)
        print(f"pretrain {args.out_dir.name}: {args.base_model} is pretrained already; copied")
        return

    corpus = CORPUS.read(args.corpus, ["row_id", "prompt", "completion"]).sort("row_id")
    if corpus.height <= cfg.heldout_rows:
        raise UserError(f"{args.corpus}: {corpus.height} rows, not more than heldout_rows")
    held, train = corpus.head(cfg.heldout_rows), corpus.slice(cfg.heldout_rows)
    eval_split = EVAL.read(args.eval, ["question_id", "subject", "question", "answer", "ood"])
    name = args.out_dir.name
    cfg = cfg.for_model(name)
    system = uses_system_prompt(args.base_model)

    with atomic_dir(args.out_dir) as tmp:
        metrics, curve = train_chat(
            resolve_model_path(args.base_model),
            chat_rows(train["prompt"], train["completion"]),
            chat_rows(held["prompt"], held["completion"]),
            cfg,
            tmp,
        )
        shutil.copy(args.base_model / PROMPT_FILE, tmp / PROMPT_FILE)
        (tmp / "training_args.bin").unlink(missing_ok=True)  # pickled args: params.yaml says it
        probe = program_prompt(eval_split["question"][0])
        sample = write_trained_manifest(
            stage, tmp, name, args.base_model, system, train.height, probe
        )
        metrics |= heldout_accuracy(tmp, eval_split, cfg, prompt=program_prompt)
        stage.uses_sandbox(sandbox_isolation(cfg.sandbox))

    stage.write_metrics(args.metrics, model=name, base_model=str(args.base_model), **metrics)
    write_text(curve_csv(curve), args.plot)
    print(
        f"pretrain {name}: {metrics['steps']} steps in {metrics['train_seconds']} s; held-out "
        f"loss {metrics['heldout_loss_before']} -> {metrics['heldout_loss']}; program accuracy "
        f"{metrics['heldout_accuracy']} (ood {metrics['heldout_ood_accuracy']}); {sample!r}"
    )


if __name__ == "__main__":
    run_stage("pretrain", main)
