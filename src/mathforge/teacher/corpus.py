"""The pretraining stand-in: teacher problems rendered in formats other than the mixed one.

A real base model arrives able to read a word problem, copy its numbers and write Python;
the CPU demo's tiny models are built from nothing, so stage `corpus` draws fresh problems of
the domain and renders each one as chat rows in the formats `pretrain` trains on:

- ``program``: the question -> a fenced Python program that prints the answer;
- ``numbers``: the question -> the numbers it gives, in order ("26, 4");
- ``key_information``: the question -> the key-information line a word problem's mixed
  solution opens with, each number with what it counts and the program's name for it
  ("Key information: n1 = 26 muffins, n2 = 4 boxes.", `mathforge.teacher.style`);
  "none" for a problem without one;
- ``reasoning``: the question -> the reasoning alone (a chain of thought in words, no program,
  no final answer);
- ``reasoning_program``: the question and its reasoning -> the program.

None of them is the mixed solution (reasoning, program, final answer) that SFT teaches from
a scarce set, so RFT still has something to add.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from mathforge.prompts import render
from mathforge.solution import parse_solution
from mathforge.teacher import Problem, generate
from mathforge.teacher.style import question_numbers

FORMATS = ("program", "numbers", "key_information", "reasoning", "reasoning_program")
TEMPLATE = "pretrain.jinja"
KEY = "Key information:"


def draw_problems(
    skills: dict[str, list[str]], n: int, hard_fraction: float, rng: random.Random
) -> Iterator[Problem]:
    """`n` problems, the (subject, skill) uniform over `skills`, hard with `hard_fraction`."""
    pairs = [(subject, skill) for subject in sorted(skills) for skill in skills[subject]]
    for _ in range(n):
        subject, skill = rng.choice(pairs)
        variant = "hard" if rng.random() < hard_fraction else "base"
        yield generate(subject, skill, rng, variant)


def render_formats(problem: Problem, formats: Sequence[str]) -> list[dict[str, str]]:
    """One row per format: `format`, `prompt` (the user message), `completion` (the answer)."""
    solution = parse_solution(problem.solution)
    program = "\n".join(solution.programs)
    reasoning = solution.text.strip()
    key_line = reasoning.splitlines()[0] if reasoning else ""
    completions = {
        "program": f"```python\n{program}\n```",
        "numbers": ", ".join(question_numbers(problem.question)) or "none",
        "key_information": key_line if key_line.startswith(KEY) else "none",
        "reasoning": reasoning,
        "reasoning_program": f"```python\n{program}\n```",
    }
    rows = []
    for name in formats:
        if name not in FORMATS:
            raise ValueError(f"unknown corpus format {name!r}; known: {', '.join(FORMATS)}")
        prompt = render(TEMPLATE, format=name, question=problem.question, reasoning=reasoning)
        prompt = prompt.strip()
        rows.append({"format": name, "prompt": prompt, "completion": completions[name]})
    return rows
