"""The base stage: BPE tokenizer (round trip, digits, chat template) and tiny Llamas."""

from __future__ import annotations

import json
import random
from pathlib import Path

import jinja2
import polars as pl
import pytest
import torch
import yaml
from tiny_models import TINY_SPEC
from transformers import AutoModelForCausalLM, AutoTokenizer

from mathforge.config import (
    ARCHITECTURE_FIELDS,
    BaseModelParams,
    BaseParams,
    ParamsError,
    parse_section,
)
from mathforge.errors import UserError
from mathforge.modeling import PROMPT_FILE, resolve_model_path
from mathforge.modeling.directory import POINTER_FILE
from mathforge.modeling.tiny import (
    build_tiny_llama,
    count_parameters,
    expected_parameter_count,
    save_base_model,
)
from mathforge.modeling.tokenizer import (
    EOS,
    fertility,
    round_trip_failures,
    train_bpe,
    wrap_tokenizer,
)
from mathforge.teacher import SUBJECTS, VARIANTS, generate
from stages import base as base_stage

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]

SMALL = {**TINY_SPEC, "max_position_embeddings": 256}
QWEN = {"pretrained": "Qwen/Qwen2.5-0.5B-Instruct", **dict.fromkeys(ARCHITECTURE_FIELDS)}
QWEN["system_prompt"] = True


