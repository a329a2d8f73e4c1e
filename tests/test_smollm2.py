"""A real pretrained model through mathforge's own code paths on CPU: SmolLM2-135M-Instruct
(tests/smollm2.py) as a `pretrained:` base model. Smoke tests: each asserts that a path works
on a real tokenizer and real weights (the prompt rendered, the pointer followed, SFT steps
taken and saved, paths sampled, graded and served over HTTP), never how well it solves."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import torch
from openai_server import Answer, Choice, OpenAIServer
from safetensors import safe_open
from transformers import AutoTokenizer

from mathforge.config import ARCHITECTURE_FIELDS, BaseModelParams, SampleParams, load_params
from mathforge.contracts.paths import PATHS
from mathforge.generation import Completion, SamplingParams, build_generator
from mathforge.generation.transformers_backend import TransformersGenerator
from mathforge.modeling import (
    POINTER_FILE,
    PROMPT_FILE,
    resolve_model_path,
    uses_system_prompt,
)
from mathforge.modeling.manifest import check_generates
from mathforge.modeling.tiny import count_parameters, save_base_model
from mathforge.sampling import grade_paths
from mathforge.solution import solve_prompt
from mathforge.teacher import SUBJECTS, generate
from mathforge.training.sft import train_sft

pytestmark = pytest.mark.slow  # 42-45 s on 2 busy cores, +16 s the first time (the conversion)
torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
PARAMETERS = 134_515_008  # SmolLM2-135M (its embeddings tied to the LM head)
END_OF_TURN = "<|im_end|>"


def query_weights(model_dir: Path) -> torch.Tensor:
    """The first layer's attention query projection, read from a saved model."""
    with safe_open(model_dir / "model.safetensors", "pt") as weights:
        return weights.get_tensor("model.layers.0.self_attn.q_proj.weight")


@pytest.fixture(scope="module")
def problems() -> pl.DataFrame:
    """One teacher problem per subject, with its mixed CoT+PoT reference solution."""
    rng = random.Random(0)
    rows = []
    for subject, skills in SUBJECTS.items():
        problem = generate(subject, next(iter(skills)), rng, "base")
        rows.append(
            {
                "question_id": f"q_{len(rows):016x}",
                "subject": subject,
                "question": problem.question,
                "solution": problem.solution,
                "generator": "programmatic",
                "answer": str(problem.answer),
            }
        )
    return pl.DataFrame(rows)


