"""Reward-model scoring throughput: paths/s of `mathforge.reward.score_ids` on real sampled paths.

The model is a reward model directory (default: policy_small after pretraining, loaded as a
sequence classifier with a new score head, the shape reward_train trains; a trained one
scores at the same speed), the paths are the sample stage's (`data/paths`, the prompt built
as reward_score builds it). Each setting tokenizes and scores the same paths, one after the
other in one process:

- threads x batch size, the paths sorted by length into batches (what reward_score runs);
- the same batch sizes in the paths' own order (``unsorted``): padding to each batch's longest.

    OMP_NUM_THREADS=1 python benchmarks/bench_reward.py \
        --model models/pretrained/policy_small --paths data/paths --train data/splits/train.parquet

Prints paths/s per setting (the best of --repeats runs) and writes them to --json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from mathforge.contracts.splits import TRAIN
from mathforge.modeling import resolve_model_path, uses_system_prompt
from mathforge.reward import encode, load_reward_model, path_chat, read_paths, score_ids

ROOT = Path(__file__).resolve().parents[1]


def unsorted_scores(model, ids, pad_token_id: int, batch_size: int) -> np.ndarray:
    """score_ids without its length sort: batches in the input order."""
    scores = [score_ids(model, ids[i : i + batch_size], pad_token_id, batch_size)
              for i in range(0, len(ids), batch_size)]  # fmt: skip
    return np.concatenate(scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models/pretrained/policy_small")
    parser.add_argument("--paths", type=Path, default=ROOT / "data/paths")
    parser.add_argument("--train", type=Path, default=ROOT / "data/splits/train.parquet")
    parser.add_argument("--limit", type=int, default=1024, help="paths scored per setting")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/reward.json")
    args = parser.parse_args()

    paths = read_paths(args.paths, None, ["path_id", "question_id", "text"]).sort("path_id")
    paths = paths.head(args.limit)
    questions = TRAIN.read(args.train, ["question_id", "question"])
    paths = paths.join(questions, on="question_id")
    model, tokenizer = load_reward_model(resolve_model_path(args.model), use_cpu=True)
    system = uses_system_prompt(args.model)
    chats = [path_chat(q, t, system) for q, t in zip(paths["question"], paths["text"], strict=True)]
    lengths = [len(x) for x in encode(tokenizer, chats)]
    print(f"{len(chats)} paths, {np.mean(lengths):.0f} tokens on average (max {max(lengths)}), "
          f"{sum(p.numel() for p in model.parameters()):,} parameters")  # fmt: skip

    results = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for order in ("sorted", "unsorted"):
            for batch in args.batch_sizes:
                if order == "unsorted" and batch == 1:
                    continue  # the same as sorted
                best = float("inf")
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    ids = encode(tokenizer, chats)
                    score = score_ids if order == "sorted" else unsorted_scores
                    score(model, ids, tokenizer.pad_token_id, batch)
                    best = min(best, time.perf_counter() - start)
                row = {"threads": threads, "order": order, "batch_size": batch,
                       "seconds": round(best, 3),
                       "paths_per_second": round(len(chats) / best, 1)}  # fmt: skip
                results.append(row)
                print(f"threads {threads}  {order:8s}  batch {batch:4d}: "
                      f"{row['paths_per_second']:8.1f} paths/s ({best:.2f} s)")  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"paths": len(chats), "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
