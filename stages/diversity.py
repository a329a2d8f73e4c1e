"""diversity: the RFT training set, a spread-out set of every problem's filtered paths.

Reads   PATHS_DIR   data/paths/ (stage sample): every sampled path (contract `paths`) and one
                    row per sampled problem (`sampled`)
        FILTER_DIR  data/filter/ (stage filter): the kept paths (`filtered`) of the `score`
                    problems
        TRAIN       data/splits/train.parquet: the problems' questions (the RFT prompts)
Writes  OUT_DIR/selected.parquet    the RFT set (contract and view `selected`): at most
                    diversity.k paths per problem, each with its executed answer stated
        OUT_DIR/candidates.parquet  every filtered path's verdict (view `diversity`):
                    normalized program, selected, or why not (duplicate | less_spread) and of
                    which kept path
        OUT_DIR/problems.parquet    one row per sampled problem (view `diversity_problems`):
                    distinct programs as written and normalized, over all and correct paths;
                    candidates and selected
        METRICS     metrics/diversity.json: counts, distinct paths per 100 samples, what
                    normalization collapsed, the pooled models' shares and overlap, and the
                    judge's audit: the share of the filtered and selected paths it rejects
                    (right answer, wrong reasoning; mathforge.diversity.audit)
        PLOTS_DIR   plots/diversity/distinct.csv (problems per number of distinct paths:
                    samples, correct, candidates, selected) and models.csv (one bar each: a
                    model's share of the distinct correct and selected paths, and the share
                    two or more models produced)
The rule: mathforge.diversity (normalize_program, select_with_reasons); the passes:
mathforge.diversity.rft. Timings are printed, not put in the metrics (they would change
dvc.lock on every rerun).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import polars as pl
from tqdm import tqdm

from mathforge.config import DiversityParams, load_params
from mathforge.contracts.diversity import DIVERSITY, DIVERSITY_PROBLEMS, SELECTED
from mathforge.contracts.filtering import FILTERED
from mathforge.contracts.paths import PATHS, SAMPLED
from mathforge.contracts.splits import TRAIN
from mathforge.diversity.audit import audit
from mathforge.diversity.rft import (
    SURVEY_COLUMNS,
    distinct_histogram,
    model_shares,
    problem_counts,
    select_candidates,
    survey,
)
from mathforge.errors import UserError, run_stage
from mathforge.filtering import FILTERED_FILE, path_files
from mathforge.grading import sandbox_isolation
from mathforge.io import write_parquet
from mathforge.scoring import with_roles
from mathforge.stage import Stage, atomic_dir
from mathforge.trainset import restate_final_answer

SAMPLED_FILE = Path(SAMPLED.glob).name  # type: ignore[arg-type]  # the sample stage's, in PATHS_DIR


def read_inputs(args) -> tuple[list[str], pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The path shards, `sampled`, `filtered` and the train questions, each checked against
    its contract; a UserError names the file and the stage to run otherwise."""
    files = path_files(args.paths_dir)
    for file in files:
        PATHS.check_input(pl.read_parquet(file, n_rows=1), file, SURVEY_COLUMNS)
    sampled = SAMPLED.read(
        args.paths_dir / SAMPLED_FILE, ["question_id", "subject", "reference_source"]
    )
    filtered = FILTERED.read(args.filter_dir / FILTERED_FILE)
    questions = TRAIN.read(args.train, ["question_id", "question", "solution", "generator"])
    return files, sampled, filtered, questions


def check_agree(surveyed: pl.DataFrame, sampled: pl.DataFrame, filtered: pl.DataFrame,
                questions: pl.DataFrame, args) -> None:  # fmt: skip
    """The inputs describe the same problems: the shards' problems are `sampled`'s, the
    filtered paths' are among them, and every selected problem has a question."""
    problems = []
    shard_ids = set(surveyed["question_id"].unique())
    sampled_ids = set(sampled["question_id"])
    if shard_ids != sampled_ids:
        problems.append(
            f"{args.paths_dir}: the shards' problems and {SAMPLED_FILE}'s differ "
            f"({len(shard_ids - sampled_ids)} only in shards, {len(sampled_ids - shard_ids)} "
            "only in the table): rerun `dvc repro sample`"
        )
    stray = set(filtered["question_id"]) - sampled_ids
    if stray:
        problems.append(
            f"{args.filter_dir / FILTERED_FILE}: {len(stray)} problems were not sampled "
            f"(e.g. {min(stray)}): rerun `dvc repro filter`"
        )
    unasked = set(filtered["question_id"]) - set(questions["question_id"])
    if unasked:
        problems.append(
            f"{args.train}: no question for {len(unasked)} filtered problems (e.g. {min(unasked)})"
        )
    if problems:
        raise UserError("the inputs disagree:\n  - " + "\n  - ".join(problems))


