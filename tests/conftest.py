"""Fixtures shared by test files, and the environment every test runs in."""

import os

# On 2 shared cores torch/BLAS's default threading makes tiny steps ~100x slower;
# DVC must not phone home from tests.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

from openai_server import openai_server  # noqa: F401  (a real local OpenAI-compatible server)
