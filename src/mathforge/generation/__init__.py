"""Text generation behind one small interface; see :mod:`mathforge.generation.base`.

Backends: ``openai`` (any OpenAI-compatible endpoint), ``transformers`` (a local
model, CPU or GPU) and ``vllm`` (a local model on GPUs through vLLM's offline
engine, tensor and data parallel). Each module is imported only when its backend
is chosen: vllm is in the GPU extra only, and the CPU install has no vllm.
"""

from __future__ import annotations

from mathforge.config import (
    OpenAIBackendParams,
    ParamsError,
    TransformersBackendParams,
    VLLMBackendParams,
)
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


def build_generator(
    cfg: OpenAIBackendParams | TransformersBackendParams | VLLMBackendParams,
    model_path: str | None = None,
) -> TextGenerator:
    """The backend `cfg` configures; its module is imported here only. A local backend
    (transformers, vllm) loads `model_path`, or the config's own `model_path` when it has one
    (synthesize's endpoint); the sample stage passes each of its model directories."""
    if isinstance(cfg, OpenAIBackendParams):
        from mathforge.generation.openai_backend import OpenAIChatGenerator

        return OpenAIChatGenerator.from_params(cfg)
    path = model_path or getattr(cfg, "model_path", None)
    if path is None:
        raise ParamsError(f"the {cfg.backend} backend needs a model_path")
    if isinstance(cfg, TransformersBackendParams):
        from mathforge.generation.transformers_backend import TransformersGenerator

        return TransformersGenerator.from_params(cfg, path)
    if isinstance(cfg, VLLMBackendParams):
        from mathforge.generation.vllm_backend import VLLMGenerator

        return VLLMGenerator.from_params(cfg, path)
    raise ValueError(f"unknown generation backend {cfg.backend!r}")
