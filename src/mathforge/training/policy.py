"""What the policy stages after RFT share (`dpo`, `grpo`): the init model's check, its prompt
setting carried over, the manifest of a policy trained from another policy directory, and the
training curve read from TRL's log history."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from mathforge.contracts.pairs import PAIRS
from mathforge.contracts.policies import POLICY_MODELS
from mathforge.errors import UserError
from mathforge.io import write_json
from mathforge.modeling import PROMPT_FILE
from mathforge.modeling.manifest import write_trained_manifest
from mathforge.stage import Stage, atomic_dir


def curve_from_log(log_history: list[dict[str, Any]], keys: dict[str, str]) -> list[dict]:
    """One entry per logging step of TRL's `state.log_history`: `step` and each of `keys`
    (column name -> the trainer's log key), for the entries that have the first key."""
    first = next(iter(keys.values()))
    return [
        {"step": int(e["step"]), **{col: float(e[key]) for col, key in keys.items() if key in e}}
        for e in log_history
        if first in e and "step" in e
    ]


def curve_csv(curve: list[dict[str, float]], columns: list[str]) -> str:
    """The training curve as a stage's plot file: step, then `columns` (empty where a logging
    step lacks one)."""
    lines = [",".join(["step", *columns])]
    for point in curve:
        cells = [str(point["step"])]
        cells += [f"{point[c]:.6g}" if c in point else "" for c in columns]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def check_init_model(path: Path) -> None:
    """The init model directory exists and holds a model (the rft stage's output)."""
    if not path.is_dir():
        raise UserError(f"init model {path} not found (run `dvc repro rft`)")
    if not (path / "config.json").is_file() and not (path / "pretrained.json").is_file():
        raise UserError(f"init model {path} has no config.json: not a model directory "
                        "(run `dvc repro rft`)")  # fmt: skip


def copy_prompt_setting(init_model: Path, out: Path, system: bool) -> None:
    """The init model's prompt file (sampling and evaluation build their prompts the way the
    model was trained), or, where it has none (the default: with the system message), that
    setting written out."""
    if (init_model / PROMPT_FILE).is_file():
        shutil.copy(init_model / PROMPT_FILE, out / PROMPT_FILE)
    else:
        write_json({"system_prompt": system}, out / PROMPT_FILE)


def read_pairs(path: Path, needed: list[str], allow_empty: bool = False) -> pl.DataFrame:
    """The `needed` columns of the pairs table at `path`, checked against its contract; a table
    with no pair is an error naming the stage to run, unless `allow_empty`."""
    if path.is_file() and pl.scan_parquet(path).select(pl.len()).collect().item() == 0:
        if allow_empty:
            return PAIRS.empty().select(needed)
        raise UserError(f"{path} has no pairs: nothing to learn from (run `dvc repro pairs`)")
    return PAIRS.read(path, needed)


def train_policy(
    stage: Stage,
    cfg,
    init_model: Path,
    out_dir: Path,
    eval_split: pl.DataFrame,
    probe_question: str,
    train: Callable[[str, Path, bool], tuple[dict[str, Any], list[dict]]],
    examples: str,
) -> tuple[dict[str, Any], list[dict], str, float]:
    """What the policy stages after RFT do around their trainer: in a scratch directory that
    replaces `out_dir` only when all of it succeeds, `train(model_path, out, system)` (the
    init model's prompt setting), the prompt file, the manifest (`examples`: the metrics key
    of what it learned from) after a generate check, and held-out accuracy on `eval_split`
    (`cfg.accuracy_problems`, `cfg.seed`: the problems sft measures). Returns the metrics
    (with model, init_model, system_prompt), the curve, what the reloaded model generated, and
    the training seconds (printed by the stage, not written to its metrics)."""
    from mathforge.evaluation import heldout_accuracy
    from mathforge.grading import sandbox_isolation
    from mathforge.modeling import resolve_model_path, uses_system_prompt
    from mathforge.solution import solve_prompt

    with atomic_dir(out_dir) as tmp:
        system = uses_system_prompt(init_model)
        metrics, curve = train(resolve_model_path(init_model), tmp, system)
        seconds = metrics.pop("seconds")
        copy_prompt_setting(init_model, tmp, system)
        probe = solve_prompt(probe_question, system=system)
        sample = write_trained_manifest(
            stage, tmp, out_dir.name, init_model, system, metrics[examples], probe, POLICY_MODELS
        )
        metrics |= heldout_accuracy(tmp, eval_split, cfg)
        stage.uses_sandbox(sandbox_isolation(cfg.sandbox))
    metrics |= {"model": out_dir.name, "init_model": str(init_model), "system_prompt": system}
    return metrics, curve, sample, seconds