@pytest.fixture(scope="module")
def base_dir(smollm2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """models/base/smollm2 as stage base writes it for `pretrained: <the converted folder>`:
    a pointer, no weights. With the system message: the model has never seen our format."""
    spec = BaseModelParams(
        pretrained=str(smollm2), **dict.fromkeys(ARCHITECTURE_FIELDS), system_prompt=True
    )
    out = tmp_path_factory.mktemp("base") / "smollm2"
    tokenizer = AutoTokenizer.from_pretrained(smollm2)  # stage base's own; a pointer ignores it
    save_base_model(out, spec, tokenizer, seed=0)
    return out


@pytest.fixture(scope="module")
def sample_cfg() -> SampleParams:
    """The sample stage's params, cut to 2 short paths a problem on one thread."""
    overrides = {"n": 2, "max_tokens": 48, "pass_k": [1, 2], "engine": {"threads": 1}}
    return load_params("sample", ROOT / "params.yaml", overrides)


@pytest.fixture(scope="module")
def generator(base_dir: Path, sample_cfg: SampleParams) -> TransformersGenerator:
    """The sample stage's engine on the base model directory."""
    built = build_generator(sample_cfg.engine, model_path=str(base_dir))
    assert isinstance(built, TransformersGenerator)
    return built


def test_its_chat_template_wraps_our_solve_prompt_in_its_role_markers(
    smollm2: Path, problems: pl.DataFrame
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    question = problems["question"][0]
    system, user = solve_prompt(question)
    assert question in user["content"]
    rendered = tokenizer.apply_chat_template(
        [system, user], tokenize=False, add_generation_prompt=True
    )
    assert rendered == (
        f"<|im_start|>system\n{system['content']}{END_OF_TURN}\n"
        f"<|im_start|>user\n{user['content']}{END_OF_TURN}\n"
        "<|im_start|>assistant\n"
    )
    ids = tokenizer.apply_chat_template([system, user], add_generation_prompt=True)["input_ids"]
    assert tokenizer.decode(ids) == rendered  # the question's numbers and code fences survive
    # Without our system message the template opens with SmolLM's own, never a bare user turn.
    [bare_user] = solve_prompt(question, system=False)
    bare = tokenizer.apply_chat_template([bare_user], tokenize=False, add_generation_prompt=True)
    assert bare.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert bare.endswith(
        f"<|im_start|>user\n{bare_user['content']}{END_OF_TURN}\n<|im_start|>assistant\n"
    )
    # The end of a turn is the tokenizer's EOS: where generation stops and SFT's labels end.
    assert tokenizer.eos_token == END_OF_TURN


def test_a_pretrained_pointer_resolves_to_it_and_loads(
    base_dir: Path, smollm2: Path, generator: TransformersGenerator
) -> None:
    assert sorted(p.name for p in base_dir.iterdir()) == sorted([POINTER_FILE, PROMPT_FILE])
    assert resolve_model_path(base_dir) == str(smollm2)
    assert uses_system_prompt(base_dir)
    assert generator.model_path == str(smollm2)
    assert generator.model.config.model_type == "llama"
    assert count_parameters(generator.model) == PARAMETERS
    assert generator.model.dtype == torch.float32
    assert generator.eos_token_ids == [generator.tokenizer.convert_tokens_to_ids(END_OF_TURN)]


def test_sft_steps_on_mixed_solutions_and_the_saved_model_reloads_and_generates(
    base_dir: Path, smollm2: Path, problems: pl.DataFrame, tmp_path: Path
) -> None:
    overrides = {
        "max_examples": None,
        "max_steps": 2,
        "batch_size": 2,
        "learning_rate": 1e-4,  # params.yaml's 3e-3 is for models trained from scratch
        "warmup_steps": 0,
        "logging_steps": 1,
        "max_length": 320,  # the system message is ~200 tokens: every example keeps a program
    }
    cfg = load_params("sft", ROOT / "params.yaml", overrides)
    system = uses_system_prompt(base_dir)
    train, heldout = problems[:4], problems[4:6]
    out = tmp_path / "sft"
    metrics, curve = train_sft(resolve_model_path(base_dir), train, heldout, cfg, out, system)

    assert metrics["steps"] == 2 and [p["step"] for p in curve] == [1, 2]
    assert all(0 < p["loss"] < 10 for p in curve)  # finite, and near a pretrained model's
    assert metrics["examples"] == 4 and metrics["parameters"] == PARAMETERS
    assert 0 < metrics["completion_tokens"] < metrics["example_tokens"] <= 4 * 320
    # Two small steps on the format already lower the loss on problems it did not train on.
    assert metrics["heldout_loss"] < metrics["heldout_loss_before"]
    assert not torch.equal(query_weights(out), query_weights(smollm2))  # saved what it learned
    reloaded = AutoTokenizer.from_pretrained(out)
    assert reloaded.chat_template == AutoTokenizer.from_pretrained(smollm2).chat_template
    assert check_generates(out, solve_prompt(problems["question"][6], system=system))


def test_sampled_paths_come_back_with_token_counts_and_are_graded(
    generator: TransformersGenerator,
    base_dir: Path,
    problems: pl.DataFrame,
    sample_cfg: SampleParams,
) -> None:
    block = problems[:3]
    system = uses_system_prompt(base_dir)
    chats = [solve_prompt(question, system=system) for question in block["question"]]
    params = SamplingParams(
        n=sample_cfg.n,
        temperature=sample_cfg.temperature_for("smollm2"),
        top_p=sample_cfg.top_p,
        max_tokens=sample_cfg.max_tokens,
        seed=sample_cfg.seed,
    )
    completions = generator.complete(chats, params)

    assert [len(row) for row in completions] == [sample_cfg.n] * block.height
    for chat, row in zip(chats, completions, strict=True):
        rendered = generator.tokenizer.apply_chat_template(chat, add_generation_prompt=True)
        for completion in row:
            assert isinstance(completion, Completion)
            assert completion.prompt_tokens == len(rendered["input_ids"])
            assert 1 <= completion.completion_tokens <= sample_cfg.max_tokens
            assert completion.finish_reason in ("stop", "length")
            assert END_OF_TURN not in completion.text
    assert len({c.text for row in completions for c in row}) > 1  # sampled, not one text

    paths = grade_paths(block, completions, "smollm2", sample_cfg.sandbox)
    assert paths.schema == pl.Schema(PATHS.schema)
    assert paths["text"].to_list() == [c.text for row in completions for c in row]
    assert paths["reference"].to_list() == [a for a in block["answer"] for _ in range(sample_cfg.n)]
    assert paths["reference_source"].unique().to_list() == ["gold"]
    for path in paths.iter_rows(named=True):
        if not path["programs"]:
            assert (path["error_kind"], path["exec_ok"]) == ("no_program", None)
        else:
            assert path["exec_ok"] is not None  # its programs ran in the sandbox
        if path["predicted"] is None:
            assert path["correct"] is False  # a path without a printed answer is wrong


def test_served_over_an_openai_compatible_server_reads_back_the_same_completions(
    generator: TransformersGenerator, base_dir: Path, problems: pl.DataFrame
) -> None:
    """The model behind a real local HTTP server, read back by the openai backend configured
    as synthesize's Self-Instruct endpoint: texts, token counts and finish reasons intact."""

    def respond(request: dict[str, Any]) -> Answer:
        params = SamplingParams(
            n=request.get("n") or 1,
            temperature=request["temperature"],
            top_p=request.get("top_p", 1.0),
            max_tokens=request["max_tokens"],
            seed=request.get("seed"),
        )
        [row] = generator.complete([request["messages"]], params)
        choices = [Choice(c.text, c.completion_tokens, c.finish_reason) for c in row]
        return Answer(choices, prompt_tokens=row[0].prompt_tokens)

    system = uses_system_prompt(base_dir)
    chats = [solve_prompt(question, system=system) for question in problems["question"][:2]]
    greedy = SamplingParams(n=1, temperature=0.0, max_tokens=24)
    direct = generator.complete(chats, greedy)
    with OpenAIServer(respond, model="smollm2") as server:
        endpoint = {"base_url": server.base_url, "model": "smollm2", "concurrency": 1}
        cfg = load_params(
            "synthesize", ROOT / "params.yaml", {"self_instruct": {"endpoint": endpoint}}
        )
        with build_generator(cfg.self_instruct.endpoint) as client:
            served = client.complete(chats, greedy)
    assert served == direct
    assert all(c.completion_tokens is not None and c.text for row in served for c in row)
