"""mathforge.verify: a labelled table both ways, None cases, threads, processes, time bounds."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mathforge.verify import answers_match, answers_match_batch, extract_answer, final_answer

# (label, pred, gold, expected)
CASES = [
    # plain numbers, fractions, decimals (tolerance: a decimal is its value rounded to its places)
    ("int", "42", "42", True),
    ("int wrong", "41", "42", False),
    ("half", "0.5", "1/2", True),
    ("third 2 places is not exact", "0.33", "1/3", False),
    ("third 4 places is not exact", "0.3333", "1/3", False),
    ("third 1 place: too few digits", "0.3", "1/3", False),
    ("third misrounded", "0.34", "1/3", False),
    ("two thirds rounded is not exact", "0.67", "2/3", False),
    ("two thirds truncated", "0.66", "2/3", False),
    ("trailing zero", "12.3", "12.30", True),
    ("more precise decimal", "12.301", "12.30", True),
    ("different decimal", "12.4", "12.30", False),
    ("fewer places is not rounding", "3078.6", "3078.57", False),
    ("one place is exact", "12.3", "12.34", False),
    ("unrounded vs rounded cents", "3078.5714", "3078.57", True),
    ("float noise vs rounded cents", "27.150000000000002", "27.15", True),
    ("trailing zero vs cents", "27.150", "27.15", True),
    ("finer decimal rounds to cents", "27.1500001", "27.15", True),
    ("finer decimal rounds elsewhere", "27.1550001", "27.15", False),
    ("float repr vs one place", "0.30000000000000004", "0.3", True),
    ("float repr vs exact fraction", "0.30000000000000004", "3/10", True),
    ("float repr vs int", "1.9999999999999998", "2", True),
    ("long decimal off by more than noise", "12.000000000001", "12", False),
    ("zero with places", "0.00", "1/300", False),
    ("int is exact", "12", "12.04", False),
    ("int vs decimal equal", "12", "12.0", True),
    ("zero decimal is not a tolerance", "0.0", "1/30", False),
    ("negative fraction", "-3/4", "-0.75", True),
    ("sign matters", "3/4", "-3/4", False),
    ("unreduced fraction", "6/8", "3/4", True),
    ("latex frac", "\\frac{3}{4}", "3/4", True),
    ("latex dfrac", "\\dfrac{3}{4}", "0.75", True),
    ("latex frac short", "\\frac34", "3/4", True),
    ("negative latex frac", "-\\frac{1}{2}", "-1/2", True),
    # exact values (fractions, surds, pi) vs decimals: float precision only
    ("float repr of two thirds", "0.6666666666666666", "2/3", True),
    ("float repr of a third", "0.3333333333333333", "1/3", True),
    ("twelve digits of a third", "0.333333333333", "1/3", True),
    ("eleven digits of a third", "0.33333333333", "1/3", False),
    ("twelve digits misrounded", "0.333333333334", "1/3", False),
    ("three digits of a third", "0.333", "1/3", False),
    ("float repr of a seventh", "0.14285714285714285", "1/7", True),
    ("rounded seventh", "0.142857", "1/7", False),
    ("float repr of a sqrt", "1.4142135623730951", "\\sqrt{2}", True),
    ("rounded sqrt 6 places", "1.414214", "sqrt(2)", False),
    ("float repr of pi", "3.141592653589793", "\\pi", True),
    ("pi to two places", "3.14", "\\pi", False),
    ("pi to five places", "3.14159", "pi", False),
    ("pi expression rounded", "2.36", "3\\pi/4", False),
    ("pi expression float", "2.356194490192345", "3\\pi/4", True),
    ("float repr of a surd fraction", "0.7071067811865476", "\\frac{\\sqrt{2}}{2}", True),
    ("euler", "e^{i\\pi}", "-1", True),
    ("euler plus one", "e^{i\\pi} + 1", "0", True),
    ("euler wrong sign", "e^{i\\pi}", "1", False),
    ("complex number", "3 + 2i", "2i + 3", True),
    ("e rounded (math-verify would round to 6 places)", "2.718282", "e", False),
    ("e float repr", "2.718281828459045", "e", True),
    ("log rounded", "0.693147", "\\ln 2", False),
    ("log float repr", "0.6931471805599453", "\\ln 2", True),
    ("trig constant exact", "0.5", "\\sin(\\pi/6)", True),
    ("rounded coefficient", "0.333333x", "x/3", False),
    # extraction
    ("boxed", "so we get \\boxed{18}", "18", True),
    ("boxed last wins", "\\boxed{3} no wait \\boxed{4}", "4", True),
    ("boxed wrong", "\\boxed{17}", "18", False),
    ("boxed frac", "\\boxed{\\frac{62}{5}}", "62/5", True),
    ("the answer is", "The answer is 42.", "42", True),
    ("the answer is wrong", "The answer is 43.", "42", False),
    ("final answer", "Some reasoning.\nFinal answer: 27.15", "27.15", True),
    ("final answer boxed", "Final answer: $\\boxed{14}$", "14", True),
    ("dollar math", "$\\frac{1}{2}$", "0.5", True),
    ("inline math", "\\(7\\)", "7", True),
    ("x equals", "x = 6", "6", True),
    # thousands separators
    ("thousands", "1,234,567", "1234567", True),
    ("thousands decimal", "1,234.50", "1234.5", True),
    ("thousands wrong", "1,234,568", "1234567", False),
    ("final answer thousands", "Final answer: 12,000", "12000", True),
    # units and currency
    ("cm", "12 cm", "12", True),
    ("dollar sign", "$5", "5", True),
    ("escaped dollar", "\\$12.50", "12.5", True),
    ("dollars word", "5 dollars", "5", True),
    ("square meters", "36 square meters", "36", True),
    ("latex text unit", "36\\text{ cm}^2", "36", True),
    ("degrees", "45^\\circ", "45", True),
    ("any trailing words", "5 red bananas", "5", True),
    ("units wrong", "13 cm", "12", False),
    ("km/h", "The answer is 60 km/h.", "60", True),
    # percentages: X% matches X/100 and X
    ("percent vs fraction", "25%", "0.25", True),
    ("percent vs number", "25%", "25", True),
    ("latex percent", "25\\%", "1/4", True),
    ("percent wrong", "25%", "0.2", False),
    ("number is not its percent", "25", "0.25", False),
    ("percent one decimal", "43.8%", "43.8", True),
    # tuples, sets, intervals
    ("tuple", "(2, -3/4)", "(2, -0.75)", True),
    ("tuple latex", "\\left(2, -\\frac{3}{4}\\right)", "(2, -3/4)", True),
    ("tuple order", "(1, 2)", "(2, 1)", False),
    ("tuple length", "(1, 2)", "(1, 2, 3)", False),
    ("set order", "{1, 2}", "{2, 1}", True),
    ("latex set", "\\{2, 1\\}", "{1, 2}", True),
    ("set differs", "{1, 2}", "{1, 3}", False),
    ("set vs tuple", "{1, 2}", "(1, 2)", False),
    ("half-open vs closed", "[0, 1)", "[0, 1]", False),
    ("half-open", "[0, 1)", "[0,1)", True),
    ("open vs closed", "(0, 1)", "[0, 1]", False),
    ("interval infinity", "(-\\infty, 3]", "(-oo, 3]", True),
    ("interval infinity sign", "(-\\infty, 3]", "(\\infty, 3]", False),
    # matrices
    ("matrix", "[[1, 2], [3, 4]]", "[[1, 2], [3, 4]]", True),
    ("matrix pmatrix", "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", "[[1, 2], [3, 4]]", True),
    (
        "matrix bmatrix frac",
        "\\begin{bmatrix}1 & \\frac{1}{2} \\\\ -3 & 4\\end{bmatrix}",
        "[[1, 1/2], [-3, 4]]",
        True,
    ),
    ("matrix sympy", "Matrix([[1, 0.5], [-3, 4]])", "[[1, 1/2], [-3, 4]]", True),
    ("matrix entry", "[[1, 2], [3, 5]]", "[[1, 2], [3, 4]]", False),
    ("matrix transposed", "[[1, 3], [2, 4]]", "[[1, 2], [3, 4]]", False),
    # slow path: symbolic answers through math-verify
    ("polynomial", "3*x**2 + 2*x - 5", "3x^2 + 2x - 5", True),
    ("polynomial reordered", "2*x - 5 + 3*x**2", "3*x**2 + 2*x - 5", True),
    ("polynomial latex braces", "-x^{2} + \\frac{1}{2}x", "x/2 - x**2", True),
    ("polynomial two variables", "x*y - 2*y", "-2y + xy", True),
    ("polynomial vs number", "2*x", "2", False),
    ("polynomial wrong", "3*x**2 + 2*x + 5", "3*x**2 + 2*x - 5", False),
    ("plain sqrt", "sqrt(2)", "\\sqrt{2}", True),
    ("bare latex", "\\frac{\\sqrt{2}}{2}", "sqrt(2)/2", True),
    ("sqrt wrong", "sqrt(3)", "\\sqrt{2}", False),
    ("pi", "2*pi", "2\\pi", True),
    ("numeric sqrt vs rounded decimal", "1.41", "sqrt(2)", False),
    ("numeric sqrt vs short decimal", "1.4", "sqrt(2)", False),
    ("numeric sqrt simplifies", "sqrt(8)", "2\\sqrt{2}", True),
    ("numeric vs tuple", "sqrt(2)", "(1, 2)", False),
    # slow path (math-verify in worker processes): symbolic forms the fast path cannot read
    ("expanded square", "(x+1)^2", "x^2 + 2x + 1", True),
    ("expanded square sympy", "(x+1)**2", "x**2 + 2*x + 1", True),
    ("wrong expansion", "(x+1)^2", "x^2 + 1", False),
    ("exp", "e^{x}", "exp(x)", True),
    ("trig identity", "\\sin^2 x + \\cos^2 x", "1", True),
    ("log", "\\log_2 8", "3", True),
    ("sqrt of symbol", "2\\sqrt{x}", "sqrt(4*x)", True),
    ("negative power", "x^{-1}", "1/x", True),
    ("latex fraction of polynomial", "\\frac{x+1}{2}", "x/2 + 1/2", True),
    ("symbolic wrong", "\\frac{x+1}{3}", "x/2 + 1/2", False),
    ("boxed symbolic", "Final answer: \\boxed{12x^2 - 12x + 1}", "12*x**2 - 12*x + 1", True),
]

NONE_CASES = [
    ("empty pred", "", "42"),
    ("blank gold", "42", "   "),
    ("prose", "I do not know", "42"),
    ("garbage", "banana", "5"),
    ("power tower", "10**10**10", "5"),
    ("latex tower", "2^(2^(2^100))", "3"),
    ("huge", "+".join(["x"] * 5000), "5"),
]


@pytest.mark.parametrize(("label", "pred", "gold", "expected"), CASES, ids=[c[0] for c in CASES])
def test_table(label, pred, gold, expected):
    assert answers_match(pred, gold) is expected
    assert answers_match(gold, pred) is expected


@pytest.mark.parametrize(("label", "pred", "gold"), NONE_CASES, ids=[c[0] for c in NONE_CASES])
def test_ungradable_is_none(label, pred, gold):
    start = time.monotonic()
    assert answers_match(pred, gold) is None
    assert answers_match(gold, pred) is None
    assert time.monotonic() - start < 10


def _all_answers() -> list[str]:
    seen: dict[str, None] = {}
    for _, pred, gold, _ in CASES:
        seen.setdefault(pred)
        seen.setdefault(gold)
    return list(seen)


def test_symmetric_over_all_pairs():
    answers = _all_answers()
    preds = [a for a in answers for _ in answers]
    golds = [b for _ in answers for b in answers]
    forward = answers_match_batch(preds, golds)
    backward = answers_match_batch(golds, preds)
    asymmetric = [
        (p, g, f, b) for p, g, f, b in zip(preds, golds, forward, backward, strict=True) if f != b
    ]
    assert asymmetric == []
    assert all(forward[i * len(answers) + i] is True for i in range(len(answers)))


def test_batch_equals_scalar():
    preds = [c[1] for c in CASES] + [c[1] for c in NONE_CASES[:4]]
    golds = [c[2] for c in CASES] + [c[2] for c in NONE_CASES[:4]]
    assert answers_match_batch(preds, golds, workers=2) == [
        answers_match(p, g) for p, g in zip(preds, golds, strict=True)
    ]
    assert answers_match_batch([], []) == []
    with pytest.raises(ValueError):
        answers_match_batch(["1"], [])


def test_works_from_threads():
    slow = {"expanded square", "wrong expansion", "exp", "log", "negative power", "symbolic wrong"}
    rows = [c for c in CASES if c[0] in slow | {"polynomial", "plain sqrt", "half", "boxed"}] * 3
    with ThreadPoolExecutor(max_workers=6) as ex:
        results = list(ex.map(lambda c: answers_match(c[1], c[2]), rows))
    assert results == [c[3] for c in rows]


def _check_in_process(args):
    return answers_match(*args)


def test_works_from_worker_processes():
    # multiprocessing.Pool workers are daemonic: they may not start multiprocessing children
    rows = [("(x+1)^2", "x^2 + 2x + 1"), ("0.5", "1/2"), ("e^{x}", "exp(x)"), ("x^{-1}", "x")]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        assert pool.map(_check_in_process, rows) == [True, True, True, False]


def test_deadline_kills_a_stuck_worker_and_recovers():
    # passes the guards and the numeric probe (equal values), then sympy's simplify takes
    # far longer than the deadline
    start = time.monotonic()
    assert answers_match("(x+1)^{200}*(x-1)^{200}", "(x^2-1)^{200}", timeout=0.5) is None
    assert time.monotonic() - start < 10
    assert answers_match("sqrt(2)", "\\sqrt{2}") is True  # a replacement worker answers


def test_extract_answer():
    assert extract_answer("The answer is $\\boxed{42}$.") == "42"
    assert extract_answer("Final answer: 12 cm") == "12"
    assert extract_answer("") == ""


FINAL_ANSWERS = [
    # (text, final_answer): the one rule solution.py, self_instruct.py and grading share
    ("Final answer: 14", "14"),
    ("**Final Answer:** $\\frac{3}{4}$", "\\frac{3}{4}"),
    ("\\boxed{3} no wait\nFinal answer: 4", "4"),  # the Final answer line comes first
    ("Final answer: $\\boxed{14}$", "14"),
    ("so $\\boxed{3}$ and then $\\boxed{4}$", "4"),
    ("The answer is 3.5.", "3.5"),
    ("Final answer: 3\nFinal answer: 5", "5"),
    ("Final answer:", None),
    ("\\boxed{42", None),  # an unclosed box states nothing
    ("my final answer: 5", None),  # not at the start of a line
    ("Answer: 5", None),  # a bare "Answer:" field is Self-Instruct's, not a final answer
    ("no answer here", None),
]


@pytest.mark.parametrize(("text", "expected"), FINAL_ANSWERS)
def test_final_answer(text, expected):
    assert final_answer(text) == expected


ADVERSARIAL = [
    "1 " + "cm " * 3000 + "x",
    "(" * 5000,
    "1," * 5000,
    "\\boxed{" * 3000,
    "x" * 10000,
    "1" * 10000,
    "1/" * 5000 + "1",
    "[" * 3000 + "]" * 3000,
    "{1," * 2000,
    "12.3" + " " * 10000 + "5",
    "1" + " " * 10000 + "percent",
    "the answer is" + " " * 10000 + "x",
    "+".join(["(x+1)"] * 2000),
]


def test_adversarial_inputs_stay_fast():
    start = time.monotonic()
    results = [answers_match(text, "5") for text in ADVERSARIAL]
    assert time.monotonic() - start < 10
    assert all(r is None or r is False for r in results)
