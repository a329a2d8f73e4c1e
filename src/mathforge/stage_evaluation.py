"""Every model stage of the method on the same eval-split problems (stage evaluate).

    entry, paths = evaluate_stage_model(generator, problems, name="sft", model_dir=...,
                                        system=False, cfg=cfg)
    for entry, paths, seconds in pool_map(evaluate_model, tasks, cfg.workers): ...
    table = win_loss(greedy_paths["pretrained"], greedy_paths["sft"], problems)

Each model is measured twice by `mathforge.evaluation.evaluate` (the grading, the vote and the
bootstrap are its own): greedy, and the majority vote of `k` samples (with pass@k). Two stages
are compared on the greedy solutions, paired by problem: a win is a problem the candidate
solved and the baseline did not, a loss the reverse, a tie the rest; the interval of the
accuracy difference is `mathforge.comparison.paired_difference`'s. The plot tables and the
markdown report are built from the metrics alone. `evaluate_model` measures one model from
its directory, in whichever process `mathforge.parallel.pool_map` runs it: the models are
independent (each sample is seeded by the problems and the seed alone), so `workers`
processes give the rows one process gives.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from mathforge.comparison import paired_difference
from mathforge.config import EvaluateParams
from mathforge.contracts.evaluation import EVAL_PATHS
from mathforge.errors import UserError
from mathforge.evaluation import evaluate, model_generator
from mathforge.generation import TextGenerator

GROUPS = ("overall", "in_distribution", "ood")
MODES = ("greedy", "majority")  # the metrics' names; the paths' modes are greedy and sampled


def evaluate_stage_model(
    generator: TextGenerator,
    problems: pl.DataFrame,
    *,
    name: str,
    model_dir: str,
    system: bool,
    cfg: EvaluateParams,
) -> tuple[dict[str, Any], pl.DataFrame]:
    """One model on `problems` (question_id, subject, question, answer, ood), greedy and by
    majority of `cfg.k` samples: its metrics entry and its graded paths (EVAL_PATHS rows)."""
    common = dict(model=name, system=system, sandbox=cfg.sandbox, max_tokens=cfg.max_tokens,
                  seed=cfg.seed)  # fmt: skip
    greedy, greedy_paths = evaluate(generator, problems, **common)
    majority, sampled_paths = evaluate(
        generator, problems, samples=cfg.k, temperature=cfg.temperature, **common
    )
    entry = {
        "model": model_dir,
        "greedy": {key: greedy[key] for key in (*GROUPS, "by_subject")},
        "majority": {key: majority[key] for key in (*GROUPS, "by_subject")},
        "pass_at_k": {key: majority[f"pass@{cfg.k}"][key] for key in GROUPS},
        "sampled_path_accuracy": majority["path_accuracy"],
        "error_kinds": {"greedy": greedy["error_kinds"], "sampled": majority["error_kinds"]},
    }
    ood = problems.select("question_id", "ood")
    paths = pl.concat(
        [
            frame.join(ood, on="question_id", how="left").with_columns(
                stage=pl.lit(name), model_dir=pl.lit(model_dir), mode=pl.lit(mode)
            )
            for mode, frame in (("greedy", greedy_paths), ("sampled", sampled_paths))
        ],
        how="diagonal_relaxed",
    )
    return entry, EVAL_PATHS.frame(paths)


def evaluate_model(
    task: tuple[str, str, pl.DataFrame, EvaluateParams],
) -> tuple[dict[str, Any], pl.DataFrame, float]:
    """`evaluate_stage_model` of one evaluate.models entry (name, model directory, problems,
    cfg), its generator built here and released when done: its metrics entry, its graded paths
    and the seconds it took. Top level, so a worker process of `pool_map` can run it."""
    from transformers.utils import logging as hf_logging

    name, directory, problems, cfg = task
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_warning()
    start = time.perf_counter()
    generator, system = model_generator(
        Path(directory), device="cpu" if cfg.use_cpu else "cuda", threads=cfg.threads
    )
    generator.progress = False
    entry, graded = evaluate_stage_model(
        generator, problems, name=name, model_dir=directory, system=system, cfg=cfg
    )
    return entry, graded, time.perf_counter() - start


def win_loss(
    baseline: pl.DataFrame, candidate: pl.DataFrame, problems: pl.DataFrame, seed: int = 0
) -> dict[str, Any]:
    """Candidate against baseline on the same problems: two sets of graded paths
    (question_id, correct; greedy: one per problem), each problem's outcome the share of its
    paths that are correct (an ungradable path is not a correct one). Wins: problems where the
    candidate's outcome is higher; losses: lower; ties: equal. With the accuracy difference and
    its 95% paired bootstrap interval, overall, in and out of distribution (`problems`:
    question_id, ood)."""

    def outcomes(paths: pl.DataFrame) -> pl.DataFrame:
        solved = pl.col("correct").fill_null(False).cast(pl.Float64).mean()
        return paths.group_by("question_id").agg(outcome=solved)

    a, b = outcomes(baseline), outcomes(candidate)
    only = set(a["question_id"]) ^ set(b["question_id"])
    if only:
        raise UserError(
            f"win/loss needs both models on the same problems; {len(only)} problem(s) were "
            f"evaluated for one only (e.g. {sorted(only)[0]})"
        )
    both = a.join(b, on="question_id", suffix="_candidate")
    difference = both["outcome_candidate"] - both["outcome"]
    wins, losses = int((difference > 0).sum()), int((difference < 0).sum())
    paired = paired_difference(baseline, candidate, problems, seed)
    n = both.height
    return {
        "problems": n,
        "wins": wins,
        "losses": losses,
        "ties": n - wins - losses,
        "win_share": round(wins / n, 4),
        "loss_share": round(losses / n, 4),
        "baseline_accuracy": paired["overall"]["baseline"],
        "candidate_accuracy": paired["overall"]["candidate"],
        "difference": paired["overall"]["difference"],
        "ci95": paired["overall"]["ci95"],
        "in_distribution": paired["in_distribution"],
        "ood": paired["ood"],
    }


def comparison_name(baseline: str, candidate: str) -> str:
    """The win/loss table's key of a comparison."""
    return f"{baseline}->{candidate}"


