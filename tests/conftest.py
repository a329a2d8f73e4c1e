"""Fixtures shared by test files, and the environment every test runs in."""

import os
from pathlib import Path

import pytest

# On 2 shared cores torch/BLAS's default threading makes tiny steps ~100x slower;
# DVC must not phone home from tests.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

from openai_server import openai_server  # noqa: E402, F401  (a real local OpenAI-compatible server)
from smollm2 import smollm2  # noqa: E402, F401  (SmolLM2-135M-Instruct, converted once)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """The BPE tokenizer of every tiny test model, trained once (tiny_models.problem_texts).
    Shared: a test must not change it."""
    from tiny_models import problem_texts, train_tiny_tokenizer

    return train_tiny_tokenizer(problem_texts())


@pytest.fixture(scope="session")
def tiny_policy(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer) -> Path:
    """A randomly initialised tiny Llama (tiny_models.TINY_SPEC, system prompt on) with the
    session tokenizer, saved as stage base does. Shared and read-only: copy it to change it."""
    from tiny_models import save_tiny_model

    return save_tiny_model(tmp_path_factory.mktemp("tiny-policy") / "policy", tiny_tokenizer)
