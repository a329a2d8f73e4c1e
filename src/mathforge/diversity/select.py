"""Choose at most k paths of one problem whose programs are as far apart as possible.

**Distance.** ``program_distance(a, b)`` is the normalized token edit distance between two
*normalized* programs: both are split into tokens (``program_tokens``: string literals,
numbers, names, two-character operators, any other single character; whitespace is not a
token), and the distance is ``Levenshtein(tokens_a, tokens_b) / max(len_a, len_b)`` (0 for
two empty programs), in [0, 1]. Tokens, not characters, so renaming ``v1`` to ``v10`` or
``27`` to ``1027`` is one edit, and a long program is not "far" just for being long.
``distance_matrix`` computes every pair at once with rapidfuzz's ``cdist`` (C++), each
distinct token mapped to one character.

**Selection** (``select_with_reasons``; ``select_diverse`` returns only the kept indices):

1. Paths are ranked by preference: without an execution error first (``exec_ok``), then by
   judge score, higher first (a missing score is lowest), then by index.
2. Paths whose normalized programs are equal are one *form*; the most preferred path of
   each form stands for it; the others are dropped.
3. If there are at most ``k`` forms, all are kept. Otherwise ``spread_subset`` picks k of
   them: the most preferred first, then greedily the form farthest from those chosen
   (farthest-first traversal; ties to the more preferred), then a swap search: while
   replacing one kept form by one other raises the set's minimum pairwise distance (or keeps
   it and swaps in a more preferred form), the best such swap is made. Each swap raises
   ``(min distance, -sum of preference ranks)``, so it stops, at a *local* optimum: no single
   swap improves the set. That is not always the global max-min set (max-min dispersion is
   NP-hard); for distances that obey the triangle inequality, farthest-first alone is within
   a factor 2 of the optimum, and the swaps only raise it (tests check both, and agreement
   with brute force where it is guaranteed).

**Reasons.** Every dropped index gets a ``Dropped``: ``duplicate`` with ``of`` = the kept
index with the same normalized program, or ``less_spread`` (its form was not chosen) with
``of`` = the nearest kept index and ``distance`` to it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from mathforge.diversity.normalize import normalize_program

__all__ = [
    "Dropped",
    "Selection",
    "distance_matrix",
    "program_distance",
    "program_tokens",
    "select_diverse",
    "select_with_reasons",
    "spread_subset",
]

_TOKEN = re.compile(
    r"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?j?|\.\d+|\w+"""
    r"""|\*\*|//|==|!=|<=|>=|<<|>>|->|\S"""
)


def program_tokens(form: str) -> list[str]:
    """The tokens of a normalized program (module docstring)."""
    return _TOKEN.findall(form)


def _encode(forms: list[str]) -> list[str]:
    """Each form as a string with one character per token (one shared code for each token)."""
    codes: dict[str, str] = {}
    out = []
    for form in forms:
        chars = []
        for token in _TOKEN.findall(form):
            code = codes.get(token)
            if code is None:
                code = codes[token] = chr(0x100 + len(codes))
            chars.append(code)
        out.append("".join(chars))
    return out


def program_distance(a: str, b: str) -> float:
    """Normalized token edit distance between two normalized programs, in [0, 1]."""
    x, y = _encode([a, b])
    return Levenshtein.normalized_distance(x, y)


def distance_matrix(forms: list[str], workers: int = 1) -> np.ndarray:
    """``program_distance`` of every pair of ``forms`` (float64, symmetric, zero diagonal)."""
    if not forms:
        return np.zeros((0, 0))
    encoded = _encode(forms)
    return process.cdist(
        encoded, encoded, scorer=Levenshtein.normalized_distance, dtype=np.float64, workers=workers
    )


@dataclass(frozen=True)
class Dropped:
    reason: str  # "duplicate" (same normalized program as `of`) or "less_spread"
    of: int  # the kept index it duplicates, or the nearest kept index (less_spread)
    distance: float  # program_distance to `of` (0.0 for a duplicate)


@dataclass(frozen=True)
class Selection:
    kept: list[int]  # ascending indices into the input
    dropped: dict[int, Dropped] = field(default_factory=dict)  # every other index
    min_distance: float = math.inf  # the kept set's minimum pairwise distance (inf if < 2)
    forms: list[str] = field(default_factory=list)  # each input's normalized program