def _bounds(entry: Mapping[str, Any]) -> tuple[float | None, float | None]:
    return (entry["ci95"][0], entry["ci95"][1]) if entry["ci95"] else (None, None)


def accuracy_table(stages: Mapping[str, Mapping[str, Any]], k: int) -> pl.DataFrame:
    """plots/eval/accuracy.csv: one row per stage, mode (greedy, majority) and group (in
    distribution, OOD), in the method's order, with the interval's bounds. `label` names the
    bar; it starts with the stage's position, because DVC's bar_horizontal template sorts its
    labels (its x axis is the accuracy: one column)."""
    rows = []
    for i, (name, entry) in enumerate(stages.items(), start=1):
        for mode, shown in (("greedy", "greedy"), ("majority", f"maj@{k}")):
            for group, words in (
                ("in_distribution", "in distribution"),
                ("ood", "out of distribution"),
            ):
                value = entry[mode][group]
                lo, hi = _bounds(value)
                rows.append({
                    "label": f"{i:02d} {name} · {shown} · {words}", "stage": name, "mode": mode,
                    "group": group, "problems": value["problems"], "accuracy": value["accuracy"],
                    "lo": lo, "hi": hi,
                })  # fmt: skip
    return pl.DataFrame(rows, infer_schema_length=None)


def subjects_table(stages: Mapping[str, Mapping[str, Any]]) -> pl.DataFrame:
    """plots/eval/subjects.csv: one row per (subject, stage), in and out of distribution
    together; greedy and majority accuracy with their bounds. `label` (subject, then the stage's
    position) groups each subject's stages together in the bar chart."""
    rows = []
    for i, (name, entry) in enumerate(stages.items(), start=1):
        for subject, greedy in entry["greedy"]["by_subject"].items():
            majority = entry["majority"]["by_subject"][subject]
            (g_lo, g_hi), (m_lo, m_hi) = _bounds(greedy), _bounds(majority)
            rows.append({
                "label": f"{subject} · {i:02d} {name}", "subject": subject, "stage": name,
                "problems": greedy["problems"], "greedy": greedy["accuracy"], "greedy_lo": g_lo,
                "greedy_hi": g_hi, "majority": majority["accuracy"], "majority_lo": m_lo,
                "majority_hi": m_hi,
            })  # fmt: skip
    return pl.DataFrame(rows, infer_schema_length=None).sort("subject", maintain_order=True)