def build_tables(filtered, verdicts, spreads, surveyed, sampled, questions, cfg):
    """(selected, candidates, problems) in their contracts' schemas."""
    candidates = DIVERSITY.frame(
        filtered.select("path_id", "question_id", "model", "keep_rank", "critique_score")
        .join(verdicts, on="path_id", how="left")
        .sort("question_id", "keep_rank")
    )
    chosen = (
        filtered.join(verdicts.filter("selected").select("path_id", "form_id"), on="path_id")
        .join(questions.select("question_id", prompt="question"), on="question_id", how="left")
        .sort("question_id", "keep_rank")
    )
    selected = SELECTED.frame(
        chosen.with_columns(
            text=pl.Series(
                [
                    restate_final_answer(t, a)
                    for t, a in zip(chosen["text"], chosen["predicted"], strict=True)
                ],  # fmt: skip
                dtype=pl.String,
            )
        )
    )
    per_problem = candidates.group_by("question_id").agg(
        candidates=pl.len().cast(pl.Int64),
        candidate_forms=pl.col("form_id").n_unique().cast(pl.Int64),
        selected=pl.col("selected").sum().cast(pl.Int64),
    )
    roles = cfg.scoring
    problems = DIVERSITY_PROBLEMS.frame(
        with_roles(sampled, roles.fit_fraction, roles.heldout_fraction, roles.seed)
        .join(problem_counts(surveyed), on="question_id", how="left")
        .join(per_problem, on="question_id", how="left")
        .join(spreads, on="question_id", how="left")
        .with_columns(pl.col("candidates", "candidate_forms", "selected").fill_null(0))
        .sort("question_id")
    )
    return selected, candidates, problems


def validate(stage: Stage, selected, candidates, problems, filtered, sampled, k: int) -> None:
    """Each table against its contract, then how they relate; a violation writes nothing."""
    gxe = stage.gxe
    stage.validate(candidates, DIVERSITY, row_count=filtered.height)
    stage.validate(
        selected, SELECTED, row_count=int(candidates["selected"].sum()),
        # never two normalized duplicates of one problem in the RFT set
        extra=[gxe.ExpectCompoundColumnsToBeUnique(column_list=["question_id", "form_id"])],
    )  # fmt: skip
    stage.validate(
        problems, DIVERSITY_PROBLEMS, row_count=sampled.height,
        extra=[gxe.ExpectColumnValuesToBeBetween(column="selected", min_value=0, max_value=k)],
    )  # fmt: skip
    kept = candidates.filter("selected").select("path_id", "question_id")
    dropped = candidates.filter(~pl.col("selected"))
    orphans = dropped.join(
        kept.rename({"path_id": "of_path_id"}), on=["of_path_id", "question_id"], how="anti"
    )
    unequal = problems.filter(
        pl.col("selected") != pl.min_horizontal(pl.col("candidate_forms"), pl.lit(k))
    )
    relations = pl.DataFrame(
        {
            "relation": [
                "a dropped path names a kept path of its problem",
                f"selected = min(candidate forms, {k}) per problem",
            ],
            "violations": [orphans.height, unequal.height],
        }  # fmt: skip
    )
    stage.check(
        relations,
        "diversity relations",
        [gxe.ExpectColumnValuesToBeBetween(column="violations", min_value=0, max_value=0)],
    )


def statistics(surveyed, candidates, problems, k: int) -> tuple[dict, pl.DataFrame, pl.DataFrame]:
    """The metrics, and the two plots' tables."""
    score = problems.filter(pl.col("role") == "score")
    samples = int(score["samples"].sum())
    models = sorted(surveyed["model"].unique())
    correct = surveyed.filter(pl.col("correct").fill_null(False)).select(
        "question_id", "model", key="form"
    )
    forms_of = candidates.select("question_id", "form_id", "model")
    chosen_forms = candidates.filter("selected").select("question_id", "form_id").unique()
    pooled = {
        "correct_paths": model_shares(correct, models),
        "selected": model_shares(
            forms_of.join(chosen_forms, on=["question_id", "form_id"]).rename({"form_id": "key"}),
            models,
        ),
    }

    def per_100(column: str, frame: pl.DataFrame = score) -> float | None:
        total = int(frame["samples"].sum())
        return round(100 * int(frame[column].sum()) / total, 2) if total else None

    spreads = problems["min_distance"].drop_nulls()
    metrics = {
        "k": k,
        "problems": problems.height,
        "paths": int(problems["samples"].sum()),
        "score_problems": score.height,
        "score_paths": samples,
        "candidates": candidates.height,
        "selected": int(candidates["selected"].sum()),
        "dropped_duplicate": int((candidates["drop_reason"] == "duplicate").sum()),
        "dropped_less_spread": int((candidates["drop_reason"] == "less_spread").sum()),
        "problems_with_selected": int((score["selected"] > 0).sum()),
        "per_100_samples": {  # the recipe: about 7.8 selected per 100 samples
            "distinct_forms": per_100("distinct_forms"),
            "correct_forms": per_100("correct_forms"),
            "candidate_forms": per_100("candidate_forms"),
            "selected": per_100("selected"),
        },
        "normalization": {  # distinct programs as written vs normalized, summed over problems
            "all_paths": _collapsed(problems, "distinct_raw", "distinct_forms"),
            "correct_paths": _collapsed(problems, "correct_raw", "correct_forms"),
        },
        "models": pooled,
        "mean_min_distance": round(float(spreads.mean()), 4) if spreads.len() else None,
    }
    histogram = distinct_histogram(
        score.select(
            samples="distinct_forms",
            correct="correct_forms",
            candidates="candidate_forms",
            selected="selected",
        ),
        ["samples", "correct", "candidates", "selected"],
    )
    shares = pl.DataFrame(  # long: DVC's bar_horizontal draws one numeric x per labelled bar
        [
            {"label": f"{n}.{i + 1} {what} · {source}", "paths": what, "source": source,
             "share": share}
            for n, (what, stats) in enumerate(
                (("correct paths", pooled["correct_paths"]), ("selected", pooled["selected"])),
                start=1,
            )
            for i, (source, share) in enumerate(
                [*((m, stats["share"][m]) for m in models), ("2+ models", stats["overlap"])]
            )
        ],
        schema={"label": pl.String, "paths": pl.String, "source": pl.String,
                "share": pl.Float64},
    )  # fmt: skip
    return metrics, histogram, shares


