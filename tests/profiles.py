"""The tiny profile: the repository's params.yaml shrunk so a stage, or the whole pipeline,
runs in seconds on CPU. Every stage test and the end-to-end test take their params here."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "synthesize": {"per_subject": 12, "ood_per_subject": 4},
    "corpus": {"problems": 60},
    "pretrain": {
        "max_steps": 2, "batch_size": 4, "heldout_rows": 8, "logging_steps": 1,
        "accuracy_problems": 4, "eval_max_tokens": 16, "threads": 1,
    },
    "sft": {
        "max_steps": 2, "max_examples": 16, "eval_examples": 4, "logging_steps": 1,
        "accuracy_problems": 4, "eval_max_tokens": 32,
    },
    # one worker: a spawned worker costs seconds of imports (tests compare 1 and 2 workers)
    "sample": {
        "max_problems": 12, "n": 2, "shard_size": 2, "max_tokens": 32, "pass_k": [1, 2],
        "workers": 1,
    },
    "reward": {
        "max_steps": 2, "batch_size": 2, "logging_steps": 1, "max_pairs_per_problem": 4,
        "score_batch_size": 8, "histogram_bins": 4,
    },
    "rft": {
        "max_steps": 2, "batch_size": 4, "logging_steps": 1, "accuracy_problems": 4,
        "eval_max_tokens": 16,
    },
    "critique_model": {
        "max_steps": 2, "batch_size": 2, "logging_steps": 1, "threads": 1, "max_new_tokens": 16,
        "generate_batch_size": 8,
    },
    "dpo": {
        "max_steps": 2, "batch_size": 2, "logging_steps": 1, "accuracy_problems": 4,
        "eval_max_tokens": 16, "threads": 1,
    },
    "grpo": {
        "max_steps": 2, "batch_size": 2, "num_generations": 2, "max_completion_length": 16,
        "logging_steps": 1, "accuracy_problems": 4, "eval_max_tokens": 16, "threads": 1,
    },
    "evaluate": {"problems": 6, "k": 2, "max_tokens": 16, "workers": 1},
}  # fmt: skip


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`base` with `changes` applied: nested mappings merged key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def tiny_params(params_file: Path = ROOT / "params.yaml", **sections: dict) -> dict[str, Any]:
    """`params_file` (the repository's by default) with the tiny profile, then `sections`
    merged in: `tiny_params(sample={"n": 4, "engine": {"batch_size": 4}})`."""
    params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    return merge(merge(params, TINY), sections)


def write_tiny_params(path: Path, **sections: dict) -> Path:
    """Write `tiny_params(**sections)` to `path` (a params.yaml for a stage's --params)."""
    path.write_text(yaml.safe_dump(tiny_params(**sections), sort_keys=False), encoding="utf-8")
    return path


def question_ids_by_role(n_each: int) -> dict[str, list[str]]:
    """Question ids whose role under the tiny profile's scoring params (`mathforge.scoring`)
    is train, heldout and score, `n_each` of each."""
    from mathforge.scoring import scoring_role

    scoring = tiny_params()["scoring"]
    roles = (scoring["fit_fraction"], scoring["heldout_fraction"], scoring["seed"])
    found: dict[str, list[str]] = {"train": [], "heldout": [], "score": []}
    i = 0
    while min(len(v) for v in found.values()) < n_each:
        q = f"q_{i:016x}"
        role = scoring_role(q, *roles)
        if len(found[role]) < n_each:
            found[role].append(q)
        i += 1
    return found
