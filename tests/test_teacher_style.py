"""The teacher's solution style: key information first, programs that bind the question's
numbers first; both change the text, never what the program prints."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from mathforge.config import load_params
from mathforge.grading import run_sandboxed
from mathforge.solution import extract_programs
from mathforge.teacher import SUBJECTS, generate
from mathforge.teacher.base import WORD_PROBLEMS
from mathforge.teacher.style import (
    bind_numbers,
    key_information,
    number_names,
    question_numbers,
)
from mathforge.verify import answers_match_batch

SANDBOX = load_params("sandbox", Path(__file__).resolve().parents[1] / "params.yaml")


def test_question_numbers_are_read_as_written_and_in_order():
    q = "Ana buys 3 pens at $1.25 each, pays 10% tax on $4.50 and owns 1,234 cards in 2x2 grids."
    assert question_numbers(q) == ["3", "1.25", "10", "4.50"]


def test_key_information_names_what_each_number_counts():
    assert key_information("A teacher has 185 apples and 222 pears for 3 bags.") == (
        "Key information: 185 apples, 222 pears, 3 bags."
    )
    assert key_information("Emeka owes a 13% service charge on $48.39.") == (
        "Key information: 13%, $48.39."
    )
    assert key_information("What is the gcd of 22 and 55?") == "Key information: 22, 55."
    assert key_information("Name a prime.") == ""


def test_key_information_gives_the_names_the_program_binds():
    question = "Question 4: 5 tarts at $2 each, then 5% tax, and 3 rolls."
    programs = ["print((5 * 2 + 3) * (100 + 5) / 100)"]
    names = number_names(question, programs)
    assert names == {"2": "n1", "3": "n2"}  # 4 is not used, 5 is given twice
    assert key_information(question, names) == (
        "Key information: 4, 5 tarts, n1 = $2, 5%, n2 = 3 rolls."
    )
    bound = bind_numbers(question, programs)[0]
    assert all(f"{name} = {number}" in bound for number, name in names.items())


def test_numbers_are_bound_in_question_order_after_the_imports():
    question = "Share 26 muffins into boxes of 4. How many are left over?"
    program = "import math\nprint(26 % 4)"
    assert bind_numbers(question, [program]) == ["import math\nn1 = 26\nn2 = 4\nprint(n1 % n2)"]


def test_a_number_given_twice_stays_a_literal_and_names_stay_consecutive():
    question = "5 tarts at $2 each, then 5% tax, and 3 rolls."
    assert bind_numbers(question, ["print((5 * 2 + 3) * (100 + 5) / 100)"]) == [
        "n1 = 2\nn2 = 3\nprint((5 * n1 + n2) * (100 + 5) / 100)"
    ]


@pytest.mark.parametrize(
    "programs",
    [["print(7 +"], ["n1 = 3\nprint(n1 * 7)"], ["print('7 apples')"], []],
    ids=["syntax", "name-taken", "string-only", "none"],
)
def test_programs_it_cannot_or_need_not_rewrite_come_back_unchanged(programs):
    assert bind_numbers("Take 7 apples and 3 pears.", programs) == programs


def test_later_programs_use_the_names_the_first_one_binds():
    out = bind_numbers("Add 12 and 30, then double it.", ["total = 12 + 30", "print(total * 2)"])
    assert out == ["n1 = 12\nn2 = 30\ntotal = n1 + n2", "print(total * 2)"]


def test_word_problem_solutions_print_the_same_answer_after_the_rewrite():
    """Every word-problem skill, all variants: the rewritten reference program, run in the
    sandbox, still prints the problem's exact answer."""
    rng = random.Random(11)
    problems = [
        generate(subject, skill, rng, variant)
        for subject in sorted(WORD_PROBLEMS)
        for skill in SUBJECTS[subject]
        for variant in ("base", "hard", "ood")
        for _ in range(3)
    ]
    rewritten = ["\n".join(extract_programs(p.solution)) for p in problems]
    assert sum("n1 = " in r for r in rewritten) > 0.8 * len(problems)
    assert all(p.solution.startswith("Key information: ") for p in problems)
    results = run_sandboxed(rewritten, SANDBOX)
    assert [r.error_kind for r in results] == [None] * len(problems)
    printed = [r.stdout.strip().splitlines()[-1] for r in results]
    assert answers_match_batch(printed, [p.answer for p in problems]) == [True] * len(problems)
