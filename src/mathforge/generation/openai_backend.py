"""The ``openai`` backend: any OpenAI-compatible chat-completions endpoint.

A strong judge or teacher behind an API, or our own ``vllm serve``. The official
SDK does the HTTP work: it retries 408/409/429/5xx, timeouts and connection
errors ``max_retries`` times with exponential backoff (0.5 s doubling to 8 s,
with jitter) and waits what a ``Retry-After``/``retry-after-ms`` header asks
when that is between 0 and 120 s (openai 3.57, ``_base_client.py``). We only
add what it does not: many prompts in flight at once, results in prompt order,
topping up servers that return fewer than ``n`` choices, and errors that name
the prompt.

:meth:`OpenAIChatGenerator.complete` returns :class:`Completion` records:
``prompt_tokens`` is the response's ``usage.prompt_tokens``;
``completion_tokens`` is ``usage.completion_tokens`` when the response carried
exactly one choice and None otherwise (usage sums the choices, so their
separate counts are unknown; a top-up response with one choice is exact again);
both are None when the server sends no usage. ``finish_reason`` is the
choice's own ("stop", "length", or whatever else the server says; "unknown"
when it says nothing). :meth:`generate` returns only the texts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any

import openai
from tqdm import tqdm

from mathforge.config import OpenAIBackendParams, ParamsError
from mathforge.generation.base import Chat, Completion, GenerationError, SamplingParams

DUMMY_API_KEY = "EMPTY"  # sent when the key's variable is unset (local servers ignore it)
PROGRESS_MIN_PROMPTS = 16  # show a progress bar from this many prompts on


class OpenAIChatGenerator:
    """`TextGenerator` over ``POST {base_url}/chat/completions``, `concurrency` at once."""

    progress = True  # a progress bar on long calls; callers with their own bar turn it off

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        concurrency: int = 8,
        max_retries: int = 5,
        timeout_s: float = 120.0,
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or DUMMY_API_KEY,
            max_retries=max_retries,
            timeout=timeout_s,
        )

    @classmethod
    def from_params(
        cls, cfg: OpenAIBackendParams, environ: Mapping[str, str] = os.environ
    ) -> OpenAIChatGenerator:
        """Configure from params; the API key is read from the variable `cfg.api_key_env` names."""
        if cfg.base_url is None or cfg.model is None:
            missing = [key for key in ("base_url", "model") if getattr(cfg, key) is None]
            raise ParamsError(
                f"the openai backend needs endpoint.{' and endpoint.'.join(missing)} set"
            )
        return cls(
            cfg.base_url,
            cfg.model,
            api_key=environ.get(cfg.api_key_env),
            concurrency=cfg.concurrency,
            max_retries=cfg.max_retries,
            timeout_s=cfg.timeout_s,
        )

    def generate(self, prompts: Sequence[Chat], params: SamplingParams) -> list[list[str]]:
        """`params.n` completion texts per prompt, in prompt order; `GenerationError` on failure."""
        return [[c.text for c in row] for row in self.complete(prompts, params)]

    def complete(self, prompts: Sequence[Chat], params: SamplingParams) -> list[list[Completion]]:
        """`params.n` completions per prompt, in prompt order, with the server's token counts."""
        results: list[list[Completion]] = [[] for _ in prompts]
        if not prompts:
            return results
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts)))
        futures: dict[Future[list[Completion]], int] = {
            pool.submit(self._complete_one, i, chat, params): i for i, chat in enumerate(prompts)
        }
        bar = tqdm(
            total=len(prompts),
            desc=f"{self.model} @ {self.base_url}",
            unit="prompt",
            disable=not self.progress or len(prompts) < PROGRESS_MIN_PROMPTS,
        )
        try:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
        except BaseException:
            # Fail fast: drop queued prompts; requests in flight end on their own timeout.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            bar.close()
        pool.shutdown()
        return results

    def _complete_one(self, index: int, chat: Chat, params: SamplingParams) -> list[Completion]:
        """`params.n` completions for one chat, asking again while the server returns fewer."""
        completions: list[Completion] = []
        attempt = 0
        while len(completions) < params.n:
            wanted = params.n - len(completions)
            request: dict[str, Any] = {
                "model": self.model,
                "messages": chat,
                "n": wanted,
                "temperature": params.temperature,
                "top_p": params.top_p,
                "max_tokens": params.max_tokens,
            }
            if params.seed is not None:
                # A top-up with the same seed would repeat the first completion.
                request["seed"] = params.seed + attempt
            response = self._create(index, request)
            attempt += 1
            choices = sorted(response.choices, key=lambda choice: choice.index)
            if not choices:
                raise GenerationError(index, f"{self.base_url} returned no choices")
            usage = response.usage
            prompt_tokens = None if usage is None else usage.prompt_tokens
            # usage sums all the response's choices: exact per completion only for one choice.
            completion_tokens = None
            if usage is not None and len(choices) == 1:
                completion_tokens = usage.completion_tokens
            completions += [
                Completion(
                    choice.message.content or "",
                    prompt_tokens,
                    completion_tokens,
                    choice.finish_reason or "unknown",
                )
                for choice in choices[:wanted]
            ]
        return completions

    def _create(self, index: int, request: dict[str, Any]) -> Any:
        where = f"{self.base_url} (model {self.model})"
        try:
            return self.client.chat.completions.create(**request)
        except openai.APIStatusError as err:
            body = err.body if isinstance(err.body, dict) else {}
            message = body.get("message") or err.message
            raise GenerationError(
                index,
                f"{where} answered HTTP {err.status_code}: {message} "
                f"(max_retries={self.max_retries})",
            ) from err
        except openai.APITimeoutError as err:
            raise GenerationError(
                index,
                f"{where} did not answer within timeout_s={self.timeout_s} "
                f"(max_retries={self.max_retries})",
            ) from err
        except openai.APIConnectionError as err:
            raise GenerationError(
                index,
                f"cannot reach {where}: {err.__cause__ or err} (max_retries={self.max_retries})",
            ) from err
        except openai.APIError as err:
            raise GenerationError(index, f"{where}: {err.message}") from err

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> OpenAIChatGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
