"""mathforge.solution: render -> parse round trips, model garbage, claimed numbers, the prompt."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jinja2
import pytest

from mathforge.prompts import render
from mathforge.solution import (
    FINAL_ANSWER_PREFIX,
    ParsedSolution,
    extract_programs,
    parse_solution,
    program_of,
    render_solution,
    solve_prompt,
)
from mathforge.trainset import restate_final_answer
from mathforge.verify import final_answer

SEEDS_DIR = Path(__file__).resolve().parents[1] / "data" / "seeds"

ROUND_TRIPS = [
    ("one block", "Add the prices.", ["print(3 * 4 + 2)"], "14"),
    (
        "two blocks",
        "First the subtotal, then the discount.",
        ["subtotal = 3 * 7.49\nprint(subtotal)", "total = subtotal * 0.9\nprint(round(total, 2))"],
        "20.22",
    ),
    ("no answer", "Count them.", ["print(len(range(10)))"], None),
    ("indented code", "Loop.", ["for i in range(3):\n    if i:\n        print(i)"], "2"),
    (
        "fraction answer",
        "Solve exactly.",
        ["from fractions import Fraction\nprint(Fraction(62, 5))"],
        "62/5",
    ),
    ("matrix answer", "Multiply.", ["print([[3, 4], [15, -6]])"], "[[3, 4], [15, -6]]"),
    (
        "multi-paragraph text",
        "First idea.\n\nSecond idea: x = 5 gives 25.",
        ["print(5 ** 2)"],
        "25",
    ),
    ("code with backticks in a string", "Print a fence.", ['s = "```"\nprint(len(s))'], "3"),
    ("code with a comment", "Sum.", ["# the sum\nprint(sum([1, 2, 3]))  # 6"], "6"),
]


@pytest.mark.parametrize(
    ("label", "text", "programs", "answer"), ROUND_TRIPS, ids=[r[0] for r in ROUND_TRIPS]
)
def test_round_trip(label, text, programs, answer):
    rendered = render_solution(text, programs, answer)
    parsed = parse_solution(rendered)
    assert parsed.text == text
    assert parsed.programs == programs
    assert parsed.final_answer == answer
    if not any("```" in program for program in programs):  # the old regex stops at any ```
        assert parsed.programs == extract_programs(rendered)
    assert ("final_answer" in parsed.missing) == (answer is None)
    assert "text" not in parsed.missing and "program" not in parsed.missing


def _seed_rows() -> list[dict]:
    rows = []
    for path in sorted(SEEDS_DIR.glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def test_seed_solutions_parse_and_round_trip():
    rows = [row for row in _seed_rows() if row.get("solution")]
    assert len(rows) >= 20
    for row in rows:
        parsed = parse_solution(row["solution"])
        assert parsed.missing == (), row["id"]
        assert parsed.final_answer == row["answer"], row["id"]
        assert parsed.programs == extract_programs(row["solution"]), row["id"]
        again = parse_solution(render_solution(parsed.text, parsed.programs, parsed.final_answer))
        assert again == parsed, row["id"]


def test_program_of_joins_blocks_in_order():
    parsed = parse_solution(render_solution("t", ["a = 2", "b = a * 3\nprint(b)"], "6"))
    program = program_of(parsed)
    assert program == "a = 2\n\nb = a * 3\nprint(b)\n"
    namespace: dict = {}
    exec(compile(program.replace("print(b)", "result = b"), "<solution>", "exec"), namespace)
    assert namespace["result"] == 6
    assert program_of("no code here") == ""
    assert program_of(render_solution("t", ["print(1)"])) == "print(1)\n"


GARBAGE = [
    # (label, text, programs, final_answer, missing)
    ("empty", "", [], None, ("text", "program", "final_answer")),
    ("whitespace", "  \n\n ", [], None, ("text", "program", "final_answer")),
    ("only text", "I think it is hard.", [], None, ("program", "final_answer")),
    ("only code", "```python\nprint(1)\n```", ["print(1)"], None, ("text", "final_answer")),
    (
        "unclosed fence",
        "Compute.\n```python\nx = 1\nprint(x)",
        ["x = 1\nprint(x)"],
        None,
        ("final_answer", "unclosed_fence"),
    ),
    ("py fence", "T.\n```py\nprint(2)\n```\nFinal answer: 2", ["print(2)"], "2", ()),
    ("bare fence", "T.\n```\nprint(2)\n```\nFinal answer: 2", ["print(2)"], "2", ()),
    (
        "fence closed at line end",
        "T.\n```python\nprint(2)```\nFinal answer: 2",
        ["print(2)"],
        "2",
        (),
    ),
    ("one-line block", "T.\n```python print(2)```\nFinal answer: 2", ["print(2)"], "2", ()),
    (
        "four backticks",
        "T.\n````python\nprint('```')\n````\nFinal answer: 1",
        ["print('```')"],
        "1",
        (),
    ),
    ("empty block", "T.\n```python\n```\nFinal answer: 1", [], "1", ("program", "empty_program")),
    (
        "output block is text",
        "T.\n```python\nprint(2)\n```\n```output\n2\n```\nFinal answer: 2",
        ["print(2)"],
        "2",
        (),
    ),
    ("crlf", "T.\r\n```python\r\nprint(2)\r\n```\r\nFinal answer: 2", ["print(2)"], "2", ()),
    (
        "bold final answer",
        "T.\n```python\nprint(2)\n```\n**Final Answer:** 2",
        ["print(2)"],
        "2",
        (),
    ),
    (
        "boxed fallback",
        "So we get $\\boxed{\\frac{3}{4}}$.\n```python\nprint(0.75)\n```",
        ["print(0.75)"],
        "\\frac{3}{4}",
        (),
    ),
    ("answer-is fallback", "```python\nprint(7)\n```\nThe answer is 7.", ["print(7)"], "7", ()),
    (
        "final answer boxed",
        "T.\n```python\nprint(7)\n```\nFinal answer: $\\boxed{7}$",
        ["print(7)"],
        "7",
        (),
    ),
    (
        "last final answer wins",
        "Final answer: 3\nno wait\n```python\nprint(4)\n```\nFinal answer: 4",
        ["print(4)"],
        "4",
        (),
    ),
    (
        "final answer without value",
        "T.\n```python\nprint(4)\n```\nFinal answer:",
        ["print(4)"],
        None,
        ("final_answer",),
    ),
    (
        "nested backticks in text",
        "Use `x` and ``y``.\n```python\nprint(1)\n```\nFinal answer: 1",
        ["print(1)"],
        "1",
        (),
    ),
    (
        "fence inside code string",
        'T.\n```python\ns = """\n```\n"""\nprint(1)\n```\nFinal answer: 1',
        None,
        "1",
        None,
    ),
]


