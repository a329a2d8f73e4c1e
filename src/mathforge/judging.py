"""The configured judge over sampled paths: what critique_label, critique_score's `judge`
critic and the diversity audit share.

A path is judged with its problem's question, reference answer and, where the reference
solution is exact (written by the teacher or a seed: `TRUSTED_SOLUTIONS`), that solution, so
the counterfactual check can rerun it on redrawn numbers (mathforge.critique.judge). The judge
is programmatic on CPU, or an OpenAI-compatible endpoint writing the same critique format
(mathforge.critique.endpoint); `critique_label.judge` chooses.
"""

from __future__ import annotations

import polars as pl
from tqdm import tqdm

from mathforge.config import CritiqueParams, OpenAIBackendParams
from mathforge.critique import JudgeItem, Judgement, judge_many
from mathforge.critique.endpoint import judge_with_endpoint
from mathforge.critique.format import program_output
from mathforge.generation import build_generator

# Generators whose reference solutions are exact (the judge reruns them on redrawn numbers).
TRUSTED_SOLUTIONS = ("programmatic", "seed")


def judge_items(paths: pl.DataFrame) -> list[JudgeItem]:
    """One JudgeItem per row of `paths` (question, reference, text, predicted, solution,
    generator, and error_kind where the paths may have failed to run): the reference solution
    only where its generator is trusted."""
    return [
        JudgeItem(
            r["question"],
            r["reference"],
            r["text"],
            r["solution"] if r["generator"] in TRUSTED_SOLUTIONS else None,
            program_output(r["predicted"], r.get("error_kind")),
        )
        for r in paths.iter_rows(named=True)
    ]


def run_judge(items: list[JudgeItem], cfg: CritiqueParams) -> list[Judgement]:
    """The configured judge over `items`, `cfg.batch_size` at a time, with a progress bar."""
    if isinstance(cfg.judge, OpenAIBackendParams):
        generator = build_generator(cfg.judge)
    out: list[Judgement] = []
    with tqdm(total=len(items), desc="judge", unit="path", disable=None) as bar:
        for start in range(0, len(items), cfg.batch_size):
            batch = items[start : start + cfg.batch_size]
            if isinstance(cfg.judge, OpenAIBackendParams):
                judged = judge_with_endpoint(
                    batch, generator, max_tokens=cfg.judge_max_tokens,
                    threshold=cfg.scoring.accept_threshold,
                )  # fmt: skip
            else:
                judged = judge_many(
                    batch, cfg.sandbox, seed=cfg.scoring.seed,
                    trials=cfg.judge.counterfactual_trials,
                    threshold=cfg.scoring.accept_threshold,
                )  # fmt: skip
            out += judged
            bar.update(len(batch))
    return out
