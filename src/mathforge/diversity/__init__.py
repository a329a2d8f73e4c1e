"""Diversity selection (DESIGN.md section 6): normalize programs, measure their distance and
keep a spread-out set per problem.

- ``normalize_program(code) -> str``: one string per reasoning (``normalize.py``);
- ``program_distance(a, b)`` / ``distance_matrix(forms)``: normalized token edit distance
  between normalized programs (``select.py``);
- ``select_diverse(programs, k, ...) -> list[int]`` and ``select_with_reasons`` (the same
  choice, with why every other path was dropped: ``duplicate`` of a kept path or
  ``less_spread``).
"""

from mathforge.diversity.normalize import FALLBACK_PREFIX, normalize_program, text_normalize
from mathforge.diversity.select import (
    Dropped,
    Selection,
    distance_matrix,
    program_distance,
    program_tokens,
    select_diverse,
    select_with_reasons,
)

__all__ = [
    "FALLBACK_PREFIX",
    "Dropped",
    "Selection",
    "distance_matrix",
    "normalize_program",
    "program_distance",
    "program_tokens",
    "select_diverse",
    "select_with_reasons",
    "text_normalize",
]
