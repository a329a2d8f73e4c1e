"""The critique model: a causal LM that writes the judge's critique of a path, score last.

It reads what the judge reads (the problem, the reference answer, the path, and what the
path's program printed when sampling ran it: `critique_prompt` without the rubric) and
learns to write what the judge wrote (`mathforge.critique.format`), so its score comes out of
the same parser. Trained by `critique_train` on the judge's labels of the `train` problems,
measured against the judge on the `heldout` problems, and run by `critique_score` on the
problems it scores.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from mathforge.critique.format import critique_prompt, parse_critique, program_output
from mathforge.generation.base import SamplingParams, TextGenerator


@dataclass(frozen=True)
class Critique:
    text: str
    score: int | None  # None: did not parse
    checks: dict[str, str]  # check name -> verdict, the lines that parsed
    error: str | None  # why it did not parse


def critique_chats(rows: pl.DataFrame) -> list[list[dict[str, str]]]:
    """The critique model's prompts of `rows` (question, reference, text, and the recorded
    run: predicted, error_kind): no rubric."""
    return [
        critique_prompt(
            r["question"],
            r["reference"],
            r["text"],
            output=program_output(r["predicted"], r["error_kind"]),
            system=False,
        )  # fmt: skip
        for r in rows.iter_rows(named=True)
    ]


def training_rows(rows: pl.DataFrame) -> list[dict[str, list[dict[str, str]]]]:
    """Prompt-completion chat rows (TRL's conversational format): the prompt of each path
    (question, reference, text), the judge's critique as the completion."""
    return [
        {"prompt": chat, "completion": [{"role": "assistant", "content": critique}]}
        for chat, critique in zip(critique_chats(rows), rows["critique"], strict=True)
    ]


def write_critiques(
    generator: TextGenerator, rows: pl.DataFrame, max_tokens: int
) -> list[Critique]:
    """One greedy critique per row, parsed."""
    texts = generator.generate(
        critique_chats(rows), SamplingParams(n=1, temperature=0.0, max_tokens=max_tokens)
    )
    out = []
    for (text,) in texts:
        parsed = parse_critique(text)
        out.append(Critique(text, parsed.score, parsed.checks, parsed.error))
    return out


def agreement(
    judge_accepts: Sequence[bool],
    model_scores: Sequence[int | None],
    wrong_reasoning: Sequence[bool],
    threshold: int,
) -> dict:
    """How often the critique model's accept/reject decision (score >= `threshold`; an
    unparseable critique rejects) is the judge's: on every path, and apart on the judge's
    "right answer, wrong reasoning" paths (where answer-only grading is fooled)."""
    model_accepts = [s is not None and s >= threshold for s in model_scores]
    same = [a == b for a, b in zip(judge_accepts, model_accepts, strict=True)]
    tricky = [s for s, w in zip(same, wrong_reasoning, strict=True) if w]
    both = Counter(zip(judge_accepts, model_accepts, strict=True))
    return {
        "paths": len(same),
        "agreement": round(sum(same) / len(same), 4) if same else None,
        # what a scorer that rejects every path would agree on: the bar to clear
        "always_reject_agreement": (
            round(sum(not a for a in judge_accepts) / len(same), 4) if same else None
        ),
        "wrong_reasoning_paths": len(tricky),
        "wrong_reasoning_agreement": round(sum(tricky) / len(tricky), 4) if tricky else None,
        "judge_accepts_model_accepts": both[(True, True)],
        "judge_accepts_model_rejects": both[(True, False)],
        "judge_rejects_model_accepts": both[(False, True)],
        "judge_rejects_model_rejects": both[(False, False)],
        "unparseable": sum(s is None for s in model_scores),
    }


def score_histogram(judge_scores: Sequence[int | None], model_scores: Sequence[int | None]) -> str:
    """CSV for `dvc plots`: per score 0-10 (and "none": unparseable), how many paths the judge
    and the critique model gave it."""
    judge, model = Counter(judge_scores), Counter(model_scores)
    lines = ["score,judge,critique_model"]
    lines += [f"{s},{judge[s]},{model[s]}" for s in range(11)]
    lines.append(f"none,{judge[None]},{model[None]}")
    return "\n".join(lines) + "\n"
