"""Tiny Llamas with a BPE tokenizer trained on the test's own texts, saved as stage base does."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mathforge.config import BaseModelParams
from mathforge.modeling.tiny import save_base_model
from mathforge.modeling.tokenizer import train_bpe, wrap_tokenizer
from mathforge.solution import solve_prompt

TINY_SPEC = {  # hidden 32, 2 layers: builds and steps in milliseconds
    "pretrained": None,
    "hidden_size": 32,
    "num_layers": 2,
    "num_heads": 4,
    "num_kv_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 1024,
    "tie_word_embeddings": True,
    "system_prompt": True,
}


def save_tiny_model(
    out: Path, texts: Sequence[str], *, vocab_size: int = 500, seed: int = 0, **spec
) -> Path:
    """A randomly initialised tiny model at `out` whose tokenizer covers `texts` and the
    solving prompt; `spec` overrides TINY_SPEC fields (e.g. system_prompt=False)."""
    corpus = [*texts, *(m["content"] for m in solve_prompt("x"))]
    tokenizer = wrap_tokenizer(train_bpe(corpus, vocab_size=vocab_size))
    save_base_model(out, BaseModelParams(**{**TINY_SPEC, **spec}), tokenizer, seed=seed)
    return out


def problem_texts(seed: int = 1) -> list[str]:
    """A question and its reference solution for every (subject, skill): a tokenizer corpus."""
    import random

    from mathforge.teacher import SUBJECTS, generate

    rng = random.Random(seed)
    texts = []
    for subject, skills in SUBJECTS.items():
        for skill in skills:
            problem = generate(subject, skill, rng, "base")
            texts += [problem.question, problem.solution]
    return texts
