"""The ``vllm`` backend: a local model on GPUs through vLLM's offline engine (``vllm.LLM``).

Guarantees:
- vllm is imported only here, and this module only when ``backend: vllm`` is chosen (the GPU
  extra, ``pip install '.[gpu]'``); without vllm, choosing it is a `ParamsError`.
- Prompts are the model's chat template (generation prompt added), as the transformers backend
  and SFT render them; token counts and finish reasons come from vLLM's outputs.
- Every completion of a call has its own seed (``seed + i * n + j`` for sample ``j`` of prompt
  ``i``), independent of which prompts share its batch or replica; logits may still differ at
  rounding level with batch shape, as vLLM documents.
- A prompt that cannot fit ``max_model_len`` with ``max_tokens`` is a `GenerationError`.
- ``tensor_parallel_size`` GPUs per replica; ``data_parallel_size`` independent replicas, one
  process each, with contiguous slices of the prompts, results in prompt order.

Why it is built this way (seeds, vLLM's own data parallelism and why it is not used):
``docs/vllm.md``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import multiprocessing
import os
import traceback
import weakref
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from mathforge.config import ParamsError, VLLMBackendParams
from mathforge.generation.base import Chat, Completion, GenerationError, SamplingParams

PROGRESS_MIN_PROMPTS = 16  # show vLLM's progress bar from this many prompts on
GPU_EXTRA = "backend vllm needs the GPU extra: pip install '.[gpu]' (on a CUDA machine)"
# vLLM's coupled data-parallel ranks read these; our replicas are independent engines.
_VLLM_DP_VARIABLES = (
    "VLLM_DP_RANK",
    "VLLM_DP_RANK_LOCAL",
    "VLLM_DP_SIZE",
    "VLLM_DP_MASTER_IP",
    "VLLM_DP_MASTER_PORT",
)


class VLLMGenerator:
    """`TextGenerator` over ``vllm.LLM.generate``: tensor parallel within, data parallel across."""

    progress = True  # a progress bar on long calls; callers with their own bar turn it off

    def __init__(
        self,
        model_path: str,
        *,
        tensor_parallel_size: int = 1,
        data_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        engine_options: Mapping[str, Any] | None = None,
        ignore_eos: bool = False,
    ) -> None:
        """`engine_options` are further ``vllm.LLM`` arguments (tests: ``enforce_eager``,
        ``enable_prefix_caching``); `ignore_eos` (benchmarks) runs every completion to
        max_tokens. Neither is a param: the pipeline uses vLLM's defaults."""
        if importlib.util.find_spec("vllm") is None:
            raise ParamsError(f"{GPU_EXTRA}; vllm is not installed here")
        # Imported here, not at the top: replica processes import this module first thing,
        # and it stays free of torch until a replica sets its CUDA_VISIBLE_DEVICES.
        from mathforge.modeling.directory import resolve_model_path

        self.model_path = resolve_model_path(model_path)
        self.tensor_parallel_size = tensor_parallel_size
        self.data_parallel_size = data_parallel_size
        engine = {
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "max_model_len": max_model_len,
            "dtype": "auto",
            **(engine_options or {}),
        }
        make_replica = functools.partial(_Replica, self.model_path, engine, ignore_eos)
        self._replica: _Replica | None = None
        self._pool: _ReplicaPool | None = None
        if data_parallel_size == 1:
            self._replica = make_replica()
        else:
            devices = replica_devices(tensor_parallel_size, data_parallel_size)
            self._pool = _ReplicaPool(make_replica, devices)

    @classmethod
    def from_params(cls, cfg: VLLMBackendParams, model_path: str) -> VLLMGenerator:
        """The model at `model_path` on this machine's GPUs, configured from params."""
        return cls(
            model_path,
            tensor_parallel_size=cfg.tensor_parallel_size,
            data_parallel_size=cfg.data_parallel_size,
            gpu_memory_utilization=cfg.gpu_memory_utilization,
            max_model_len=cfg.max_model_len,
        )

    def generate(self, prompts: Sequence[Chat], params: SamplingParams) -> list[list[str]]:
        """`params.n` completion texts per prompt, in prompt order."""
        return [[c.text for c in row] for row in self.complete(prompts, params)]

    def complete(self, prompts: Sequence[Chat], params: SamplingParams) -> list[list[Completion]]:
        """`params.n` completions per prompt, in prompt order, with token counts."""
        if not prompts:
            return []
        progress = self.progress and len(prompts) >= PROGRESS_MIN_PROMPTS
        engine = self._pool if self._pool is not None else self._replica
        if engine is None:
            raise RuntimeError(f"the vllm generator for {self.model_path} is closed")
        return engine.complete(list(prompts), params, 0, progress)

    def close(self) -> None:
        """Stop the replica processes (data parallel) or drop the in-process engine."""
        if self._pool is not None:
            self._pool.close()
        self._pool = None
        self._replica = None

    def __enter__(self) -> VLLMGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Engine(Protocol):
    def complete(
        self, prompts: list[Chat], params: SamplingParams, first: int, progress: bool
    ) -> list[list[Completion]]: ...


