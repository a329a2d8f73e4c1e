"""The training stages' launchers (mathforge.launch, configs/): the shipped accelerate and
DeepSpeed configs validate, a config that disagrees with `launch.launcher` or a broken ZeRO
JSON is an error naming the file, and dvc.yaml launches exactly the training stages through
`accelerate launch --config_file ${launch.config}`. The single-process path itself runs in
the end-to-end test (pretrain and sft under `dvc repro`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from mathforge.config import LaunchParams
from mathforge.launch import launch_errors

ROOT = Path(__file__).resolve().parents[1]
TRAINING_STAGES = {"pretrain", "sft", "critique_train", "reward_train", "rft", "dpo", "grpo"}


@pytest.mark.parametrize(
    ("launcher", "config"),
    [
        ("single", "configs/accelerate/single.yaml"),
        ("deepspeed", "configs/accelerate/deepspeed_zero2.yaml"),
        ("deepspeed", "configs/accelerate/deepspeed_zero3.yaml"),
        ("deepspeed", "configs/accelerate/deepspeed_zero2_multinode.yaml"),
    ],
)
def test_the_shipped_configs_validate(launcher, config):
    assert (
        launch_errors(LaunchParams(launcher=launcher, config=config, deterministic=True), ROOT)
        == []
    )


def test_a_multinode_hostfile_must_match_the_machines_and_processes(tmp_path):
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    cfg = LaunchParams(
        launcher="deepspeed", config="configs/accelerate/deepspeed_zero2_multinode.yaml",
        deterministic=False,
    )  # fmt: skip
    hostfile = tmp_path / "configs/deepspeed/hostfile"
    hostfile.write_text("node-0 slots=8\nnode-1 slots=4\n")
    (error,) = launch_errors(cfg, tmp_path)
    assert "2 hosts with 12 slots" in error and "num_processes 16" in error
    hostfile.write_text("node-0 slots=8\nnode-1 8\n")
    (error,) = launch_errors(cfg, tmp_path)
    assert error.startswith("configs/deepspeed/hostfile:2: 'node-1 8'")
    hostfile.unlink()
    (error,) = launch_errors(cfg, tmp_path)
    assert "num_machines 2 wants deepspeed_hostfile" in error


def test_the_shipped_zero_configs_are_zero_2_and_3():
    for stage in (2, 3):
        ds = json.loads((ROOT / f"configs/deepspeed/zero{stage}.json").read_text())
        assert ds["zero_optimization"]["stage"] == stage
        assert ds["train_micro_batch_size_per_gpu"] == "auto"  # the Trainer's batch size


@pytest.mark.parametrize(
    ("launcher", "config", "message"),
    [
        ("single", "configs/accelerate/deepspeed_zero2.yaml", "distributed_type DEEPSPEED"),
        ("deepspeed", "configs/accelerate/single.yaml", "distributed_type NO"),
        ("single", "configs/accelerate/missing.yaml", "no such file"),
    ],
)
def test_a_config_that_disagrees_is_an_error(launcher, config, message):
    (error,) = launch_errors(
        LaunchParams(launcher=launcher, config=config, deterministic=True), ROOT
    )
    assert message in error and config in error


@pytest.fixture
def copied(tmp_path):
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    return tmp_path


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_broken_zero_configs_are_errors(copied):
    zero2 = LaunchParams(
        launcher="deepspeed", config="configs/accelerate/deepspeed_zero2.yaml", deterministic=True
    )
    _edit_json(copied / "configs/deepspeed/zero2.json",
               lambda d: d["zero_optimization"].update(stage=1))  # fmt: skip
    assert "ZeRO-2 or ZeRO-3 wanted" in " ".join(launch_errors(zero2, copied))
    _edit_json(copied / "configs/deepspeed/zero2.json",
               lambda d: (d["zero_optimization"].update(stage=2),
                          d.update(train_micro_batch_size_per_gpu=0)))  # fmt: skip
    assert "train_micro_batch_size_per_gpu is 0" in " ".join(launch_errors(zero2, copied))
    (copied / "configs/deepspeed/zero2.json").write_text("{not json")
    assert "not JSON" in " ".join(launch_errors(zero2, copied))
    zero3 = copied / "configs/accelerate/deepspeed_zero3.yaml"
    raw = yaml.safe_load(zero3.read_text())
    raw["deepspeed_config"]["zero3_init_flag"] = False
    zero3.write_text(yaml.safe_dump(raw))
    errors = launch_errors(
        LaunchParams(
            launcher="deepspeed",
            config="configs/accelerate/deepspeed_zero3.yaml",
            deterministic=True,
        ),
        copied,
    )
    assert errors == [
        "launch.config configs/accelerate/deepspeed_zero3.yaml: ZeRO-3 wants "
        "deepspeed_config.zero3_init_flag: true"
    ]


def test_dvc_yaml_launches_exactly_the_training_stages():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    launched = set()
    for name, stage in stages.items():
        definition = stage.get("do", stage)
        if definition["cmd"].startswith("accelerate launch --config_file ${launch.config} -m "):
            launched.add(name)
            assert "launch" in definition["params"] and "configs/accelerate" in definition["deps"]
        else:
            assert definition["cmd"].startswith("python -m stages."), name
    assert launched == TRAINING_STAGES