def judge_audit(filtered, selected, questions, cfg: DiversityParams) -> dict:
    """The judge's verdict on (a seeded draw of) the filtered and the selected paths, each as
    generated: the share it rejects is the right-answer-wrong-reasoning paths the filter let
    through (mathforge.diversity.audit)."""
    paths = filtered.select("path_id", "question_id", "text", "predicted", "reference").join(
        questions, on="question_id", how="left"
    )
    chosen = paths.join(selected.select("path_id"), on="path_id", how="semi")
    settings = {
        "limit": cfg.audit_paths, "seed": cfg.scoring.seed, "trials": cfg.audit_trials,
        "threshold": cfg.scoring.accept_threshold,
    }  # fmt: skip
    return {
        "filtered": audit(paths, cfg.sandbox, **settings),
        "selected": audit(chosen, cfg.sandbox, **settings),
    }


def _collapsed(problems: pl.DataFrame, raw: str, forms: str) -> dict:
    written, normalized = int(problems[raw].sum()), int(problems[forms].sum())
    return {"distinct_as_written": written, "distinct_normalized": normalized,
            "collapsed": written - normalized}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("paths_dir", "filter_dir", "train", "out_dir", "metrics", "plots_dir"):
        parser.add_argument(name, type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: DiversityParams = load_params("diversity", args.params)
    stage = Stage("diversity")
    started = time.perf_counter()

    files, sampled, filtered, questions = read_inputs(args)
    with tqdm(total=len(files), desc="normalize", unit="shard", disable=None) as bar:
        surveyed = survey(files, cfg.workers, bar.update)
    check_agree(surveyed, sampled, filtered, questions, args)
    surveyed_at = time.perf_counter()
    problems_in = filtered["question_id"].n_unique()
    with tqdm(total=problems_in, desc="select", unit="problem", disable=None) as bar:
        verdicts, spreads = select_candidates(
            filtered, cfg.k, cfg.workers, cfg.problems_per_task, bar.update
        )
    selected_at = time.perf_counter()
    selected, candidates, problems = build_tables(
        filtered, verdicts, spreads, surveyed, sampled, questions, cfg
    )
    validate(stage, selected, candidates, problems, filtered, sampled, cfg.k)
    metrics, histogram, shares = statistics(surveyed, candidates, problems, cfg.k)
    audited_at = time.perf_counter()
    if cfg.audit_paths:
        metrics["judge_audit"] = judge_audit(filtered, selected, questions, cfg)
        stage.uses_sandbox(sandbox_isolation(cfg.sandbox))
    audited_at = time.perf_counter() - audited_at

    with atomic_dir(args.out_dir) as tmp:
        write_parquet(selected, tmp / "selected.parquet")
        write_parquet(candidates, tmp / "candidates.parquet")
        write_parquet(problems, tmp / "problems.parquet")
    args.plots_dir.mkdir(parents=True, exist_ok=True)
    histogram.write_csv(args.plots_dir / "distinct.csv")
    shares.write_csv(args.plots_dir / "models.csv")
    stage.write_metrics(args.metrics, **metrics)
    m = metrics
    print(
        f"diversity: {m['paths']} paths normalized in {surveyed_at - started:.1f} s; "
        f"{m['candidates']} filtered paths of {problems_in} problems -> {m['selected']} selected "
        f"in {selected_at - surveyed_at:.1f} s (duplicates {m['dropped_duplicate']}, less "
        f"spread {m['dropped_less_spread']}); {m['per_100_samples']['selected']} per 100 samples"
        + (f"; judge audit in {audited_at:.1f} s" if cfg.audit_paths else "")
    )


if __name__ == "__main__":
    run_stage("diversity", main)
