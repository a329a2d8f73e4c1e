"""What every trainer here shares: the TrainingArguments our params set, and the record of a
training run saved beside the model it made.

`trainer_args(cfg, dir)` is the fields every TRL config (SFT, reward, DPO, GRPO) takes from an
`OptimizerParams` section: seeded (the weights' init, dropout and the data order), no
checkpoints, no hub, no reporting, no progress bars, and `full_determinism` from
`launch.deterministic` (torch's deterministic algorithms; on CPU it changed no weight here, on
a GPU it makes a rerun bit-identical at some speed).

`write_training_record(trainer, dir)` writes `training.json` into the model directory: the
seeds, the libraries and the hardware that made the model, so the record travels with the
model through DVC's cache. A rerun on the same machine writes it byte for byte again (nothing
in it is a time), so the model's hash does not move; another machine's record differs, as
its floating point may.
"""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from mathforge.config import OptimizerParams
from mathforge.io import write_json

RECORD_FILE = "training.json"
LIBRARIES = ("torch", "transformers", "trl", "accelerate", "datasets", "tokenizers", "deepspeed")


def trainer_args(cfg: OptimizerParams, output_dir: Path) -> dict[str, Any]:
    """TrainingArguments fields every TRL config here takes from our params."""
    return {
        "output_dir": str(output_dir),
        "max_steps": cfg.max_steps,
        "per_device_train_batch_size": cfg.batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "learning_rate": cfg.learning_rate,
        "lr_scheduler_type": cfg.lr_scheduler_type,
        "warmup_steps": cfg.warmup_steps,
        "weight_decay": cfg.weight_decay,
        "logging_steps": cfg.logging_steps,
        "logging_first_step": True,
        "eval_strategy": "no",
        "save_strategy": "no",
        "report_to": "none",
        "push_to_hub": False,
        "disable_tqdm": True,
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "full_determinism": cfg.launch.deterministic,
        "use_cpu": cfg.use_cpu,
        "bf16": cfg.bf16,
        "activation_checkpointing": False,
        "dataloader_num_workers": 0,
    }


def training_record(args) -> dict[str, Any]:
    """What made a model, from the trainer's `args` and this process: seeds, precision,
    processes, torch threads, library versions and hardware."""
    import torch

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "seed": args.seed,
        "data_seed": args.data_seed,
        "full_determinism": args.full_determinism,
        "precision": "bf16" if args.bf16 else "fp32",
        "device": args.device.type,
        "processes": args.world_size,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "libraries": {name: _version(name) for name in LIBRARIES},
        "hardware": {
            "machine": platform.machine(),
            "cpu": _cpu_name(),
            "logical_cpus": os.cpu_count(),
            "gpus": gpus,
            "cuda": torch.version.cuda if gpus else None,
        },
    }


def write_training_record(trainer, out_dir: Path) -> None:
    """`training_record` of `trainer`'s run as `out_dir/training.json` (by the main process)."""
    if trainer.is_world_process_zero():
        write_json(training_record(trainer.args), Path(out_dir) / RECORD_FILE)


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:  # an optional extra (deepspeed) not installed
        return None


def _cpu_name() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
