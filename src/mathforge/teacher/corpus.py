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
- ``reasoning_program``: the question and its reasoning -> the program;
- ``long_numbers``: the ``program`` row with the numbers the program binds rewritten to
  random integers of 1 to 7 digits, in the question and in the bindings alike
  (`with_long_numbers`): the copy of any number from a text that a real base model practises
  everywhere, at lengths the domain's base and hard questions never reach (they stop at four
  digits).

None of them is the mixed solution (reasoning, program, final answer) that SFT teaches from
a scarce set, so RFT still has something to add.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterator, Sequence

from mathforge.prompts import render
from mathforge.solution import parse_solution
from mathforge.teacher import Problem, generate
from mathforge.teacher.style import question_numbers, replace_numbers

FORMATS = (
    "program", "numbers", "key_information", "reasoning", "reasoning_program", "long_numbers",
)  # fmt: skip
TEMPLATE = "pretrain.jinja"
KEY = "Key information:"
LONGEST = 7  # digits of a long_numbers rewrite
_BINDING = re.compile(r"^(n\d+) = (\d+)$", re.MULTILINE)  # `n1 = 26`, as bind_numbers writes it


def draw_problems(
    skills: dict[str, list[str]], n: int, hard_fraction: float, rng: random.Random
) -> Iterator[Problem]:
    """`n` problems, the (subject, skill) uniform over `skills`, hard with `hard_fraction`."""
    pairs = [(subject, skill) for subject in sorted(skills) for skill in skills[subject]]
    for _ in range(n):
        subject, skill = rng.choice(pairs)
        variant = "hard" if rng.random() < hard_fraction else "base"
        yield generate(subject, skill, rng, variant)


def with_long_numbers(question: str, program: str, rng: random.Random) -> tuple[str, str]:
    """`question` and its `program` with every integer the program binds by name (``n1 = 26``,
    a number the question gives once) replaced by a random integer of 1 to `LONGEST` digits,
    the same one in both. The program computes with the names, so it stays the question's
    procedure; the new answer is unknown (nothing runs these rows) and no row shows one."""
    given = question_numbers(question)
    taken, new = set(given), {}
    for _, value in _BINDING.findall(program):
        if given.count(value) != 1 or value in new:
            continue
        while (number := _random_integer(rng)) in taken:
            pass
        taken.add(number)
        new[value] = number
    rebound = _BINDING.sub(lambda m: f"{m.group(1)} = {new.get(m.group(2), m.group(2))}", program)
    return replace_numbers(question, new), rebound


def _random_integer(rng: random.Random) -> str:
    digits = rng.randint(1, LONGEST)
    return str(rng.randint(10 ** (digits - 1), 10**digits - 1))


def long_numbers_rewrite(problem: Problem) -> tuple[str, str]:
    """The long_numbers row's question and program (`with_long_numbers`), seeded by the
    question: the same row whatever the draw order."""
    program = "\n".join(parse_solution(problem.solution).programs)
    rng = random.Random(hashlib.sha256(problem.question.encode()).digest())
    return with_long_numbers(problem.question, program, rng)


def render_formats(problem: Problem, formats: Sequence[str]) -> list[dict[str, str]]:
    """One row per format: `format`, `prompt` (the user message), `completion` (the answer)."""
    solution = parse_solution(problem.solution)
    program = "\n".join(solution.programs)
    long_question, long_program = long_numbers_rewrite(problem)
    reasoning = solution.text.strip()
    key_line = reasoning.splitlines()[0] if reasoning else ""
    completions = {
        "program": f"```python\n{program}\n```",
        "numbers": ", ".join(question_numbers(problem.question)) or "none",
        "key_information": key_line if key_line.startswith(KEY) else "none",
        "reasoning": reasoning,
        "reasoning_program": f"```python\n{program}\n```",
        "long_numbers": f"```python\n{long_program}\n```",
    }
    rows = []
    for name in formats:
        if name not in FORMATS:
            raise ValueError(f"unknown corpus format {name!r}; known: {', '.join(FORMATS)}")
        if name == "long_numbers":  # the program row's prompt, of the rewritten question
            prompt = render(TEMPLATE, format="program", question=long_question)
        else:
            prompt = render(TEMPLATE, format=name, question=problem.question, reasoning=reasoning)
        prompt = prompt.strip()
        rows.append({"format": name, "prompt": prompt, "completion": completions[name]})
    return rows
