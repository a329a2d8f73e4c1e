"""evaluate: every model stage on the same eval-split problems, greedy and majority vote @k.

Reads   EVAL       data/splits/eval.parquet (stage split): question_id, subject, question,
                   answer, ood. Never the test split: it is for the final table only.
        models     each directory of evaluate.models (params.yaml; dvc.yaml lists the same
                   directories as deps): models/pretrained/<m>, models/sft/<m>, models/rft/<m>,
                   models/dpo/<m>, models/grpo/<m>
Writes  OUT_DIR    data/eval/paths.parquet (contract `eval_paths`): every graded solution, per
                   stage and mode (greedy | sampled), for `mathforge query`
        METRICS    metrics/eval.json: per stage {model, greedy, majority: {overall,
                   in_distribution, ood: {accuracy, ci95, problems}, by_subject}, pass_at_k,
                   error_kinds}; win_loss per evaluate.comparisons entry (wins, losses, ties,
                   the accuracy difference and its 95% paired bootstrap interval)
        PLOTS      plots/eval/accuracy.csv (stage x {greedy, majority} x {in distribution,
                   OOD}, with the intervals' bounds), plots/eval/subjects.csv (subject x stage)
        REPORT     reports/eval.md: the tables above in words, generated from the metrics
Every model sees the same `evaluate.problems` problems (stratified by subject and in/out of
distribution, seeded) in the mixed CoT+PoT format, with its directory's system-prompt setting.
With 243 problems and k=4, rows = 6 models x 243 x (1 + 4) = 7,290. The models are evaluated
in `evaluate.workers` processes side by side (the same rows as one). Timings are printed, not
put in the metrics (they would change dvc.lock on every rerun).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from mathforge.config import EvaluateParams, load_params
from mathforge.contracts.evaluation import EVAL_PATHS
from mathforge.contracts.splits import EVAL
from mathforge.errors import UserError, run_stage
from mathforge.evaluation import check_model_dir, limit_problems
from mathforge.grading import sandbox_isolation
from mathforge.io import write_parquet, write_text
from mathforge.parallel import pool_map
from mathforge.stage import Stage, atomic_dir
from mathforge.stage_evaluation import (
    accuracy_table,
    comparison_name,
    evaluate_model,
    markdown_report,
    subjects_table,
    win_loss,
)

PATHS_FILE = Path(EVAL_PATHS.glob).name  # type: ignore[arg-type]
# models/<kind>/<name> -> the dvc.yaml stage that writes it
WRITERS = {"base": "base", "pretrained": "pretrain@{name}", "sft": "sft@{name}"}


def writer_of(model_dir: Path) -> str:
    """The dvc.yaml stage that writes `model_dir` (models/<kind>/<name>), for error messages."""
    parts = model_dir.parts
    if len(parts) >= 3 and parts[-3] == "models":
        kind, name = parts[-2], parts[-1]
        return WRITERS.get(kind, kind).format(name=name)
    return "the stage that writes it"


def check_models(cfg: EvaluateParams) -> None:
    """Every model directory of evaluate.models exists and is one, before anything runs."""
    for name, directory in cfg.models.items():
        model_dir = Path(directory)
        if not model_dir.exists():
            raise UserError(
                f"model directory {model_dir} (evaluate.models.{name}) not found: run "
                f"`dvc repro {writer_of(model_dir)}`, or remove {name} from evaluate.models "
                "(and its directory from the evaluate stage's deps in dvc.yaml)"
            )
        check_model_dir(model_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("eval", "out_dir", "metrics", "plots", "report"):
        parser.add_argument(name, type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: EvaluateParams = load_params("evaluate", args.params)
    check_models(cfg)
    stage = Stage("evaluate")
    eval_df = EVAL.read(args.eval, ["question_id", "subject", "question", "answer", "ood"])
    problems = limit_problems(eval_df, cfg.problems, cfg.seed).sort("question_id")

    tasks = [(name, directory, problems, cfg) for name, directory in cfg.models.items()]
    stages, paths, greedy = {}, [], {}
    for (name, directory, *_), (entry, graded, seconds) in zip(
        tasks, pool_map(evaluate_model, tasks, cfg.workers), strict=True
    ):
        stages[name] = entry
        paths.append(graded)
        greedy[name] = graded.filter(pl.col("mode") == "greedy")
        g = entry["greedy"]["in_distribution"]["accuracy"]
        m = entry["majority"]["in_distribution"]["accuracy"]
        print(f"evaluate {name} ({directory}): in distribution greedy {g}, maj@{cfg.k} {m} "
              f"({seconds:.1f} s)", flush=True)  # fmt: skip
    stage.uses_sandbox(sandbox_isolation(cfg.sandbox))
    table = {
        comparison_name(a, b): {"baseline": a, "candidate": b,
                                **win_loss(greedy[a], greedy[b], problems, cfg.seed)}
        for a, b in cfg.comparisons
    }  # fmt: skip

    rows = pl.concat(paths)
    expected = len(cfg.models) * problems.height * (1 + cfg.k)
    stage.validate(rows, EVAL_PATHS, row_count=expected)
    ood = int(problems["ood"].sum())
    metrics = stage.metrics(
        problems=problems.height,
        in_distribution_problems=problems.height - ood,
        ood_problems=ood,
        seed=cfg.seed,
        k=cfg.k,
        temperature=cfg.temperature,
        max_tokens=cfg.max_tokens,
        paths=rows.height,
        order=list(stages),  # the method's order (the JSON's keys are sorted)
        comparisons=list(table),
        stages=stages,
        win_loss=table,
    )
    report = markdown_report(metrics)
    with atomic_dir(args.out_dir) as tmp:
        write_parquet(rows, tmp / PATHS_FILE)
    with atomic_dir(args.plots) as tmp:
        accuracy_table(stages, cfg.k).write_csv(tmp / "accuracy.csv")
        subjects_table(stages).write_csv(tmp / "subjects.csv")
    stage.write_metrics(args.metrics, **metrics)
    write_text(report, args.report)
    for key, w in table.items():
        print(f"evaluate {key}: {w['wins']} wins, {w['losses']} losses, {w['ties']} ties; "
              f"difference {w['difference']} {w['ci95']}")  # fmt: skip


if __name__ == "__main__":
    run_stage("evaluate", main)