@pytest.mark.parametrize(
    ("label", "text", "programs", "answer", "missing"), GARBAGE, ids=[g[0] for g in GARBAGE]
)
def test_garbage(label, text, programs, answer, missing):
    parsed = parse_solution(text)
    assert isinstance(parsed, ParsedSolution)
    if programs is not None:
        assert parsed.programs == programs
    assert parsed.final_answer == answer
    if missing is not None:
        assert parsed.missing == missing
    assert FINAL_ANSWER_PREFIX not in parsed.text


def test_final_answer_is_the_graders_rule_outside_code():
    texts = [
        "Final answer: 14",
        "So $\\boxed{3}$, then $\\boxed{4}$.",
        "\\boxed{3} no wait\nFinal answer: 4",
        "The answer is 3.5.",
        "Answer: 5",
    ]
    for text in texts:
        assert parse_solution(text).final_answer == final_answer(text), text
    in_code = "T.\n```python\n# Final answer: 9\nprint(1)\n```\n"
    assert final_answer(in_code) == "9" and parse_solution(in_code).final_answer is None


@pytest.mark.parametrize(
    "junk",
    [
        None,
        42,
        b"bytes",
        "```",
        "``````",
        "```python",
        "\x00\x01",
        "`" * 1000,
        "```python\n" * 50,
        "Final answer:" * 20,
        "\\boxed{" * 30,
    ],
)
def test_never_raises(junk):
    parsed = parse_solution(junk)
    assert isinstance(parsed, ParsedSolution)
    assert isinstance(program_of(parsed), str)


CLAIMS = [
    ("equals sign", "The subtotal is 3 x 4 = 12, and with the pen 12 + 2 = 14.", ["12", "14"]),
    (
        "is / gives / makes",
        "Half of 7 is 3.5; doubling gives 7 and four notes make $80.",
        ["3.5", "7", "80"],
    ),
    ("operands are not claims", "126 = 1 x 84 + 42 and 84 = 2 x 42, so the gcd is 42.", ["42"]),
    (
        "thousands and percent",
        "The total comes to 1,250 and the share is 43.75%.",
        ["1250", "43.75%"],
    ),
    ("fractions", "So y = 62/5 and x = \\frac{3}{4}.", ["62/5", "3/4"]),
    ("negative", "The slope is -2.", ["-2"]),
    ("nothing claimed", "Add the two prices, then subtract from the amount paid.", []),
]


