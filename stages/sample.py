"""sample: every SFT'd policy model samples n mixed CoT+PoT paths per train problem; each path
is executed in the sandbox and graded.

Reads   TRAIN       data/splits/train.parquet (contract `train`): question_id, subject,
                    question, answer (null for llm problems without a reference answer)
        MODELS      models/sft/: every subdirectory <name>/ is a policy model (stage sft@<name>)
Writes  OUT_DIR/<model>/shard-NNNNN.parquet   one row per path (contract and view `paths`),
                    `shard_size` problems x n paths a file
        OUT_DIR/problems.parquet   one row per sampled problem (contract and view `sampled`):
                    the reference graded against and where it came from (gold | majority |
                    none), the majority's share, paths, correct and ungradable paths
        OUT_DIR/rejects.parquet    problems left without a reference (no majority answer)
        METRICS     per model: accuracy overall and per subject (correct / graded paths; wrong
                    and ungradable paths counted apart), pass@k, problems with a correct path,
                    error kinds, distinct answers per problem, finish reasons; the majority
                    vote's outcome. Its run log (metrics/sample.run.json, mathforge.stage):
                    paths/s and tokens/s per generating process (over the seconds its
                    shards took: with several workers, less than the stage's rate;
                    wall_seconds_this_run is the stage's), shards resumed
Sharded and resumable: each (model, block of `shard_size` problems) is one shard, kept in
OUT_DIR.partial/<fingerprint>/ as soon as it is graded (mathforge.shards). A rerun after a
crash or a kill (also after `dvc repro` deleted OUT_DIR) skips the finished shards and
produces the same rows as an uninterrupted run: every shard samples with its own seed, so the
rows are the same whichever of `sample.workers` processes generates it (and however many).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from tqdm import tqdm

from mathforge.config import EngineParams, SampleParams, load_params
from mathforge.contracts.models import EXAMPLES_FILE, SFT_EXAMPLES
from mathforge.contracts.paths import PATHS, SAMPLED
from mathforge.contracts.splits import TRAIN
from mathforge.errors import UserError, run_stage
from mathforge.generation import Chat, Completion, SamplingParams, TextGenerator, build_generator
from mathforge.grading import sandbox_isolation
from mathforge.io import write_parquet
from mathforge.modeling import uses_system_prompt
from mathforge.parallel import pool_map
from mathforge.sampling import (
    grade_paths,
    model_metrics,
    pool_metrics,
    problem_counts,
    regrade,
    vote,
)
from mathforge.shards import ShardStore, fingerprint, stage_code_deps
from mathforge.solution import solve_prompt
from mathforge.splitting import stratified_sample
from mathforge.stage import Stage, atomic_dir


def shard_key(model: str, index: int) -> str:
    return f"{model}--shard-{index:05d}"


def shard_file(out_dir: Path, key: str) -> Path:
    model, name = key.split("--")
    return out_dir / model / f"{name}.parquet"


def sft_examples(models: dict[str, Path]) -> set[str]:
    """The question ids any of `models` learned from in SFT (their sft_examples.parquet)."""
    learned: set[str] = set()
    for name, path in models.items():
        file = path / EXAMPLES_FILE
        if not file.is_file():
            raise UserError(f"{file} not found: {name} was not trained by stage sft@{name}")
        learned.update(SFT_EXAMPLES.read(file, ["question_id"])["question_id"].to_list())
    return learned


def problems_to_sample(
    train: pl.DataFrame, models: dict[str, Path], cfg: SampleParams
) -> tuple[pl.DataFrame, int]:
    """The train problems to sample (`max_problems` of them, stratified, seeded; without the
    SFT examples of `models` when `skip_sft_examples`) and how many SFT examples were left out."""
    learned = sft_examples(models) if cfg.skip_sft_examples else set()
    candidates = train.filter(~pl.col("question_id").is_in(sorted(learned)))
    if candidates.height == 0:
        raise UserError("every train problem was an SFT example: none is left to sample")
    return stratified_sample(
        candidates, cfg.max_problems, cfg.seed
    ), train.height - candidates.height


@dataclass(frozen=True)
class ShardJob:
    """One shard to generate: `chats` (one per problem) by the model in `model_dir`."""

    model_dir: str
    engine: EngineParams
    chats: list[Chat]
    params: SamplingParams


_loaded: dict[str, TextGenerator] = {}  # this process's model, by directory: one at a time


def generate_shard(job: ShardJob) -> tuple[list[list[Completion]], float]:
    """The completions of `job` and the seconds they took, in whichever process runs it (a
    worker of `pool_map`, or this one). The process keeps the model it loaded for its next
    shard and drops it when a shard of another model comes (jobs come model by model);
    `release_models` drops it at the end."""
    generator = _loaded.get(job.model_dir)
    if generator is None:
        release_models()
        generator = _loaded[job.model_dir] = build_generator(job.engine, model_path=job.model_dir)
        generator.progress = False  # the stage's bar counts paths across shards
    start = time.perf_counter()
    completions = generator.complete(job.chats, job.params)
    return completions, time.perf_counter() - start


def release_models() -> None:
    """Drop the model `generate_shard` keeps in this process."""
    _loaded.clear()


def sample_all(
    problems: pl.DataFrame,
    models: dict[str, Path],
    cfg: SampleParams,
    store: ShardStore,
    stage: Stage,
) -> None:
    """Sample, grade, validate and store every (model, shard) not finished yet, with a
    progress bar. The shards generate in `cfg.workers` processes (each keeps one model
    loaded); grading a shard (sandbox, answers_match, expectations, write) runs in a
    background thread of this one while the next shards generate, so the sandbox's processes
    use what generation leaves of the cores."""
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
    gxe = stage.gxe
    shard_rules = [gxe.ExpectColumnValuesToBeBetween(column="sample_index", max_value=cfg.n - 1)]
    shard_rules.append(
        gxe.ExpectColumnValuesToBeBetween(column="completion_tokens", max_value=cfg.max_tokens)
    )

    def grade_and_store(model, i, completions, generate_seconds):
        start = time.perf_counter()
        df = grade_paths(blocks[i], completions, model, cfg.sandbox)
        key = shard_key(model, i)
        expected = blocks[i].height * cfg.n
        stage.validate(df, PATHS, name=key, row_count=expected, extra=shard_rules)
        tokens = int(df["completion_tokens"].sum() or 0)
        stats = {
            "generate_seconds": generate_seconds,
            "grade_seconds": time.perf_counter() - start,
            "completion_tokens": tokens,
        }
        store.write(key, df, stats)
        return df.height, tokens, generate_seconds

    def collect(future):
        paths, tokens, seconds = future.result()
        totals.update(paths=paths, tokens=tokens, seconds=seconds)
        bar.update(paths)
        bar.set_postfix(
            paths_per_s=f"{totals['paths'] / totals['seconds']:.1f}",
            tokens_per_s=f"{totals['tokens'] / totals['seconds']:.0f}",
        )

    # A shard a killed run finished is checked again, as it was when written: a stale file
    # fails here, and a resumed run evaluates the expectations an uninterrupted one does (the
    # metrics count them).
    for model in models:
        for i, block in enumerate(blocks):
            key = shard_key(model, i)
            if store.done(key):
                rows = block.height * cfg.n
                stage.validate(store.read(key), PATHS, name=key, row_count=rows, extra=shard_rules)
    jobs = [
        (model, i)
        for model in models
        for i in range(len(blocks))
        if not store.done(shard_key(model, i))
    ]
    pending = None
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="grade") as grader:
            systems = {model: uses_system_prompt(path) for model, path in models.items()}
            shards = [shard_job(m, models[m], systems[m], i, blocks[i], cfg) for m, i in jobs]
            generated = pool_map(generate_shard, shards, cfg.workers)
            for (model, i), (completions, seconds) in zip(jobs, generated, strict=True):
                bar.set_description(f"sample {model}")
                if pending is not None:
                    collect(pending)
                pending = grader.submit(grade_and_store, model, i, completions, seconds)
            if pending is not None:
                collect(pending)
    finally:
        release_models()
        bar.close()


def shard_job(
    model: str, model_dir: Path, system: bool, i: int, block: pl.DataFrame, cfg: SampleParams
) -> ShardJob:
    """Shard `i` (problems `block`) of `model`: its prompts (with the system message or not)
    and its own seed."""
    params = SamplingParams(
        n=cfg.n,
        temperature=cfg.temperature_for(model),
        top_p=cfg.top_p,
        max_tokens=cfg.max_tokens,
        seed=cfg.seed * 1_000_003 + i * cfg.shard_size,
    )
    chats = [solve_prompt(q, system=system) for q in block["question"]]
    return ShardJob(str(model_dir), cfg.engine, chats, params)


def assemble(
    store: ShardStore,
    problems: pl.DataFrame,
    models: int,
    out_dir: Path,
    cfg: SampleParams,
    stage: Stage,
) -> tuple[pl.DataFrame, dict, dict]:
    """Write the finished shards (regraded where a majority decided), problems.parquet and
    rejects.parquet into `out_dir`, all at once; return the references, the per-model metrics
    and the pool's (every model together).
    The scratch shards stay until the caller is done, so a crash here loses nothing."""
    references = vote(pl.scan_parquet([store.path(k) for k in store.finished()]), problems, cfg)
    dropped = references.filter(pl.col("reference_source") == "none").join(
        problems.select("question_id", "question"), on="question_id"
    )
    for r in dropped.iter_rows(named=True):
        stage.drop(
            "no_majority",
            subject=r["subject"],
            question=r["question"],
            question_id=r["question_id"],
            detail={"min_share": cfg.majority_min_share, "best_share": r["majority_share"]},
        )
    expected = problems.height * cfg.n * models
    with atomic_dir(out_dir) as tmp:
        for key in store.finished():
            write_parquet(regrade(store.read(key), references), shard_file(tmp, key))
        paths = pl.scan_parquet(str(tmp / "*" / "*.parquet"))
        sampled = problem_counts(paths, references)
        stage.validate(sampled, SAMPLED, row_count=problems.height)
        gxe = stage.gxe
        stage.check(
            paths.select("path_id", "correct", "reference_source", "predicted").collect(),
            "paths_all",
            [
                gxe.ExpectTableRowCountToEqual(value=expected),
                gxe.ExpectColumnValuesToBeUnique(column="path_id"),
                *PATHS.rules(gxe),  # the correct rule, after the majority regrade
            ],
        )
        write_parquet(sampled, tmp / "problems.parquet")
        stage.write_rejects(tmp / "rejects.parquet")
        metrics = model_metrics(paths, cfg.pass_k)
        pool = pool_metrics(paths)
    return references, metrics, pool


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("models", type=Path, help="models/sft: one directory per policy model")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: SampleParams = load_params("sample", args.params)
    stage = Stage("sample")

    found = sorted(args.models.iterdir()) if args.models.is_dir() else []
    models = {p.name: p for p in found if p.is_dir() and not p.name.startswith(".")}  # .x.tmp
    if not models:
        raise UserError(f"no policy model in {args.models} (run `dvc repro sft`)")
    for name, path in models.items():
        if not (path / "config.json").is_file():
            raise UserError(f"policy model {path} not found (run `dvc repro sft@{name}`)")
    train = TRAIN.read(args.train, ["question_id", "subject", "question", "answer"])
    problems, skipped = problems_to_sample(train, models, cfg)
    store = ShardStore.open(
        args.out_dir,
        fingerprint(
            {"params": cfg.model_dump(exclude={"workers"}), "models": list(models)},
            [args.train, *models.values(), *stage_code_deps("sample", Path(__file__).parents[1])],
        ),
    )
    resumed = len(store.finished())
    if resumed:
        print(f"sample: resuming, {resumed} finished shard(s) in {store.root}")
    wall = time.perf_counter()
    sample_all(problems, models, cfg, store, stage)
    wall = time.perf_counter() - wall
    stage.uses_sandbox(sandbox_isolation(cfg.sandbox))

    references, metrics, pool = assemble(store, problems, len(models), args.out_dir, cfg, stage)
    stats_of = {k: store.stats(k) for k in store.finished()}
    for model, entry in metrics.items():
        shard_stats = [v for k, v in stats_of.items() if k.startswith(f"{model}--")]
        seconds = sum(s.get("generate_seconds", 0.0) for s in shard_stats)
        tokens = sum(s.get("completion_tokens", 0) for s in shard_stats)
        entry["temperature"] = cfg.temperature_for(model)
        entry["tokens_per_s"] = round(tokens / seconds, 1) if seconds else None
        entry["paths_per_s"] = round(entry["paths"] / seconds, 2) if seconds else None
    stats = list(stats_of.values())
    generate_seconds = sum(s.get("generate_seconds", 0.0) for s in stats)
    tokens = sum(s.get("completion_tokens", 0) for s in stats)
    stage.write_metrics(
        args.metrics,
        problems=problems.height,
        problems_skipped_sft_examples=skipped,
        paths=problems.height * cfg.n * len(models),
        n=cfg.n,
        models=metrics,
        pool=pool,
        reference_sources=dict(sorted(Counter(references["reference_source"].to_list()).items())),
        generate_seconds=round(generate_seconds, 1),
        grade_seconds=round(sum(s.get("grade_seconds", 0.0) for s in stats), 1),
        tokens_per_s=round(tokens / generate_seconds, 1) if generate_seconds else None,
        shards=len(stats),
        shards_resumed=resumed,
        wall_seconds_this_run=round(wall, 1),
    )
    store.discard()
    summary = ", ".join(f"{m} {v['accuracy']:.1%}" for m, v in metrics.items())
    paths = problems.height * cfg.n * len(models)
    print(f"sample: {paths} paths over {problems.height} problems; accuracy {summary}")


if __name__ == "__main__":
    run_stage("sample", main)
