"""Rejection sampling: many mixed CoT+PoT paths per problem, each executed and graded.

One path is one completion of `solve_prompt(question)` by one policy model. Its
programs run together in the sandbox; the last line they print is the predicted
answer, graded against the problem's reference with `answers_match`
(`mathforge.grading`). One row per path (the `paths` contract and view).

Problems without a reference answer (llm-synthesized) get one by majority vote
over the paths of every model (`majority_reference`): the largest group of
equivalent predicted answers becomes the reference when its share of the
problem's paths reaches a threshold; otherwise the problem has no reference and
its paths stay ungraded (correct is null). A path whose problem has a reference and that
printed no matching answer is wrong (correct false), whatever the reason; null means the grader
called the answer ungradable, and metrics count those apart.

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

from mathforge.config import SampleParams, SandboxParams
from mathforge.contracts.paths import PATHS, SAMPLED
from mathforge.generation import Completion
from mathforge.grading import grade_programs
from mathforge.solution import parse_solution, program_of
from mathforge.verify import answers_match, answers_match_batch

EXEC_TAIL_CHARS = 2000  # stdout/stderr kept per path (the tail: where answers and errors are)


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
    """Rows of the `paths` table for `completions[i]` sampled on `problems[i]`.

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
                "predicted": g.predicted,
                "reference": gold,
                "reference_source": "gold" if gold is not None else "none",
                "correct": g.correct,
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "finish_reason": completion.finish_reason,
            }
        )
    return PATHS.frame(rows)


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


def vote(paths: pl.LazyFrame, problems: pl.DataFrame, cfg: SampleParams) -> pl.DataFrame:
    """One row per problem: the reference its paths are graded against and where it came from
    (the problem's answer, or the majority of every model's paths when it has none); the
    `sampled` columns up to majority_share."""
    unreferenced = problems.filter(pl.col("answer").is_null())["question_id"].to_list()
    predicted = dict(
        paths.filter(pl.col("question_id").is_in(unreferenced))
        .group_by("question_id")
        .agg(pl.col("predicted"))
        .collect()
        .iter_rows()
    )

    def reference(qid: str, answer: str | None) -> tuple[str | None, str, float | None]:
        if answer is not None:
            return answer, "gold", None
        found = majority_reference(
            predicted.get(qid, []), cfg.majority_min_share, cfg.majority_min_votes
        )
        return found.answer, "none" if found.answer is None else "majority", round(found.share, 4)

    rows = [
        (qid, subject, *reference(qid, answer))
        for qid, subject, answer in problems.select("question_id", "subject", "answer").iter_rows()
    ]
    names = SAMPLED.names[:5]  # question_id ... majority_share
    return pl.DataFrame(rows, schema={k: SAMPLED.schema[k] for k in names}, orient="row")


def regrade(df: pl.DataFrame, references: pl.DataFrame) -> pl.DataFrame:
    """Grade the paths of majority-referenced problems against the majority answer: a path
    without a predicted answer is then wrong, like any path of a gold-referenced problem."""
    voted = references.filter(pl.col("reference_source") != "gold").select(
        "question_id", pl.col("reference").alias("_ref"), pl.col("reference_source").alias("_src")
    )
    if voted.is_empty() or not df["question_id"].is_in(voted["question_id"].to_list()).any():
        return df
    df = df.join(voted, on="question_id", how="left")
    todo = [
        i for i, (ref, pred) in enumerate(zip(df["_ref"], df["predicted"], strict=True))
        if ref is not None and pred is not None
    ]  # fmt: skip
    matches = answers_match_batch([df["predicted"][i] for i in todo], [df["_ref"][i] for i in todo])
    verdicts = dict(zip(todo, matches, strict=True))
    correct = [
        old if src is None else None if ref is None else verdicts.get(i, False)
        for i, (src, ref, old) in enumerate(zip(df["_src"], df["_ref"], df["correct"], strict=True))
    ]  # fmt: skip
    return df.with_columns(
        reference=pl.coalesce("_ref", "reference"),
        reference_source=pl.coalesce("_src", "reference_source"),
        correct=pl.Series(correct, dtype=pl.Boolean),
    ).select(PATHS.names)


