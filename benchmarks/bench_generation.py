"""Sampling throughput of the transformers backend: our compacting decoder vs `model.generate`.

    OMP_NUM_THREADS=1 python benchmarks/bench_generation.py models/sft/policy_small \
        --batch-sizes 16 64 256 --prompts 64 --n 4 --max-tokens 256 --threads 1

Samples `--n` paths for each of `--prompts` train questions (the sample stage's
prompts: `solve_prompt`, with or without the system message as the model was
trained) at temperature 0.8 with a fixed seed, once with `compact=True` (one
prefill per prompt, finished sequences leave the batch) and once with
`compact=False` (`model.generate` with `num_return_sequences`), for every batch
size, in one run. Prints completion tokens per second, paths per second and
the ratio. Greedy outputs of the two are identical (tests); sampled ones differ
only in which random numbers each draw uses, so token counts differ slightly.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import polars as pl

from mathforge.generation import SamplingParams
from mathforge.generation.transformers_backend import TransformersGenerator
from mathforge.modeling import uses_system_prompt
from mathforge.solution import solve_prompt


def run(gen: TransformersGenerator, chats: list, params: SamplingParams) -> tuple[int, float]:
    start = time.perf_counter()
    rows = gen.complete(chats, params)
    seconds = time.perf_counter() - start
    return sum(c.completion_tokens or 0 for row in rows for c in row), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train", type=Path, default=Path("data/splits/train.parquet"))
    args = parser.parse_args()

    questions = pl.read_parquet(args.train, columns=["question"])["question"].to_list()
    system = uses_system_prompt(args.model)
    chats = [solve_prompt(q, system=system) for q in questions[: args.prompts]]
    gen = TransformersGenerator(str(args.model), threads=args.threads)
    gen.progress = False
    params = SamplingParams(
        n=args.n, temperature=args.temperature, max_tokens=args.max_tokens, seed=0
    )
    gen.generate(chats[:2], params)  # warm-up
    paths = len(chats) * args.n
    print(f"{args.model}: {len(chats)} prompts x {args.n} paths, max_tokens {args.max_tokens}")
    print("batch  decoder   tokens  seconds  tokens/s  paths/s  speed-up")
    for batch_size in args.batch_sizes:
        gen.batch_size = batch_size
        rates = {}
        for compact in (False, True):
            gen.compact = compact
            tokens, seconds = run(gen, chats, params)
            rates[compact] = tokens / seconds
            name = "compact " if compact else "generate"
            ratio = f"{rates[True] / rates[False]:7.2f}x" if compact else ""
            print(
                f"{batch_size:5d}  {name}  {tokens:6d}  {seconds:7.1f}  {tokens / seconds:8.0f}"
                f"  {paths / seconds:7.1f}  {ratio}"
            )


if __name__ == "__main__":
    main()
