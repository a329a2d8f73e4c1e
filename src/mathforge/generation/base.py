"""The one generation interface every backend implements.

A backend takes chats (OpenAI-style message lists) and returns, per chat and in
the chats' order, ``n`` sampled completions: :meth:`TextGenerator.complete`
gives :class:`Completion` records (text, token counts, why it ended),
:meth:`TextGenerator.generate` only the texts. Backends live in their own
modules (``openai_backend``, ``transformers_backend``, ``vllm_backend``) and
are picked by :func:`mathforge.generation.build_generator`, which imports only
the chosen one (vllm only exists in the GPU extra).

Where the token counts come from:

* transformers: the rendered prompt's tokens; new tokens up to and including
  the end-of-turn token.
* vllm: ``len(prompt_token_ids)`` and ``len(output.token_ids)`` of vLLM's
  ``RequestOutput``.
* openai: ``usage.prompt_tokens``; ``usage.completion_tokens`` only when the
  response carried one choice. A response reports one usage for all its
  choices (the prompt once, the completions summed), so it cannot say which
  of several completions took how many tokens: those get
  ``completion_tokens=None``, never a guess. A server that sends no usage
  gives None for both counts.
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
    """One completion with its token counts; None = the backend cannot know that count."""

    text: str
    prompt_tokens: int | None  # tokens of the rendered prompt (chat template applied)
    completion_tokens: int | None  # new tokens generated, the stop token included
    finish_reason: str  # "stop" (end of turn) | "length" (hit max_tokens) | a backend's own


class TextGenerator(Protocol):
    def complete(self, prompts: Sequence[Chat], params: SamplingParams) -> list[list[Completion]]:
        """One list of ``params.n`` completions per prompt, in prompt order, with token counts."""
        ...

    def generate(self, prompts: Sequence[Chat], params: SamplingParams) -> list[list[str]]:
        """The texts of :meth:`complete`: one list of ``params.n`` per prompt, in prompt order."""
        ...


class GenerationError(RuntimeError):
    """A prompt could not be completed (after the backend's retries)."""

    def __init__(self, prompt_index: int, message: str) -> None:
        super().__init__(f"prompt {prompt_index}: {message}")
        self.prompt_index = prompt_index
