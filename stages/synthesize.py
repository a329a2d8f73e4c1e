"""synthesize: seeds → new problems per subject, kept only when novel.

Reads   SEEDS                        data/taxonomy/seeds.parquet (stage taxonomy)
Writes  OUT_DIR/questions.parquet    one row a problem (the `questions` view):
            question_id   content hash of the question (mathforge.lineage)
            subject, skill
            variant       base | hard | ood   (ood rows are held out by `split`)
            question, answer, solution   (solution: mixed CoT+PoT; null when unknown)
            generator     seed | programmatic | llm
            seed_ids      list of seed ids the problem was drawn or prompted from
            params        JSON of the draw (generator parameters, prompt round, ...)
            synth_index   position in the novelty filter's order (seeds first)
        OUT_DIR/rejects.parquet      every dropped problem with its reason
        METRICS                      drawn / kept / dropped by reason, per subject
Seeds are the first rows (generator=seed) and the novelty filter's initial pool.
With the default params: per_subject + ood_per_subject rows for each of the 7
programmatic subjects, plus the seeds.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

import polars as pl
from tqdm import tqdm

from mathforge.config import SynthesizeParams, load_params
from mathforge.errors import UserError, run_stage
from mathforge.expectations import expectations_module, table_contract, validate
from mathforge.generation import build_generator
from mathforge.grading import grade_solutions, sandbox_isolation
from mathforge.io import rejects_frame, write_json, write_parquet
from mathforge.lineage import question_id
from mathforge.synthesis.programmatic import NoveltyPool, draw_subject
from mathforge.synthesis.self_instruct import Candidate, synthesize_subject
from mathforge.teacher import SUBJECTS, VARIANTS

QUESTIONS_SCHEMA = {
    "question_id": pl.String,
    "subject": pl.String,
    "skill": pl.String,
    "variant": pl.String,
    "question": pl.String,
    "answer": pl.String,
    "solution": pl.String,
    "generator": pl.String,
    "seed_ids": pl.List(pl.String),
    "params": pl.String,
    "synth_index": pl.Int64,
}


def plan_paths(subjects: list[str], cfg: SynthesizeParams) -> dict[str, str]:
    """Which synthesis path serves each subject; unknown subjects fail unless llm may serve them."""
    paths = {}
    for subject in subjects:
        if cfg.generator == "llm" or (cfg.generator == "auto" and subject not in SUBJECTS):
            paths[subject] = "llm"
        elif subject in SUBJECTS:
            paths[subject] = "programmatic"
        else:
            raise UserError(
                f"subject '{subject}' (from the seed files) has no programmatic generator "
                f"(known: {', '.join(SUBJECTS)}); set synthesize.generator=auto to serve it "
                "with the llm path (synthesize.self_instruct.endpoint), or remove its seeds"
            )
    endpoint = cfg.self_instruct.endpoint
    if "llm" in paths.values() and endpoint.backend == "openai" and not endpoint.base_url:
        llm_subjects = ", ".join(s for s, p in paths.items() if p == "llm")
        raise UserError(
            f"subjects {llm_subjects} need the llm path, but "
            "synthesize.self_instruct.endpoint.base_url is not set"
        )
    return paths


def _lineage_seeds(seeds: pl.DataFrame) -> dict[tuple[str, str], list[str]]:
    """(subject, skill) → seed ids a programmatic template stands for (the subject's if none)."""
    by_skill: dict[tuple[str, str], list[str]] = {}
    for row in seeds.iter_rows(named=True):
        by_skill.setdefault((row["subject"], row["skill"]), []).append(row["seed_id"])
        by_skill.setdefault((row["subject"], "*"), []).append(row["seed_id"])
    return by_skill


def _reject(subject: str, question: str, reason: str, detail: dict) -> dict:
    return {
        "stage": "synthesize",
        "reason": reason,
        "subject": subject,
        "question_id": question_id(question),
        "question": question,
        "detail": json.dumps(detail, sort_keys=True),
    }


def seed_rows(seeds: pl.DataFrame, pool: NoveltyPool, counts, rejects: list) -> list[dict]:
    """Seeds open the pool, as in Self-Instruct; a repeated seed question is a reject."""
    rows = []
    verdicts = pool.add_seeds(seeds["question"].to_list())
    for seed, reason in zip(seeds.iter_rows(named=True), verdicts, strict=True):
        if reason is not None:
            counts[seed["subject"]][f"dropped_seed_{reason}"] += 1
            rejects.append(
                _reject(seed["subject"], seed["question"], reason, {"seed_id": seed["seed_id"]})
            )
            continue
        counts[seed["subject"]]["seeds"] += 1
        rows.append(
            {
                "subject": seed["subject"],
                "skill": seed["skill"],
                "variant": "base",
                "question": seed["question"],
                "answer": seed["answer"],
                "solution": seed["solution"],
                "generator": "seed",
                "seed_ids": [seed["seed_id"]],
                "params": json.dumps({"file": seed["file"], "line": seed["line"]}),
            }
        )
    return rows


def programmatic_rows(subject, cfg, rng, pool, lineage, counts, rejects, bar) -> list[dict]:
    """In-distribution then out-of-distribution draws of one subject's generators."""
    rows = []
    in_dist = lambda r: "hard" if r.random() < cfg.hard_fraction else "base"  # noqa: E731
    for kind, quota, choose in (
        ("in_dist", cfg.per_subject, in_dist),
        ("ood", cfg.ood_per_subject, lambda r: "ood"),
    ):
        max_draws = int(quota * cfg.max_draws_factor)
        draws = draw_subject(
            subject, quota, rng=rng, choose_variant=choose, pool=pool, max_draws=max_draws
        )
        bar.update(quota)
        for p in draws.kept:
            rows.append(
                {
                    "subject": p.subject,
                    "skill": p.skill,
                    "variant": p.variant,
                    "question": p.question,
                    "answer": p.answer,
                    "solution": p.solution,
                    "generator": "programmatic",
                    "seed_ids": lineage.get((subject, p.skill)) or lineage[(subject, "*")],
                    "params": json.dumps(p.params, sort_keys=True),
                }
            )
        for p, reason in draws.dropped:
            rejects.append(
                _reject(subject, p.question, reason, {"skill": p.skill, "variant": p.variant})
            )
        c = counts[subject]
        c[f"drawn_{kind}"] += draws.drawn
        c[f"kept_{kind}"] += len(draws.kept)
        c.update(f"dropped_{reason}" for _, reason in draws.dropped)
        if len(draws.kept) < quota:
            c[f"short_of_quota_{kind}"] += quota - len(draws.kept)
    return rows


def llm_rows(subject, seeds, generator, cfg, rng, pool, counts, rejects, bar) -> list[dict]:
    """Self-Instruct for one subject through the generation backend."""
    subject_seeds = seeds.filter(pl.col("subject") == subject)
    skills = list(dict.fromkeys(subject_seeds["skill"].to_list() + list(SUBJECTS.get(subject, {}))))
    examples = [
        {**row, "id": row["seed_id"]}
        for row in subject_seeds.select(
            "seed_id", "subject", "skill", "question", "answer", "solution"
        ).iter_rows(named=True)
    ]

    def accept(candidates: list[Candidate]) -> list[bool]:
        return [reason is None for reason in pool.accept([c.question for c in candidates])]

    kept, rejected = synthesize_subject(
        subject, skills, examples, generator, cfg.self_instruct, rng, accept
    )
    bar.update(1)
    counts[subject]["kept_llm"] += len(kept)
    counts[subject].update(f"dropped_{r.reason}" for r in rejected)
    for r in rejected:
        rejects.append(
            _reject(subject, r.raw, r.reason, {"prompt": r.prompt_index, "sample": r.sample_index})
        )
    return [
        {
            "subject": c.subject,
            "skill": c.skill,
            "variant": "base",
            "question": c.question,
            "answer": c.answer,
            "solution": c.solution,
            "generator": "llm",
            "seed_ids": c.seed_ids,
            "params": json.dumps({"candidate_id": c.id, **c.params}, sort_keys=True),
        }
        for c in kept
    ]


def check_references(rows: list[dict], cfg, counts, rejects) -> tuple[list[dict], pl.DataFrame]:
    """Run every reference solution in the sandbox and grade what it prints.

    llm rows whose solution does not print their answer are dropped (reason
    `reference_wrong`, the error kind in detail); seed and programmatic rows are
    returned in a checks frame whose `check` is "ok" or what went wrong, for the
    stage's expectation (they must all be "ok").
    """
    with_solution = [i for i, row in enumerate(rows) if row["solution"] is not None]
    graded = grade_solutions(
        [rows[i]["solution"] for i in with_solution],
        [rows[i]["answer"] for i in with_solution],
        cfg.sandbox,
    )
    dropped, checks = set(), []
    for i, g in zip(with_solution, graded, strict=True):
        row = rows[i]
        counts[row["subject"]]["reference_executed"] += 1
        if g.correct:
            counts[row["subject"]]["reference_verified"] += 1
            problem = None
        else:
            problem = (
                f"printed {g.predicted!r}, reference {row['answer']!r}"
                + (f" ({g.error_kind})" if g.error_kind else "")
                + (
                    f": {g.exec.stderr.strip().splitlines()[-1]}"
                    if g.exec and g.exec.stderr.strip()
                    else ""
                )
            )
        if row["generator"] == "llm":
            if problem is not None:
                dropped.add(i)
                counts[row["subject"]]["dropped_llm_reference_wrong"] += 1
                rejects.append(
                    _reject(
                        row["subject"], row["question"], "reference_wrong", {"problem": problem}
                    )
                )
            continue
        checks.append(
            {
                "question_id": question_id(row["question"]),
                "generator": row["generator"],
                "check": "ok" if problem is None else f"{question_id(row['question'])}: {problem}",
            }
        )
    kept = [row for i, row in enumerate(rows) if i not in dropped]
    schema = {"question_id": pl.String, "generator": pl.String, "check": pl.String}
    return kept, pl.DataFrame(checks, schema=schema)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("metrics", type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: SynthesizeParams = load_params("synthesize", args.params)

    seeds = pl.read_parquet(args.seeds)
    subjects = sorted(seeds["subject"].unique())
    paths = plan_paths(subjects, cfg)
    rng = random.Random(cfg.seed)
    counts: dict[str, Counter] = {s: Counter() for s in subjects}
    rejects: list[dict] = []
    pool = NoveltyPool(cfg.novelty_threshold)
    rows = seed_rows(seeds, pool, counts, rejects)

    lineage = _lineage_seeds(seeds)
    generator = None
    if "llm" in paths.values():
        generator = build_generator(cfg.self_instruct.endpoint)
    # Progress: problems for programmatic subjects, one unit per llm subject.
    total = sum(
        cfg.per_subject + cfg.ood_per_subject if path == "programmatic" else 1
        for path in paths.values()
    )
    with tqdm(total=total, desc="synthesize", unit="problem", disable=None) as bar:
        for subject in subjects:
            if paths[subject] == "programmatic":
                rows += programmatic_rows(subject, cfg, rng, pool, lineage, counts, rejects, bar)
            else:
                rows += llm_rows(subject, seeds, generator, cfg, rng, pool, counts, rejects, bar)

    rows, checks = check_references(rows, cfg, counts, rejects)
    questions = pl.DataFrame(
        [
            {**row, "question_id": question_id(row["question"]), "synth_index": i}
            for i, row in enumerate(rows)
        ],
        schema=QUESTIONS_SCHEMA,
    )
    rejected = rejects_frame(rejects)

    gxe = expectations_module()
    # Every seed and programmatic reference solution, executed, prints its answer.
    report_checks = validate(
        checks,
        "reference_checks",
        [gxe.ExpectColumnValuesToBeInSet(column="check", value_set=["ok"])],
    )
    report = validate(
        questions,
        "questions",
        table_contract(
            gxe,
            QUESTIONS_SCHEMA,
            not_null=[
                "question_id",
                "subject",
                "skill",
                "variant",
                "question",
                "generator",
                "seed_ids",
                "params",
                "synth_index",
            ],
            unique=["question_id", "synth_index"],
            non_empty_text=["question", "subject", "skill"],
            in_set={"variant": VARIANTS, "generator": ["seed", "programmatic", "llm"]},
            row_count=len(rows),
        )
        + [
            gxe.ExpectColumnValuesToMatchRegex(column="question_id", regex=r"^q_[0-9a-f]{16}$"),
            gxe.ExpectColumnValuesToBeJsonParseable(column="params"),
            # Programmatic problems always carry an exact answer and a reference solution.
            gxe.ExpectColumnValuesToNotBeNull(
                column="answer", row_condition='generator!="llm"', condition_parser="pandas"
            ),
        ],
    )

    write_parquet(questions, args.out_dir / "questions.parquet")
    write_parquet(rejected, args.out_dir / "rejects.parquet")
    per_subject = {s: dict(sorted(c.items())) for s, c in counts.items()}
    totals = sum(counts.values(), Counter())
    write_json(
        {
            "questions": questions.height,
            "rejects": rejected.height,
            "by_generator": dict(
                questions.group_by("generator").len().sort("generator").iter_rows()
            ),
            "by_variant": dict(questions.group_by("variant").len().sort("variant").iter_rows()),
            "totals": dict(sorted(totals.items())),
            "per_subject": per_subject,
            "paths": paths,
            "expectations_evaluated": report["evaluated"] + report_checks["evaluated"],
            "sandbox_isolation": sandbox_isolation(cfg.sandbox),
        },
        args.metrics,
    )
    print(f"synthesize: kept {questions.height} problems, rejected {rejected.height}")


if __name__ == "__main__":
    run_stage("synthesize", main)
