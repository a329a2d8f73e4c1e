"""Word pools shared by the word-problem generators: who, and how money is written.

Surface variety is what lets generated problems survive the ROUGE-L novelty
filter, so the pools are deliberately wide; draw from them with the problem's rng.
"""

from __future__ import annotations

from decimal import Decimal

NAMES = [
    "Aisha",
    "Ben",
    "Carmen",
    "Dmitri",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Imani",
    "Jonas",
    "Kavya",
    "Liam",
    "Mei",
    "Nadia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Samir",
    "Tomas",
    "Uma",
    "Victor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zara",
    "Anders",
    "Bianca",
    "Chen",
    "Dara",
    "Emeka",
    "Fatima",
    "Gabriel",
    "Hana",
    "Ivan",
    "Julia",
    "Kofi",
    "Lucia",
    "Mateo",
    "Noor",
    "Oskar",
    "Paloma",
    "Rafael",
    "Sofia",
    "Tariq",
    "Ingrid",
    "Leila",
    "Marcus",
    "Nia",
    "Pedro",
]


def two_names(rng) -> tuple[str, str]:
    first, second = rng.sample(NAMES, 2)
    return first, second


def money(cents: int) -> str:
    """``$12`` for whole dollars, ``$3.45`` otherwise (questions never use thousands commas)."""
    if cents % 100 == 0:
        return f"${cents // 100}"
    return f"${cents // 100}.{cents % 100:02d}"


def money_cents(cents: int) -> str:
    """Always two decimals: ``$12.00``, for problems where every price has cents."""
    return f"${cents // 100}.{cents % 100:02d}"


def decimal_literal(cents: int) -> str:
    """The program-side spelling of a money amount: ``Decimal("3.45")``."""
    return f'Decimal("{Decimal(cents) / 100:.2f}")'


def join_and(parts: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]
