"""Canonical answer strings: what a reference program prints, character for character.

- integers: ``42``, ``-7``
- exact fractions: ``3/4``, ``-5/2`` (reduced, sign in the numerator, never ``.0``)
- decimals only when the question asks for rounding: ``12.35``, ``12.30``
  (always the number of places asked; ties round half up, away from zero,
  as ``decimal.ROUND_HALF_UP`` does)
- a pair: ``(2, -3/4)``
- a matrix: ``[[1, 2], [3, 1/2]]``
- a polynomial: sympy's ``str`` of the expanded expression, ``3*x**2 + 2*x - 5``
"""

from __future__ import annotations

from fractions import Fraction

Number = int | Fraction


def fmt_number(value: Number) -> str:
    """An integer or an exact fraction: ``str(Fraction)`` already is the canonical form."""
    return str(Fraction(value))


def fmt_rounded(value: Number, places: int) -> str:
    """`value` rounded half up (away from zero) to exactly `places` decimals.

    Computed on integers, so it is exact for any rational; it prints what
    ``Decimal.quantize(..., rounding=ROUND_HALF_UP)`` prints, ``-0.00`` included.
    """
    value = Fraction(value)
    scaled = abs(value) * 10**places
    units = int(scaled + Fraction(1, 2))  # floor(x + 1/2) for x >= 0: half up
    digits = str(units).rjust(places + 1, "0")
    sign = "-" if value < 0 else ""
    if places == 0:
        return f"{sign}{digits}"
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def fmt_pair(x: Number, y: Number) -> str:
    return f"({fmt_number(x)}, {fmt_number(y)})"


def fmt_matrix(rows: list[list[Number]]) -> str:
    return "[" + ", ".join("[" + ", ".join(fmt_number(v) for v in row) + "]" for row in rows) + "]"
