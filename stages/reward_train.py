"""reward_train: the judge's labels → preference pairs of one problem → a reward model (TRL).

Reads   JUDGED      data/scores/judged.parquet (stage critique_label): path_id, question_id,
                    role (train | heldout), correct, accepted, judge_error
        PATHS       data/paths/ (stage sample): <model>/shard-*.parquet, path_id, question_id,
                    text, correct
        TRAIN       data/splits/train.parquet: question_id, question (the problems' text)
        INIT        the model directory it starts from (`reward.init`: models/pretrained/
                    policy_small), loaded as a sequence classifier with a new score head
Writes  OUT_DIR     models/reward/: the reward model and tokenizer (save_pretrained; on the GPU
                    profile `pretrained.json` naming `reward.pretrained` instead), its prompt
                    setting, pairs.parquet (contract `reward_pairs`: every train and held-out
                    pair) and manifest.parquet (contract `reward_model`)
        METRICS     metrics/reward_train.json: pairs by role and kind, problems, steps (seconds:
                    the run log, metrics/reward_train.run.json),
                    train loss and accuracy, held-out pairwise accuracy (overall and by kind) and
                    how the held-out paths' rewards separate correct from incorrect, within and
                    across problems
        PLOT        plots/reward/train.csv: step, loss, accuracy, learning_rate
Pairs come only from `train` problems (training) and `heldout` problems (measuring), roles by
`scoring.*` (mathforge.scoring): the problems reward_score scores never give a pair, and a
judged table that disagrees with the roles is an error. A pair longer than `reward.max_length`
tokens is left out and counted (`dropped_pairs_over_max_length`). The saved model is reloaded
and scores every held-out path (finite) before the output is put in place.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
from transformers import AutoTokenizer
from transformers.utils import logging as hf_logging

from mathforge.config import RewardParams, ScoringParams, load_params
from mathforge.contracts.models import MANIFEST_FILE
from mathforge.contracts.scores import JUDGED, REWARD_MODEL, REWARD_PAIRS
from mathforge.contracts.splits import TRAIN
from mathforge.errors import UserError, run_stage
from mathforge.io import write_parquet, write_text
from mathforge.modeling import POINTER_FILE, PROMPT_FILE, resolve_model_path, uses_system_prompt
from mathforge.reward import (
    JUDGED_COLUMNS,
    KINDS,
    PAIRS_FILE,
    check_disjoint,
    encode,
    load_reward_model,
    pairwise_accuracy,
    path_chat,
    preference_pairs,
    score_ids,
    separation,
)
from mathforge.reward_training import curve_csv, train_reward
from mathforge.scoring import read_paths, with_roles
from mathforge.stage import Stage, atomic_dir


def check_roles(judged: pl.DataFrame, scoring: ScoringParams, path: Path) -> None:
    """Every judged problem has the role `scoring.*` gives it now (else the judge labelled
    problems by other params, and a training problem could be among those scored)."""
    problems = judged.select("question_id", given="role").unique()
    problems = with_roles(problems, scoring.fit_fraction, scoring.heldout_fraction, scoring.seed)
    wrong = problems.filter(pl.col("given") != pl.col("role"))
    if wrong.height:
        raise UserError(
            f"{path}: {wrong.height} problem(s) carry a role other than scoring.* gives them "
            f"(e.g. {wrong['question_id'][0]}: {wrong['given'][0]}); rerun `dvc repro "
            "critique_label` with the current params"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("judged", "paths", "train", "init", "out_dir", "metrics", "plot"):
        parser.add_argument(name, type=Path)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    cfg: RewardParams = load_params("reward", args.params)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_warning()
    if not args.init.is_dir():
        raise UserError(f"initial model {args.init} not found (reward.init; run `dvc repro`)")

    stage = Stage("reward_train")
    judged = JUDGED.read(args.judged, JUDGED_COLUMNS)
    check_roles(judged, cfg.scoring, args.judged)
    pairs = {
        role: preference_pairs(judged, role, cfg.max_pairs_per_problem, cfg.seed)
        for role in ("train", "heldout")
    }
    check_disjoint(pairs["train"], pairs["heldout"], "held-out pairs")
    if cfg.pretrained is None and pairs["train"].height == 0:
        graded = judged.filter(pl.col("role") == "train")
        raise UserError(
            f"{args.judged}: no preference pair: none of its {graded['question_id'].n_unique()} "
            "train problems has both a correct and an incorrect path, nor an accepted path and "
            "a right-answer one the judge rejected"
        )

    heldout_problems = set(judged.filter(pl.col("role") == "heldout")["question_id"])
    wanted = set(pairs["train"]["question_id"]) | heldout_problems
    paths = read_paths(args.paths, ["path_id", "question_id", "text", "correct"], wanted)
    named = set(pairs["train"]["chosen_path_id"]) | set(pairs["train"]["rejected_path_id"])
    unknown = named - set(paths["path_id"])
    if unknown:
        raise UserError(f"{args.judged}: {len(unknown)} path(s) not in {args.paths}, e.g. "
                        f"{min(unknown)}: rerun `dvc repro critique_label`")  # fmt: skip
    questions = TRAIN.read(args.train, ["question_id", "question"])
    paths = paths.join(questions, on="question_id", how="left")
    if paths["question"].null_count():
        raise UserError(f"{args.train}: lacks {paths['question'].null_count()} sampled problems")

    system = uses_system_prompt(args.init)
    source = cfg.pretrained or resolve_model_path(args.init)
    tokenizer = AutoTokenizer.from_pretrained(source)
    chats = [path_chat(q, t, system) for q, t in zip(paths["question"], paths["text"], strict=True)]
    ids = dict(zip(paths["path_id"], encode(tokenizer, chats), strict=True))

    kept, too_long = {}, 0
    for role, rows in pairs.items():
        fits = [
            len(ids[c]) <= cfg.max_length and len(ids[r]) <= cfg.max_length
            for c, r in zip(rows["chosen_path_id"], rows["rejected_path_id"], strict=True)
        ]
        kept[role] = rows.filter(pl.Series(fits, dtype=pl.Boolean))
        too_long += rows.height - kept[role].height
    if cfg.pretrained is None and kept["train"].height == 0:
        train = pairs["train"]
        shortest = min(
            max(len(ids[c]), len(ids[r]))
            for c, r in zip(train["chosen_path_id"], train["rejected_path_id"], strict=True)
        )
        raise UserError(
            f"every train pair is longer than reward.max_length={cfg.max_length} tokens "
            f"(the shortest: {shortest})"
        )

    name = args.out_dir.name
    with atomic_dir(args.out_dir) as tmp:
        shutil.copy(args.init / PROMPT_FILE, tmp / PROMPT_FILE)
        if cfg.pretrained is None:
            rows = [
                {"chosen_ids": ids[c], "rejected_ids": ids[r]}
                for c, r in zip(
                    kept["train"]["chosen_path_id"], kept["train"]["rejected_path_id"], strict=True
                )
            ]
            metrics, curve = train_reward(source, rows, cfg, tmp)
            (tmp / "training_args.bin").unlink(missing_ok=True)  # pickled args: params.yaml says it
            model_path = str(tmp)
        else:  # GPU profile: an existing reward model, measured, not trained
            pointer = json.dumps({"pretrained": cfg.pretrained}, indent=2) + "\n"
            (tmp / POINTER_FILE).write_text(pointer, encoding="utf-8")
            metrics, curve, model_path = {"steps": 0}, [], cfg.pretrained

        # Reload as reward_score will and score every held-out path.
        model, reloaded = load_reward_model(model_path, cfg.use_cpu)
        heldout = paths.filter(pl.col("question_id").is_in(list(heldout_problems)))
        heldout_ids = [ids[p][: cfg.max_length] for p in heldout["path_id"]]
        rewards = score_ids(model, heldout_ids, reloaded.pad_token_id, cfg.score_batch_size)
        if not np.isfinite(rewards).all():
            raise FloatingPointError(f"{name}: reloaded reward model gave non-finite scores")
        heldout = heldout.with_columns(reward=pl.Series(rewards))
        accuracy = pairwise_accuracy(kept["heldout"], heldout.select("path_id", "reward"))

        table = REWARD_PAIRS.frame(pl.concat([kept["train"], kept["heldout"]]))
        stage.validate(table, REWARD_PAIRS, row_count=kept["train"].height + kept["heldout"].height)
        write_parquet(table, tmp / PAIRS_FILE)
        manifest = REWARD_MODEL.frame(
            [
                {
                    "kind": "built" if cfg.pretrained is None else "pretrained",
                    "pretrained": cfg.pretrained,
                    "parent": None if cfg.pretrained else str(args.init),
                    "parameters": sum(p.numel() for p in model.parameters()),
                    "system_prompt": system,
                    "pairs": kept["train"].height if cfg.pretrained is None else 0,
                }
            ]
        )
        stage.validate(manifest, REWARD_MODEL, row_count=1)
        write_parquet(manifest, tmp / MANIFEST_FILE)

    def by_kind(rows: pl.DataFrame) -> dict[str, int]:
        return {kind: int((rows["kind"] == kind).sum()) for kind in KINDS}

    metrics |= {
        "model": name,
        "init": str(args.init),
        "pretrained": cfg.pretrained,
        "judged_paths": judged.height,
        "dropped_pairs_over_max_length": too_long,
        "train_problems": judged.filter(pl.col("role") == "train")["question_id"].n_unique(),
        "heldout_problems": len(heldout_problems),
        "train_problems_with_pairs": kept["train"]["question_id"].n_unique(),
        "train_pairs": kept["train"].height,
        "train_pairs_by_kind": by_kind(kept["train"]),
        "heldout_pairs": kept["heldout"].height,
        "heldout_pairs_by_kind": by_kind(kept["heldout"]),
        "heldout_pairwise_accuracy": accuracy["accuracy"],
        "heldout_pairwise_accuracy_by_kind": accuracy["accuracy_by_kind"],
        "heldout_separation": separation(heldout.select("question_id", "reward", "correct")),
        "parameters": int(manifest["parameters"][0]),
    }
    stage.write_metrics(args.metrics, **metrics)
    write_text(curve_csv(curve), args.plot)
    print(
        f"reward_train: {metrics['train_pairs']} train pairs, {metrics['steps']} steps; held-out "
        f"pairwise accuracy {metrics['heldout_pairwise_accuracy']} on "
        f"{metrics['heldout_pairs']} pairs"
    )


if __name__ == "__main__":
    run_stage("reward_train", main)
