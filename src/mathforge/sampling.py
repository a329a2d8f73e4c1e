"""Rejection sampling: many mixed CoT+PoT paths per problem, each executed and graded.

One path is one completion of `solve_prompt(question)` by one policy model. Its
programs run together in the sandbox; the last line they print is the predicted
answer, graded against the problem's reference with `answers_match`
(`mathforge.grading`). One row per path (`PATHS_SCHEMA`, the `paths` view).

Problems without a reference answer (llm-synthesized) get one by majority vote
over the paths of every model (`majority_reference`): the largest group of
equivalent predicted answers becomes the reference when its share of the
problem's paths reaches a threshold; otherwise the problem has no reference and
its paths stay ungraded (correct is null).

`pass_at_k` is the unbiased estimator of Chen et al. (2021): the chance that at
least one of k paths drawn without replacement from n, c of them correct, is
correct.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from mathforge.config import SandboxParams
from mathforge.generation import Completion, SamplingParams
from mathforge.grading import grade_programs
from mathforge.solution import parse_solution, program_of, solve_prompt
from mathforge.verify import answers_match

EXEC_TAIL_CHARS = 2000  # stdout/stderr kept per path (the tail: where answers and errors are)

PATHS_SCHEMA = {
    "path_id": pl.String,  # p_ + 16 hex: hash of question_id, model, sample_index
    "question_id": pl.String,
    "subject": pl.String,
    "model": pl.String,  # the policy model's name (models/sft/<model>)
    "sample_index": pl.Int64,  # 0..n-1 within (question, model)
    "text": pl.String,  # the completion as generated
    "programs": pl.List(pl.String),  # its fenced python blocks, in order
    "final_answer": pl.String,  # what the text states ("Final answer: ..."), unexecuted
    "exec_ok": pl.Boolean,  # the joined program exited cleanly; null: no program
    "error_kind": pl.String,  # sandbox error kind, no_program, no_output; null when ok
    "exec_stdout": pl.String,  # tail of what the program printed
    "exec_stderr": pl.String,  # tail of its stderr (tracebacks)
    "exec_seconds": pl.Float64,
    "predicted": pl.String,  # last non-empty stdout line: the path's answer
    "reference": pl.String,  # the answer graded against (gold, or the majority answer)
    "reference_source": pl.String,  # gold | majority | none
    "correct": pl.Boolean,  # answers_match(predicted, reference); null: ungradable
    "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64,
    "finish_reason": pl.String,  # stop | length
}

REFERENCE_SOURCES = ("gold", "majority", "none")


def path_id(question_id: str, model: str, sample_index: int) -> str:
    """Stable id of one sampled path: `p_` + 16 hex digits of SHA-256."""
    key = f"{question_id}\0{model}\0{sample_index}".encode()
    return f"p_{hashlib.sha256(key).hexdigest()[:16]}"


def _tail(text: str) -> str:
    return text[-EXEC_TAIL_CHARS:]


def grade_paths(
    problems: pl.DataFrame,
    completions: Sequence[Sequence[Completion]],
    model: str,
    sandbox: SandboxParams,
) -> pl.DataFrame:
    """Rows of `PATHS_SCHEMA` for `completions[i]` sampled on `problems[i]`.

    `problems` has question_id, subject and answer (null: graded later by majority).
    """
    texts, meta = [], []
    for row, outs in zip(problems.iter_rows(named=True), completions, strict=True):
        for k, completion in enumerate(outs):
            texts.append(completion.text)
            meta.append((row, k, completion))
    parsed = [parse_solution(text) for text in texts]
    golds = [row["answer"] for row, _, _ in meta]
    graded = grade_programs([program_of(p) for p in parsed], golds, sandbox)
    rows = []
    for (row, k, completion), solution, g in zip(meta, parsed, graded, strict=True):
        gold = row["answer"]
        rows.append(
            {
                "path_id": path_id(row["question_id"], model, k),
                "question_id": row["question_id"],
                "subject": row["subject"],
                "model": model,
                "sample_index": k,
                "text": completion.text,
                "programs": solution.programs,
                "final_answer": solution.final_answer,
                "exec_ok": None if g.exec is None else g.exec.ok,
                "error_kind": g.error_kind,
                "exec_stdout": None if g.exec is None else _tail(g.exec.stdout),
                "exec_stderr": None if g.exec is None else _tail(g.exec.stderr),
                "exec_seconds": None if g.exec is None else g.exec.duration_s,
                "predicted": g.predicted,
                "reference": gold,
                "reference_source": "gold" if gold is not None else "none",
                "correct": g.correct,
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "finish_reason": completion.finish_reason,
            }
        )
    return pl.DataFrame(rows, schema=PATHS_SCHEMA)


@dataclass(frozen=True)
class Majority:
    answer: str | None  # the majority answer (a representative spelling), None: no majority
    share: float  # its votes / the problem's paths
    votes: int


def answer_groups(answers: Sequence[str]) -> list[list[int]]:
    """Indices of `answers` grouped by equivalence (`answers_match`), largest group first.

    Equal strings share a group without a check; distinct spellings are compared with
    each group's first spelling, so "0.5" and "1/2" vote together.
    """
    representatives: list[str] = []  # the first spelling of each group
    group_of: dict[str, int] = {}
    for spelling, _ in Counter(answers).most_common():
        group_of[spelling] = next(
            (g for g, rep in enumerate(representatives) if answers_match(spelling, rep) is True),
            len(representatives),
        )
        if group_of[spelling] == len(representatives):
            representatives.append(spelling)
    members: list[list[int]] = [[] for _ in representatives]
    for i, answer in enumerate(answers):
        members[group_of[answer]].append(i)
    return sorted(members, key=len, reverse=True)


def majority_reference(
    predicted: Sequence[str | None], min_share: float, min_votes: int
) -> Majority:
    """The majority answer among a problem's paths (None counts as a path without answer)."""
    answered = [(i, a) for i, a in enumerate(predicted) if a is not None]
    if not answered:
        return Majority(None, 0.0, 0)
    groups = answer_groups([a for _, a in answered])
    top = groups[0]
    share = len(top) / len(predicted)
    tie = len(groups) > 1 and len(groups[1]) == len(top)
    if tie or share < min_share or len(top) < min_votes:
        return Majority(None, share, len(top))
    return Majority(answered[top[0]][1], share, len(top))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (Chen et al., 2021)."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def accuracy(
    generator,
    problems: pl.DataFrame,
    model: str,
    system: bool,
    max_tokens: int,
    sandbox: SandboxParams,
) -> tuple[float, pl.DataFrame]:
    """Greedy accuracy of `generator` on `problems` (question_id, subject, question, answer):
    one path per problem, executed and graded; ungradable paths count as wrong."""
    chats = [solve_prompt(q, system=system) for q in problems["question"]]
    greedy = SamplingParams(n=1, temperature=0.0, max_tokens=max_tokens)
    completions = generator.complete(chats, greedy)
    paths = grade_paths(problems, completions, model, sandbox)
    return float(paths["correct"].fill_null(False).mean() or 0.0), paths