def base_with(models: dict) -> BaseParams:
    """The repo's base section with `models` in place of its own."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())["base"]
    return parse_section("base", {**raw, "models": models})


# Texts the data never has, but a model may write: the tokenizer must give them back too.
UNSEEN = [
    "def f(x):\n\tif x:\n\t\treturn  x  \n\n\n    pass   ",
    "Ünïcödé — “quotes”, emoji 🧮, CJK 数学, math ∑∫√π ≤ ≥",
    "windows\r\nline endings\r\n",
    "   leading and trailing spaces   ",
    "",
    "0.000123 -98765432101234567890 1e-10 3/4 (2, -3/4) [[1, 2], [3, 4]]",
]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """A few hundred real generated problems and mixed CoT+PoT solutions, all subjects."""
    rng = random.Random(0)
    out: list[str] = []
    for subject, skills in SUBJECTS.items():
        for skill in skills:
            for k in range(6):
                problem = generate(subject, skill, rng, VARIANTS[k % 3])
                out += [problem.question, problem.solution]
    assert len(out) >= 200
    return out


@pytest.fixture(scope="module")
def raw_tokenizer(texts):
    return train_bpe(texts, vocab_size=600)


@pytest.fixture(scope="module")
def tokenizer(raw_tokenizer):
    return wrap_tokenizer(raw_tokenizer, model_max_length=256)


# ------------------------------------------------------------------ tokenizer
def test_every_training_text_round_trips_exactly(raw_tokenizer, tokenizer, texts):
    assert any("\n    " in t for t in texts), "no indented program in the sample"
    assert round_trip_failures(raw_tokenizer, texts) == []
    for text in texts[:50] + UNSEEN:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text


def test_unseen_texts_round_trip_through_the_byte_alphabet(raw_tokenizer):
    assert round_trip_failures(raw_tokenizer, UNSEEN) == []


def test_digits_are_one_token_each(tokenizer):
    assert tokenizer.tokenize("12345") == ["1", "2", "3", "4", "5"]
    assert tokenizer.tokenize("x=-3.75")[-4:] == ["3", ".", "7", "5"]
    merged = [
        tok for tok in tokenizer.get_vocab() if any(c.isdigit() for c in tok) and len(tok) > 1
    ]
    assert merged == [], f"merges that swallow a digit: {merged[:10]}"


@pytest.fixture(scope="module")
def number_tokenizer(texts):
    return wrap_tokenizer(train_bpe(texts, vocab_size=1600, number_digits=3))


def test_every_number_up_to_999_is_one_token(number_tokenizer, texts):
    vocab = number_tokenizer.get_vocab()
    assert all(str(n) in vocab for n in range(1000))
    tokens = number_tokenizer.tokenize("Find 365 mod 11.")
    assert "365" in tokens and "11" in tokens
    # longer numbers split left to right in chunks of three, like the GPT-4 / Llama 3 tokenizers
    assert number_tokenizer.tokenize("1234567") == ["123", "456", "7"]
    assert number_tokenizer.tokenize("x=-3.75")[-3:] == ["3", ".", "75"]
    digit_tokens = [t for t in vocab if any(c.isdigit() for c in t)]
    assert all(t.isdigit() for t in digit_tokens), "a token mixes digits with other characters"
    assert round_trip_failures(number_tokenizer.backend_tokenizer, texts + UNSEEN) == []


def test_a_vocabulary_too_small_for_the_numbers_is_an_error(texts):
    with pytest.raises(ValueError, match=r"vocab_size 900 leaves \d+ of the 1000 numbers"):
        train_bpe(texts, vocab_size=900, number_digits=3)


def test_fertility_is_tokens_per_word(raw_tokenizer, texts):
    value = fertility(raw_tokenizer, texts)
    assert 1.0 < value < 4.0  # digits one per token push it above 1


def test_special_tokens_have_fixed_ids(tokenizer):
    assert (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    for role in ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>"):
        assert tokenizer.tokenize(f"a{role}b")[1] == role


CHAT = [
    {"role": "system", "content": "You are a careful math tutor."},
    {"role": "user", "content": "What is 12 + 30?"},
    {
        "role": "assistant",
        "content": "Add them.\n\n```python\nprint(12 + 30)\n```\n\nFinal answer: 42",
    },
    {"role": "user", "content": "And 1 + 1?"},
    {"role": "assistant", "content": " Final answer: 2"},
]


def test_assistant_mask_covers_exactly_the_assistant_turns(tokenizer):
    out = tokenizer.apply_chat_template(
        CHAT, tokenize=True, return_assistant_tokens_mask=True, return_dict=True
    )
    ids, mask = out["input_ids"], out["assistant_masks"]
    runs, current = [], []
    for token, m in zip(ids, mask, strict=True):
        if m:
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    decoded = [tokenizer.decode(run, skip_special_tokens=False) for run in runs]
    assert decoded == [CHAT[2]["content"] + EOS, CHAT[4]["content"] + EOS]
    unmasked = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if not m])
    assert "Final answer" not in unmasked and "What is 12 + 30?" in unmasked


def test_generation_prompt_is_a_token_prefix_of_the_conversation(tokenizer):
    """What TRL checks for prompt-completion data, and what generation starts from."""
    prompt = tokenizer.apply_chat_template(CHAT[:2], add_generation_prompt=True, tokenize=True)
    full = tokenizer.apply_chat_template(CHAT[:3], tokenize=True)
    ids = lambda x: x["input_ids"] if isinstance(x, dict) else list(x)  # noqa: E731
    assert ids(full)[: len(ids(prompt))] == ids(prompt)
    text = tokenizer.apply_chat_template(CHAT[:2], add_generation_prompt=True, tokenize=False)
    assert text.startswith("<|bos|><|system|>\nYou are") and text.endswith("<|assistant|>\n")


def test_unknown_role_fails(tokenizer):
    with pytest.raises(jinja2.TemplateError, match="^unknown chat role tool$"):
        tokenizer.apply_chat_template([{"role": "tool", "content": "x"}], tokenize=False)


# ---------------------------------------------------------------------- models
@pytest.mark.parametrize(
    "sizes",
    [
        {},
        {"tie_word_embeddings": False},
        {"num_kv_heads": 1, "hidden_size": 48, "intermediate_size": 96, "num_layers": 3},
    ],
)
def test_tiny_model_has_the_expected_size_and_runs(tokenizer, sizes):
    spec = BaseModelParams(**{**SMALL, **sizes})
    model = build_tiny_llama(spec, tokenizer, seed=0)
    assert count_parameters(model) == expected_parameter_count(spec, len(tokenizer))
    assert model.config.vocab_size == len(tokenizer)
    assert model.config.eos_token_id == tokenizer.eos_token_id
    ids = tokenizer("Final answer: 42", return_tensors="pt").input_ids
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, ids.shape[1], len(tokenizer))
    assert torch.isfinite(logits).all()


def test_default_policy_sizes():
    """The figures quoted in params.yaml (its vocab_size, 2560)."""
    base = yaml.safe_load((ROOT / "params.yaml").read_text())["base"]
    vocab = base["tokenizer"]["vocab_size"]
    counts = {
        name: expected_parameter_count(BaseModelParams(**spec), vocab)
        for name, spec in base["models"].items()
    }
    assert counts == {"policy_small": 688_992, "policy_tiny": 246_080}


def test_same_seed_same_weights(tokenizer):
    spec = BaseModelParams(**SMALL)
    a, b, c = (build_tiny_llama(spec, tokenizer, seed=s) for s in (3, 3, 4))
    wa, wb, wc = (m.model.embed_tokens.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_save_and_load_round_trip(tokenizer, tmp_path):
    spec = BaseModelParams(**SMALL)
    metrics = save_base_model(tmp_path / "m", spec, tokenizer, seed=0)
    model = build_tiny_llama(spec, tokenizer, seed=0)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    loaded_tok = AutoTokenizer.from_pretrained(tmp_path / "m")
    assert metrics["parameters"] == count_parameters(model)
    assert loaded_tok.chat_template == tokenizer.chat_template
    assert loaded_tok.model_max_length == 256
    text = tokenizer.apply_chat_template(CHAT, tokenize=False)
    assert loaded_tok(text).input_ids == tokenizer(text).input_ids
    ids = tokenizer(text, return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, loaded(ids).logits)
    assert resolve_model_path(tmp_path / "m") == str(tmp_path / "m")


# ---------------------------------------------------------------- params checks
def test_pretrained_entry_is_recorded_not_downloaded(tokenizer, tmp_path):
    spec = BaseModelParams(**QWEN)
    assert save_base_model(tmp_path / "q", spec, tokenizer, seed=0) == {
        "pretrained": "Qwen/Qwen2.5-0.5B-Instruct"
    }
    # Only the pointer and the prompt setting: no weights, nothing downloaded.
    assert sorted(p.name for p in (tmp_path / "q").iterdir()) == sorted([POINTER_FILE, PROMPT_FILE])
    assert resolve_model_path(tmp_path / "q") == "Qwen/Qwen2.5-0.5B-Instruct"


def test_pretrained_and_sizes_are_exclusive():
    with pytest.raises(ParamsError, match=r"base\.models\.big.*not both \(set: hidden_size\)"):
        base_with({"big": {**QWEN, "hidden_size": 64}})
    with pytest.raises(ParamsError, match="needs num_layers"):
        base_with({"m": {**SMALL, "num_layers": None}})
    with pytest.raises(ParamsError, match="at least one model"):
        base_with({})
    with pytest.raises(ParamsError, match="model names"):
        base_with({"Policy A": SMALL})
    with pytest.raises(ParamsError, match="must divide"):
        base_with({"m": {**SMALL, "num_heads": 3}})


def test_unknown_model_key_lists_the_model_fields():
    with pytest.raises(ParamsError) as err:
        base_with({"m": {**SMALL, "hidden_sze": 3}})
    assert "base.models.m.hidden_sze" in str(err.value)
    assert "intermediate_size" in str(err.value)


def test_artifacts_declare_every_base_and_sft_model():
    """The one copy of the model names left: DVC cannot loop over base.models in artifacts."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())["base"]["models"]
    artifacts = yaml.safe_load((ROOT / "dvc.yaml").read_text())["artifacts"]
    assert {name: a["path"] for name, a in artifacts.items() if "base" in a["labels"]} == {
        name: f"models/base/{name}" for name in params
    }
    assert {name: a["path"] for name, a in artifacts.items() if "sft" in a["labels"]} == {
        f"sft_{name}": f"models/sft/{name}" for name in params
    }
    assert all(a["type"] == "model" and a["desc"] for a in artifacts.values())


