"""Generation throughput of the transformers backend at several batch sizes (CPU).

    OMP_NUM_THREADS=1 python benchmarks/bench_generation.py models/base/policy_small \
        --batch-sizes 8 64 --prompts 64 --max-tokens 64 --threads 1

Samples `--prompts` chats (real train questions when data/splits/train.parquet
exists) with temperature 1 and a fixed seed, and prints completion tokens per
second for each batch size. A random-init model rarely emits EOS, so nearly every
completion runs to max_tokens: the figure is the decode rate, not a solve rate.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mathforge.generation import SamplingParams
from mathforge.generation.transformers_backend import TransformersGenerator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train", type=Path, default=Path("data/splits/train.parquet"))
    args = parser.parse_args()

    if args.train.exists():
        import polars as pl

        questions = pl.read_parquet(args.train, columns=["question"])["question"].to_list()
    else:
        questions = [f"What is {i} + {2 * i}?" for i in range(args.prompts)]
    chats = [[{"role": "user", "content": q}] for q in (questions * args.prompts)[: args.prompts]]
    gen = TransformersGenerator(str(args.model), threads=args.threads)
    params = SamplingParams(n=1, temperature=1.0, max_tokens=args.max_tokens, seed=0)
    gen.batch_size = args.batch_sizes[0]
    gen.generate(chats[:2], params)  # warm-up
    print("batch_size  completions  tokens  seconds  tokens/s")
    for batch_size in args.batch_sizes:
        gen.batch_size = batch_size
        start = time.perf_counter()
        rows = gen.complete(chats, params)
        seconds = time.perf_counter() - start
        tokens = sum(c.completion_tokens for row in rows for c in row)
        rate = tokens / seconds
        print(f"{batch_size:10d}  {len(rows):11d}  {tokens:6d}  {seconds:7.2f}  {rate:8.0f}")


if __name__ == "__main__":
    main()
