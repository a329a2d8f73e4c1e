"""The rows of the `questions` table, built subject by subject (the synthesize stage's logic).

A :class:`Synthesis` is one run: the novelty pool every kept problem joins (seeds first), the
per-subject counters of what was drawn and kept, and the stage whose `drop` records every
dropped problem with its reason. Rows are dicts of the `questions` contract without
`question_id` and `synth_index`, which the stage adds in order.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from mathforge.config import SynthesizeParams
from mathforge.contracts.questions import REFERENCE_CHECKS
from mathforge.errors import UserError
from mathforge.generation import TextGenerator
from mathforge.grading import grade_solutions
from mathforge.lineage import question_id
from mathforge.stage import Stage
from mathforge.synthesis.programmatic import NoveltyPool, draw_subject
from mathforge.synthesis.self_instruct import Candidate, synthesize_subject
from mathforge.teacher import SUBJECTS, domain_skills

Row = dict[str, Any]


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


def lineage_seeds(seeds: pl.DataFrame) -> dict[tuple[str, str], list[str]]:
    """(subject, skill) → seed ids a programmatic template stands for ((subject, "*"): all)."""
    by_skill: dict[tuple[str, str], list[str]] = {}
    for row in seeds.iter_rows(named=True):
        by_skill.setdefault((row["subject"], row["skill"]), []).append(row["seed_id"])
        by_skill.setdefault((row["subject"], "*"), []).append(row["seed_id"])
    return by_skill


@dataclass
class Synthesis:
    """One synthesize run: pool, counters and drops shared by every subject."""

    cfg: SynthesizeParams
    stage: Stage
    rng: random.Random
    pool: NoveltyPool
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    progress: Callable[[int], None] = lambda n: None

    def count(self, subject: str) -> Counter[str]:
        return self.counts.setdefault(subject, Counter())

    def in_domain(self, seeds: pl.DataFrame) -> pl.DataFrame:
        """The seeds of the domain's subjects and skills; the others are dropped
        (`outside_domain`). Without a domain (`domain.subjects: null`) every seed stays."""
        if self.cfg.domain.subjects is None:
            return seeds
        skills = domain_skills(self.cfg.domain.subjects)
        inside = [skill in skills.get(subject, ()) for subject, skill in
                  seeds.select("subject", "skill").iter_rows()]  # fmt: skip
        for seed in seeds.filter(~pl.Series(inside, dtype=pl.Boolean)).iter_rows(named=True):
            self.stage.drop(
                "outside_domain",
                subject=seed["subject"],
                question=seed["question"],
                detail={"seed_id": seed["seed_id"], "skill": seed["skill"]},
            )
        return seeds.filter(pl.Series(inside, dtype=pl.Boolean))

    def seed_rows(self, seeds: pl.DataFrame) -> list[Row]:
        """Seeds open the pool, as in Self-Instruct; a repeated seed question is dropped."""
        rows = []
        verdicts = self.pool.add_seeds(seeds["question"].to_list())
        for seed, reason in zip(seeds.iter_rows(named=True), verdicts, strict=True):
            if reason is not None:
                self.stage.drop(
                    reason,
                    subject=seed["subject"],
                    question=seed["question"],
                    detail={"seed_id": seed["seed_id"]},
                )
                continue
            self.count(seed["subject"])["seeds"] += 1
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

    def programmatic_rows(
        self, subject: str, lineage: dict[tuple[str, str], list[str]]
    ) -> list[Row]:
        """In-distribution then out-of-distribution draws of one subject's teacher (the
        domain's skills of it)."""
        cfg, rows, c = self.cfg, [], self.count(subject)
        skills = domain_skills(cfg.domain.subjects).get(subject)

        def in_dist(r: random.Random) -> str:
            return "hard" if r.random() < cfg.hard_fraction else "base"

        for kind, quota, choose in (
            ("in_dist", cfg.per_subject, in_dist),
            ("ood", cfg.ood_per_subject, lambda r: "ood"),
        ):
            draws = draw_subject(
                subject,
                quota,
                rng=self.rng,
                choose_variant=choose,
                pool=self.pool,
                max_draws=int(quota * cfg.max_draws_factor),
                skills=skills,
            )
            self.progress(quota)
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
                self.stage.drop(
                    reason,
                    subject=subject,
                    question=p.question,
                    detail={"skill": p.skill, "variant": p.variant},
                )
            c[f"drawn_{kind}"] += draws.drawn
            c[f"kept_{kind}"] += len(draws.kept)
            if len(draws.kept) < quota:
                c[f"short_of_quota_{kind}"] += quota - len(draws.kept)
        return rows

    def llm_rows(self, subject: str, seeds: pl.DataFrame, generator: TextGenerator) -> list[Row]:
        """Self-Instruct for one subject through the generation backend."""
        subject_seeds = seeds.filter(pl.col("subject") == subject)
        skills = list(
            dict.fromkeys(subject_seeds["skill"].to_list() + list(SUBJECTS.get(subject, {})))
        )
        examples = [
            {**row, "id": row["seed_id"]}
            for row in subject_seeds.select(
                "seed_id", "subject", "skill", "question", "answer", "solution"
            ).iter_rows(named=True)
        ]

        def accept(candidates: list[Candidate]) -> list[str | None]:
            return self.pool.accept([c.question for c in candidates])

        kept, rejected = synthesize_subject(
            subject, skills, examples, generator, self.cfg.self_instruct, self.rng, accept
        )
        self.progress(1)
        self.count(subject)["kept_llm"] += len(kept)
        for r in rejected:
            self.stage.drop(
                r.reason,
                subject=subject,
                question=r.raw,
                detail={"prompt": r.prompt_index, "sample": r.sample_index},
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

    def check_references(self, rows: list[Row]) -> tuple[list[Row], pl.DataFrame]:
        """Run every reference solution in the sandbox and grade what it prints.

        llm rows whose solution does not print their answer are dropped (`reference_wrong`,
        the problem in detail); seed and programmatic rows come back in a `reference_checks`
        frame whose `check` is "ok" or what went wrong (the stage expects all "ok").
        """
        with_solution = [i for i, row in enumerate(rows) if row["solution"] is not None]
        graded = grade_solutions(
            [rows[i]["solution"] for i in with_solution],
            [rows[i]["answer"] for i in with_solution],
            self.cfg.sandbox,
        )
        dropped, checks = set(), []
        for i, g in zip(with_solution, graded, strict=True):
            row = rows[i]
            c = self.count(row["subject"])
            c["reference_executed"] += 1
            problem = None
            if g.correct:
                c["reference_verified"] += 1
            else:
                stderr = g.exec.stderr.strip().splitlines() if g.exec else []
                problem = (
                    f"printed {g.predicted!r}, reference {row['answer']!r}"
                    + (f" ({g.error_kind})" if g.error_kind else "")
                    + (f": {stderr[-1]}" if stderr else "")
                )
            qid = question_id(row["question"])
            if row["generator"] == "llm":
                if problem is not None:
                    dropped.add(i)
                    self.stage.drop(
                        "reference_wrong",
                        subject=row["subject"],
                        question=row["question"],
                        detail={"problem": problem},
                    )
                continue
            checks.append(
                {
                    "question_id": qid,
                    "generator": row["generator"],
                    "check": "ok" if problem is None else f"{qid}: {problem}",
                }
            )
        kept = [row for i, row in enumerate(rows) if i not in dropped]
        return kept, REFERENCE_CHECKS.frame(checks)

    def subject_metrics(self) -> dict[str, dict[str, int]]:
        """Per subject: drawn, kept, verified ... and dropped_<reason>."""
        subjects = sorted(set(self.counts) | set(self.stage.dropped_by))
        return {
            s: dict(sorted({**self.count(s), **self.stage.drop_counts(s)}.items()))
            for s in subjects
        }
