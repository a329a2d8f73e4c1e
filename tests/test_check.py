"""`mathforge check` validates params.yaml and dvc.yaml's params before DVC touches anything."""

import re
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mathforge.cli import app

ROOT = Path(__file__).resolve().parents[1]


def repo_copy(tmp_path: Path) -> Path:
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "configs", tmp_path / "configs")  # the launchers launch.config names
    return tmp_path


def test_a_launcher_config_that_disagrees_fails(tmp_path):
    root = repo_copy(tmp_path)
    params = root / "params.yaml"
    text = params.read_text()
    params.write_text(text.replace("  launcher: single ", "  launcher: deepspeed ", 1))
    result = check(root)
    assert result.exit_code == 1
    out = " ".join(result.output.split())  # rich may wrap long lines
    assert "distributed_type NO, but launch.launcher is deepspeed" in out


def check(root: Path):
    return CliRunner().invoke(app, ["check", "--root", str(root)])


def test_shipped_params_pass(tmp_path):
    result = check(repo_copy(tmp_path))
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_a_renamed_key_fails_with_file_key_allowed_keys_and_closest_match(tmp_path):
    root = repo_copy(tmp_path)
    params = root / "params.yaml"
    text = params.read_text()
    typo = re.sub(r"\n  n: (\d+) ", r"\n  nn: \1 ", text, count=1)  # the typo of the issue
    assert typo != text
    params.write_text(typo)
    result = check(root)
    assert result.exit_code == 1
    out = " ".join(result.output.split())  # rich may wrap long lines
    assert f"{params}: section 'sample' is invalid" in out
    assert "unknown key 'sample.nn'; allowed keys: seed, n, temperature" in out
    assert "did you mean 'n'?" in out
    assert "missing key 'sample.n'" in out
    assert "stage sample depends on param 'sample.n'" in out  # dvc.yaml's reference too


def test_a_model_directory_left_behind_is_reported(tmp_path):
    root = repo_copy(tmp_path)
    (root / "models/sft/policy_gone").mkdir(parents=True)
    (root / "models/sft/.policy_small.tmp").mkdir()  # a crashed sft's scratch: not a model
    result = check(root)
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "policy_gone: not in" in out and "tmp" not in out.replace(str(tmp_path), "")


@pytest.mark.parametrize("key", ["pretrain.max_steps_by_model", "sample.temperature_by_model"])
def test_a_per_model_setting_for_a_model_not_in_base_models_is_reported(tmp_path, key):
    root = repo_copy(tmp_path)
    params = root / "params.yaml"
    raw = yaml.safe_load(params.read_text())
    section, field = key.split(".")
    raw[section][field] = {"policy_tinny": 1}
    params.write_text(yaml.safe_dump(raw))
    result = check(root)
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert f"{key}: 'policy_tinny' is not in base.models" in out
    assert "did you mean 'policy_tiny'?" in out
