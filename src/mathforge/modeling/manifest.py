"""The manifest row a training stage writes beside the model it saved (contract `models`, or
`policy_models` for the policies trained from another policy: rft, dpo, grpo)."""

from __future__ import annotations

from pathlib import Path

from mathforge.contracts import Table
from mathforge.contracts.models import MANIFEST_FILE, MODELS
from mathforge.errors import UserError
from mathforge.io import write_parquet
from mathforge.stage import Stage


def check_generates(model_dir: Path, chat: list[dict[str, str]]) -> str:
    """Reload the saved model the way sampling will and decode a few tokens of `chat`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    inputs = tokenizer.apply_chat_template(
        chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    if out.shape[1] <= inputs["input_ids"].shape[1]:
        raise UserError(f"{model_dir}: reloaded model generated nothing")
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1] :])


def write_trained_manifest(
    stage: Stage,
    model_dir: Path,
    name: str,
    parent: Path,
    system: bool,
    examples: int,
    probe: list[dict[str, str]],
    table: Table = MODELS,
) -> str:
    """Reload the trained model in `model_dir`, check it generates for the chat `probe`,
    describe it in one validated row of `table` (stage, parent, size, prompt setting, examples)
    and write that as its manifest; returns what it generated."""
    from transformers import AutoModelForCausalLM

    sample = check_generates(model_dir, probe)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    manifest = table.frame(
        [
            {
                "stage": stage.name,
                "model": name,
                "kind": "built",
                "parent": str(parent),
                "parameters": sum(p.numel() for p in model.parameters()),
                "vocab_size": model.config.vocab_size,
                "system_prompt": system,
                "examples": examples,
                "load_check": "generate",
            }
        ]
    )
    stage.validate(manifest, table, row_count=1)
    write_parquet(manifest, model_dir / MANIFEST_FILE)
    return sample
