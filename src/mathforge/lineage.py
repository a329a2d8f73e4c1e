"""Stable ids that let any row be traced back to the seed it came from."""

from __future__ import annotations

import hashlib
import unicodedata


def normalize_question(text: str) -> str:
    """The one notion of "the same question" (ids, duplicate checks): NFC, case-folded,
    whitespace collapsed and stripped; two renderings of one problem share an id."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def question_id(question: str) -> str:
    """Content hash of a problem statement: `q_` + 16 hex digits of SHA-256."""
    digest = hashlib.sha256(normalize_question(question).encode("utf-8")).hexdigest()
    return f"q_{digest[:16]}"
