"""The launchers the training stages run under: `accelerate launch --config_file
${launch.config}` in dvc.yaml, with the configs shipped in configs/accelerate/ (and the
DeepSpeed ZeRO JSONs they name in configs/deepspeed/). `mathforge check` validates them
here, before DVC runs a stage: the file loads as an accelerate config, its
`distributed_type` agrees with `launch.launcher`, and a DeepSpeed config names a ZeRO JSON
that parses with ZeRO stage 2 or 3. DeepSpeed itself (the gpu extra) is not needed to check.
"""

from __future__ import annotations

import json
from pathlib import Path

from mathforge.config import LaunchParams

DISTRIBUTED = {"single": "NO", "deepspeed": "DEEPSPEED"}
BATCH_KEYS = ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps")


def launch_errors(cfg: LaunchParams, root: Path) -> list[str]:
    """What is wrong with the launch section's config file (paths relative to `root`)."""
    from accelerate.commands.config.config_args import load_config_from_file

    path = Path(root) / cfg.config
    where = f"launch.config {cfg.config}"
    if not path.is_file():
        return [f"{where}: no such file (the shipped ones: configs/accelerate/*.yaml)"]
    try:
        loaded = load_config_from_file(str(path))
    except Exception as err:  # accelerate raises ValueError/TypeError/YAMLError
        return [f"{where}: not an accelerate config: {err}"]
    kind = str(getattr(loaded.distributed_type, "value", loaded.distributed_type))
    if kind != DISTRIBUTED[cfg.launcher]:
        return [
            f"{where}: distributed_type {kind}, but launch.launcher is {cfg.launcher} "
            f"(wants {DISTRIBUTED[cfg.launcher]})"
        ]
    if cfg.launcher == "single":
        processes = loaded.num_processes
        return [] if processes == 1 else [f"{where}: num_processes {processes}, single wants 1"]
    section = loaded.deepspeed_config or {}
    problems = deepspeed_errors(section, root, where)
    if loaded.num_machines > 1:
        problems += hostfile_errors(section, loaded, root, where)
    return problems


def hostfile_errors(section: dict, loaded, root: Path, where: str) -> list[str]:
    """Past one node: DeepSpeed's hostfile (`deepspeed_hostfile`, lines `host slots=N`) names
    `num_machines` hosts whose slots add up to `num_processes`."""
    name = section.get("deepspeed_hostfile")
    path = Path(root) / name if name else None
    if path is None or not path.is_file():
        return [f"{where}: num_machines {loaded.num_machines} wants deepspeed_hostfile, a file"]
    slots = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        host, _, count = line.partition(" slots=")
        if not count.strip().isdigit():
            return [f"{name}:{n}: '{line}' is not 'host slots=N'"]
        slots[host.strip()] = int(count)
    if len(slots) != loaded.num_machines or sum(slots.values()) != loaded.num_processes:
        return [
            f"{name}: {len(slots)} hosts with {sum(slots.values())} slots, but {where} has "
            f"num_machines {loaded.num_machines} and num_processes {loaded.num_processes}"
        ]
    return []


def deepspeed_errors(section: dict, root: Path, where: str) -> list[str]:
    """A DeepSpeed accelerate config's `deepspeed_config` names a ZeRO JSON that parses, has
    ZeRO stage 2 or 3, and leaves the batch sizes to the Trainer ("auto") or sets integers."""
    name = section.get("deepspeed_config_file")
    if not name:
        return [f"{where}: deepspeed_config.deepspeed_config_file is not set"]
    path = Path(root) / name
    if not path.is_file():
        return [f"{where}: deepspeed_config_file {name}: no such file"]
    try:
        ds = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        return [f"{name}: not JSON: {err}"]
    problems = []
    stage = ds.get("zero_optimization", {}).get("stage")
    if stage not in (2, 3):
        problems.append(f"{name}: zero_optimization.stage is {stage!r}; ZeRO-2 or ZeRO-3 wanted")
    for key in BATCH_KEYS:
        value = ds.get(key, "auto")
        if value != "auto" and not (isinstance(value, int) and value >= 1):
            problems.append(f'{name}: {key} is {value!r}; "auto" or a positive integer')
    if stage == 3 and section.get("zero3_init_flag") is not True:
        problems.append(f"{where}: ZeRO-3 wants deepspeed_config.zero3_init_flag: true")
    return problems