def spread_subset(dist: np.ndarray, k: int) -> list[int]:
    """k indices of ``dist`` (square, symmetric; index order = preference order, 0 best)
    with a large minimum pairwise distance: farthest-first from index 0, then best-improvement
    single swaps on ``(min pairwise distance, -sum of indices)`` until none improves."""
    m = len(dist)
    if k >= m:
        return list(range(m))
    chosen = [0]
    near = dist[0].astype(np.float64, copy=True)
    near[0] = -1.0
    for _ in range(1, k):
        j = int(np.argmax(near))  # first maximum: the most preferred of the farthest
        chosen.append(j)
        np.minimum(near, dist[j], out=near)
        near[chosen] = -1.0
    if k < 2:
        return chosen
    for _ in range(10 * m * k):  # each swap strictly improves; this bound is never reached
        s = np.array(chosen)
        sub = dist[np.ix_(s, s)].astype(np.float64, copy=True)
        np.fill_diagonal(sub, np.inf)
        current = (float(sub.min()), -sum(chosen))
        best, move = current, None
        total = sum(chosen)
        for pos in range(k):
            rest = np.delete(s, pos)
            rest_min = np.delete(np.delete(sub, pos, 0), pos, 1).min() if k > 2 else np.inf
            value = np.minimum(dist[:, rest].min(axis=1), rest_min)
            value[s] = -np.inf
            c = int(np.argmax(value))  # first maximum: the most preferred candidate
            objective = (float(value[c]), -(total - chosen[pos] + c))
            if objective > best:
                best, move = objective, (pos, c)
        if move is None:
            break
        chosen[move[0]] = move[1]
    return chosen


def select_with_reasons(
    programs: list[str],
    k: int,
    *,
    scores: list[float | None] | None = None,
    exec_ok: list[bool] | None = None,
    normalized: list[str] | None = None,
) -> Selection:
    """At most ``k`` of one problem's paths, spread apart, and why each other was dropped.

    ``programs``: each path's program (``mathforge.solution.program_of``); ``scores``: the
    judge's score per path (higher preferred; None lowest); ``exec_ok``: whether the path's
    program ran without error (preferred); ``normalized``: the programs'
    ``normalize_program`` forms when the caller has them already. Module docstring: the rule.
    """
    n = len(programs)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    for name, values in (("scores", scores), ("exec_ok", exec_ok), ("normalized", normalized)):
        if values is not None and len(values) != n:
            raise ValueError(f"{name} has {len(values)} entries for {n} programs")
    if normalized is None:
        cache: dict[str, str] = {}
        normalized = []
        for code in programs:
            form = cache.get(code)
            if form is None:
                form = cache[code] = normalize_program(code)
            normalized.append(form)
    else:
        normalized = list(normalized)

    def preference(i: int) -> tuple:
        ok = True if exec_ok is None else bool(exec_ok[i])
        score = None if scores is None else scores[i]
        missing = score is None or (isinstance(score, float) and math.isnan(score))
        return (not ok, missing, 0.0 if missing else -float(score), i)

    order = sorted(range(n), key=preference)
    stands_for: dict[str, int] = {}  # form -> position of its representative in `reps`
    reps: list[int] = []
    duplicate_of: dict[int, int] = {}  # index -> position of its form's representative
    for i in order:
        position = stands_for.get(normalized[i])
        if position is None:
            stands_for[normalized[i]] = len(reps)
            reps.append(i)
        else:
            duplicate_of[i] = position
    dist = distance_matrix([normalized[i] for i in reps])
    chosen = spread_subset(dist, k)
    chosen_set = set(chosen)
    kept = sorted(reps[p] for p in chosen)

    nearest: dict[int, tuple[int, float]] = {}  # rep position -> (kept index, distance)
    chosen_arr = np.array(sorted(chosen))
    for p in range(len(reps)):
        if p not in chosen_set:
            row = dist[p, chosen_arr]
            j = int(np.argmin(row))
            nearest[p] = (reps[int(chosen_arr[j])], float(row[j]))
    dropped: dict[int, Dropped] = {}
    for p, i in enumerate(reps):
        if p not in chosen_set:
            dropped[i] = Dropped("less_spread", *nearest[p])
    for i, p in duplicate_of.items():
        if p in chosen_set:
            dropped[i] = Dropped("duplicate", reps[p], 0.0)
        else:
            dropped[i] = Dropped("less_spread", *nearest[p])
    min_distance = math.inf
    if len(chosen) > 1:
        sub = dist[np.ix_(chosen_arr, chosen_arr)].copy()
        np.fill_diagonal(sub, np.inf)
        min_distance = float(sub.min())
    return Selection(kept, dict(sorted(dropped.items())), min_distance, normalized)


def select_diverse(
    programs: list[str],
    k: int,
    *,
    scores: list[float | None] | None = None,
    exec_ok: list[bool] | None = None,
    normalized: list[str] | None = None,
) -> list[int]:
    """The indices (ascending) of at most ``k`` paths to keep: ``select_with_reasons().kept``."""
    return select_with_reasons(
        programs, k, scores=scores, exec_ok=exec_ok, normalized=normalized
    ).kept
