"""Polynomial calculus: the derivative polynomial, a derivative's value, definite integrals.

Numbers: base and hard use one-digit coefficients, points and bounds (hard has
higher degree, products and powers, second derivatives, fractional points and
bounds); ood has degree 6–9 and always at least one two-digit coefficient.
A derivative polynomial's answer is sympy's string of the expanded result,
e.g. ``12*x**3 - 2*x + 7``; values and integrals are exact rationals.
"""

from __future__ import annotations

import random
from fractions import Fraction

import sympy

from mathforge.teacher.answers import fmt_number
from mathforge.teacher.base import Problem, check_variant, code, make_problem
from mathforge.teacher.notation import POLY_STYLES, poly

SUBJECT = "calculus"
X = sympy.Symbol("x")

_FUNCS = ["f", "g", "h", "p", "q"]

# how the expected polynomial format is spelled out (the answer is always sympy's str)
_POLY_FORMATS = [
    "Write the answer as an expanded polynomial in sympy syntax (like 4*x**3 - x + 2).",
    "Give the result expanded, using * for products and ** for powers.",
    "Answer with the expanded polynomial, written the way sympy prints it.",
    "Express it as an expanded polynomial in x (python/sympy notation).",
]


def _problem(skill, variant, question, text, programs, answer, params) -> Problem:
    return make_problem(SUBJECT, skill, variant, question, text, programs, answer, params)


def _coeffs(rng: random.Random, degree: int, hi: int, big: bool = False) -> dict[int, int]:
    """{power: coefficient} of the given degree (leading coefficient nonzero, some gaps)."""
    coeffs = {degree: rng.randint(1, hi) * rng.choice([1, -1])}
    for power in range(degree - 1, -1, -1):
        if rng.random() < 0.7:
            coeffs[power] = rng.randint(-hi, hi)
    if big:  # ood by construction: one coefficient of two digits
        power = rng.choice(sorted(coeffs))
        coeffs[power] = rng.randint(10, 60) * rng.choice([1, -1])
    return {p: c for p, c in coeffs.items() if c != 0}


def _expr(coeffs: dict[int, int]) -> sympy.Expr:
    return sum((c * X**p for p, c in coeffs.items()), sympy.Integer(0))


def _poly_params(coeffs: dict[int, int]) -> list[list[int]]:
    """JSON-friendly [[power, coefficient], ...], highest power first."""
    return [[p, coeffs[p]] for p in sorted(coeffs, reverse=True)]


def _sympy_def(fname: str, source: str) -> str:
    return code("import sympy", 'x = sympy.symbols("x")', f"{fname} = {source}")


# --------------------------------------------------------------------------- derivative polynomial


