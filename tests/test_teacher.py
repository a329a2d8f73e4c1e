"""The programmatic teacher: every subject x skill x variant draws well-formed problems whose
reference programs print exactly the reference answer, deterministically, with ood harder
by construction, and with answers that match an independent computation."""

from __future__ import annotations

import json
import math
import random
import re
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from itertools import permutations, product

import pytest
import sympy

from mathforge import sandbox
from mathforge.solution import FINAL_ANSWER_PREFIX, extract_programs
from mathforge.teacher import SUBJECTS, VARIANTS, Problem, generate
from mathforge.teacher.answers import fmt_matrix, fmt_number, fmt_pair, fmt_rounded
from mathforge.teacher.base import check_variant

SEEDS = range(5)
COMBOS = [(subject, skill) for subject, skills in SUBJECTS.items() for skill in skills]


# canonical answer shapes (see mathforge.teacher.answers)
_NUM = r"-?\d+(?:/\d+)?"
CANONICAL = [
    re.compile(rf"^{_NUM}$"),  # integer or reduced fraction
    re.compile(r"^-?\d+\.\d+$"),  # a rounded decimal
    re.compile(rf"^\({_NUM}, {_NUM}\)$"),  # a pair
    re.compile(rf"^\[\[{_NUM}(?:, {_NUM})*\](?:, \[{_NUM}(?:, {_NUM})*\])*\]$"),  # a matrix
    re.compile(r"^-?[\dx*+\- ]+$"),  # a sympy polynomial in x
]


def run_programs(sources: list[str]) -> list[dict]:
    """Each program's stdout and error, run in the sandbox that runs them in the pipeline."""
    results = sandbox.run_programs(sources, timeout_s=30.0)
    return [{"stdout": r.stdout, "error": r.stderr if not r.ok else None} for r in results]


@pytest.fixture(scope="module")
def problems() -> list[Problem]:
    return [
        generate(subject, skill, random.Random(seed), variant)
        for subject, skill in COMBOS
        for variant in VARIANTS
        for seed in SEEDS
    ]


def test_every_subject_has_its_skills():
    assert list(SUBJECTS) == [
        "arithmetic",
        "linear_equations",
        "matrices",
        "calculus",
        "percentages",
        "number_theory",
        "counting_probability",
    ]
    assert {"gcd", "lcm", "remainders", "count_multiples"} <= set(SUBJECTS["number_theory"])
    assert {"product", "determinant", "inverse"} <= set(SUBJECTS["matrices"])
    assert {"one_unknown", "system_2x2"} <= set(SUBJECTS["linear_equations"])
    assert all(len(skills) >= 2 for skills in SUBJECTS.values())


def test_fields_are_well_formed(problems):
    for p in problems:
        where = f"{p.subject}/{p.skill}/{p.variant}"
        assert p.question.strip() and p.answer.strip() and p.solution.strip(), where
        assert p.variant in VARIANTS and p.skill in SUBJECTS[p.subject], where
        assert json.loads(json.dumps(p.params)) == p.params, where  # a JSON row, as is
        assert isinstance(p.params["steps"], int), where
        assert p.solution.endswith(f"{FINAL_ANSWER_PREFIX} {p.answer}"), where
        assert extract_programs(p.solution), where
        assert p.solution.split("```python")[0].strip(), (
            f"{where}: no reasoning text before the code"
        )
        assert any(rx.match(p.answer) for rx in CANONICAL), (
            f"{where}: non-canonical answer {p.answer!r}"
        )


def test_fractions_are_reduced_with_sign_in_numerator(problems):
    for p in problems:
        for num, den in re.findall(r"(-?\d+)/(-?\d+)", p.answer):
            assert not den.startswith("-") and int(den) > 1, (p.skill, p.answer)
            assert math.gcd(int(num), int(den)) == 1, (p.skill, p.answer)


def test_requested_skill_and_variant_are_returned(problems):
    expected = [(s, k, v) for s, k in COMBOS for v in VARIANTS for _ in SEEDS]
    assert [(p.subject, p.skill, p.variant) for p in problems] == expected


def test_same_seed_same_problem_and_seeds_vary():
    for subject, skill in COMBOS:
        for variant in VARIANTS:
            a = generate(subject, skill, random.Random(1234), variant)
            b = generate(subject, skill, random.Random(1234), variant)
            assert a == b, f"{subject}/{skill}/{variant} is not deterministic"
            questions = {
                generate(subject, skill, random.Random(s), variant).question for s in range(8)
            }
            assert len(questions) >= 6, (
                f"{subject}/{skill}/{variant}: seeds barely change the question"
            )


