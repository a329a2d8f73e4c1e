"""The record every generator returns, and the one place a solution is rendered.

A generator is a function ``(rng, variant) -> Problem``. It draws its numbers
and its wording from ``rng`` only (never the global ``random``, numpy's global
state, set order or ``hash()``), so a seeded ``random.Random`` gives the same
problem on every machine and every run.

Variants:

- ``base``: 1–3 steps, small numbers — the training distribution.
- ``hard``: more steps and precision traps (rounding to the cent after several
  percentages, floor division where remainders matter, fractions that must stay
  exact, larger intermediate values) — still training data.
- ``ood``: held out for evaluation. Every skill makes it distinguishable *by
  construction*: its drawn numbers have more digits than any base/hard draw of
  that skill, or it takes more steps than any base/hard problem (``params["steps"]``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from mathforge.solution import render_solution
from mathforge.teacher.style import bind_numbers, key_information, number_names

VARIANTS = ("base", "hard", "ood")
# Subjects whose questions are word problems: their solutions name the key information and
# bind the question's numbers first (`style`). Symbolic subjects (equations, matrices,
# calculus) write their expressions as they are.
WORD_PROBLEMS = frozenset({"arithmetic", "percentages", "number_theory", "counting_probability"})


@dataclass(frozen=True)
class Problem:
    """One generated problem with its exact reference answer and mixed CoT+PoT solution."""

    subject: str
    skill: str
    variant: str  # "base" | "hard" | "ood"
    question: str  # the problem statement
    answer: str  # the exact reference answer as a canonical string (see `answers`)
    solution: str  # render_solution(cot_text, [program, ...], answer)
    params: dict  # the random parameters drawn (JSON-serialisable), for lineage


Skill = Callable[[random.Random, str], Problem]


def check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")


def make_problem(
    subject: str,
    skill: str,
    variant: str,
    question: str,
    text: str,
    programs: list[str],
    answer: str,
    params: dict,
) -> Problem:
    """Assemble a Problem; the solution is `text`, the programs, then the final answer (for a
    word problem: the key information first, and programs that bind the question's numbers)."""
    question = " ".join(question.split())
    if subject in WORD_PROBLEMS:
        names = number_names(question, programs)
        text = "\n".join(line for line in (key_information(question, names), text) if line)
        programs = bind_numbers(question, programs)
    return Problem(
        subject=subject,
        skill=skill,
        variant=variant,
        question=question,
        answer=answer,
        solution=render_solution(text, programs, answer),
        params=params,
    )


def code(*lines: str) -> str:
    """A program from its lines (keeps generator source readable without dedent games)."""
    return "\n".join(lines)