class _Replica:
    """One vLLM engine in this process, on the GPUs this process sees."""

    def __init__(self, model_path: str, engine: Mapping[str, Any], ignore_eos: bool) -> None:
        try:
            from vllm import LLM
        except ImportError as err:
            raise ParamsError(f"{GPU_EXTRA}; importing vllm failed: {err}") from err
        from transformers import AutoTokenizer

        self.model_path = model_path
        self.ignore_eos = ignore_eos
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        if self.tokenizer.chat_template is None:
            raise ParamsError(f"{model_path}: the tokenizer has no chat template")
        self.llm = LLM(model=model_path, **engine)
        self.max_model_len = int(self.llm.llm_engine.model_config.max_model_len)

    def complete(
        self, prompts: list[Chat], params: SamplingParams, first: int, progress: bool
    ) -> list[list[Completion]]:
        """Completions of `prompts`, which are prompts `first`, `first + 1`, ... of the call."""
        from vllm import SamplingParams as VLLMSamplingParams

        # Greedy decoding gives one answer however many are asked for: decode it once, copy it.
        per_prompt = params.n if params.temperature > 0 else 1
        inputs: list[dict[str, list[int]]] = []  # vLLM's TokensPrompt is this TypedDict
        sampling: list[VLLMSamplingParams] = []
        for i, chat in enumerate(prompts):
            rendered = self.tokenizer.apply_chat_template(
                chat, add_generation_prompt=True, return_dict=True
            )
            ids = list(rendered["input_ids"])
            if len(ids) + params.max_tokens > self.max_model_len:
                raise GenerationError(
                    first + i,
                    f"{len(ids)} prompt tokens + max_tokens {params.max_tokens} exceed "
                    f"max_model_len {self.max_model_len} ({self.model_path})",
                )
            inputs.append({"prompt_token_ids": ids})
            sampling.append(
                VLLMSamplingParams(
                    n=per_prompt,
                    temperature=params.temperature,
                    top_p=params.top_p,
                    max_tokens=params.max_tokens,
                    seed=None if params.seed is None else params.seed + (first + i) * params.n,
                    ignore_eos=self.ignore_eos,
                )
            )
        outputs = self.llm.generate(inputs, sampling, use_tqdm=progress)
        rows: list[list[Completion]] = []
        for i, request in enumerate(outputs):
            samples = sorted(request.outputs, key=lambda sample: sample.index)
            if len(samples) != per_prompt:
                raise GenerationError(
                    first + i, f"vLLM returned {len(samples)} completions, not {per_prompt}"
                )
            prompt_tokens = len(request.prompt_token_ids)
            row = [
                Completion(
                    sample.text,
                    prompt_tokens,
                    len(sample.token_ids),
                    sample.finish_reason or "unknown",
                )
                for sample in samples
            ]
            rows.append(row * (params.n // per_prompt))
        return rows


def replica_devices(
    tensor_parallel_size: int, data_parallel_size: int, environ: Mapping[str, str] = os.environ
) -> list[str]:
    """``CUDA_VISIBLE_DEVICES`` of each replica: consecutive groups of the visible GPUs."""
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [device.strip() for device in visible.split(",") if device.strip()]
        where = f"CUDA_VISIBLE_DEVICES={visible!r}"
    else:
        import torch

        ids = [str(i) for i in range(torch.cuda.device_count())]
        where = "torch.cuda.device_count()"
    needed = tensor_parallel_size * data_parallel_size
    if len(ids) < needed:
        raise ParamsError(
            f"data_parallel_size {data_parallel_size} x tensor_parallel_size "
            f"{tensor_parallel_size} needs {needed} GPUs; {len(ids)} visible ({where})"
        )
    size = tensor_parallel_size
    return [",".join(ids[r * size : (r + 1) * size]) for r in range(data_parallel_size)]


def contiguous_slices(count: int, parts: int) -> list[range]:
    """`count` indices in `parts` contiguous runs whose sizes differ by at most one."""
    base, extra = divmod(count, parts)
    starts = [r * base + min(r, extra) for r in range(parts + 1)]
    return [range(starts[r], starts[r + 1]) for r in range(parts)]


class _ReplicaPool:
    """One spawned process per replica, each building its engine once with `make_replica`."""

    def __init__(self, make_replica: Callable[[], _Engine], devices: list[str]) -> None:
        context = multiprocessing.get_context("spawn")  # CUDA cannot be used after fork
        self.devices = devices
        self._conns: list[Connection] = []
        self._procs: list[BaseProcess] = []
        # Runs on close(), garbage collection or interpreter exit (before multiprocessing
        # joins its children, since it registers later), so replicas never outlive us.
        self._stop = weakref.finalize(self, _stop_replicas, self._conns, self._procs)
        try:
            for rank, visible in enumerate(devices):
                ours, theirs = context.Pipe()
                # Not daemonic: vLLM starts processes of its own inside each replica.
                proc = context.Process(
                    target=_serve_replica,
                    args=(visible, make_replica, theirs),
                    name=f"mathforge-vllm-replica-{rank}",
                )
                self._conns.append(ours)
                proc.start()
                self._procs.append(proc)
                theirs.close()
            self._gather(range(len(devices)))  # each replica answers once its engine is up
        except BaseException:
            self.close()
            raise

    def complete(
        self, prompts: list[Chat], params: SamplingParams, first: int, progress: bool
    ) -> list[list[Completion]]:
        slices = contiguous_slices(len(prompts), len(self._conns))
        busy = [rank for rank, part in enumerate(slices) if part]
        for rank in busy:
            part = slices[rank]
            request = (prompts[part.start : part.stop], params, first + part.start)
            self._conns[rank].send((*request, progress and rank == busy[0]))
        return [row for rows in self._gather(busy) for row in rows]

    def _gather(self, ranks: Sequence[int]) -> list[Any]:
        """Every replica's answer, in `ranks` order; the first failure is raised after all
        have answered, so no stale answer is left in a pipe for the next call."""
        answers: list[Any] = []
        failure: BaseException | None = None
        for rank in ranks:
            try:
                answers.append(self._receive(rank))
            except Exception as err:
                failure = failure or err
        if failure is not None:
            raise failure
        return answers

    def _receive(self, rank: int) -> Any:
        where = f"vllm replica {rank} (CUDA_VISIBLE_DEVICES={self.devices[rank]})"
        try:
            kind, payload = self._conns[rank].recv()
        except (EOFError, OSError):
            self._procs[rank].join(timeout=10)
            raise RuntimeError(f"{where} died (exit code {self._procs[rank].exitcode})") from None
        if kind == "ok":
            return payload
        if kind == "generation_error":
            raise GenerationError(*payload)
        if kind == "params_error":
            raise ParamsError(payload)
        raise RuntimeError(f"{where} failed:\n{payload}")

    def close(self) -> None:
        self._stop()


def _serve_replica(visible: str, make_replica: Callable[[], _Engine], conn: Connection) -> None:
    """A replica process: build the engine on `visible` GPUs, then answer requests until None."""
    # Before anything touches CUDA (nothing imported so far does).
    os.environ["CUDA_VISIBLE_DEVICES"] = visible
    for name in _VLLM_DP_VARIABLES:
        os.environ.pop(name, None)
    try:
        engine = make_replica()
    except BaseException as err:
        conn.send(_failure(err))
        conn.close()
        return
    conn.send(("ok", None))
    while True:
        try:
            request = conn.recv()
        except EOFError:  # the parent is gone
            break
        if request is None:
            break
        try:
            conn.send(("ok", engine.complete(*request)))
        except Exception as err:
            conn.send(_failure(err))
    conn.close()


def _failure(err: BaseException) -> tuple[str, Any]:
    """An exception as picklable data (GenerationError's constructor differs from its args)."""
    if isinstance(err, GenerationError):
        message = str(err).removeprefix(f"prompt {err.prompt_index}: ")
        return "generation_error", (err.prompt_index, message)
    if isinstance(err, ParamsError):
        return "params_error", str(err)
    return "error", "".join(traceback.format_exception(err))


def _stop_replicas(conns: list[Connection], procs: list[BaseProcess]) -> None:
    for conn in conns:
        with contextlib.suppress(OSError):  # that replica is gone already
            conn.send(None)
    for proc in procs:
        proc.join(timeout=60)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=10)
    for conn in conns:
        conn.close()
