"""params.yaml is validated: typos and wrong types fail with the key's name, and params.yaml
is the only place a value is written (the typed configs have no defaults)."""

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from mathforge.config import (
    SECTIONS,
    ParamsError,
    TransformersBackendParams,
    VLLMBackendParams,
    check_all,
    dvc_params_errors,
    load_params,
    parse_section,
)

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"


def models_in(annotation) -> list[type[BaseModel]]:
    """The params models an annotation holds (a model, a union of backends, a dict of models)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in models_in(arg)]


def walk(model: type[BaseModel]):
    yield model
    for field in model.model_fields.values():
        for sub in models_in(field.annotation):
            yield from walk(sub)


def write_params(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load(PARAMS.read_text())
    edit(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_shipped_params_are_valid():
    sections = check_all(PARAMS)
    assert set(sections) == set(SECTIONS)
    assert sections["synthesize"].novelty_threshold == 0.7
    assert sections["sample"].sandbox == sections["sft"].sandbox == sections["sandbox"]


def test_no_field_has_a_default():
    """params.yaml is the one place a value is written: a key it lacks is an error, never a
    silent default (SFT's max_steps once said 100 here and 300 there)."""
    for section in SECTIONS.values():
        for model in walk(section):
            defaulted = [name for name, f in model.model_fields.items() if not f.is_required()]
            assert not defaulted, f"{model.__name__} has defaults: {defaulted}"


def test_every_field_documents_itself():
    for section in SECTIONS.values():
        for model in walk(section):
            for name, field in model.model_fields.items():
                assert field.description, f"{model.__name__}.{name} has no description"


def test_overrides_lay_over_the_repo_params():
    cfg = load_params("sample", PARAMS, {"n": 2, "pass_k": [1, 2], "sandbox": {"timeout_s": 2.0}})
    assert (cfg.n, cfg.pass_k, cfg.sandbox.timeout_s) == (2, [1, 2], 2.0)
    assert cfg.sandbox.memory_mb == load_params("sandbox", PARAMS).memory_mb
    assert cfg.max_problems == yaml.safe_load(PARAMS.read_text())["sample"]["max_problems"]


def test_unknown_key_names_itself_the_allowed_keys_and_the_closest():
    with pytest.raises(ParamsError) as err:
        load_params("synthesize", PARAMS, {"per_subjetc": 10})
    message = str(err.value)
    assert "unknown key 'synthesize.per_subjetc'" in message
    assert "per_subject" in message and "hard_fraction" in message
    assert "did you mean 'per_subject'?" in message
    assert "sandbox" not in message.split("allowed keys:")[1]  # not a key of this section


def test_a_missing_key_is_an_error_with_what_it_does():
    with pytest.raises(ParamsError, match=r"missing key 'split\.seed' \(random seed"):
        parse_section("split", {k: v for k, v in load_params("split", PARAMS) if k != "seed"})


def test_unknown_nested_key_lists_the_nested_allowed_keys():
    with pytest.raises(ParamsError) as err:
        load_params("synthesize", PARAMS, {"self_instruct": {"endpoint": {"base_ur": "x"}}})
    message = str(err.value)
    assert "synthesize.self_instruct.endpoint.base_ur" in message
    assert "base_url" in message and "api_key_env" in message


def test_each_backend_takes_only_its_own_keys():
    with pytest.raises(ParamsError) as err:  # an openai key in the sample engine
        load_params("sample", PARAMS, {"engine": {"base_url": "http://x"}})
    assert "unknown key 'sample.engine.base_url'; allowed keys: backend, device" in str(err.value)
    with pytest.raises(ParamsError, match="sample.engine"):  # sample runs its own models
        load_params("sample", PARAMS, {"engine": {"backend": "openai"}})
    vllm = {
        "backend": "vllm",
        "tensor_parallel_size": 2,
        "data_parallel_size": 1,
        "gpu_memory_utilization": 0.8,
        "max_model_len": None,
    }
    raw = yaml.safe_load(PARAMS.read_text())["sample"]
    shared = {"sandbox": load_params("sandbox", PARAMS)}
    engine = parse_section("sample", {**raw, "engine": vllm, "workers": 1}, shared)
    assert isinstance(engine.engine, VLLMBackendParams) and not hasattr(engine.engine, "model_path")
    with pytest.raises(ParamsError, match="workers: 2 runs copies of a model side by side"):
        parse_section(
            "sample", {**raw, "engine": vllm, "workers": 2}, shared
        )  # vllm spreads itself
    assert isinstance(load_params("sample", PARAMS).engine, TransformersBackendParams)


def test_sandbox_is_written_once_at_the_top_level(tmp_path):
    with pytest.raises(ParamsError, match="'sample.sandbox' is set once"):
        parse_section("sample", {"sandbox": {}}, {"sandbox": {}})
    path = write_params(tmp_path, lambda raw: raw.pop("sandbox"))
    with pytest.raises(ParamsError, match="section 'sandbox' is missing"):
        load_params("sft", path)


def test_wrong_type_and_range_fail_with_the_key():
    with pytest.raises(ParamsError, match=r"synthesize\.per_subject"):
        load_params("synthesize", PARAMS, {"per_subject": "many"})
    with pytest.raises(ParamsError, match=r"split\.eval_fraction"):
        load_params("split", PARAMS, {"eval_fraction": 1.5})
    with pytest.raises(ParamsError, match="eval_fraction \\+ test_fraction"):
        load_params("split", PARAMS, {"eval_fraction": 0.6, "test_fraction": 0.5})


def test_check_all_reports_every_error_with_the_file(tmp_path):
    def edit(raw):
        raw["synthesise"] = {}
        raw["sample"]["nn"] = raw["sample"].pop("n")
        raw["sandbox"]["timeout_s"] = -1

    path = write_params(tmp_path, edit)
    with pytest.raises(ParamsError) as err:
        check_all(path)
    message = str(err.value)
    assert f"{path}: unknown section 'synthesise'" in message and "'synthesize'?" in message
    assert "unknown key 'sample.nn'" in message and "did you mean 'n'?" in message
    assert "missing key 'sample.n'" in message
    assert message.count("sandbox.timeout_s") == 1  # under sandbox, not again per stage


def test_dvc_params_references_must_exist(tmp_path):
    assert dvc_params_errors(ROOT / "dvc.yaml", PARAMS) == []
    path = write_params(tmp_path, lambda raw: raw["sample"].update(nn=raw["sample"].pop("n")))
    (error,) = dvc_params_errors(ROOT / "dvc.yaml", path)
    assert "stage sample depends on param 'sample.n'" in error
    assert "did you mean 'sample.nn'?" in error


# Sections read by stages whose names do not start with the section's.
READERS = {"critique_model": ["critique_score", "critique_train"]}
# Whole other sections a stage also reads: critique_score with critique_model.critic: judge
# runs critique_label's judge, in the sandbox.
ALSO_READS = {"critique_score": {"critique_label", "sandbox"}}


def test_dvc_yaml_params_cover_exactly_what_each_stage_reads():
    """A param change reruns exactly the stages whose section (or shared section) it is in."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for section, model in SECTIONS.items():
        if any(section in m.shared for m in SECTIONS.values()) and section not in stages:
            continue  # a shared section (sandbox, domain): no stage of its own
        # A section read by several stages (reward: reward_train, reward_score) is split
        # between them: each names the keys it reads, and together they name every key.
        readers = [section] if section in stages else sorted(
            name for name in stages if name.startswith(f"{section}_")
        ) or READERS.get(section, [])  # fmt: skip
        assert readers, f"no dvc.yaml stage reads section {section}"
        own = {f"{section}.{name}" for name in model.model_fields if name not in model.shared}
        declared = set()
        for name in readers:
            params = set(stages[name].get("do", stages[name])["params"])
            also = ALSO_READS.get(name, set())
            assert also <= params, (name, also - params)  # the exception is still needed
            params -= also
            assert params <= own | set(model.shared), (name, params - own - set(model.shared))
            declared |= params
        assert declared == own | set(model.shared), section