def derivative(rng: random.Random, variant: str) -> Problem:
    """The derivative as an expanded polynomial (first, or second in hard)."""
    check_variant(variant)
    fname, style = rng.choice(_FUNCS), rng.choice(POLY_STYLES)
    fmt = rng.choice(_POLY_FORMATS)
    order = 1
    if variant == "base":
        form, coeffs = "poly", _coeffs(rng, rng.randint(2, 3), 9)
        expr, shown, source = _expr(coeffs), poly(coeffs, "x", style), poly(coeffs, "x", "python")
        drawn, steps = _poly_params(coeffs), 2
    elif variant == "hard":
        form, steps = rng.choice(["product", "power", "second"]), 4
        if form == "product":
            left, right = _coeffs(rng, rng.randint(1, 2), 9), _coeffs(rng, 2, 9)
            expr = _expr(left) * _expr(right)
            times = "*" if style == "python" else ""
            shown = f"({poly(left, 'x', style)}){times}({poly(right, 'x', style)})"
            source = f"({poly(left, 'x', 'python')})*({poly(right, 'x', 'python')})"
            drawn = {"left": _poly_params(left), "right": _poly_params(right)}
        elif form == "power":
            a, b, n = (
                rng.randint(1, 5) * rng.choice([1, -1]),
                rng.randint(-9, 9) or 1,
                rng.randint(3, 4),
            )
            extra = _coeffs(rng, 1, 9)
            expr = (a * X + b) ** n + _expr(extra)
            power = f"^{n}" if style == "caret" else f"**{n}"
            shown = f"({poly({1: a, 0: b}, 'x', style)}){power} + {poly(extra, 'x', style)}"
            shown = shown.replace("+ -", "- ")
            source = f"({poly({1: a, 0: b}, 'x', 'python')})**{n} + ({poly(extra, 'x', 'python')})"
            drawn = {"inner": [a, b], "n": n, "extra": _poly_params(extra)}
        else:
            coeffs, order = _coeffs(rng, rng.randint(4, 5), 9), 2
            expr, shown, source = (
                _expr(coeffs),
                poly(coeffs, "x", style),
                poly(coeffs, "x", "python"),
            )
            drawn = _poly_params(coeffs)
    else:
        form, coeffs = "poly", _coeffs(rng, rng.randint(6, 9), 9, big=True)
        expr, shown, source = _expr(coeffs), poly(coeffs, "x", style), poly(coeffs, "x", "python")
        drawn, steps = _poly_params(coeffs), 1 + len(coeffs)
    what = "second derivative" if order == 2 else "derivative"
    prime = "''" if order == 2 else "'"
    question = rng.choice(
        [
            f"Differentiate {fname}(x) = {shown} with respect to "
            f"x{' twice' if order == 2 else ''}. {fmt}",
            f"Find {fname}{prime}(x) for {fname}(x) = {shown}. {fmt}",
            f"What is the {what} of {shown}? {fmt}",
            f"Let {fname}(x) = {shown}. Compute its {what}. {fmt}",
        ]
    )
    hints = {
        "poly": "Use the power rule term by term: d/dx c*x^n = c*n*x^(n-1); constants vanish.",
        "product": "Either use the product rule or expand first; expanding the derivative gives "
        "the polynomial form.",
        "power": "Chain rule on the bracket (n times the bracket to the n-1, times the inner "
        "slope), plus the linear part; then expand.",
        "second": "Apply the power rule twice, term by term.",
    }
    text = f"{hints[form]} The {what} of {fname}(x) = {shown} is then expanded."
    program = code(
        _sympy_def(fname, source),
        f"print(sympy.expand(sympy.diff({fname}, x{', 2' if order == 2 else ''})))",
    )
    answer = str(sympy.expand(sympy.diff(expr, X, order)))
    params = {"form": form, "style": style, "coeffs": drawn, "order": order, "steps": steps}
    return _problem("derivative", variant, question, text, [program], answer, params)


# --------------------------------------------------------------------------- derivative value


def derivative_value(rng: random.Random, variant: str) -> Problem:
    """f'(a) (or f''(a)) at a point: an integer, or an exact fraction at a fractional point."""
    check_variant(variant)
    fname, style = rng.choice(_FUNCS), rng.choice(POLY_STYLES)
    order = 1
    if variant == "base":
        coeffs, point = _coeffs(rng, rng.randint(2, 3), 9), Fraction(rng.randint(-3, 4))
        form = "integer_point"
    elif variant == "hard":
        form = rng.choice(["fraction_point", "second_order", "slope"])
        coeffs = _coeffs(rng, rng.randint(3, 4), 9)
        if form == "fraction_point":
            den = rng.choice([2, 3, 4, 5])
            point = Fraction(rng.choice([n for n in range(-9, 10) if n % den]), den)
        else:
            point = Fraction(rng.randint(-4, 5))
            order = 2 if form == "second_order" else 1
    else:
        form = "high_degree"
        coeffs, point = _coeffs(rng, rng.randint(6, 9), 9, big=True), Fraction(rng.randint(-4, 5))
    shown = poly(coeffs, "x", style)
    at = fmt_number(point)
    prime = "''" if order == 2 else "'"
    if form == "slope":
        question = rng.choice(
            [
                f"What is the slope of the tangent line to y = {shown} at x = {at}?",
                f"Find the gradient of the curve y = {shown} at the point where x = {at}.",
            ]
        )
    else:
        question = rng.choice(
            [
                f"Let {fname}(x) = {shown}. Find {fname}{prime}({at}).",
                f"Evaluate the {'second ' if order == 2 else ''}derivative of {fname}(x) = "
                f"{shown} at x = {at}.",
                f"For {fname}(x) = {shown}, what is {fname}{prime}(x) when x = {at}? Give an "
                "exact value.",
                f"Compute {fname}{prime}({at}) given {fname}(x) = {shown}.",
            ]
        )
    text = (
        f"Differentiate {shown} term by term {'twice ' if order == 2 else ''}with the power rule, "
        "then substitute x = "
        f"{at}{' exactly (a fraction, not a decimal)' if point.denominator != 1 else ''}."
    )
    point_src = (
        f"sympy.Rational({point.numerator}, {point.denominator})"
        if point.denominator != 1
        else str(point)
    )
    program = code(
        _sympy_def(fname, poly(coeffs, "x", "python")),
        f"slope = sympy.diff({fname}, x{', 2' if order == 2 else ''})",
        f"print(slope.subs(x, {point_src}))",
    )
    value = sympy.diff(_expr(coeffs), X, order).subs(
        X, sympy.Rational(point.numerator, point.denominator)
    )
    steps = {"base": 2, "hard": 4}.get(variant, 2 + len(coeffs))
    params = {
        "form": form,
        "style": style,
        "coeffs": _poly_params(coeffs),
        "point": [point.numerator, point.denominator],
        "order": order,
        "steps": steps,
    }
    return _problem(
        "derivative_value", variant, question, text, [program], fmt_number(value), params
    )