def problem_counts(paths: pl.LazyFrame, references: pl.DataFrame) -> pl.DataFrame:
    """The `sampled` table: each problem's reference and its paths over every model."""
    counts = paths.group_by("question_id").agg(
        paths=pl.len(),
        correct_paths=(pl.col("correct") == True).sum(),  # noqa: E712
        ungradable_paths=(
            pl.col("correct").is_null() & (pl.col("reference_source") != "none")
        ).sum(),
    )
    return SAMPLED.frame(references.join(counts.collect(), on="question_id", how="left"))


def model_metrics(paths: pl.LazyFrame, pass_k: Sequence[int]) -> dict[str, dict]:
    """Per model: accuracy (correct / graded paths), wrong and ungradable paths apart, pass@k,
    problems with a correct path, error kinds, distinct answers, finish reasons."""
    out: dict[str, dict] = {}
    frame = paths.select(
        "model", "question_id", "subject", "predicted", "correct", "error_kind",
        "finish_reason", "reference_source", "completion_tokens",
    ).collect()  # fmt: skip
    is_correct = (pl.col("correct") == True).fill_null(False)  # noqa: E712
    for (model,), df in frame.group_by("model", maintain_order=True):
        graded = df.filter(pl.col("reference_source") != "none")
        per_problem = graded.group_by("question_id").agg(n=pl.len(), c=is_correct.sum())
        pass_at = {
            f"pass@{k}": round(
                sum(pass_at_k(n, c, k) for n, c in per_problem.select("n", "c").iter_rows())
                / max(per_problem.height, 1),
                4,
            )
            for k in pass_k
        }
        by_subject = graded.group_by("subject").agg(is_correct.mean()).sort("subject")
        distinct = df.group_by("question_id").agg(pl.col("predicted").drop_nulls().n_unique())
        correct = int(graded["correct"].eq(True).sum())
        wrong = int(graded["correct"].eq(False).sum())
        out[model] = {
            "paths": df.height,
            "graded_paths": graded.height,
            "correct_paths": correct,
            "wrong_paths": wrong,
            "ungradable_paths": graded.height - correct - wrong,
            "accuracy": round(correct / graded.height, 4) if graded.height else 0.0,
            **pass_at,
            "problems_with_a_correct_path": int((per_problem["c"] > 0).sum()),
            "accuracy_by_subject": {s: round(float(a), 4) for s, a in by_subject.iter_rows()},
            "error_kinds": dict(
                sorted(Counter(k or "ok" for k in df["error_kind"].to_list()).items())
            ),
            "finish_reasons": dict(sorted(Counter(df["finish_reason"].to_list()).items())),
            "distinct_answers_per_problem": round(float(distinct["predicted"].mean()), 3),
            "completion_tokens_mean": round(float(df["completion_tokens"].mean() or 0.0), 1),
        }
    return out


def pool_metrics(paths: pl.LazyFrame) -> dict:
    """Over every model's paths together: the problems some model solved and the error kinds
    (what the pool hands on to scoring and RFT)."""
    frame = paths.select("question_id", "correct", "error_kind").collect()
    solved = frame.filter(pl.col("correct") == True)["question_id"].n_unique()  # noqa: E712
    kinds = Counter(k or "ok" for k in frame["error_kind"].to_list())
    return {
        "problems_with_a_correct_path": solved,
        "problems_with_a_correct_path_share": round(solved / frame["question_id"].n_unique(), 4)
        if frame.height
        else 0.0,
        "error_kinds": dict(sorted(kinds.items())),
        "syntax_error_share": round(kinds["syntax"] / frame.height, 4) if frame.height else 0.0,
    }