# ----------------------------------------------------------------------- stage
def test_stage_writes_loadable_models_and_metrics(texts, tmp_path):
    train = pl.DataFrame({"question": texts[0::2], "solution": texts[1::2], "answer": "1"})
    train.write_parquet(tmp_path / "train.parquet")
    params = {
        "base": {
            "seed": 0,
            "tokenizer": {"vocab_size": 500, "min_frequency": 2, "number_digits": 2},
            "models": {
                "tiny": SMALL,
                "remote": QWEN,
            },
        }
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out, metrics = tmp_path / "models" / "base", tmp_path / "metrics" / "base.json"
    argv = [str(tmp_path / "train.parquet"), str(out), str(metrics)]
    base_stage.main([*argv, "--params", str(tmp_path / "params.yaml")])

    report = json.loads(metrics.read_text())
    assert report["round_trip_checked"] == len(texts) and report["round_trip_failed"] == 0
    assert report["vocab_size"] == 500 and 1 < report["fertility_tokens_per_word"] < 4
    assert report["models"]["remote"] == {"pretrained": "Qwen/Qwen2.5-0.5B-Instruct"}
    model = AutoModelForCausalLM.from_pretrained(out / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(out / "tiny")
    assert report["models"]["tiny"]["parameters"] == count_parameters(model)
    assert len(tokenizer) == model.config.vocab_size == 500
    assert AutoTokenizer.from_pretrained(out / "tokenizer").chat_template is not None
    assert tokenizer.tokenize("1234") == ["12", "34"]  # number_digits: 2
    assert resolve_model_path(out / "remote") == "Qwen/Qwen2.5-0.5B-Instruct"
    assert not (tmp_path / "models" / ".base.tmp").exists()


def test_stage_names_the_param_when_the_numbers_do_not_fit(texts, tmp_path):
    train = pl.DataFrame({"question": texts[0::2], "solution": texts[1::2], "answer": "1"})
    train.write_parquet(tmp_path / "train.parquet")
    tokenizer = {"vocab_size": 500, "min_frequency": 2, "number_digits": 3}
    params = {"base": {"seed": 0, "tokenizer": tokenizer, "models": {"tiny": SMALL}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "models" / "base"
    argv = [str(tmp_path / "train.parquet"), str(out), str(tmp_path / "base.json")]
    with pytest.raises(UserError, match=r"base.tokenizer: vocab_size 500 leaves \d+ of the 1000"):
        base_stage.main([*argv, "--params", str(tmp_path / "params.yaml")])
    assert not out.exists()


def test_stage_rejects_a_train_split_without_text(tmp_path):
    train = tmp_path / "train.parquet"
    pl.DataFrame({"question": ["q"]}).write_parquet(train)
    out, metrics = tmp_path / "models" / "base", tmp_path / "base.json"
    with pytest.raises(
        UserError, match=r"train.parquet: not a `train` table: lacks column\(s\) solution"
    ):
        base_stage.main([str(train), str(out), str(metrics)])
    assert not out.exists() and not metrics.exists()
