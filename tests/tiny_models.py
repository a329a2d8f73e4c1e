"""Tiny Llamas with a BPE tokenizer trained on generated problems, saved as stage base does.

The suite trains that tokenizer and builds one such model once per session (the
`tiny_tokenizer` and `tiny_policy` fixtures in conftest.py); a test that needs
other sizes builds them from the session tokenizer with `save_tiny_model`.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from pathlib import Path

from transformers import PreTrainedTokenizerFast

from mathforge.config import BaseModelParams
from mathforge.modeling.tiny import save_base_model
from mathforge.modeling.tokenizer import train_bpe, wrap_tokenizer
from mathforge.solution import solve_prompt
from mathforge.teacher import SUBJECTS, generate

TINY_SPEC = {  # hidden 32, 2 layers: builds and steps in milliseconds
    "pretrained": None,
    "hidden_size": 32,
    "num_layers": 2,
    "num_heads": 4,
    "num_kv_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 1024,  # the solving prompt with its system message: ~390 tokens
    "tie_word_embeddings": True,
    "system_prompt": True,
}
TINY_VOCAB = 400


def problem_texts(seed: int = 1) -> list[str]:
    """A question and its reference solution for every (subject, skill): a tokenizer corpus."""
    rng = random.Random(seed)
    texts = []
    for subject, skills in SUBJECTS.items():
        for skill in skills:
            problem = generate(subject, skill, rng, "base")
            texts += [problem.question, problem.solution]
    return texts


def train_tiny_tokenizer(
    texts: Sequence[str], vocab_size: int = TINY_VOCAB
) -> PreTrainedTokenizerFast:
    """The byte-level BPE of stage base, trained on `texts` and the solving prompt."""
    corpus = [*texts, *(m["content"] for m in solve_prompt("x"))]
    return wrap_tokenizer(train_bpe(corpus, vocab_size=vocab_size))


def save_tiny_model(
    out: Path, tokenizer: PreTrainedTokenizerFast, *, seed: int = 0, **spec
) -> Path:
    """A randomly initialised tiny model with `tokenizer` at `out`; `spec` overrides TINY_SPEC
    fields (e.g. system_prompt=False). `tokenizer` is left as it was (saving sets its length)."""
    params = BaseModelParams(**{**TINY_SPEC, **spec})
    save_base_model(out, params, copy.deepcopy(tokenizer), seed=seed)
    return out
