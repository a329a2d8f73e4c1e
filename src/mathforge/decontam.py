"""Decontamination: word n-gram overlap between training and held-out problems.

A training problem is contaminated when at least `threshold` of its word
n-grams (lowercased alphanumeric words, numbers included) also occur in some
held-out problem. A problem shorter than n words counts as one n-gram of all
its words, so short near-copies are caught too.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_WORD = re.compile(r"[a-z0-9]+")


def word_ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    """The set of word n-grams of `text` (one shorter gram when it has fewer than n words)."""
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


@dataclass(frozen=True)
class Contamination:
    overlap: float  # share of the training problem's n-grams found in held-out problems
    closest_id: str  # the held-out problem sharing the most of them


class HeldOutIndex:
    """The n-grams of held-out problems, each mapped to the ids of problems holding it."""

    def __init__(self, ids: list[str], texts: list[str], n: int):
        self.n = n
        self.owners: dict[tuple[str, ...], list[str]] = {}
        for qid, text in zip(ids, texts, strict=True):
            for gram in word_ngrams(text, n):
                self.owners.setdefault(gram, []).append(qid)

    def check(self, text: str) -> Contamination | None:
        """Overlap of `text` with the held-out set, or None when it shares no n-gram."""
        grams = word_ngrams(text, self.n)
        hits = [gram for gram in grams if gram in self.owners]
        if not hits:
            return None
        closest = Counter(qid for gram in hits for qid in self.owners[gram]).most_common(1)
        return Contamination(overlap=len(hits) / len(grams), closest_id=closest[0][0])
