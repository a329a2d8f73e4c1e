"""Params profiles (mathforge.profiles, configs/profiles/): `mathforge profile` lays one over
params.yaml with its comments kept and checks the result; the GPU profile validates on CPU."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from profiles import TINY, tiny_params
from typer.testing import CliRunner

from mathforge.cli import app
from mathforge.config import ParamsError, check_all, load_params
from mathforge.launch import launch_errors
from mathforge.profiles import apply_profile, with_profile

ROOT = Path(__file__).resolve().parents[1]
GPU = ROOT / "configs/profiles/gpu.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """params.yaml, dvc.yaml and configs/ as the repository has them."""
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    return tmp_path


def profile(name: str, root: Path):
    """`mathforge profile <name> --root <root>` (a path relative to the root, as a user types
    it there)."""
    return CliRunner().invoke(app, ["profile", str(root / name), "--root", str(root)])


def test_the_gpu_profile_switches_params_yaml_in_one_command(repo):
    before = (repo / "params.yaml").read_text()
    result = profile("configs/profiles/gpu.yaml", repo)
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())  # rich wraps long lines
    assert re.search(r"dvc.yaml: ok \(\d+ sections\)", out)  # then `mathforge check` passed
    after = (repo / "params.yaml").read_text()
    # params.yaml's own comments stay where they were
    comment = "# Every knob of the pipeline, and the only place its value is written"
    assert after.startswith(comment) and before.startswith(comment)
    assert "  n: 100                         # paths per problem and model" in after
    sections = check_all(repo / "params.yaml")
    sample = sections["sample"]
    assert (sample.n, sample.workers, sample.engine.backend) == (100, 1, "vllm")
    assert sample.engine.data_parallel_size == 8
    # the engine's transformers keys are gone: another backend replaces the mapping whole
    assert "device" not in yaml.safe_load(after)["sample"]["engine"]
    assert sections["critique_label"].judge.backend == "openai"
    models = sections["base"].models
    assert models["policy_small"].pretrained == "Qwen/Qwen2.5-1.5B-Instruct"
    assert models["policy_small"].hidden_size is None and models["policy_small"].system_prompt
    sft = load_params("sft", repo / "params.yaml")
    assert (sft.use_cpu, sft.bf16, sft.launch.launcher, sft.launch.deterministic) == (
        False, True, "deepspeed", False
    )  # fmt: skip
    assert launch_errors(sections["launch"], repo) == []
    # what the profile does not name keeps the CPU demo's value
    assert sections["diversity"].k == check_all(ROOT / "params.yaml")["diversity"].k


def test_every_training_and_generating_section_leaves_the_cpu_on_the_gpu_profile():
    params = with_profile(
        yaml.safe_load((ROOT / "params.yaml").read_text()), yaml.safe_load(GPU.read_text())
    )
    for section in (
        "pretrain",
        "sft",
        "critique_model",
        "reward",
        "rft",
        "dpo",
        "grpo",
        "evaluate",
    ):
        assert params[section]["use_cpu"] is False, section
        assert params[section]["threads"] is None, section
        if section != "evaluate":
            assert params[section]["bf16"] is True, section


def test_a_profile_with_a_bad_key_names_it_and_writes_nothing(repo):
    before = (repo / "params.yaml").read_bytes()
    bad = repo / "bad.yaml"
    bad.write_text("sample:\n  n: 100\n  enigne: {backend: vllm}\n")
    with pytest.raises(ParamsError, match="'sample.enigne'") as err:
        apply_profile(bad, repo / "params.yaml")
    assert "nothing written" in str(err.value) and str(repo / "params.yaml") in str(err.value)
    assert (repo / "params.yaml").read_bytes() == before
    assert sorted(p.name for p in repo.iterdir()) == [
        "bad.yaml",
        "configs",
        "dvc.yaml",
        "params.yaml",
    ]
    result = profile("bad.yaml", repo)
    assert result.exit_code == 1 and "enigne" in result.output
    assert (repo / "params.yaml").read_bytes() == before


def test_the_tiny_profile_by_command_is_the_tests_tiny_params(repo):
    result = profile("configs/profiles/tiny.yaml", repo)
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((repo / "params.yaml").read_text()) == tiny_params()
    assert TINY["sample"]["n"] == 2  # the file the tests read is the one the command laid


def test_a_mapping_naming_another_backend_replaces_the_old_one():
    params = {"engine": {"backend": "transformers", "device": "cpu", "threads": 1}, "n": 8}
    same = with_profile(params, {"engine": {"threads": 2}})
    assert same["engine"] == {"backend": "transformers", "device": "cpu", "threads": 2}
    other = with_profile(params, {"engine": {"backend": "vllm", "tensor_parallel_size": 2}})
    assert other == {"engine": {"backend": "vllm", "tensor_parallel_size": 2}, "n": 8}
    assert params["engine"]["threads"] == 1  # the input is left as it was