# --------------------------------------------------------------------------- definite integral


def _integral_programs(
    rng: random.Random, coeffs: dict[int, int], lo: Fraction, hi: Fraction
) -> list[str]:
    """sympy.integrate, or the antiderivative by hand with fractions (two blocks)."""

    def src(v: Fraction) -> str:
        return f"Fraction({v.numerator}, {v.denominator})" if v.denominator != 1 else str(v)

    if rng.random() < 0.5:

        def sym(v: Fraction) -> str:
            return (
                f"sympy.Rational({v.numerator}, {v.denominator})" if v.denominator != 1 else str(v)
            )

        return [
            code(
                _sympy_def("f", poly(coeffs, "x", "python")),
                f"print(sympy.integrate(f, (x, {sym(lo)}, {sym(hi)})))",
            )
        ]
    return [
        code(
            "from fractions import Fraction",
            f"coefficients = {dict(sorted(coeffs.items(), reverse=True))}  # power: coefficient",
            "def antiderivative(t):",
            "    return sum(Fraction(c, n + 1) * t ** (n + 1) for n, c in coefficients.items())",
        ),
        code(f"print(antiderivative({src(hi)}) - antiderivative({src(lo)}))"),
    ]


def definite_integral(rng: random.Random, variant: str) -> Problem:
    """The exact definite integral of a polynomial between two bounds."""
    check_variant(variant)
    style = rng.choice(POLY_STYLES)
    if variant == "base":
        coeffs = _coeffs(rng, rng.randint(1, 2), 9)
        lo = Fraction(rng.randint(0, 2))
        hi = lo + rng.randint(1, 3)
    elif variant == "hard":
        coeffs = _coeffs(rng, rng.randint(3, 4), 9)
        if rng.random() < 0.5:
            den = rng.choice([2, 3])
            lo, hi = Fraction(rng.randint(-3, 1), den), Fraction(rng.randint(2, 6), den)
        else:
            lo, hi = Fraction(rng.randint(-4, 0)), Fraction(rng.randint(1, 4))
    else:
        coeffs = _coeffs(rng, rng.randint(5, 8), 9, big=True)
        lo, hi = Fraction(rng.randint(-4, 0)), Fraction(rng.randint(1, 4))
    shown = poly(coeffs, "x", style)
    a, b = fmt_number(lo), fmt_number(hi)
    question = rng.choice(
        [
            f"Evaluate the definite integral of {shown} from x = {a} to x = {b}. Give an exact "
            "answer.",
            f"Compute ∫ ({shown}) dx over [{a}, {b}], exactly.",
            f"What is the exact value of the integral from {a} to {b} of {shown} with respect to "
            "x?",
            f"Find the signed area between y = {shown} and the x-axis for x from {a} to {b} (an "
            "exact fraction if needed).",
            f"Integrate {shown} between the limits {a} and {b}.",
        ]
    )
    text = (
        f"Antiderivative term by term (c*x^n becomes c*x^(n+1)/(n+1)), evaluate it at {b} and at "
        f"{a}, and subtract; fractions keep the result exact."
    )
    value = sympy.integrate(
        _expr(coeffs),
        (
            X,
            sympy.Rational(lo.numerator, lo.denominator),
            sympy.Rational(hi.numerator, hi.denominator),
        ),
    )
    steps = {"base": 3, "hard": 5}.get(variant, 3 + len(coeffs))
    params = {
        "style": style,
        "coeffs": _poly_params(coeffs),
        "bounds": [[lo.numerator, lo.denominator], [hi.numerator, hi.denominator]],
        "steps": steps,
    }
    return _problem(
        "definite_integral",
        variant,
        question,
        text,
        _integral_programs(rng, coeffs, lo, hi),
        fmt_number(value),
        params,
    )


SKILLS = {
    "derivative": derivative,
    "derivative_value": derivative_value,
    "definite_integral": definite_integral,
}
