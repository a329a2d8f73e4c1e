"""Base models of the CPU profile: a BPE tokenizer trained on the data and tiny Llamas.

`tokenizer.py` trains the tokenizer and wraps it as a transformers fast
tokenizer with a chat template; `tiny.py` builds randomly initialised
Llama-style causal LMs from params, or records a pretrained model's name
(GPU profile) without downloading it. `directory.py` is the model-directory
contract: `resolve_model_path` turns either kind of directory into what
`from_pretrained` takes, `uses_system_prompt` says how to prompt it.
"""

from __future__ import annotations

from mathforge.modeling.directory import (
    POINTER_FILE,
    PROMPT_FILE,
    resolve_model_path,
    uses_system_prompt,
)

__all__ = ["POINTER_FILE", "PROMPT_FILE", "resolve_model_path", "uses_system_prompt"]