def test_reference_programs_print_the_answer(problems):
    sources = ["\n".join(extract_programs(p.solution)) for p in problems]
    results = run_programs(sources)
    failures = []
    for p, result in zip(problems, results, strict=False):
        lines = result["stdout"].strip().splitlines()
        if result["error"] or not lines or lines[-1].strip() != p.answer:
            failures.append(
                f"{p.subject}/{p.skill}/{p.variant}: {result['error'] or lines[-1:]} != {p.answer}"
            )
    assert not failures, "\n".join(failures[:10])


def _max_digits(question: str) -> int:
    return max((len(d) for d in re.findall(r"\d+", question)), default=0)


@pytest.mark.parametrize(("subject", "skill"), COMBOS)
def test_ood_is_harder_by_construction(subject, skill):
    """Every ood problem has more digits, or more steps, than every base/hard problem of its "
    "skill."""
    draws = {
        v: [generate(subject, skill, random.Random(s), v) for s in range(40)] for v in VARIANTS
    }
    train = draws["base"] + draws["hard"]
    more_digits = min(_max_digits(p.question) for p in draws["ood"]) > max(
        _max_digits(p.question) for p in train
    )
    more_steps = min(p.params["steps"] for p in draws["ood"]) > max(
        p.params["steps"] for p in train
    )
    assert more_digits or more_steps
    # and hard is no easier than base
    assert max(p.params["steps"] for p in draws["hard"]) >= max(
        p.params["steps"] for p in draws["base"]
    )


def test_unknown_names_are_errors():
    with pytest.raises(KeyError, match="unknown subject"):
        generate("geometry", "area", random.Random(0), "base")
    with pytest.raises(KeyError, match="unknown skill"):
        generate("matrices", "eigenvalues", random.Random(0), "base")
    with pytest.raises(ValueError, match="unknown variant"):
        generate("matrices", "determinant", random.Random(0), "medium")
    with pytest.raises(ValueError):
        check_variant("easy")


# --------------------------------------------------------------------------- independent answers


def _draw(subject: str, skill: str, n: int = 12):
    for seed in range(n):
        for variant in VARIANTS:
            yield generate(subject, skill, random.Random(10_000 + seed), variant)


def test_matrix_answers_match_sympy():
    for p in _draw("matrices", "determinant"):
        m = p.params["m"]
        if p.params["form"] == "singular":
            (_, b), (c, d) = m
            k = sympy.Symbol("k")
            assert p.answer == fmt_number(
                Fraction(str(sympy.solve(sympy.Matrix([[k, b], [c, d]]).det(), k)[0]))
            )
        else:
            det = sympy.Matrix(m).det() * p.params.get("k", 1) ** len(m)
            assert p.answer == str(det)
    for p in _draw("matrices", "inverse"):
        m = sympy.Matrix(p.params["m"])
        inverse = [[Fraction(str(v)) for v in row] for row in m.inv().tolist()]
        assert p.answer == fmt_matrix(inverse)
        assert m * sympy.Matrix(inverse) == sympy.eye(m.rows)
    for p in _draw("matrices", "product"):
        a, b = sympy.Matrix(p.params["a"]), sympy.Matrix(p.params["b"])
        if p.params["form"] == "square3":
            expected = b * a
        elif p.params["form"] == "chain3":
            expected = a * b * sympy.Matrix(p.params["c"])
        else:
            expected = a * b
        if p.params.get("op") == "square_minus":
            expected = a * a - p.params["k"] * b
        elif p.params.get("op") == "product_plus_identity":
            expected = a * b + p.params["k"] * sympy.eye(2)
        assert p.answer == fmt_matrix(expected.tolist())


def test_calculus_answers_match_sympy():
    x = sympy.Symbol("x")

    def poly(pairs):
        return sum((c * x**k for k, c in pairs), sympy.Integer(0))

    for p in _draw("calculus", "definite_integral"):
        (ln, ld), (hn, hd) = p.params["bounds"]
        value = sympy.integrate(
            poly(p.params["coeffs"]), (x, sympy.Rational(ln, ld), sympy.Rational(hn, hd))
        )
        assert p.answer == str(value)
    for p in _draw("calculus", "derivative_value"):
        num, den = p.params["point"]
        value = sympy.diff(poly(p.params["coeffs"]), x, p.params["order"]).subs(
            x, sympy.Rational(num, den)
        )
        assert p.answer == str(value)
    for p in _draw("calculus", "derivative"):
        coeffs = p.params["coeffs"]
        if isinstance(coeffs, list):
            f = poly(coeffs)
        elif "left" in coeffs:
            f = poly(coeffs["left"]) * poly(coeffs["right"])
        else:
            a, b = coeffs["inner"]
            f = (a * x + b) ** coeffs["n"] + poly(coeffs["extra"])
        assert sympy.expand(sympy.sympify(p.answer) - sympy.diff(f, x, p.params["order"])) == 0


