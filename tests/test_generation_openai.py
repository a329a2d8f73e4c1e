"""The openai backend against a real local HTTP server, through the real SDK."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import openai
import pytest
from openai_server import Fault, OpenAIServer, ServerError

from mathforge.config import LLMBackendParams
from mathforge.generation import GenerationError, SamplingParams, build_generator
from mathforge.generation.openai_backend import OpenAIChatGenerator


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
    cfg = LLMBackendParams(
        base_url=openai_server.base_url, model="teacher", api_key_env="MF_TEST_TEACHER_KEY"
    )
    build_generator(cfg).generate([chat("q")], SamplingParams())
    assert openai_server.requests[-1].headers["authorization"] == "Bearer sk-test-123"


def test_an_unset_key_sends_a_dummy_not_another_variable(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MF_TEST_TEACHER_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    cfg = LLMBackendParams(
        base_url=openai_server.base_url, model="teacher", api_key_env="MF_TEST_TEACHER_KEY"
    )
    build_generator(cfg).generate([chat("q")], SamplingParams())
    assert openai_server.requests[-1].headers["authorization"] == "Bearer EMPTY"


def test_build_generator_configures_the_backend_from_params(openai_server: OpenAIServer) -> None:
    cfg = LLMBackendParams(
        base_url=openai_server.base_url, model="teacher", concurrency=3, max_retries=1, timeout_s=7
    )
    gen = build_generator(cfg)

    assert isinstance(gen, OpenAIChatGenerator)
    assert (gen.concurrency, gen.client.max_retries, gen.client.timeout) == (3, 1, 7)
    assert gen.generate([chat("q")], SamplingParams(n=2)) == [["ok", "ok"]]
    assert (openai_server.completion_requests[0].body or {})["model"] == "teacher"


def test_build_generator_needs_an_endpoint_and_a_model() -> None:
    with pytest.raises(ValueError, match=re.escape("endpoint.base_url and endpoint.model")):
        build_generator(LLMBackendParams())


def test_the_server_lists_its_model_to_the_sdk(openai_server: OpenAIServer) -> None:
    client = openai.OpenAI(base_url=openai_server.base_url, api_key="x", max_retries=0)
    assert [m.id for m in client.models.list()] == ["test-model"]
