"""sample: every SFT'd policy model samples n mixed CoT+PoT paths per train problem; each path
is executed in the sandbox and graded.

Reads   TRAIN       data/splits/train.parquet: question_id, subject, question, answer (null for
                    llm problems without a reference answer)
        MODELS      models/sft/: every subdirectory <name>/ is a policy model (stage sft@<name>)
Writes  OUT_DIR/<model>/shard-NNNNN.parquet   one row per path (the `paths` view; columns:
                    mathforge.sampling.PATHS_SCHEMA), `shard_size` problems x n paths a file
        OUT_DIR/problems.parquet   one row per sampled problem (the `sampled` view): the
                    reference graded against and where it came from (gold | majority | none),
                    the majority's share, paths and correct paths over every model
        OUT_DIR/rejects.parquet    problems left without a reference (no majority answer)
        METRICS     per model: accuracy overall and per subject, pass@k, problems with a
                    correct path, error kinds, distinct answers per problem, finish reasons,
                    paths/s and tokens/s; the majority vote's outcome
Sharded and resumable: each (model, block of `shard_size` problems) is one shard, kept in
OUT_DIR.partial/<fingerprint>/ as soon as it is graded (mathforge.shards). A rerun after a
crash or a kill (also after `dvc repro` deleted OUT_DIR) skips the finished shards and
produces the same rows as an uninterrupted run: every shard samples with its own seed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import polars as pl  # noqa: E402
from tqdm import tqdm  # noqa: E402

from mathforge.config import SampleParams, load_params  # noqa: E402
from mathforge.errors import UserError, run_stage  # noqa: E402
from mathforge.expectations import expectations_module, table_contract, validate  # noqa: E402
from mathforge.generation import SamplingParams, build_generator  # noqa: E402
from mathforge.grading import sandbox_isolation  # noqa: E402
from mathforge.io import rejects_frame, write_json, write_parquet  # noqa: E402
from mathforge.modeling import uses_system_prompt  # noqa: E402
from mathforge.sampling import (  # noqa: E402
    PATHS_SCHEMA,
    REFERENCE_SOURCES,
    grade_paths,
    majority_reference,
    pass_at_k,
)
from mathforge.sandbox import ERROR_KINDS  # noqa: E402
from mathforge.shards import ShardStore, fingerprint, stage_code_deps  # noqa: E402
from mathforge.solution import solve_prompt  # noqa: E402
from mathforge.splitting import stratified_sample  # noqa: E402
from mathforge.verify import answers_match_batch  # noqa: E402

INPUT_COLUMNS = ("question_id", "subject", "question", "answer")
PATH_ERROR_KINDS = [*ERROR_KINDS, "no_program", "no_output"]
PROBLEMS_SCHEMA = {
    "question_id": pl.String,
    "subject": pl.String,
    "reference": pl.String,
    "reference_source": pl.String,
    "majority_share": pl.Float64,  # share of the problem's paths giving the majority answer
    "paths": pl.Int64,
    "correct_paths": pl.Int64,
}


def read_problems(path: Path, cfg: SampleParams) -> pl.DataFrame:
    train = pl.read_parquet(path)
    missing = set(INPUT_COLUMNS) - set(train.columns)
    if missing:
        raise UserError(f"train split {path} lacks column(s) {', '.join(sorted(missing))}")
    if train.height == 0:
        raise UserError(f"train split {path} is empty")
    return stratified_sample(train.select(INPUT_COLUMNS), cfg.max_problems, cfg.seed)


def shard_key(model: str, index: int) -> str:
    return f"{model}--shard-{index:05d}"


def shard_file(out_dir: Path, key: str) -> Path:
    model, name = key.split("--")
    return out_dir / model / f"{name}.parquet"


def check_shard(df: pl.DataFrame, key: str, problems: int, cfg: SampleParams) -> None:
    gxe = expectations_module()
    suite = table_contract(
        gxe,
        list(PATHS_SCHEMA),
        not_null=["path_id", "question_id", "subject", "model", "sample_index", "text"],
        unique=["path_id"],
        in_set={"error_kind": PATH_ERROR_KINDS, "reference_source": REFERENCE_SOURCES},
        between={"sample_index": (0, cfg.n - 1), "completion_tokens": (0, cfg.max_tokens)},
        row_count=problems * cfg.n,
    )
    validate(df, f"paths_{key.replace('-', '_')}", suite)


def generator_for(model_dir: Path, cfg: SampleParams):
    return build_generator(cfg.engine, model_path=str(model_dir))


def sample_all(
    problems: pl.DataFrame, models: dict[str, Path], cfg: SampleParams, store: ShardStore
) -> None:
    """Sample, grade and store every (model, shard) not finished yet, with a progress bar.

    Grading a shard (sandbox, answers_match, expectations, write) runs in a background thread
    while the next shard generates, so the sandbox's processes use the core generation leaves.
    """
    blocks = [problems[i : i + cfg.shard_size] for i in range(0, problems.height, cfg.shard_size)]
    total = problems.height * cfg.n * len(models)
    done_paths = sum(
        block.height * cfg.n
        for model in models
        for i, block in enumerate(blocks)
        if store.done(shard_key(model, i))
    )
    bar = tqdm(total=total, initial=done_paths, desc="sample", unit="path", dynamic_ncols=True)
    totals = Counter()

    def grade_and_store(model, i, completions, generate_seconds):
        start = time.perf_counter()
        df = grade_paths(blocks[i], completions, model, cfg.sandbox)
        check_shard(df, shard_key(model, i), blocks[i].height, cfg)
        tokens = int(df["completion_tokens"].sum() or 0)
        stats = {
            "generate_seconds": generate_seconds,
            "grade_seconds": time.perf_counter() - start,
            "completion_tokens": tokens,
        }
        store.write(shard_key(model, i), df, stats)
        return df.height, tokens, generate_seconds

    def collect(future):
        paths, tokens, seconds = future.result()
        totals.update(paths=paths, tokens=tokens, seconds=seconds)
        bar.update(paths)
        bar.set_postfix(
            paths_per_s=f"{totals['paths'] / totals['seconds']:.1f}",
            tokens_per_s=f"{totals['tokens'] / totals['seconds']:.0f}",
        )

    pending = None
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="grade") as grader:
            for model, model_dir in models.items():
                todo = [i for i in range(len(blocks)) if not store.done(shard_key(model, i))]
                if not todo:
                    continue
                generator = generator_for(model_dir, cfg)
                generator.progress = False  # this stage's bar counts paths across calls
                system = uses_system_prompt(model_dir)
                bar.set_description(f"sample {model}")
                for i in todo:
                    params = SamplingParams(
                        n=cfg.n,
                        temperature=cfg.temperature,
                        top_p=cfg.top_p,
                        max_tokens=cfg.max_tokens,
                        seed=cfg.seed * 1_000_003 + i * cfg.shard_size,
                    )
                    start = time.perf_counter()
                    chats = [solve_prompt(q, system=system) for q in blocks[i]["question"]]
                    completions = generator.complete(chats, params)
                    seconds = time.perf_counter() - start
                    if pending is not None:
                        collect(pending)
                    pending = grader.submit(grade_and_store, model, i, completions, seconds)
                del generator
            if pending is not None:
                collect(pending)
    finally:
        bar.close()


def vote(store: ShardStore, problems: pl.DataFrame, cfg: SampleParams) -> pl.DataFrame:
    """One row per problem: the reference its paths are graded against and where it came from
    (the problem's answer, or the majority of every model's paths when it has none)."""
    unreferenced = problems.filter(pl.col("answer").is_null())["question_id"].to_list()
    predicted = dict(
        pl.scan_parquet([store.path(k) for k in store.finished()])
        .filter(pl.col("question_id").is_in(unreferenced))
        .group_by("question_id")
        .agg(pl.col("predicted"))
        .collect()
        .iter_rows()
    )

    def reference(qid: str, answer: str | None) -> tuple[str | None, str, float | None]:
        if answer is not None:
            return answer, "gold", None
        found = majority_reference(
            predicted.get(qid, []), cfg.majority_min_share, cfg.majority_min_votes
        )
        return found.answer, "none" if found.answer is None else "majority", round(found.share, 4)

    rows = [
        (qid, subject, *reference(qid, answer))
        for qid, subject, answer in problems.select("question_id", "subject", "answer").iter_rows()
    ]
    columns = list(PROBLEMS_SCHEMA)[:5]  # question_id ... majority_share
    return pl.DataFrame(rows, schema={k: PROBLEMS_SCHEMA[k] for k in columns}, orient="row")


def regrade(df: pl.DataFrame, references: pl.DataFrame) -> pl.DataFrame:
    """Grade the paths of majority-referenced problems against the majority answer."""
    voted = references.filter(pl.col("reference_source") != "gold").select(
        "question_id", pl.col("reference").alias("_ref"), pl.col("reference_source").alias("_src")
    )
    if voted.is_empty() or not df["question_id"].is_in(voted["question_id"].to_list()).any():
        return df
    df = df.join(voted, on="question_id", how="left")
    todo = [
        i for i, (ref, pred) in enumerate(zip(df["_ref"], df["predicted"], strict=True))
        if ref is not None and pred is not None
    ]  # fmt: skip
    verdicts = dict(
        zip(
            todo,
            answers_match_batch([df["predicted"][i] for i in todo], [df["_ref"][i] for i in todo]),
            strict=True,
        )  # fmt: skip
    )
    correct = [
        verdicts.get(i) if src is not None else old
        for i, (src, old) in enumerate(zip(df["_src"], df["correct"], strict=True))
    ]
    return df.with_columns(
        reference=pl.coalesce("_ref", "reference"),
        reference_source=pl.coalesce("_src", "reference_source"),
        correct=pl.Series(correct, dtype=pl.Boolean),
    ).select(list(PATHS_SCHEMA))


def model_metrics(paths: pl.LazyFrame, cfg: SampleParams) -> dict:
    """Per model: accuracy, pass@k, coverage, error kinds, distinct answers, finish reasons."""
    out: dict[str, dict] = {}
    frame = paths.select(
        "model", "question_id", "subject", "predicted", "correct", "error_kind",
        "finish_reason", "reference_source", "completion_tokens",
    ).collect()  # fmt: skip
    for (model,), df in frame.group_by("model", maintain_order=True):
        graded = df.filter(pl.col("reference_source") != "none")
        per_problem = graded.group_by("question_id").agg(
            n=pl.len(), c=pl.col("correct").fill_null(False).sum()
        )
        pass_k = {
            f"pass@{k}": round(
                sum(pass_at_k(n, c, k) for n, c in per_problem.select("n", "c").iter_rows())
                / max(per_problem.height, 1),
                4,
            )
            for k in cfg.pass_k
        }
        by_subject = (
            graded.group_by("subject")
            .agg(pl.col("correct").fill_null(False).mean())
            .sort("subject")
        )
        distinct = df.group_by("question_id").agg(pl.col("predicted").drop_nulls().n_unique())
        out[model] = {
            "paths": df.height,
            "graded_paths": graded.height,
            "accuracy": round(float(graded["correct"].fill_null(False).mean() or 0.0), 4),
            **pass_k,
            "problems_with_a_correct_path": int((per_problem["c"] > 0).sum()),
            "accuracy_by_subject": {s: round(float(a), 4) for s, a in by_subject.iter_rows()},
            "error_kinds": dict(
                sorted(Counter(k or "ok" for k in df["error_kind"].to_list()).items())
            ),
            "finish_reasons": dict(sorted(Counter(df["finish_reason"].to_list()).items())),
            "distinct_answers_per_problem": round(float(distinct["predicted"].mean()), 3),
            "completion_tokens_mean": round(float(df["completion_tokens"].mean() or 0.0), 1),
        }
    return out


def assemble(
    store: ShardStore,
    problems: pl.DataFrame,
    references: pl.DataFrame,
    expected: int,
    out_dir: Path,
    cfg: SampleParams,
) -> tuple[dict, list[dict]]:
    """Write the finished shards (regraded where a majority decided), problems.parquet and
    rejects.parquet into `out_dir`, all at once; return the per-model metrics and rejects.
    The scratch shards stay until the caller is done, so a crash here loses nothing."""
    tmp = out_dir.parent / f".{out_dir.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for key in store.finished():
            write_parquet(regrade(store.read(key), references), shard_file(tmp, key))
        paths = pl.scan_parquet(str(tmp / "*" / "*.parquet"))
        counts = paths.group_by("question_id").agg(
            paths=pl.len(), correct_paths=pl.col("correct").sum()
        )
        write_parquet(
            references.join(counts.collect(), on="question_id", how="left").select(
                list(PROBLEMS_SCHEMA)
            ),
            tmp / "problems.parquet",
        )
        dropped = references.filter(pl.col("reference_source") == "none").join(
            problems.select("question_id", "question"), on="question_id"
        )
        rejects = [
            {
                "stage": "sample",
                "reason": "no_majority",
                "subject": r["subject"],
                "question_id": r["question_id"],
                "question": r["question"],
                "detail": f"no answer reached {cfg.majority_min_share:.0%} of the paths "
                f"(best share {r['majority_share']})",
            }
            for r in dropped.iter_rows(named=True)
        ]
        write_parquet(rejects_frame(rejects), tmp / "rejects.parquet")
        total = paths.select(pl.len(), pl.col("path_id").n_unique()).collect().row(0)
        if total != (expected, expected):
            raise UserError(f"sample: {total[0]} paths ({total[1]} ids), expected {expected}")
        metrics = model_metrics(paths, cfg)
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return metrics, rejects


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("models", type=Path, help="models/sft: one directory per policy model")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: SampleParams = load_params("sample", args.params)

    found = sorted(args.models.iterdir()) if args.models.is_dir() else []
    models = {p.name: p for p in found if p.is_dir() and not p.name.startswith(".")}  # .x.tmp
    if not models:
        raise UserError(f"no policy model in {args.models} (run `dvc repro sft`)")
    for name, path in models.items():
        if not (path / "config.json").is_file():
            raise UserError(f"policy model {path} not found (run `dvc repro sft@{name}`)")
    problems = read_problems(args.train, cfg)
    store = ShardStore.open(
        args.out_dir,
        fingerprint(
            {"params": cfg.model_dump(), "models": list(models)},
            [args.train, *models.values(), *stage_code_deps("sample", Path(__file__).parents[1])],
        ),
    )
    resumed = len(store.finished())
    if resumed:
        print(f"sample: resuming, {resumed} finished shard(s) in {store.root}")
    wall = time.perf_counter()
    sample_all(problems, models, cfg, store)
    wall = time.perf_counter() - wall

    references = vote(store, problems, cfg)
    expected = problems.height * cfg.n * len(models)
    metrics, rejects = assemble(store, problems, references, expected, args.out_dir, cfg)

    stats_of = {k: store.stats(k) for k in store.finished()}
    for model, entry in metrics.items():
        shard_stats = [v for k, v in stats_of.items() if k.startswith(f"{model}--")]
        seconds = sum(s.get("generate_seconds", 0.0) for s in shard_stats)
        tokens = sum(s.get("completion_tokens", 0) for s in shard_stats)
        entry["tokens_per_s"] = round(tokens / seconds, 1) if seconds else None
        entry["paths_per_s"] = round(entry["paths"] / seconds, 2) if seconds else None
    stats = list(stats_of.values())
    generate_seconds = sum(s.get("generate_seconds", 0.0) for s in stats)
    tokens = sum(s.get("completion_tokens", 0) for s in stats)
    sources = Counter(references["reference_source"].to_list())
    write_json(
        {
            "problems": problems.height,
            "paths": expected,
            "n": cfg.n,
            "models": metrics,
            "reference_sources": dict(sorted(sources.items())),
            "dropped_no_majority": len(rejects),
            "generate_seconds": round(generate_seconds, 1),
            "grade_seconds": round(sum(s.get("grade_seconds", 0.0) for s in stats), 1),
            "tokens_per_s": round(tokens / generate_seconds, 1) if generate_seconds else None,
            "shards": len(stats),
            "shards_resumed": resumed,
            "wall_seconds_this_run": round(wall, 1),
            "sandbox_isolation": sandbox_isolation(cfg.sandbox),
        },
        args.metrics,
    )
    store.discard()
    summary = ", ".join(f"{m} {v['accuracy']:.1%}" for m, v in metrics.items())
    print(f"sample: {expected} paths over {problems.height} problems; accuracy {summary}")


if __name__ == "__main__":
    run_stage("sample", main)
