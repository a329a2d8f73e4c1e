"""Fixtures shared by test files."""

from openai_server import openai_server  # noqa: F401  (a real local OpenAI-compatible server)
