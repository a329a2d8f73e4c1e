"""The transformers backend on a tiny Llama built here (no downloads), and the same model
served through a real local OpenAI-compatible server read back by the openai backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from openai_server import OpenAIServer

from mathforge.config import ParamsError, load_params
from mathforge.generation import Completion, GenerationError, SamplingParams, build_generator
from mathforge.generation.openai_backend import OpenAIChatGenerator
from mathforge.generation.transformers_backend import TransformersGenerator
from mathforge.modeling.directory import POINTER_FILE

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def gen(tiny_policy: Path) -> TransformersGenerator:
    return TransformersGenerator(str(tiny_policy), batch_size=16, threads=1)


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Solve it."}, {"role": "user", "content": text}]


def prompt_ids(gen: TransformersGenerator, prompt: list[dict[str, str]]) -> list[int]:
    return gen.tokenizer.apply_chat_template(prompt, add_generation_prompt=True)["input_ids"]


PROMPTS = [
    chat("What is 3 + 4?"),
    chat("A shop sells 12 pens at $3 each and 5 notebooks at $7 each. What is the total cost?"),
    chat("Solve 2x + 5 = 17."),
    chat("Find the derivative of 3*x**2 + 2*x - 5 with respect to x, then evaluate it at 4."),
    chat("7"),
]
SAMPLE = SamplingParams(n=3, temperature=1.0, top_p=0.95, max_tokens=12, seed=5)
GREEDY = SamplingParams(n=1, temperature=0.0, max_tokens=12)


def test_n_completions_per_prompt_in_prompt_order(gen: TransformersGenerator) -> None:
    gen.batch_size = 3  # one prompt (x3 sequences) per batch: batch seeds are seed + index
    try:
        results = gen.generate(PROMPTS, SAMPLE)
        alone = [
            gen.generate([p], SamplingParams(**{**SAMPLE.__dict__, "seed": SAMPLE.seed + i}))[0]
            for i, p in enumerate(PROMPTS)
        ]
    finally:
        gen.batch_size = 16
    assert [len(r) for r in results] == [3] * len(PROMPTS)
    assert all(isinstance(t, str) and t for row in results for t in row)
    assert results == alone


def test_same_seed_same_outputs_and_different_seeds_differ(gen: TransformersGenerator) -> None:
    first = gen.generate(PROMPTS, SAMPLE)
    assert gen.generate(PROMPTS, SAMPLE) == first
    other = gen.generate(PROMPTS, SamplingParams(**{**SAMPLE.__dict__, "seed": 6}))
    assert other != first
    assert len({t for row in first for t in row}) > len(PROMPTS)  # samples within a prompt vary


def test_left_padding_gives_each_prompt_its_solo_greedy_output(
    gen: TransformersGenerator,
) -> None:
    lengths = [len(prompt_ids(gen, p)) for p in PROMPTS]
    assert len(set(lengths)) > 2, "prompts of different lengths make padding matter"
    batched = gen.generate(PROMPTS, GREEDY)
    alone = [gen.generate([p], GREEDY)[0] for p in PROMPTS]
    assert batched == alone
    assert gen.generate(PROMPTS, SamplingParams(n=2, temperature=0.0, max_tokens=12)) == [
        row * 2 for row in alone
    ]


def test_token_counts(gen: TransformersGenerator) -> None:
    rows = gen.complete(PROMPTS, SamplingParams(n=2, temperature=1.0, max_tokens=9, seed=0))
    for prompt, row in zip(PROMPTS, rows, strict=True):
        rendered = prompt_ids(gen, prompt)
        for c in row:
            assert isinstance(c, Completion)
            assert c.prompt_tokens == len(rendered)
            assert 1 <= c.completion_tokens <= 9
            assert (c.finish_reason == "length") == (c.completion_tokens == 9)


def eos_first(gen: TransformersGenerator, row: int = 0) -> Any:
    """A hook making `row` of the batch's first forward pass (the prefill) predict EOS."""
    eos, calls = gen.tokenizer.eos_token_id, []

    def force_eos(module: Any, args: Any, output: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        if len(calls) > 1:
            return output
        output = output.clone()
        output[row, :, eos] = 1e4
        return output

    return gen.model.lm_head.register_forward_hook(force_eos)


@pytest.mark.parametrize("compact", [True, False])
def test_stops_at_eos_and_does_not_count_padding(gen: TransformersGenerator, compact) -> None:
    """Force EOS on the batch's first row only: it stops after one token, the others run on."""
    handle, gen.compact = eos_first(gen), compact
    try:
        rows = gen.complete(PROMPTS[:3], SamplingParams(n=1, temperature=0.0, max_tokens=10))
    finally:
        handle.remove()
        gen.compact = True
    assert rows[0] == [Completion("", rows[0][0].prompt_tokens, 1, "stop")]
    for row in rows[1:]:
        assert row[0].finish_reason == "length" and row[0].completion_tokens == 10
        assert gen.tokenizer.pad_token not in row[0].text


def test_prompt_past_the_context_window_fails_with_its_index(gen: TransformersGenerator) -> None:
    limit = gen.model.config.max_position_embeddings
    long = chat("1 + " * (limit // 2) + "1")  # ~limit digit/symbol tokens
    fits = chat("1 + " * (limit // 4) + "1")
    assert len(prompt_ids(gen, fits)) + 64 < limit < len(prompt_ids(gen, long)) + 64
    with pytest.raises(
        GenerationError, match=rf"prompt 2: .* exceed the model's {limit} positions"
    ) as err:
        gen.generate([PROMPTS[0], fits, long], SamplingParams(max_tokens=64))
    assert err.value.prompt_index == 2


def test_build_generator_from_params(tiny_policy: Path, tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    cfg = load_params("sample", root / "params.yaml", {"engine": {"threads": 1}}).engine
    assert cfg.backend == "transformers"
    built = build_generator(cfg, model_path=str(tiny_policy))
    assert isinstance(built, TransformersGenerator)
    with pytest.raises(ParamsError, match="the transformers backend needs a model_path"):
        build_generator(cfg)
    # A pretrained pointer written by the base stage (here to a local path) is followed.
    (tmp_path / POINTER_FILE).write_text(json.dumps({"pretrained": str(tiny_policy)}))
    pointed = TransformersGenerator(str(tmp_path), threads=1)
    assert pointed.generate(PROMPTS[:2], GREEDY) == built.generate(PROMPTS[:2], GREEDY)


def test_served_over_openai_api_gives_the_same_greedy_text(gen: TransformersGenerator) -> None:
    def respond(request: dict[str, Any]) -> list[str]:
        params = SamplingParams(
            n=request.get("n") or 1,
            temperature=request["temperature"],
            top_p=request.get("top_p", 1.0),
            max_tokens=request["max_tokens"],
        )
        return gen.generate([request["messages"]], params)[0]

    direct = gen.generate(PROMPTS, GREEDY)
    with OpenAIServer(respond, model="tiny-policy") as server:
        client = OpenAIChatGenerator(server.base_url, "tiny-policy", concurrency=1, timeout_s=30)
        with client:
            served = client.generate(PROMPTS, GREEDY)
        bodies = [r.body for r in server.completion_requests]
    assert served == direct
    assert all(b is not None and b["temperature"] == 0.0 for b in bodies)


def test_compact_decoding_is_generate_token_for_token(gen: TransformersGenerator) -> None:
    """Greedy: our loop (one prefill per prompt, finished rows dropped from the cache) gives
    exactly `model.generate`'s tokens, also for the rows left after one has ended."""
    params = SamplingParams(n=2, temperature=0.0, max_tokens=12)
    outputs = {}
    for compact in (True, False):
        handle, gen.compact = eos_first(gen, row=1), compact
        try:
            outputs[compact] = gen.complete(PROMPTS, params)
        finally:
            handle.remove()
            gen.compact = True
    assert outputs[True] == outputs[False]
    assert outputs[True][1][0].completion_tokens == 1  # the row that ended left the batch
    assert {c.completion_tokens for row in outputs[True][2:] for c in row} == {12}


def test_compact_sampling_gives_n_distinct_seeded_paths(gen: TransformersGenerator) -> None:
    params = SamplingParams(n=4, temperature=1.0, max_tokens=8, seed=11)
    first = gen.generate(PROMPTS[:2], params)
    assert gen.generate(PROMPTS[:2], params) == first
    assert all(len(set(row)) > 1 for row in first)  # the copies of one prefill diverge