def _pct(entry: Mapping[str, Any]) -> str:
    if entry["accuracy"] is None:
        return "–"
    lo, hi = _bounds(entry)
    return f"{entry['accuracy']:.1%} [{lo:.1%}, {hi:.1%}]"


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def markdown_report(metrics: Mapping[str, Any]) -> str:
    """reports/eval.md from metrics/eval.json: the per-stage table with intervals, the
    per-subject table, the win/loss table, and which differences' intervals include 0. Rows
    follow `order` (the stages) and `comparisons` (the win/loss keys): the JSON's keys are
    sorted."""
    k = metrics["k"]
    stages = {name: metrics["stages"][name] for name in metrics["order"]}  # JSON sorts keys
    lines = [
        "# Every stage on the eval split",
        "",
        f"Generated by stage `evaluate` from `metrics/eval.json`. {metrics['problems']} eval-split "
        f"problems ({metrics['in_distribution_problems']} in distribution, "
        f"{metrics['ood_problems']} out of distribution; seed {metrics['seed']}), the same for "
        f"every model: greedy, and the majority vote of {k} samples at temperature "
        f"{metrics['temperature']} (a tie is unsolved). Accuracy [95% bootstrap interval over "
        "problems]. The test split is not used.",
        "",
        f"| stage | model | greedy, in distribution | greedy, OOD | maj@{k}, in distribution "
        f"| maj@{k}, OOD | pass@{k}, in distribution |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, e in stages.items():
        lines.append(
            f"| {name} | `{e['model']}` | {_pct(e['greedy']['in_distribution'])} | "
            f"{_pct(e['greedy']['ood'])} | {_pct(e['majority']['in_distribution'])} | "
            f"{_pct(e['majority']['ood'])} | {_pct(e['pass_at_k']['in_distribution'])} |"
        )
    subjects = sorted({s for e in stages.values() for s in e["greedy"]["by_subject"]})
    lines += [
        "",
        "Greedy accuracy per subject (in and out of distribution together):",
        "",
        "| stage | " + " | ".join(subjects) + " |",
        "|---|" + "---|" * len(subjects),
    ]
    for name, e in stages.items():
        cells = [_pct(e["greedy"]["by_subject"][s]) if s in e["greedy"]["by_subject"] else "–"
                 for s in subjects]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    table = {key: metrics["win_loss"][key] for key in metrics["comparisons"]}
    if table:
        lines += [
            "",
            "Win/loss on the greedy solutions, paired by problem: a win is a problem the "
            "candidate solved and the baseline did not; the difference is in accuracy points, "
            "with its 95% paired bootstrap interval.",
            "",
            "| baseline → candidate | problems | wins | losses | ties | difference | "
            "95% interval |",
            "|---|---|---|---|---|---|---|",
        ]
        unclear = []
        for key, w in table.items():
            lo, hi = w["ci95"]
            lines.append(
                f"| {key.replace('->', ' → ')} | {w['problems']} | {w['wins']} "
                f"({w['win_share']:.1%}) | {w['losses']} ({w['loss_share']:.1%}) | {w['ties']} "
                f"| {_points(w['difference'])} | [{_points(lo)}, {_points(hi)}] |"
            )
            if lo <= 0 <= hi:
                unclear.append(key.replace("->", " → "))
        lines.append("")
        if unclear:
            lines.append(
                "The interval includes 0 (no clear difference on these problems) for: "
                + ", ".join(unclear)
                + "."
            )
        else:
            lines.append("Every difference's interval excludes 0.")
    return "\n".join(lines) + "\n"