def test_linear_answers_satisfy_the_equations():
    for p in _draw("linear_equations", "system_2x2"):
        (a1, b1, c1), (a2, b2, c2) = p.params["equations"]
        x, y = (Fraction(v) for v in p.answer.strip("()").split(", "))
        assert a1 * x + b1 * y == c1 and a2 * x + b2 * y == c2, p.question
    for p in _draw("linear_equations", "one_unknown"):
        if p.params["form"] == "brackets":
            a, b, c, d, e, f = p.params["coefficients"]
            x = Fraction(p.answer)
            assert a * (x + b) - c == d * (x - e) + f


def test_number_theory_answers_match_math():
    for p in _draw("number_theory", "gcd"):
        if p.params["form"] in ("plain", "three", "many", "groups", "tiles", "cutting"):
            assert p.answer == str(math.gcd(*p.params["numbers"]))
    for p in _draw("number_theory", "lcm"):
        if p.params["form"] in ("plain", "lights", "many", "timetable", "packs"):
            assert p.answer == str(math.lcm(*p.params["numbers"]))
    for p in _draw("number_theory", "count_multiples"):
        lo, hi = p.params.get("lo", 1), p.params["hi"]
        if p.params["form"] in ("from_one", "range") and hi - lo < 10**6:
            assert p.answer == str(sum(1 for n in range(lo, hi + 1) if n % p.params["d"] == 0))


def test_counting_answers_match_brute_force():
    for p in _draw("counting_probability", "permutations"):
        if p.params["form"] == "word" and len(p.params["word"]) <= 8:
            assert p.answer == str(len(set(permutations(p.params["word"]))))
        if p.params["form"] in ("together", "apart") and p.params["n"] <= 7:
            n = p.params["n"]
            adjacent = sum(
                1 for order in permutations(range(n)) if abs(order.index(0) - order.index(1)) == 1
            )
            expected = adjacent if p.params["form"] == "together" else math.factorial(n) - adjacent
            assert p.answer == str(expected)
    for p in _draw("counting_probability", "probability"):
        if p.params["form"] == "dice_sum":
            s, kind = p.params["sum"], p.params["kind"]
            rolls = list(product(range(1, 7), repeat=2))
            good = sum(1 for a, b in rolls if (a + b == s if kind == "equal" else a + b >= s))
            assert p.answer == str(Fraction(good, 36))
        if p.params["form"] == "two_draws":
            r, o = p.params["counts"]
            balls = ["r"] * r + ["o"] * o
            pairs = [(i, j) for i in range(len(balls)) for j in range(len(balls)) if i != j]
            good = sum(1 for i, j in pairs if balls[i] == balls[j] == "r")
            assert p.answer == str(Fraction(good, len(pairs)))


def test_rounded_money_matches_decimal_half_up():
    for p in _draw("percentages", "successive_discounts"):
        if p.params["form"] == "with_tax":
            price = Decimal(p.params["price_cents"]) / 100
            d1, d2 = p.params["discounts"]
            value = price * (100 - d1) / 100 * (100 - d2) / 100 * (100 + p.params["tax"]) / 100
            assert p.answer == str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    for p in _draw("arithmetic", "shopping"):
        if p.params["form"] == "discount_tax":
            (p1, p2), (q1, q2) = p.params["prices_cents"], p.params["quantities"]
            value = (
                Decimal(q1 * p1 + q2 * p2)
                / 100
                * (100 - p.params["discount"])
                / 100
                * (100 + p.params["tax"])
                / 100
            )
            assert p.answer == str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


# ------------------------------------------------------------------ answer formats, novelty filter


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (Fraction(1235, 100), 2, "12.35"),
        (Fraction(123, 10), 2, "12.30"),
        (Fraction(2, 3), 2, "0.67"),
        (Fraction(1, 8), 2, "0.13"),
        (Fraction(-1, 8), 2, "-0.13"),
        (Fraction(5, 2), 0, "3"),
        (7, 1, "7.0"),
    ],
)
def test_fmt_rounded(value, places, expected):
    assert fmt_rounded(value, places) == expected
    decimal = (Decimal(Fraction(value).numerator) / Decimal(Fraction(value).denominator)).quantize(
        Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP
    )
    assert str(decimal) == expected


def test_canonical_number_formats():
    assert fmt_number(Fraction(6, -8)) == "-3/4"
    assert fmt_number(Fraction(8, 4)) == "2"
    assert fmt_pair(2, Fraction(-3, 4)) == "(2, -3/4)"
    assert fmt_matrix([[1, Fraction(1, 2)], [-3, 4]]) == "[[1, 1/2], [-3, 4]]"
