"""GRPO with a verifiable reward (stage grpo): TRL's GRPOTrainer from the RFT'd policy, the
online-RL comparison to DPO.

Problems (train split, ``question_id, subject, question, answer, solution``): with
``grpo.problems: null`` the problems DPO's pairs cover, so both methods learn from the same
problems (the pairs' problems are the ones the pool got both right and wrong: a group of
GRPO samples there has rewards to compare); with a number, that many train problems with a
gold answer, drawn with ``grpo.seed`` stratified by subject. A problem without a gold answer
cannot be rewarded and is left out (``no_answer``), as is one whose prompt plus
``max_completion_length`` would not fit ``max_length`` (``too_long``).

A GRPO row is the chat the policy is sampled with, ``solve_prompt(question, system=...)``,
with the gold answer (and the question and reference solution, for the judge) beside it.
The reward (`VerifiedAnswerReward`) runs each completion's programs in the sandbox, one
batch per call (`mathforge.grading.grade_solutions`: model-written code only ever runs
there), and grades the last printed line with `answers_match`: 1.0 right, 0.0 otherwise (no
program, a crash, a timeout, no output, a wrong or ungradable answer). With ``grpo.judge``
a right answer also needs the programmatic judge's accept (`mathforge.critique.judge`).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import torch

from mathforge.config import GrpoParams, SandboxParams
from mathforge.critique.judge import JudgeItem, judge_many
from mathforge.grading import Graded, grade_solutions
from mathforge.solution import solve_prompt
from mathforge.splitting import stratified_sample
from mathforge.training.policy import curve_from_log
from mathforge.training.run import trainer_args, write_training_record

INPUT_COLUMNS = ("question_id", "subject", "question", "answer", "solution")
# plots/grpo/<target>.csv: column -> GRPOTrainer's log key (trl/trainer/grpo_trainer.py)
CURVE = {
    "loss": "loss",
    "reward": "reward",
    "reward_std": "reward_std",
    "completion_length": "completions/mean_length",
    "learning_rate": "learning_rate",
}


class VerifiedAnswerReward:
    """TRL reward function: 1.0 for a completion whose programs, run in the sandbox, print an
    answer `answers_match` accepts against the problem's gold answer (and, with `judge`, that
    the programmatic judge accepts), 0.0 otherwise. `outcomes` counts every completion it
    scored by what happened (`_outcome`, or judge_rejected). The judge accepts at its own
    threshold (`critique.ACCEPT`, the default of scoring.accept_threshold)."""

    __name__ = "verified_answer"  # TRL names a reward function's logs by it

    def __init__(self, sandbox: SandboxParams, judge: bool = False, trials: int = 0, seed: int = 0):
        self.sandbox, self.judge, self.trials, self.seed = sandbox, judge, trials, seed
        self.outcomes: Counter[str] = Counter()

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        answer: Sequence[str],
        question: Sequence[str] | None = None,
        solution: Sequence[str | None] | None = None,
        **_: Any,
    ) -> list[float]:
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        graded = grade_solutions(texts, list(answer), self.sandbox)
        right = [g.correct is True for g in graded]
        outcome = [_outcome(g) for g in graded]
        if self.judge and any(right):
            if question is None:
                raise ValueError("the judge needs the problems' `question` column")
            tried = [i for i, ok in enumerate(right) if ok]
            solutions = solution or [None] * len(texts)
            items = [JudgeItem(question[i], answer[i], texts[i], solutions[i]) for i in tried]
            verdicts = judge_many(items, self.sandbox, seed=self.seed, trials=self.trials)
            for i, verdict in zip(tried, verdicts, strict=True):
                if not verdict.accepted:
                    right[i], outcome[i] = False, "judge_rejected"
        self.outcomes.update(outcome)
        return [1.0 if ok else 0.0 for ok in right]


def _outcome(graded: Graded) -> str:
    """What happened to one completion: correct, the sandbox's error kind (or no_program,
    no_output), ungradable (answers_match could not compare) or wrong_answer."""
    if graded.correct:
        return "correct"
    if graded.error_kind is not None:
        return graded.error_kind
    return "ungradable" if graded.correct is None else "wrong_answer"


class NoProblemFits(ValueError):
    """No problem's prompt plus max_completion_length fits max_length."""


