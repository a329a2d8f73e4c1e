"""The vllm backend.

On any machine: choosing it without vllm is a clear `ParamsError`, its params
are validated, the data-parallel machinery (GPU groups, prompt slices, replica
processes, results back in prompt order, errors naming the prompt) runs for real
with echo engines in spawned processes (our process pool, not vLLM). On a CUDA
machine with the GPU extra: a tiny Llama built here (no downloads) generates
through the real ``vllm.LLM``; those tests skip elsewhere.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mathforge.config import ParamsError, VLLMBackendParams, parse_section
from mathforge.generation import Completion, GenerationError, SamplingParams, build_generator
from mathforge.generation.vllm_backend import (
    VLLMGenerator,
    _ReplicaPool,
    contiguous_slices,
    replica_devices,
)

HAS_VLLM = importlib.util.find_spec("vllm") is not None
VLLM = {  # the vllm backend's keys (params.yaml ships transformers; its comment shows these)
    "backend": "vllm",
    "tensor_parallel_size": 1,
    "data_parallel_size": 1,
    "gpu_memory_utilization": 0.9,
    "max_model_len": None,
}


def cuda_devices() -> int:
    """CUDA devices torch sees; torch is imported only where vllm is (this module also runs
    in the spawned replica processes below, which should start fast)."""
    if not HAS_VLLM:
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


needs_gpu = pytest.mark.skipif(
    cuda_devices() < 1, reason="needs the GPU extra (vllm) and a CUDA device"
)


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Solve it."}, {"role": "user", "content": text}]


# ------------------------------------------------------------ without vllm / GPU
@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed here")
def test_choosing_vllm_without_vllm_is_a_clear_params_error(tmp_path: Path) -> None:
    with pytest.raises(
        ParamsError, match=r"backend vllm needs the GPU extra: pip install '\.\[gpu\]'"
    ):
        build_generator(VLLMBackendParams(**VLLM), model_path=str(tmp_path))


def test_vllm_needs_a_model_path() -> None:
    with pytest.raises(ParamsError, match="the vllm backend needs a model_path"):
        build_generator(VLLMBackendParams(**VLLM))


def test_vllm_is_imported_only_when_chosen() -> None:
    """The package and the backend module import without vllm; vllm itself only on use."""
    code = (
        "import sys\n"
        "import mathforge.generation\n"
        "assert 'mathforge.generation.vllm_backend' not in sys.modules\n"
        "import mathforge.generation.vllm_backend\n"
        "assert 'vllm' not in sys.modules, 'vllm imported at module level'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_vllm_params_validation() -> None:
    def endpoint(**values: Any) -> Any:
        vllm = {**VLLM, "model_path": "models/base/policy_small", **values}
        root = Path(__file__).resolve().parents[1]
        sections = yaml.safe_load((root / "params.yaml").read_text())
        synthesize = {**sections["synthesize"]}
        synthesize["self_instruct"] = {**synthesize["self_instruct"], "endpoint": vllm}
        return parse_section("synthesize", synthesize, sections)

    assert endpoint(data_parallel_size=8).self_instruct.endpoint.backend == "vllm"
    for key, bad in [
        ("tensor_parallel_size", 0),
        ("data_parallel_size", 0),
        ("gpu_memory_utilization", 0),
        ("gpu_memory_utilization", 1.5),
        ("max_model_len", 0),
        ("tensor_parallel_size", "two"),
        ("backend", "vlm"),
    ]:
        with pytest.raises(ParamsError, match=rf"synthesize\.self_instruct\.endpoint\.{key}"):
            endpoint(**{key: bad})


def test_replica_devices_are_consecutive_groups_of_the_visible_gpus() -> None:
    visible = {"CUDA_VISIBLE_DEVICES": "2,3,5,7"}
    assert replica_devices(2, 2, visible) == ["2,3", "5,7"]
    assert replica_devices(1, 3, visible) == ["2", "3", "5"]
    assert replica_devices(1, 4, {"CUDA_VISIBLE_DEVICES": "0, 1,2,3"}) == ["0", "1", "2", "3"]
    with pytest.raises(ParamsError, match=r"2 x tensor_parallel_size 4 needs 8 GPUs; 4 visible"):
        replica_devices(4, 2, visible)


def test_contiguous_slices_cover_every_prompt_once_in_order() -> None:
    assert contiguous_slices(10, 3) == [range(0, 4), range(4, 7), range(7, 10)]
    assert contiguous_slices(2, 4) == [range(0, 1), range(1, 2), range(2, 2), range(2, 2)]
    for count in range(12):
        for parts in range(1, 5):
            slices = contiguous_slices(count, parts)
            assert [i for part in slices for i in part] == list(range(count))
            assert max(map(len, slices)) - min(map(len, slices)) <= 1


class EchoReplica:
    """Stands in for a vLLM engine in a replica process (picklable, so it travels to spawn).

    Each completion says which prompt (global index), sample and GPUs made it."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on  # the replica on these GPUs cannot start

    def __call__(self) -> EchoReplica:  # the pool's `make_replica`
        if os.environ["CUDA_VISIBLE_DEVICES"] == self.fail_on:
            raise ParamsError("no chat template here")
        return self

    def complete(
        self, prompts: list[Any], params: SamplingParams, first: int, progress: bool
    ) -> list[list[Completion]]:
        gpus = os.environ["CUDA_VISIBLE_DEVICES"]
        dp_rank = os.environ.get("VLLM_DP_RANK")
        rows = []
        for i, prompt in enumerate(prompts):
            text = prompt[-1]["content"]
            if text == "boom":
                raise GenerationError(first + i, "too long for this replica")
            if text == "die":
                os._exit(3)
            rows.append(
                [
                    Completion(f"{text}|{first + i}|{j}|{gpus}|{dp_rank}", len(text), j, "stop")
                    for j in range(params.n)
                ]
            )
        return rows


