"""Throughput of our vllm backend against vLLM's own offline benchmark, same model and lengths.

NOT RUN YET. This script was written on a machine without a GPU or vllm; it has
never been executed, and no figure from it exists anywhere in this repository.
Run it on a CUDA machine with the GPU extra (``pip install '.[gpu]'``):

    python benchmarks/bench_vllm.py MODEL_DIR --prompts 1000 --input-len 256 \\
        --output-len 256 [--n 1] [--tensor-parallel-size 1] [--unseeded] [--json out.json]

One run measures both, one after the other on the same GPUs:

1. Reference: ``vllm bench throughput`` (``vllm/benchmarks/throughput.py``; the old
   ``benchmarks/benchmark_throughput.py`` forwards to it) in a subprocess, so its GPU
   memory is free before ours starts: ``--backend vllm --dataset-name random
   --random-range-ratio 0`` with ``--input-len`` set to the mean length of our rendered
   prompts, ``--output-len``, ``--num-prompts``, ``--n`` and the same engine settings.
   It times one ``LLM.generate`` over random-token prompts with temperature 1, top_p 1
   and ``ignore_eos=True``, so every sample is exactly ``--output-len`` tokens; its JSON
   gives ``elapsed_time`` and ``total_num_tokens`` (prompt + output).
2. Ours: ``VLLMGenerator(MODEL_DIR, ignore_eos=True)``, one ``complete()`` call over
   ``--prompts`` user-only chats of random numbers, each cut so that its rendering by
   the model's chat template is about ``--input-len`` tokens (the printed mean is
   exact), with ``SamplingParams(n, temperature=1, top_p=1, max_tokens=output_len,
   seed=0)``. The timer covers ``complete()`` only (engine start is outside, as in the
   reference), so it includes what our path adds: rendering chats to token ids and
   building Completion records, and per-request seeds (vLLM samples seeded requests
   with per-request generators; ``--unseeded`` leaves them out to show their cost).

Printed: seconds, output tokens, output tokens/s and total tokens/s of each, and the
ratio ours / reference of output tokens per second. Data parallelism is not compared:
``vllm bench throughput`` refuses ``--data-parallel-size`` > 1 outside torchrun's
external-launcher mode.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from mathforge.generation import SamplingParams
from mathforge.generation.vllm_backend import VLLMGenerator

Chat = list[dict[str, str]]


def rendered_length(tokenizer: Any, chat: Chat) -> int:
    ids = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_dict=True)
    return len(ids["input_ids"])


def make_chats(
    tokenizer: Any, count: int, input_len: int, seed: int
) -> tuple[list[Chat], list[int]]:
    """`count` distinct user-only chats of random numbers, each rendered to about
    `input_len` tokens (never more), and their rendered lengths."""
    rng = random.Random(seed)
    chats: list[Chat] = []
    lengths: list[int] = []
    for _ in range(count):
        words: list[str] = []
        length = rendered_length(tokenizer, [{"role": "user", "content": ""}])
        while length < input_len:  # grow in steps of about a quarter of what is missing
            words += [str(rng.randrange(10**6)) for _ in range(max(1, (input_len - length) // 4))]
            length = rendered_length(tokenizer, [{"role": "user", "content": " ".join(words)}])
        while length > input_len and words:
            words.pop()
            length = rendered_length(tokenizer, [{"role": "user", "content": " ".join(words)}])
        while length < input_len:  # then single digits, as close as they come
            words.append(str(rng.randrange(10)))
            longer = rendered_length(tokenizer, [{"role": "user", "content": " ".join(words)}])
            if longer > input_len:
                words.pop()
                break
            length = longer
        chats.append([{"role": "user", "content": " ".join(words)}])
        lengths.append(length)
    return chats, lengths


def run_reference(args: argparse.Namespace, input_len: int) -> dict[str, float]:
    """`vllm bench throughput` in a subprocess; its JSON result."""
    vllm = shutil.which("vllm", path=str(Path(sys.executable).parent)) or shutil.which("vllm")
    if vllm is None:
        sys.exit("the vllm command is not installed (pip install '.[gpu]')")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "throughput.json"
        command = [
            vllm,
            "bench",
            "throughput",
            "--backend=vllm",
            f"--model={args.model}",
            "--dataset-name=random",
            "--random-range-ratio=0",
            f"--input-len={input_len}",
            f"--output-len={args.output_len}",
            f"--num-prompts={args.prompts}",
            f"--n={args.n}",
            f"--tensor-parallel-size={args.tensor_parallel_size}",
            f"--gpu-memory-utilization={args.gpu_memory_utilization}",
            "--seed=0",
            f"--output-json={out}",
        ]
        if args.max_model_len is not None:
            command.append(f"--max-model-len={args.max_model_len}")
        print("reference:", " ".join(command), flush=True)
        subprocess.run(command, check=True)
        result = json.loads(out.read_text())
    output_tokens = args.prompts * args.n * args.output_len  # ignore_eos: every sample is full
    return {
        "seconds": result["elapsed_time"],
        "output_tokens": output_tokens,
        "total_tokens": result["total_num_tokens"],
        "mean_prompt_tokens": (result["total_num_tokens"] - output_tokens) / args.prompts,
    }


def run_ours(args: argparse.Namespace, chats: list[Chat]) -> dict[str, float]:
    gen = VLLMGenerator(
        str(args.model),
        tensor_parallel_size=args.tensor_parallel_size,
        gpu_memory_utilization=args.gpu_memory_utilization,
        max_model_len=args.max_model_len,
        ignore_eos=True,
    )
    params = SamplingParams(
        n=args.n,
        temperature=1.0,
        top_p=1.0,
        max_tokens=args.output_len,
        seed=None if args.unseeded else 0,
    )
    try:
        start = time.perf_counter()
        rows = gen.complete(chats, params)
        seconds = time.perf_counter() - start
    finally:
        gen.close()
    counts = [c.completion_tokens or 0 for row in rows for c in row]
    if set(counts) != {args.output_len}:
        print(f"warning: completion lengths {sorted(set(counts))}, not all {args.output_len}")
    prompt_tokens = sum(row[0].prompt_tokens or 0 for row in rows)
    return {
        "seconds": seconds,
        "output_tokens": sum(counts),
        "total_tokens": prompt_tokens + sum(counts),
        "mean_prompt_tokens": prompt_tokens / len(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a local model directory with a chat template")
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--input-len", type=int, default=256, help="rendered prompt tokens")
    parser.add_argument("--output-len", type=int, default=256, help="tokens per sample")
    parser.add_argument("--n", type=int, default=1, help="samples per prompt")
    parser.add_argument("--tensor-parallel-size", type=int, default=1)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    parser.add_argument("--max-model-len", type=int, default=None)
    parser.add_argument("--unseeded", action="store_true", help="ours without per-request seeds")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    chats, lengths = make_chats(tokenizer, args.prompts, args.input_len, seed=0)
    input_len = round(statistics.mean(lengths))
    print(
        f"our prompts: {min(lengths)}..{max(lengths)} tokens, mean {statistics.mean(lengths):.1f}"
    )

    rows = {
        "vllm bench throughput": run_reference(args, input_len),
        "VLLMGenerator": run_ours(args, chats),
    }
    print()
    print("| run | seconds | prompt tokens (mean) | output tokens | output tok/s | total tok/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        print(
            f"| {name} | {row['seconds']:.2f} | {row['mean_prompt_tokens']:.1f} | "
            f"{row['output_tokens']:,} | {row['output_tokens'] / row['seconds']:,.0f} | "
            f"{row['total_tokens'] / row['seconds']:,.0f} |"
        )
    ours, reference = rows["VLLMGenerator"], rows["vllm bench throughput"]
    ratio = (ours["output_tokens"] / ours["seconds"]) / (
        reference["output_tokens"] / reference["seconds"]
    )
    print(f"\nours / reference, output tokens per second: {ratio:.3f}")
    if args.json is not None:
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        args.json.write_text(
            json.dumps({"settings": settings, "rows": rows, "ratio": ratio}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
