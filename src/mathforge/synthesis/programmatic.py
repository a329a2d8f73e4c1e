"""Synthesis with the programmatic teacher: draw problems until enough are novel.

Per subject, draws go in rounds: a round draws as many problems as are still
missing, asks the novelty pool which to keep (Self-Instruct's ROUGE-L rule, in
draw order), and repeats until the subject has its quota or has used
`max_draws`. Every draw is decided, so every dropped problem has a reason.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from mathforge.lineage import question_id
from mathforge.novelty import novelty_filter
from mathforge.teacher import SUBJECTS, Problem, generate


class NoveltyPool:
    """Everything kept so far (seeds included); `accept` filters new texts against it."""

    def __init__(self, threshold: float, texts: list[str] = ()):
        self.threshold = threshold
        self.texts = list(texts)
        self.ids = {question_id(t) for t in self.texts}

    def add_seeds(self, texts: list[str]) -> list[str | None]:
        """Add seed problems unfiltered (they open the pool); only exact repeats are refused."""
        verdicts: list[str | None] = []
        for text in texts:
            qid = question_id(text)
            verdicts.append("duplicate_question" if qid in self.ids else None)
            if qid not in self.ids:
                self.ids.add(qid)
                self.texts.append(text)
        return verdicts

    def accept(self, candidates: list[str]) -> list[str | None]:
        """For each candidate, None if kept (and added to the pool) or the drop reason."""
        verdicts: list[str | None] = [None] * len(candidates)
        fresh, seen = [], set()
        for i, text in enumerate(candidates):
            qid = question_id(text)
            if qid in self.ids or qid in seen:
                verdicts[i] = "duplicate_question"
            else:
                seen.add(qid)
                fresh.append(i)
        keep = novelty_filter([candidates[i] for i in fresh], self.threshold, pool=self.texts)
        for i, kept in zip(fresh, keep, strict=True):
            if kept:
                self.texts.append(candidates[i])
                self.ids.add(question_id(candidates[i]))
            else:
                verdicts[i] = "not_novel"
        return verdicts


@dataclass
class SubjectDraws:
    kept: list[Problem] = field(default_factory=list)
    dropped: list[tuple[Problem, str]] = field(default_factory=list)

    @property
    def drawn(self) -> int:
        return len(self.kept) + len(self.dropped)


def draw_subject(
    subject: str,
    quota: int,
    *,
    rng: random.Random,
    choose_variant: Callable[[random.Random], str],
    pool: NoveltyPool,
    max_draws: int,
    skills: list[str] | None = None,
) -> SubjectDraws:
    """Draw `subject` problems (skill uniform over `skills`, default all of the subject's;
    variant from `choose_variant`) until `quota` are kept by `pool` or `max_draws` problems
    have been drawn."""
    skills = list(skills or SUBJECTS[subject])
    result = SubjectDraws()
    while len(result.kept) < quota and result.drawn < max_draws:
        n = min(quota - len(result.kept), max_draws - result.drawn)
        batch = [generate(subject, rng.choice(skills), rng, choose_variant(rng)) for _ in range(n)]
        for problem, reason in zip(batch, pool.accept([p.question for p in batch]), strict=True):
            if reason is None:
                result.kept.append(problem)
            else:
                result.dropped.append((problem, reason))
    return result
