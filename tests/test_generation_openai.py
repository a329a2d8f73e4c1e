"""The openai backend against a real local HTTP server, through the real SDK."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import openai
import pytest
import torch
from openai_server import Answer, Choice, Fault, OpenAIServer, ServerError

from mathforge.config import OpenAIBackendParams, load_params
from mathforge.generation import Completion, GenerationError, SamplingParams, build_generator
from mathforge.generation.openai_backend import OpenAIChatGenerator
from mathforge.generation.transformers_backend import TransformersGenerator

ROOT = Path(__file__).resolve().parents[1]


def endpoint(**values: Any) -> OpenAIBackendParams:
    """The repo's synthesize.self_instruct.endpoint (the openai backend), `values` laid over."""
    cfg = load_params("synthesize", ROOT / "params.yaml", {"self_instruct": {"endpoint": values}})
    return cfg.self_instruct.endpoint


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


def prompt_of(request: dict[str, Any]) -> str:
    return request["messages"][-1]["content"]


def generator(server: OpenAIServer, **kwargs: Any) -> OpenAIChatGenerator:
    kwargs = {"concurrency": 4, "max_retries": 2, "timeout_s": 5.0, **kwargs}
    return OpenAIChatGenerator(server.base_url, "test-model", **kwargs)


def test_results_come_back_in_prompt_order_while_requests_run_concurrently(
    openai_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    in_flight, peak, lock = 0, 0, threading.Lock()

    def respond(request: dict[str, Any]) -> list[str]:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        i = int(prompt_of(request).split()[-1])
        time.sleep(0.005 * (20 - i))  # early prompts answer last
        with lock:
            in_flight -= 1
        return [f"answer {i}"]

    openai_server.respond = respond
    prompts = [chat(f"prompt {i}") for i in range(20)]
    results = generator(openai_server, concurrency=8).generate(prompts, SamplingParams())

    assert results == [[f"answer {i}"] for i in range(20)]
    assert peak > 1, "requests did not overlap"
    assert "test-model" in capsys.readouterr().err  # a progress bar for 20 prompts


def test_n_choices_and_sampling_params_are_sent(openai_server: OpenAIServer) -> None:
    openai_server.respond = lambda req: [f"{prompt_of(req)}/{j}" for j in range(req["n"])]
    params = SamplingParams(n=3, temperature=0.7, top_p=0.9, max_tokens=64, seed=11)

    results = generator(openai_server).generate([chat("a"), chat("b")], params)

    assert results == [["a/0", "a/1", "a/2"], ["b/0", "b/1", "b/2"]]
    body = openai_server.completion_requests[0].body
    assert body is not None
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    assert {k: body[k] for k in ("model", "n", "temperature", "top_p", "max_tokens", "seed")} == {
        "model": "test-model",
        "n": 3,
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 64,
        "seed": 11,
    }


def test_no_seed_is_omitted_not_sent_as_null(openai_server: OpenAIServer) -> None:
    generator(openai_server).generate([chat("a")], SamplingParams(seed=None))
    body = openai_server.completion_requests[0].body
    assert body is not None and "seed" not in body


def test_a_server_that_ignores_n_is_topped_up_with_fresh_seeds(openai_server: OpenAIServer) -> None:
    openai_server.respond = lambda req: [f"{prompt_of(req)} seed={req.get('seed')}"]  # ignores n

    results = generator(openai_server).generate([chat("q")], SamplingParams(n=3, seed=5))

    assert results == [["q seed=5", "q seed=6", "q seed=7"]]
    asked = [(r.body or {}).get("n") for r in openai_server.completion_requests]
    assert asked == [3, 2, 1]


def test_extra_choices_are_cut_to_n(openai_server: OpenAIServer) -> None:
    openai_server.respond = lambda req: ["x", "y", "z"]
    assert generator(openai_server).generate([chat("q")], SamplingParams(n=2)) == [["x", "y"]]


def test_429_with_retry_after_is_waited_out_and_retried(openai_server: OpenAIServer) -> None:
    openai_server.respond = lambda req: [f"ok {prompt_of(req)}"]
    openai_server.add_faults(Fault(status=429, retry_after="0.8", message="slow down"))
    openai_server.add_faults(Fault(status=429, retry_after="0.05", message="slow down"))

    results = generator(openai_server, concurrency=1, max_retries=3).generate(
        [chat("q")], SamplingParams()
    )

    assert results == [["ok q"]]
    requests = openai_server.completion_requests
    assert [r.fault is not None for r in requests] == [True, True, False]
    assert [r.headers["x-stainless-retry-count"] for r in requests] == ["0", "1", "2"]
    # Retry-After is what the SDK waited for: its own first backoff is 0.375-0.5 s.
    assert requests[1].at - requests[0].at >= 0.79
    assert requests[2].at - requests[1].at >= 0.05


def test_persistent_server_error_names_the_prompt_and_the_message(
    openai_server: OpenAIServer,
) -> None:
    def respond(request: dict[str, Any]) -> list[str]:
        if prompt_of(request) == "prompt 2":
            raise ServerError(500, "GPU on fire", retry_after="0.01")
        return ["fine"]

    openai_server.respond = respond
    prompts = [chat(f"prompt {i}") for i in range(4)]

    with pytest.raises(GenerationError) as caught:
        generator(openai_server, max_retries=2).generate(prompts, SamplingParams())

    assert caught.value.prompt_index == 2
    message = str(caught.value)
    assert message.startswith("prompt 2: ")
    assert "HTTP 500" in message and "GPU on fire" in message and "max_retries=2" in message
    tries = [r for r in openai_server.completion_requests if prompt_of(r.body or {}) == "prompt 2"]
    assert len(tries) == 3  # the first try and max_retries retries


def test_a_client_error_is_not_retried(openai_server: OpenAIServer) -> None:
    def respond(request: dict[str, Any]) -> list[str]:
        raise ServerError(400, "context too long")

    openai_server.respond = respond
    with pytest.raises(GenerationError, match=r"prompt 0: .*HTTP 400: context too long"):
        generator(openai_server, max_retries=3).generate([chat("q")], SamplingParams())
    assert len(openai_server.completion_requests) == 1


def test_a_hanging_request_times_out_and_is_retried(openai_server: OpenAIServer) -> None:
    openai_server.add_faults(Fault(hang_s=5.0), count=1)

    results = generator(openai_server, timeout_s=0.3, max_retries=1).generate(
        [chat("q")], SamplingParams()
    )

    assert results == [["ok"]]
    assert len(openai_server.completion_requests) == 2


def test_a_timeout_after_the_last_retry_is_a_clear_error(openai_server: OpenAIServer) -> None:
    openai_server.add_faults(Fault(hang_s=5.0), count=1)

    start = time.monotonic()
    with pytest.raises(GenerationError, match=r"prompt 0: .*did not answer within timeout_s=0.3"):
        generator(openai_server, timeout_s=0.3, max_retries=0).generate(
            [chat("q")], SamplingParams()
        )
    assert time.monotonic() - start < 2.0


def test_an_unreachable_server_is_a_clear_error() -> None:
    with OpenAIServer(lambda req: ["never"]) as server:
        base_url = server.base_url  # a port that is closed once the server stops
    gen = OpenAIChatGenerator(base_url, "m", max_retries=0, timeout_s=2.0)
    with pytest.raises(GenerationError, match=r"prompt 0: cannot reach http://127\.0\.0\.1"):
        gen.generate([chat("q")], SamplingParams())


def test_empty_prompt_list_sends_nothing(openai_server: OpenAIServer) -> None:
    assert generator(openai_server).generate([], SamplingParams()) == []
    assert openai_server.requests == []


def test_the_api_key_variable_is_sent_as_bearer(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MF_TEST_TEACHER_KEY", "sk-test-123")
    cfg = endpoint(
        base_url=openai_server.base_url, model="teacher", api_key_env="MF_TEST_TEACHER_KEY"
    )
    build_generator(cfg).generate([chat("q")], SamplingParams())
    assert openai_server.requests[-1].headers["authorization"] == "Bearer sk-test-123"


def test_an_unset_key_sends_a_dummy_not_another_variable(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MF_TEST_TEACHER_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    cfg = endpoint(
        base_url=openai_server.base_url, model="teacher", api_key_env="MF_TEST_TEACHER_KEY"
    )
    build_generator(cfg).generate([chat("q")], SamplingParams())
    assert openai_server.requests[-1].headers["authorization"] == "Bearer EMPTY"


def test_build_generator_configures_the_backend_from_params(openai_server: OpenAIServer) -> None:
    cfg = endpoint(
        base_url=openai_server.base_url, model="teacher", concurrency=3, max_retries=1, timeout_s=7
    )
    gen = build_generator(cfg)

    assert isinstance(gen, OpenAIChatGenerator)
    assert (gen.concurrency, gen.client.max_retries, gen.client.timeout) == (3, 1, 7)
    assert gen.generate([chat("q")], SamplingParams(n=2)) == [["ok", "ok"]]
    assert (openai_server.completion_requests[0].body or {})["model"] == "teacher"


def test_build_generator_needs_an_endpoint_and_a_model() -> None:
    with pytest.raises(ValueError, match=re.escape("endpoint.base_url and endpoint.model")):
        build_generator(endpoint())  # params.yaml ships both null


def test_the_server_lists_its_model_to_the_sdk(openai_server: OpenAIServer) -> None:
    client = openai.OpenAI(base_url=openai_server.base_url, api_key="x", max_retries=0)
    assert [m.id for m in client.models.list()] == ["test-model"]


# ------------------------------------------------------------------ token counts
def test_single_choice_responses_give_each_completion_its_exact_counts(
    openai_server: OpenAIServer,
) -> None:
    def respond(request: dict[str, Any]) -> Answer:
        i = int(prompt_of(request).split()[-1])
        time.sleep(0.003 * (8 - i))  # answers arrive out of order
        reason = "length" if i % 2 else "stop"
        return Answer([Choice(f"answer {i}", 10 + i, reason)], prompt_tokens=100 + i)

    openai_server.respond = respond
    prompts = [chat(f"prompt {i}") for i in range(8)]

    rows = generator(openai_server).complete(prompts, SamplingParams())

    assert rows == [
        [Completion(f"answer {i}", 100 + i, 10 + i, "length" if i % 2 else "stop")]
        for i in range(8)
    ]


def test_counts_default_to_the_servers_usage_not_a_local_guess(
    openai_server: OpenAIServer,
) -> None:
    """The test server counts words: 'be brief' + 'three words here' is 5 prompt tokens."""
    openai_server.respond = lambda req: ["one two three four"]
    rows = generator(openai_server).complete([chat("three words here")], SamplingParams())
    assert rows == [[Completion("one two three four", 5, 4, "stop")]]


def test_several_choices_in_one_response_have_no_per_completion_count(
    openai_server: OpenAIServer,
) -> None:
    openai_server.respond = lambda req: Answer(
        [Choice("a", 4, "stop"), Choice("b", 5, "length"), Choice("c", 6, "stop")],
        prompt_tokens=7,
    )
    rows = generator(openai_server).complete([chat("q")], SamplingParams(n=3))
    # usage.completion_tokens is 15 for the three together: neither 15 nor 5 each is true.
    assert rows == [
        [
            Completion("a", 7, None, "stop"),
            Completion("b", 7, None, "length"),
            Completion("c", 7, None, "stop"),
        ]
    ]


def test_a_top_up_with_one_choice_is_exact_again(openai_server: OpenAIServer) -> None:
    """n=3 from a server that gives at most 2 a response: 2 uncounted, then 1 counted."""

    def respond(request: dict[str, Any]) -> Answer:
        k = min(request["n"], 2)
        seed = request["seed"]
        choices = [Choice(f"s{seed}c{j}", 20 + 10 * seed + j) for j in range(k)]
        return Answer(choices, prompt_tokens=9)

    openai_server.respond = respond
    rows = generator(openai_server).complete([chat("q")], SamplingParams(n=3, seed=0))

    assert rows == [
        [
            Completion("s0c0", 9, None, "stop"),
            Completion("s0c1", 9, None, "stop"),
            Completion("s1c0", 9, 30, "stop"),
        ]
    ]
    asked = [(r.body or {}).get("n") for r in openai_server.completion_requests]
    assert asked == [3, 1]


def test_extra_choices_cut_to_n_still_hide_their_counts(openai_server: OpenAIServer) -> None:
    openai_server.respond = lambda req: Answer([Choice("x", 3), Choice("y", 4)], prompt_tokens=2)
    rows = generator(openai_server).complete([chat("q")], SamplingParams(n=1))
    assert rows == [[Completion("x", 2, None, "stop")]]  # 7 tokens for x and y together


def test_no_usage_gives_no_counts_and_the_finish_reason_is_kept(
    openai_server: OpenAIServer,
) -> None:
    openai_server.respond = lambda req: Answer(
        [Choice("filtered", 3, "content_filter")], usage=False
    )
    assert generator(openai_server).complete([chat("q")], SamplingParams()) == [
        [Completion("filtered", None, None, "content_filter")]
    ]
    openai_server.respond = lambda req: Answer([Choice("?", 1, None)], prompt_tokens=1)
    assert generator(openai_server).complete([chat("q")], SamplingParams()) == [
        [Completion("?", 1, 1, "unknown")]
    ]


def test_generate_is_the_texts_of_complete(openai_server: OpenAIServer) -> None:
    openai_server.respond = lambda req: [f"{prompt_of(req)}/{j}" for j in range(req["n"])]
    prompts = [chat("a"), chat("b")]
    params = SamplingParams(n=2)
    gen = generator(openai_server)
    rows = gen.complete(prompts, params)
    assert gen.generate(prompts, params) == [[c.text for c in row] for row in rows]
    assert gen.complete([], params) == []


# ------------------------------------ a tiny transformers model behind the server
@pytest.fixture(scope="module")
def tiny_model(tiny_policy: Path) -> TransformersGenerator:
    """The session's tiny Llama (built here, no downloads) behind the transformers backend."""
    torch.set_num_threads(1)
    return TransformersGenerator(str(tiny_policy), batch_size=16, threads=1)


def test_counts_served_by_a_real_model_come_back_unchanged(
    tiny_model: TransformersGenerator,
) -> None:
    """The server answers with the transformers backend's own counts; the openai backend
    must hand back exactly those for one choice, and the prompt count for several."""

    def respond(request: dict[str, Any]) -> Answer:
        params = SamplingParams(
            n=request["n"],
            temperature=request["temperature"],
            top_p=request["top_p"],
            max_tokens=request["max_tokens"],
            seed=request.get("seed"),
        )
        (row,) = tiny_model.complete([request["messages"]], params)
        choices = [Choice(c.text, c.completion_tokens, c.finish_reason) for c in row]
        return Answer(choices, prompt_tokens=row[0].prompt_tokens)

    prompts = [chat("What is 3 + 4?"), chat("Solve 2x + 5 = 17 for x."), chat("7")]
    greedy = SamplingParams(n=1, temperature=0.0, max_tokens=12)
    direct = tiny_model.complete(prompts, greedy)
    lengths = {c.prompt_tokens for row in direct for c in row}
    assert len(lengths) == 3 and None not in lengths  # the prompts differ in length
    with OpenAIServer(respond, model="tiny") as server:
        client = OpenAIChatGenerator(server.base_url, "tiny", concurrency=2, timeout_s=30)
        with client:
            served = client.complete(prompts, greedy)
            several = client.complete(prompts, SamplingParams(n=2, max_tokens=6, seed=1))
    assert served == direct
    assert [[c.prompt_tokens for c in row] for row in several] == [
        [row[0].prompt_tokens] * 2 for row in direct
    ]
    assert all(c.completion_tokens is None for row in several for c in row)
