"""The model-directory contract every stage after `base` reads.

A model directory (``models/base/<m>``, ``models/sft/<m>``, later RFT/DPO outputs) holds
either a ``save_pretrained`` model with its tokenizer, or ``pretrained.json`` naming a
pretrained model (GPU profile; nothing downloaded here). Either may carry
``mathforge_prompt.json``: whether prompts for this model open with the format-teaching
system message (sft copies it, so sampling builds prompts the way the model was trained).
"""

from __future__ import annotations

import json
from pathlib import Path

POINTER_FILE = "pretrained.json"
PROMPT_FILE = "mathforge_prompt.json"  # how prompts for this model are built; copied by sft


def uses_system_prompt(path: str | Path) -> bool:
    """Whether prompts for the model in `path` carry the system message (default: yes)."""
    settings = Path(path) / PROMPT_FILE
    if not settings.is_file():
        return True
    return bool(json.loads(settings.read_text(encoding="utf-8"))["system_prompt"])


def resolve_model_path(path: str | Path) -> str:
    """What `from_pretrained` takes for a base model directory: the pretrained name or the dir."""
    pointer = Path(path) / POINTER_FILE
    if pointer.is_file():
        return str(json.loads(pointer.read_text(encoding="utf-8"))["pretrained"])
    return str(path)
