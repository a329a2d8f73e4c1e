"""Training step time: TRL's SFTTrainer as it comes vs the way mathforge runs it.

Same model (a fresh tiny Llama built like stage base builds policy_small, with the tokenizer
settings of params.yaml), same prompt-completion rows (a pretraining-corpus-like mix of short
and long rows drawn from the teacher), same optimizer settings (params.yaml's pretrain section),
one run after the other in one process:

- ``trl``:              SFTTrainer's own loss (its chunked fused LM head) and random batches;
- ``full``:             the model's own forward and cross-entropy over every position, random
                        batches;
- ``full+group``:       the same, with length-grouped batches (what `sft_config` sets);
- ``completion+group``: `plain_loss_trainer` as the stages run it: the LM head on the labelled
                        (completion) positions only, length-grouped batches;
- ``+fused adamw``:     the same with torch's fused AdamW (``optim="adamw_torch_fused"``)
                        instead of the default for-each one.

    OMP_NUM_THREADS=1 python benchmarks/bench_training.py              # 40 steps
    OMP_NUM_THREADS=1 python benchmarks/bench_training.py --steps 100 --threads 2

Prints seconds per step and each variant's ratio to ``trl``.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from mathforge.config import BaseModelParams, load_params
from mathforge.modeling.tiny import save_base_model
from mathforge.modeling.tokenizer import train_bpe, wrap_tokenizer
from mathforge.teacher import domain_skills
from mathforge.teacher.corpus import draw_problems, render_formats
from mathforge.training.sft import chat_rows, plain_loss_trainer, sft_config

ROOT = Path(__file__).resolve().parents[1]


def corpus_rows(n: int) -> tuple[list[str], list[str]]:
    params = load_params("corpus", ROOT / "params.yaml")
    skills = domain_skills(params.domain.subjects)
    prompts, completions = [], []
    for problem in draw_problems(skills, n, 0.3, random.Random(0)):
        for row in render_formats(problem, params.formats):
            prompts.append(row["prompt"])
            completions.append(row["completion"])
    return prompts, completions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--problems", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    prompts, completions = corpus_rows(args.problems)
    base = load_params("base", ROOT / "params.yaml")
    spec: BaseModelParams = base.models["policy_small"]
    cfg = load_params(
        "pretrain", ROOT / "params.yaml", {"max_steps": args.steps, "threads": args.threads}
    )
    from trl import SFTTrainer

    class FullForwardTrainer(SFTTrainer):
        """The model's own loss: logits and cross-entropy at every position."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            outputs = model(**inputs, use_cache=False, num_items_in_batch=num_items_in_batch)
            return (outputs.loss, outputs) if return_outputs else outputs.loss

    with tempfile.TemporaryDirectory() as scratch:
        model_dir = Path(scratch) / "policy_small"
        tok = base.tokenizer
        tokenizer = wrap_tokenizer(
            train_bpe(prompts + completions, tok.vocab_size, tok.min_frequency, tok.number_digits)
        )
        save_base_model(model_dir, spec, tokenizer, seed=0)
        data = Dataset.from_list(chat_rows(prompts, completions))
        results = {}
        for name, trainer_class, grouped, optim in (
            ("trl", SFTTrainer, False, None),
            ("full", FullForwardTrainer, False, None),
            ("full+group", FullForwardTrainer, True, None),
            ("completion+group", plain_loss_trainer(), True, None),
            ("+fused adamw", plain_loss_trainer(), True, "adamw_torch_fused"),
        ):
            config = sft_config(cfg, Path(scratch) / name.replace(" ", "_"))
            if not grouped:
                config.train_sampling_strategy = "random"
            if optim is not None:
                config.optim = optim
            trainer = trainer_class(
                model=AutoModelForCausalLM.from_pretrained(model_dir),
                args=config,
                train_dataset=data,
                processing_class=AutoTokenizer.from_pretrained(model_dir),
            )
            start = time.perf_counter()
            trainer.train()
            results[name] = (time.perf_counter() - start) / args.steps
        print(f"{args.steps} steps of batch {cfg.batch_size}, {args.threads} threads, "
              f"{len(prompts)} rows")  # fmt: skip
        for name, seconds in results.items():
            print(f"{name:17s} {seconds:.3f} s/step  {results['trl'] / seconds:.2f}x")


if __name__ == "__main__":
    main()