@pytest.mark.parametrize(("label", "text", "expected"), CLAIMS, ids=[c[0] for c in CLAIMS])
def test_claimed_numbers(label, text, expected):
    parsed = parse_solution(render_solution(text, ["print(0)"], "0"))
    assert parsed.claimed_numbers == expected


def test_claimed_numbers_ignore_code_and_final_answer():
    solution = render_solution("The cost is 12.", ["total = 99\nprint(total)"], "14")
    assert parse_solution(solution).claimed_numbers == ["12"]


def test_cot_wrong_pot_right_is_visible():
    # the text claims 15, the program computes 14: a later stage compares the two
    parsed = parse_solution(render_solution("3 x 4 + 2 = 15.", ["print(3 * 4 + 2)"], "14"))
    assert parsed.claimed_numbers == ["15"] and parsed.final_answer == "14"


EXPECTED_SYSTEM = (
    "You are a careful math tutor. You solve each problem in three parts, in this order:\n"
    "1. Reasoning: explain in sentences how to solve the problem and which quantities to compute.\n"
    "2. Program: one or more ```python blocks that do the computation and print the answer on the "
    "last line of their output. A later block may use variables from an earlier block. Use exact "
    "arithmetic (fractions.Fraction, sympy, decimal.Decimal) where rounding could change the "
    "answer.\n"
    '3. The line "Final answer: <answer>" with the answer alone: a number, a reduced fraction like '
    "3/4, a pair like (2, -3/4), a matrix like [[1, 2], [3, 4]] or an expression like "
    "3*x**2 + 2*x - 5. No units."
)

EXPECTED_USER = """Problem:
What is 1 + 1?

Solution:
Add the numbers.

```python
print(1 + 1)
```

Final answer: 2

Problem:
A pen costs $2. How much do 3 pens cost?

Solution:
"""


def test_solve_prompt_rendering():
    example = {
        "question": "What is 1 + 1?",
        "solution": render_solution("Add the numbers.", ["print(1 + 1)"], "2"),
    }
    chat = solve_prompt("  A pen costs $2. How much do 3 pens cost?\n", [example])
    assert chat == [
        {"role": "system", "content": EXPECTED_SYSTEM},
        {"role": "user", "content": EXPECTED_USER},
    ]
    assert solve_prompt("Q?")[1]["content"] == "Problem:\nQ?\n\nSolution:\n"
    assert solve_prompt("Q?", system=False) == [
        {"role": "user", "content": "Problem:\nQ?\n\nSolution:\n"}
    ]


def test_solve_template_is_strict():
    with pytest.raises(jinja2.UndefinedError):  # StrictUndefined: a missing variable is an error
        render("solve_mixed.jinja", role="user", final_answer_prefix=FINAL_ANSWER_PREFIX)
    with pytest.raises(jinja2.UndefinedError):  # an unknown role
        render("solve_mixed.jinja", role="assistant", final_answer_prefix=FINAL_ANSWER_PREFIX)


def test_a_solution_in_the_taught_format_parses():
    # what the prompt asks for is what the parser reads
    reply = (
        "Three pens at $2 each.\n\n```python\npens = 3\n```\n\n```python\nprint(pens * 2)\n```\n\n"
        f"{FINAL_ANSWER_PREFIX} 6"
    )
    parsed = parse_solution(reply)
    assert parsed.missing == () and parsed.final_answer == "6"
    assert program_of(parsed) == "pens = 3\n\nprint(pens * 2)\n"


@pytest.mark.parametrize(
    "junk",
    [
        "\\boxed{" * 3000,
        "= " + "1" * 10000,
        "the answer is" + " " * 10000 + "x",
        "Final answer:" + " " * 10000 + "x",
        "```python\n" + "x = 1\n" * 5000,
        "is 3 " * 3000,
    ],
)
def test_adversarial_text_stays_fast(junk):
    start = time.monotonic()
    parse_solution(junk)
    assert time.monotonic() - start < 2


def test_restate_final_answer_states_the_executed_answer():
    text = (
        "Key information: 9 and 12.\n\n```python\nimport math\nprint(9 * 12 // math.gcd(9, 12))\n"
        "```\n\nFinal answer: 140"
    )
    restated = restate_final_answer(text, "36")
    parsed = parse_solution(restated)
    assert parsed.final_answer == "36"
    assert parsed.programs == parse_solution(text).programs
    assert parsed.text == "Key information: 9 and 12."
    assert restated.count("Final answer") == 1
    # no final-answer line at all: one is added; a "Final answer" inside code is left alone
    code_line = "```python\ns = 'Final answer: 3'\nprint(4)\n```"
    restated = restate_final_answer("Add.\n\n" + code_line, "4")
    assert parse_solution(restated).final_answer == "4"
    assert "s = 'Final answer: 3'" in restated
