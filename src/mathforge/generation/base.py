"""The one generation interface every backend implements.

A backend takes chats (OpenAI-style message lists) and returns, per chat and in
the chats' order, ``n`` sampled completion texts. Backends live in their own
modules (``openai_backend``, ``transformers_backend``; later ``vllm``) and are picked by
:func:`mathforge.generation.build_generator`, which imports only the chosen one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

Chat = list[dict[str, str]]  # [{"role": "system" | "user" | "assistant", "content": ...}]


@dataclass(frozen=True)
class SamplingParams:
    n: int = 1  # completions per prompt
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 512  # new tokens per completion
    seed: int | None = None  # passed to backends that honour it; None = unseeded


@dataclass(frozen=True)
class Completion:
    """One completion with its token counts, for backends that know them (transformers)."""

    text: str
    prompt_tokens: int  # tokens of the rendered prompt (chat template applied)
    completion_tokens: int  # new tokens generated, the stop token included
    finish_reason: str  # "stop" (end-of-turn token) | "length" (hit max_tokens)


class TextGenerator(Protocol):
    def generate(self, prompts: Sequence[Chat], params: SamplingParams) -> list[list[str]]:
        """One list of ``params.n`` completions per prompt, in prompt order."""
        ...


class GenerationError(RuntimeError):
    """A prompt could not be completed (after the backend's retries)."""

    def __init__(self, prompt_index: int, message: str) -> None:
        super().__init__(f"prompt {prompt_index}: {message}")
        self.prompt_index = prompt_index