@pytest.fixture(scope="module")
def echo_pool() -> Iterator[_ReplicaPool]:
    os.environ["VLLM_DP_RANK"] = "7"  # inherited by the replicas, which must drop it
    try:
        pool = _ReplicaPool(EchoReplica(), ["0,1", "2,3", "4,5"])
    finally:
        del os.environ["VLLM_DP_RANK"]
    yield pool
    pool.close()


def test_replicas_get_contiguous_slices_and_results_come_back_in_order(
    echo_pool: _ReplicaPool,
) -> None:
    prompts = [chat(f"q{i}") for i in range(7)]
    rows = echo_pool.complete(prompts, SamplingParams(n=2), 0, False)

    gpus = ["0,1"] * 3 + ["2,3"] * 2 + ["4,5"] * 2  # slices of 3, 2 and 2 prompts
    assert [[c.text for c in row] for row in rows] == [
        [f"q{i}|{i}|{j}|{gpus[i]}|None" for j in range(2)] for i in range(7)
    ]
    # Fewer prompts than replicas: the idle replica is not asked (no placeholder prompt).
    assert [
        row[0].text
        for row in echo_pool.complete([chat("a"), chat("b")], SamplingParams(), 0, False)
    ] == [
        "a|0|0|0,1|None",
        "b|1|0|2,3|None",
    ]


def test_a_failing_prompt_is_named_by_its_index_in_the_call_and_the_pool_survives(
    echo_pool: _ReplicaPool,
) -> None:
    prompts = [chat(f"q{i}") for i in range(6)]
    prompts[1] = chat("boom")  # in the first replica's slice: the others answer after it
    with pytest.raises(GenerationError, match=r"^prompt 1: too long for this replica$") as err:
        echo_pool.complete(prompts, SamplingParams(), 0, False)
    assert err.value.prompt_index == 1
    # Every replica answered before the error was raised: the next call is not out of step.
    rows = echo_pool.complete([chat(f"r{i}") for i in range(3)], SamplingParams(), 0, False)
    assert [row[0].text.split("|")[0] for row in rows] == ["r0", "r1", "r2"]


def test_a_replica_that_cannot_start_is_reported_and_the_others_are_stopped() -> None:
    before = set(multiprocessing.active_children())  # e.g. the module's echo_pool
    with pytest.raises(ParamsError, match="no chat template here"):
        _ReplicaPool(EchoReplica(fail_on="1"), ["0", "1", "2"])
    assert set(multiprocessing.active_children()) - before == set()


def test_a_replica_that_dies_is_a_clear_error() -> None:
    pool = _ReplicaPool(EchoReplica(), ["0", "1"])
    try:
        with pytest.raises(
            RuntimeError, match=r"replica 1 \(CUDA_VISIBLE_DEVICES=1\) died \(exit code 3\)"
        ):
            pool.complete([chat("fine"), chat("die")], SamplingParams(), 0, False)
    finally:
        pool.close()


def test_closing_the_pool_ends_the_replica_processes() -> None:
    pool = _ReplicaPool(EchoReplica(), ["0"])
    procs = list(pool._procs)
    pool.close()
    assert [p.exitcode for p in procs] == [0]
    pool.close()  # a second close does nothing


# ----------------------------------------- a tiny Llama built here, and its prompts
PROMPTS = [
    chat("What is 3 + 4?"),
    chat("A shop sells 12 pens at $3 each and 5 notebooks at $7 each. What is the total cost?"),
    chat("Solve 2x + 5 = 17."),
    chat("7"),
]
SAMPLE = SamplingParams(n=3, temperature=1.0, top_p=0.95, max_tokens=12, seed=5)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer) -> Path:
    # Imported here: the replica processes above import this module and should start fast.
    from tiny_models import save_tiny_model

    path = tmp_path_factory.mktemp("tiny") / "policy"
    # head size 64: every vLLM attention backend supports it (the session's tiny_policy has 8)
    return save_tiny_model(
        path, tiny_tokenizer, hidden_size=128, num_heads=2, num_kv_heads=2,
        intermediate_size=256, max_position_embeddings=512,
    )  # fmt: skip


