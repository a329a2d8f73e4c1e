"""params.yaml is validated: typos and wrong types fail with the key's name."""

from pathlib import Path

import pytest
import yaml

from mathforge.config import SECTIONS, ParamsError, check_all, load_params, parse_section

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_params_are_valid():
    sections = check_all(ROOT / "params.yaml")
    assert set(sections) == set(SECTIONS)
    assert sections["synthesize"].novelty_threshold == 0.7


def test_unknown_key_names_itself_and_the_allowed_keys():
    with pytest.raises(ParamsError) as err:
        parse_section("synthesize", {"per_subjetc": 10})
    message = str(err.value)
    assert "synthesize.per_subjetc" in message
    assert "per_subject" in message and "hard_fraction" in message


def test_unknown_nested_key_lists_the_nested_allowed_keys():
    with pytest.raises(ParamsError) as err:
        parse_section("synthesize", {"self_instruct": {"endpoint": {"base_ur": "x"}}})
    message = str(err.value)
    assert "synthesize.self_instruct.endpoint.base_ur" in message
    assert "base_url" in message and "api_key_env" in message


def test_wrong_type_and_range_fail_with_the_key():
    with pytest.raises(ParamsError, match=r"synthesize\.per_subject"):
        parse_section("synthesize", {"per_subject": "many"})
    with pytest.raises(ParamsError, match=r"split\.eval_fraction"):
        parse_section("split", {"eval_fraction": 1.5})
    with pytest.raises(ParamsError, match="eval_fraction \\+ test_fraction"):
        parse_section("split", {"eval_fraction": 0.6, "test_fraction": 0.5})


def test_unknown_section_is_an_error(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["synthesise"] = {}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(ParamsError, match="synthesise"):
        check_all(path)


def test_load_params_reads_one_section(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("split:\n  seed: 7\n")
    assert load_params("split", path).seed == 7


def test_every_field_documents_itself():
    def walk(model):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            sub = field.annotation
            if isinstance(sub, type) and hasattr(sub, "model_fields"):
                walk(sub)

    for model in SECTIONS.values():
        walk(model)


def test_shipped_params_spell_out_every_field():
    """params.yaml is the one source of settings: no field silently takes its default."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())

    def walk(model, values, dotted):
        assert set(values) == set(model.model_fields), dotted
        for name, field in model.model_fields.items():
            if isinstance(field.annotation, type) and hasattr(field.annotation, "model_fields"):
                walk(field.annotation, values[name], f"{dotted}.{name}")

    for section, model in SECTIONS.items():
        walk(model, raw[section], section)


def test_dvc_yaml_params_cover_exactly_what_each_stage_reads():
    """A param change reruns exactly the stages whose section it belongs to."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for section, model in SECTIONS.items():
        declared = {p.split(".", 1)[1] for p in stages[section]["params"]}
        assert declared == set(model.model_fields), section
