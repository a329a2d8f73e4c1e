"""How expressions are written *in questions*: several notations for the same object.

Answers have one canonical form (see `answers`); questions vary their notation
on purpose, so that generated problems differ on the surface and a model
learns to read ``3x^2``, ``3*x**2``, ``[1 2; 3 4]`` and "rows (1, 2) and (3, 4)" alike.
"""

from __future__ import annotations

from fractions import Fraction

from mathforge.teacher.answers import fmt_number

POLY_STYLES = ("caret", "python")
MATRIX_STYLES = ("nested", "rows", "semicolon")


def _term(coef: int | Fraction, power: int, var: str, style: str) -> str:
    """One monomial without its sign, e.g. ``3x^2`` / ``3*x**2`` / ``x`` / ``5``."""
    mag = abs(Fraction(coef))
    if power == 0:
        return fmt_number(mag)
    if style == "python":
        pw = var if power == 1 else f"{var}**{power}"
        return pw if mag == 1 else f"{fmt_number(mag)}*{pw}"
    pw = var if power == 1 else f"{var}^{power}"
    if mag == 1:
        return pw
    if mag.denominator != 1:
        return f"({fmt_number(mag)}){pw}"
    return f"{mag}{pw}"


def poly(coeffs: dict[int, int | Fraction], var: str = "x", style: str = "caret") -> str:
    """A polynomial from {power: coefficient}, highest power first: ``3x^2 - x + 5``."""
    parts = []
    for power in sorted(coeffs, reverse=True):
        coef = coeffs[power]
        if coef == 0:
            continue
        term = _term(coef, power, var, style)
        if not parts:
            parts.append(term if coef > 0 else f"-{term}")
        else:
            parts.append(f"+ {term}" if coef > 0 else f"- {term}")
    return " ".join(parts) if parts else "0"


def linear(a: int | Fraction, b: int | Fraction, var: str = "x", style: str = "caret") -> str:
    """``a*var + b`` written naturally: ``3x - 5``, ``-x + 2``, ``7``."""
    return poly({1: a, 0: b}, var, style)


def python_linear(a: int, b: int, var: str) -> str:
    """The same expression as python source: ``3*x - 5``."""
    return poly({1: a, 0: b}, var, "python")


def matrix(rows: list[list[int]], style: str = "nested") -> str:
    """A matrix as ``[[1, 2], [3, 4]]``, ``[1 2; 3 4]`` or ``rows (1, 2) and (3, 4)``."""
    if style == "nested":
        return "[" + ", ".join("[" + ", ".join(str(v) for v in row) + "]" for row in rows) + "]"
    if style == "semicolon":
        return "[" + "; ".join(" ".join(str(v) for v in row) for row in rows) + "]"
    if style == "rows":
        tuples = ["(" + ", ".join(str(v) for v in row) + ")" for row in rows]
        return "the matrix with rows " + ", ".join(tuples[:-1]) + " and " + tuples[-1]
    raise ValueError(f"unknown matrix style {style!r}")
