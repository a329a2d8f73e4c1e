"""critique_label: the judge critiques and scores every sampled path of the scorers' problems.

Reads   TRAIN       data/splits/train.parquet (contract `train`): question, reference answer,
                    reference solution (written by the teacher, or a seed's: the counterfactual
                    check redraws its numbers; an llm-synthesized solution is not trusted)
        PATHS_DIR   data/paths/ (stage sample): <model>/shard-*.parquet, contract `paths`
Writes  OUT         data/scores/judged.parquet (contract and view `judged`): one row per path
                    of a problem whose role (mathforge.scoring) is train or heldout
        METRICS     metrics/critique_label.json: paths judged by role, accepted, the judge's
                    "right answer, wrong reasoning" verdicts (correct paths it rejects), failed
                    checks, score counts, unparseable outputs, the share of the problems' own
                    reference solutions the judge accepts (its calibration); seconds and
                    paths/s in its run log, metrics/critique_label.run.json (mathforge.stage)
        PLOT        plots/critique/judge_scores.csv: score, correct (a dvc plots histogram)
The judge is programmatic on CPU (mathforge.critique.judge) or an OpenAI-compatible endpoint
on the GPU profile (mathforge.critique.endpoint); `critique_label.judge` chooses.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import polars as pl

from mathforge.config import CritiqueParams, OpenAIBackendParams, load_params
from mathforge.contracts.scores import JUDGED
from mathforge.contracts.splits import TRAIN
from mathforge.critique import JudgeItem, Judgement
from mathforge.critique.format import score_counts
from mathforge.errors import UserError, run_stage
from mathforge.grading import sandbox_isolation
from mathforge.io import write_parquet, write_text
from mathforge.judging import TRUSTED_SOLUTIONS, judge_items, run_judge
from mathforge.scoring import read_paths, with_roles
from mathforge.stage import Stage


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("train", "paths_dir", "out", "metrics", "plot"):
        parser.add_argument(name, type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: CritiqueParams = load_params("critique_label", args.params)
    roles = cfg.scoring
    stage = Stage("critique_label")

    train = TRAIN.read(args.train, ["question_id", "question", "solution", "generator"])
    paths = read_paths(
        args.paths_dir,
        ["path_id", "question_id", "subject", "model", "sample_index", "text", "reference",
         "predicted", "error_kind", "correct"],
    )  # fmt: skip
    paths = with_roles(paths, roles.fit_fraction, roles.heldout_fraction, roles.seed)
    paths = paths.filter(pl.col("role") != "score")
    missing = paths.join(train, on="question_id", how="anti")
    if missing.height:
        raise UserError(
            f"{args.paths_dir}: {missing.height} path(s) of problems not in {args.train} "
            f"(e.g. {missing['question_id'][0]}): the split changed after sampling"
        )
    if paths.height == 0:
        raise UserError(
            f"no sampled problem has the role train or heldout (scoring.fit_fraction "
            f"{roles.fit_fraction}): nothing to label"
        )
    paths = paths.join(train, on="question_id", how="left").sort(
        "question_id", "model", "sample_index"
    )
    items = judge_items(paths)
    started = time.perf_counter()
    judgements = run_judge(items, cfg)
    seconds = time.perf_counter() - started
    # The judge's calibration: the problems' own reference solutions, one per problem.
    problems = (
        paths.unique("question_id")
        .sort("question_id")
        .filter(pl.col("generator").is_in(TRUSTED_SOLUTIONS))
    )
    references = run_judge(
        [JudgeItem(r["question"], r["reference"], r["solution"], r["solution"])
         for r in problems.iter_rows(named=True)],
        cfg,
    )  # fmt: skip

    judged = JUDGED.frame(
        paths.select("path_id", "question_id", "subject", "model", "role", "correct").with_columns(
            judge_score=pl.Series([j.score for j in judgements], dtype=pl.Int64),
            accepted=pl.Series([j.accepted for j in judgements], dtype=pl.Boolean),
            critique=pl.Series([j.critique for j in judgements], dtype=pl.String),
            checks=pl.Series([json.dumps(j.checks) for j in judgements], dtype=pl.String),
            judge_error=pl.Series([j.error for j in judgements], dtype=pl.String),
        )
    )
    stage.validate(judged, JUDGED, row_count=paths.height)
    if isinstance(cfg.judge, OpenAIBackendParams):
        stage.uses_sandbox("none (endpoint judge)")
    else:
        stage.uses_sandbox(sandbox_isolation(cfg.sandbox))

    write_parquet(judged, args.out)  # atomic: all of it or nothing
    metrics = label_metrics(judged, judgements, references, seconds)
    stage.write_metrics(args.metrics, **metrics)
    write_text(judged.select(score="judge_score", correct="correct").write_csv(), args.plot)
    print(
        f"critique_label: {judged.height} paths judged in {seconds:.1f} s; accepted "
        f"{metrics['accepted']}, right answer but wrong reasoning "
        f"{metrics['right_answer_wrong_reasoning']} of {metrics['correct']} correct; "
        f"reference solutions accepted {metrics['reference_solutions_accepted_share']}"
    )


def label_metrics(
    judged: pl.DataFrame, judgements: list[Judgement], references: list[Judgement], seconds: float
) -> dict:
    """What the judge found, overall and by role and model."""
    correct = judged.filter(pl.col("correct").fill_null(False))
    wrong_reasoning = correct.filter(~pl.col("accepted"))
    failed = Counter(name for j in judgements for name, v in j.checks.items() if v == "fail")
    failed_when_correct = Counter(
        name
        for j, ok in zip(judgements, judged["correct"].fill_null(False), strict=True)
        if ok
        for name, v in j.checks.items()
        if v == "fail"
    )
    by = {}
    for key in ("role", "model"):
        by[f"by_{key}"] = {
            str(g[key][0]): {
                "paths": g.height,
                "problems": g["question_id"].n_unique(),
                "accepted": int(g["accepted"].sum()),
                "correct": int(g["correct"].fill_null(False).sum()),
            }
            for g in judged.partition_by(key, maintain_order=True)
        }
    accepted_refs = sum(r.accepted for r in references)
    return {
        "paths": judged.height,
        "problems": judged["question_id"].n_unique(),
        "accepted": int(judged["accepted"].sum()),
        "accepted_share": round(float(judged["accepted"].mean()), 4),
        "correct": correct.height,
        "right_answer_wrong_reasoning": wrong_reasoning.height,
        "right_answer_wrong_reasoning_share": (
            round(wrong_reasoning.height / correct.height, 4) if correct.height else None
        ),
        "unparseable": int(judged["judge_error"].is_not_null().sum()),
        "scores": score_counts(judged["judge_score"]),
        "failed_checks": dict(sorted(failed.items())),
        "failed_checks_of_correct_paths": dict(sorted(failed_when_correct.items())),
        **by,
        "reference_solutions": len(references),
        "reference_solutions_accepted_share": (
            round(accepted_refs / len(references), 4) if references else None
        ),
        "judge_seconds": round(seconds, 2),
        "paths_per_second": round(judged.height / seconds, 2) if seconds else None,
    }


if __name__ == "__main__":
    run_stage("critique_label", main)
