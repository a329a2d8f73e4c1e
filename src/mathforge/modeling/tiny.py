"""Tiny Llama-style causal LMs built from params, and pointers to pretrained ones.

A built model is ``LlamaForCausalLM(LlamaConfig(...))`` with seeded random
weights and our tokenizer's special-token ids; it is saved with
``save_pretrained`` (safetensors + config + generation config) beside the
tokenizer, so ``AutoModelForCausalLM.from_pretrained(dir)`` and
``AutoTokenizer.from_pretrained(dir)`` load it. A pretrained entry (GPU
profile) only writes ``pretrained.json`` naming the model: nothing is
downloaded here; :func:`resolve_model_path` reads it back.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from mathforge.config import BaseModelParams
from mathforge.modeling.directory import POINTER_FILE, PROMPT_FILE


def llama_config(spec: BaseModelParams, tokenizer: PreTrainedTokenizerBase) -> LlamaConfig:
    """The Llama config of a built model: sizes from `spec`, ids and vocab from `tokenizer`."""
    if spec.pretrained is not None:
        raise ValueError(f"{spec.pretrained!r} is pretrained: it has no config to build from")
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=spec.tie_word_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def build_tiny_llama(
    spec: BaseModelParams, tokenizer: PreTrainedTokenizerBase, seed: int
) -> LlamaForCausalLM:
    """A randomly initialised Llama; the same `seed` gives the same weights."""
    config = llama_config(spec, tokenizer)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    generation = model.generation_config
    generation.bos_token_id = tokenizer.bos_token_id
    generation.eos_token_id = tokenizer.eos_token_id
    generation.pad_token_id = tokenizer.pad_token_id
    return model.eval()


def expected_parameter_count(spec: BaseModelParams, vocab_size: int) -> int:
    """Parameters of a built model, from its sizes (Llama: no biases, RMSNorm weights only)."""
    h, i, layers = spec.hidden_size, spec.intermediate_size, spec.num_layers
    assert h is not None and i is not None and layers is not None
    assert spec.num_heads is not None and spec.num_kv_heads is not None
    kv = spec.num_kv_heads * (h // spec.num_heads)
    attention = h * h + 2 * h * kv + h * h  # q, k, v, o projections
    mlp = 3 * h * i  # gate, up, down
    per_layer = attention + mlp + 2 * h  # two RMSNorms
    embeddings = vocab_size * h * (1 if spec.tie_word_embeddings else 2)
    return embeddings + layers * per_layer + h  # final norm


def count_parameters(model: torch.nn.Module) -> int:
    """Distinct parameters (tied weights once)."""
    return sum(p.numel() for p in model.parameters())


def save_base_model(
    out_dir: Path,
    spec: BaseModelParams,
    tokenizer: PreTrainedTokenizerBase,
    seed: int,
) -> dict[str, object]:
    """Write one base model to `out_dir`; returns its metrics entry."""
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = {"system_prompt": spec.system_prompt}
    (out_dir / PROMPT_FILE).write_text(json.dumps(settings) + "\n", encoding="utf-8")
    if spec.pretrained is not None:
        pointer = {"pretrained": spec.pretrained}
        (out_dir / POINTER_FILE).write_text(json.dumps(pointer, indent=2) + "\n", encoding="utf-8")
        return {"pretrained": spec.pretrained}
    model = build_tiny_llama(spec, tokenizer, seed)
    tokenizer.model_max_length = spec.max_position_embeddings
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {"parameters": count_parameters(model), "vocab_size": model.config.vocab_size}