def select_problems(
    train: pl.DataFrame, pair_problems: Sequence[str], n: int | None, seed: int
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The train problems GRPO learns from (INPUT_COLUMNS), and why others were left out:
    `n` None: the problems of DPO's pairs (`pair_problems`); else `n` train problems with a
    gold answer, stratified by subject, seeded. (A pair problem missing from `train` is the
    stage's error to report, not a drop.)"""
    dropped: Counter[str] = Counter()
    rows = train
    if n is None:
        rows = train.filter(pl.col("question_id").is_in(list(pair_problems)))
    has_answer = rows["answer"].is_not_null() & (rows["answer"].str.strip_chars() != "")
    dropped["no_answer"] = int((~has_answer).sum())
    rows = rows.filter(has_answer)
    if n is not None:
        kept = stratified_sample(rows, n, seed)
        dropped["over_problems"] = rows.height - kept.height
        rows = kept
    return rows.sort("question_id"), {k: v for k, v in sorted(dropped.items()) if v}


def prompt_rows(problems: pl.DataFrame, system: bool = True) -> list[dict[str, Any]]:
    """GRPO rows: the solving chat as `prompt`, and the columns the reward reads."""
    return [
        {
            "prompt": solve_prompt(question, system=system),
            "answer": answer,
            "question": question,
            "solution": solution,
        }
        for question, answer, solution in zip(
            problems["question"], problems["answer"], problems["solution"], strict=True
        )
    ]


def grpo_config(cfg: GrpoParams, output_dir: Path):
    """TRL's GRPOConfig from our params: the shared CPU-safe fields and the rollouts'."""
    from trl import GRPOConfig

    return GRPOConfig(
        **trainer_args(cfg, output_dir),
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        beta=cfg.beta,
    )


def train_grpo(
    model_path: str, problems: pl.DataFrame, cfg: GrpoParams, out_dir: Path, system: bool = True
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """GRPO of the model at `model_path` on `problems` (INPUT_COLUMNS); saves model +
    tokenizer to `out_dir`. Returns the metrics (problems, steps, rollouts and their outcomes,
    the mean reward at the first and last logging step) and the curve, one entry per logging
    step; `seconds` is for the stage to print, not to keep."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOTrainer

    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    rows = prompt_rows(problems, system)
    prompt_ids = tokenizer.apply_chat_template(
        [row["prompt"] for row in rows], add_generation_prompt=True, return_dict=True
    )["input_ids"]
    fits = [len(ids) + cfg.max_completion_length <= cfg.max_length for ids in prompt_ids]
    rows = [row for row, ok in zip(rows, fits, strict=True) if ok]
    if not rows:
        raise NoProblemFits(
            f"no problem's prompt + max_completion_length ({cfg.max_completion_length}) fits "
            f"max_length ({cfg.max_length})"
        )
    reward = VerifiedAnswerReward(cfg.sandbox, cfg.judge, cfg.counterfactual_trials, cfg.seed)
    with tempfile.TemporaryDirectory(prefix="grpo-trainer-") as scratch:
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[reward],
            args=grpo_config(cfg, Path(scratch)),
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
        )
        start = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - start
        curve = curve_from_log(trainer.state.log_history, CURVE)
        trainer.save_model(str(out_dir))
        write_training_record(trainer, out_dir)
    tokenizer.save_pretrained(str(out_dir))
    (out_dir / "training_args.bin").unlink(missing_ok=True)  # pickled args: params.yaml says it
    steps = int(trainer.state.global_step)
    rollouts = sum(reward.outcomes.values())
    groups_per_step = cfg.batch_size * cfg.gradient_accumulation_steps // cfg.num_generations
    metrics = {
        "problems": len(rows),
        "dropped_too_long": len(fits) - len(rows),
        "steps": steps,
        "num_generations": cfg.num_generations,
        "problems_per_step": groups_per_step,
        "epochs": round(steps * groups_per_step / len(rows), 3),
        "rollouts": rollouts,
        "rollouts_correct": reward.outcomes["correct"],
        "rollout_outcomes": dict(sorted(reward.outcomes.items())),
        "reward_mean": round(reward.outcomes["correct"] / max(rollouts, 1), 5),
        "reward_first": _round(curve[0].get("reward") if curve else None),
        "reward_final": _round(curve[-1].get("reward") if curve else None),
        "train_loss_mean": round(float(result.training_loss), 5),
        "judge": cfg.judge,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if not math.isfinite(metrics["train_loss_mean"]):
        raise FloatingPointError(f"GRPO diverged: loss {metrics['train_loss_mean']}")
    return metrics | {"seconds": round(seconds, 2)}, curve


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 5)
