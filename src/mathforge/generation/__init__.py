"""Text generation behind one small interface; see :mod:`mathforge.generation.base`.

Backends: ``openai`` (any OpenAI-compatible endpoint), ``transformers`` (a local
model, CPU or GPU) and ``vllm`` (a local model on GPUs through vLLM's offline
engine, tensor and data parallel). Each module is imported only when its backend
is chosen: vllm is in the GPU extra only, and the CPU install has no vllm.
"""

from __future__ import annotations

from mathforge.config import LLMBackendParams
from mathforge.generation.base import (
    Chat,
    Completion,
    GenerationError,
    SamplingParams,
    TextGenerator,
)

__all__ = [
    "Chat",
    "Completion",
    "GenerationError",
    "SamplingParams",
    "TextGenerator",
    "build_generator",
]


def build_generator(cfg: LLMBackendParams) -> TextGenerator:
    """The backend `cfg.backend` names, configured from `cfg`; its module is imported here only."""
    if cfg.backend == "openai":
        from mathforge.generation.openai_backend import OpenAIChatGenerator

        return OpenAIChatGenerator.from_params(cfg)
    if cfg.backend == "transformers":
        from mathforge.generation.transformers_backend import TransformersGenerator

        return TransformersGenerator.from_params(cfg)
    if cfg.backend == "vllm":
        from mathforge.generation.vllm_backend import VLLMGenerator

        return VLLMGenerator.from_params(cfg)
    raise ValueError(f"unknown generation backend {cfg.backend!r}")