def rendered_ids(model_dir: Path, prompt: list[dict[str, str]]) -> list[int]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return list(
        tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_dict=True)[
            "input_ids"
        ]
    )


@pytest.fixture(scope="module")
def gen(model_dir: Path) -> Iterator[VLLMGenerator]:
    # Deterministic scheduling and no prefix cache: a repeated call computes exactly the same
    # logits (vLLM's advice for reproducible offline runs); eager mode starts faster.
    previous = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING")
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    try:
        generator = VLLMGenerator(
            str(model_dir),
            gpu_memory_utilization=0.3,
            max_model_len=256,
            engine_options={"enforce_eager": True, "enable_prefix_caching": False},
        )
    finally:
        if previous is None:
            del os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"]
        else:
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = previous
    yield generator
    generator.close()


@needs_gpu
def test_n_completions_per_prompt_in_prompt_order_with_the_tokenizers_counts(
    gen: VLLMGenerator, model_dir: Path
) -> None:
    lengths = [len(rendered_ids(model_dir, p)) for p in PROMPTS]
    assert len(set(lengths)) == len(PROMPTS), "distinct lengths make the order visible"

    rows = gen.complete(PROMPTS, SAMPLE)

    assert [len(row) for row in rows] == [SAMPLE.n] * len(PROMPTS)
    assert [[c.prompt_tokens for c in row] for row in rows] == [[k] * SAMPLE.n for k in lengths]
    for c in (c for row in rows for c in row):
        assert isinstance(c.text, str)
        assert c.completion_tokens is not None and 1 <= c.completion_tokens <= SAMPLE.max_tokens
        assert c.finish_reason in ("stop", "length")
        if c.finish_reason == "length":
            assert c.completion_tokens == SAMPLE.max_tokens
    assert gen.generate(PROMPTS, SAMPLE) == [[c.text for c in row] for row in rows]
    assert len({c.text for row in rows for c in row}) > len(PROMPTS)  # samples vary


@needs_gpu
def test_same_seed_same_outputs_and_different_seeds_differ(gen: VLLMGenerator) -> None:
    first = gen.generate(PROMPTS, SAMPLE)
    assert gen.generate(PROMPTS, SAMPLE) == first
    assert gen.generate(PROMPTS, SamplingParams(**{**SAMPLE.__dict__, "seed": 6})) != first


@needs_gpu
def test_max_tokens_is_respected(gen: VLLMGenerator) -> None:
    for max_tokens in (1, 5, 30):
        rows = gen.complete(PROMPTS, SamplingParams(n=2, max_tokens=max_tokens, seed=0))
        counts = [c.completion_tokens for row in rows for c in row]
        assert all(k is not None and 1 <= k <= max_tokens for k in counts)
    # A random model seldom ends a turn: nearly all completions run to max_tokens.
    assert counts.count(30) >= len(counts) // 2


@needs_gpu
def test_greedy_decodes_once_and_repeats(gen: VLLMGenerator) -> None:
    rows = gen.complete(PROMPTS, SamplingParams(n=3, temperature=0.0, max_tokens=8))
    assert all(row == [row[0]] * 3 for row in rows)


@needs_gpu
def test_prompt_past_max_model_len_fails_with_its_index(gen: VLLMGenerator) -> None:
    long = chat("1 + " * 120 + "1")  # ~240 digit/symbol tokens; max_model_len is 256
    with pytest.raises(GenerationError, match=r"prompt 2: .* exceed max_model_len 256"):
        gen.generate([PROMPTS[0], PROMPTS[1], long], SamplingParams(max_tokens=64))


@pytest.mark.skipif(cuda_devices() < 2, reason="needs the GPU extra (vllm) and two CUDA devices")
def test_two_replicas_on_two_gpus(model_dir: Path) -> None:
    prompts = PROMPTS * 3
    with VLLMGenerator(
        str(model_dir),
        data_parallel_size=2,
        gpu_memory_utilization=0.3,
        max_model_len=256,
        engine_options={"enforce_eager": True},
    ) as dp:
        rows = dp.complete(prompts, SAMPLE)
    lengths = [len(rendered_ids(model_dir, p)) for p in prompts]
    assert [[c.prompt_tokens for c in row] for row in rows] == [[k] * SAMPLE.n for k in lengths]
    assert all(c.completion_tokens is not None for row in rows for c in row)
