"""`mathforge export`: the pipeline's training and evaluation data as a Hugging Face dataset.

    mathforge export exports/mathforge
    datasets.load_from_disk("exports/mathforge/dataset")["rft"]
    datasets.load_dataset("parquet", data_files={"train": "exports/mathforge/data/rft.parquet"})

Three splits, each a table of its own (so with its own features): `rft`, the RFT set (table
`selected`); `dpo`, the mined pairs (table `pairs`); `eval`, the eval split (table `eval`; the
test split stays out: it is for the final table only). They are written twice, as a
`DatasetDict` (`save_to_disk`, under `dataset/`) and as one Parquet file per split (under
`data/`), beside a dataset card (`README.md`) generated from the params, the metrics and the
data themselves: sizes, subjects, how the data was made, the lineage columns, the seeds'
sources and the licence. Its YAML header declares each split as a config of the Hub's Parquet
loader, so the folder can be pushed to the Hub as it is. The folder is written whole or not
at all.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from mathforge.config import load_params
from mathforge.contracts import Table
from mathforge.contracts.diversity import SELECTED
from mathforge.contracts.pairs import PAIRS
from mathforge.contracts.seeds import SEEDS
from mathforge.contracts.splits import EVAL
from mathforge.errors import UserError
from mathforge.stage import atomic_dir

# split -> (the table it exports, what a row is, the Hub split name of its config)
SPLITS: dict[str, tuple[Table, str, str]] = {
    "rft": (SELECTED, "one selected path (a problem's question and a correct, diverse "
            "solution) of the RFT set", "train"),
    "dpo": (PAIRS, "one DPO pair: the question, a chosen and a rejected solution", "train"),
    "eval": (EVAL, "one eval-split problem with its reference answer and solution", "test"),
}  # fmt: skip
# Columns that lead back through the pipeline's tables (`mathforge query` views).
LINEAGE = {
    "question_id": "the problem: views `questions`, `train`/`eval` (and `seed_ids` there, the "
    "seeds it was synthesized from: view `seeds`)",
    "path_id": "the sampled path: view `paths` (its program, execution, grade), `scores`",
    "pair_id": "the pair: view `pairs`",
    "chosen_path_id": "the chosen path: view `paths`",
    "rejected_path_id": "the rejected path: view `paths`",
    "form_id": "the normalized program's id: view `diversity`",
    "seed_ids": "the seeds of an eval problem: view `seeds`",
}


def read_splits(root: Path) -> dict[str, pl.DataFrame]:
    """Every split's table from the repository at `root`, checked against its contract."""
    return {name: table.read(root / table.glob) for name, (table, _, _) in SPLITS.items()}  # type: ignore[operator]


def export_dataset(root: Path, out: Path, license: str = "apache-2.0") -> dict[str, int]:
    """Write the dataset of the repository at `root` into `out` (replaced whole); the rows of
    each split."""
    from datasets import Dataset, DatasetDict
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    frames = read_splits(root)
    card = dataset_card(root, frames, license)
    with atomic_dir(out) as tmp:
        (tmp / "data").mkdir()
        for name, frame in frames.items():
            frame.write_parquet(tmp / "data" / f"{name}.parquet")
        DatasetDict({name: Dataset.from_polars(f) for name, f in frames.items()}).save_to_disk(
            str(tmp / "dataset")
        )
        (tmp / "README.md").write_text(card, encoding="utf-8")
    return {name: frame.height for name, frame in frames.items()}


def _metrics(root: Path, name: str, stage: str) -> dict[str, Any]:
    path = root / "metrics" / f"{name}.json"
    if not path.is_file():
        raise UserError(f"{path} not found (run `dvc repro {stage}`)")
    return json.loads(path.read_text())


def _lineage_of(root: Path) -> str:
    """The commit and the DVC hashes of the exported outputs, where git and dvc.lock say."""
    lines = []
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
    )
    if commit.returncode == 0:
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        lines.append(f"- commit `{commit.stdout.strip()}`" + (" (with uncommitted changes)"
                                                              if dirty else ""))  # fmt: skip
    lock = root / "dvc.lock"
    if lock.is_file():
        stages = yaml.safe_load(lock.read_text()).get("stages", {})
        wanted = {str(Path(t.glob).parent) for t, _, _ in SPLITS.values()}  # type: ignore[arg-type]
        for stage, entry in sorted(stages.items()):
            for out in entry.get("outs", []):
                if out["path"] in wanted or str(Path(out["path"]).parent) in wanted:
                    lines.append(f"- `{out['path']}`: md5 `{out['md5']}` (stage `{stage}`)")
    return "\n".join(lines) or "- (not a git repository with a dvc.lock)"


def dataset_card(root: Path, frames: Mapping[str, pl.DataFrame], license: str) -> str:
    """The dataset card (README.md with the Hub's YAML header) of `frames`, from the params,
    the metrics and the seeds of the repository at `root`."""
    params = root / "params.yaml"
    sample = load_params("sample", params)
    filt = load_params("filter", params)
    scoring = load_params("scoring", params)
    critique = load_params("critique_model", params)
    diversity = load_params("diversity", params)
    pairs = load_params("pairs", params)
    base = load_params("base", params)
    sampled = _metrics(root, "sample", "sample")
    seeds = SEEDS.read(root / SEEDS.glob, ["seed_id", "source"])  # type: ignore[operator]

    header = {
        "license": license,
        "pretty_name": "mathforge math-reasoning data",
        "task_categories": ["text-generation"],
        "language": ["en"],
        "configs": [
            {"config_name": name, "data_files": [{"split": hub, "path": f"data/{name}.parquet"}]}
            for name, (_, _, hub) in SPLITS.items()
        ],
    }
    sizes = "\n".join(
        f"| `{name}` | {frames[name].height:,} | {frames[name]['question_id'].n_unique():,} | "
        f"`{table.name}` | {what} |"
        for name, (table, what, _) in SPLITS.items()
    )
    subjects = sorted(set().union(*(set(f["subject"]) for f in frames.values())))
    counts = {
        name: dict(frame.group_by("subject").len().iter_rows()) for name, frame in frames.items()
    }
    subject_rows = "\n".join(
        f"| {s} | " + " | ".join(f"{counts[n].get(s, 0):,}" for n in SPLITS) + " |"
        for s in subjects
    )
    policies = ", ".join(
        f"`{m}` (temperature {sample.temperature_for(m)}, path accuracy {v['accuracy']:.1%})"
        for m, v in sorted(sampled.get("models", {}).items())
    )
    lineage = "\n".join(
        f"- `{column}` ({', '.join(n for n, f in frames.items() if column in f.columns)}): {what}"
        for column, what in LINEAGE.items()
        if any(column in f.columns for f in frames.values())
    )
    sources = "\n".join(
        f"- `{source}`: {n} seed problem(s)"
        for source, n in sorted(seeds.group_by("source").len().iter_rows())
    )
    threshold = (
        scoring.accept_threshold if filt.critique_threshold is None else filt.critique_threshold
    )
    return f"""---
{yaml.safe_dump(header, sort_keys=False).strip()}
---

# mathforge math-reasoning data

Generated by `mathforge export` from the outputs of the mathforge pipeline: problems
synthesized from seed problems, solved many times by small policy models in a mixed
chain-of-thought + Python format, every program executed in a sandbox and every answer graded,
the paths scored and filtered, a diverse set of correct paths selected for rejection-sampling
fine-tuning (RFT) and hard preference pairs mined for DPO.

## Splits

| split | rows | problems | pipeline table | a row is |
|---|---:|---:|---|---|
{sizes}

Each split is its own config (`load_dataset(<this folder>, "rft")`), as the tables differ;
`dataset/` holds the same splits as a `DatasetDict` (`datasets.load_from_disk`).

## Subjects

| subject | {" | ".join(SPLITS)} |
|---|{"---:|" * len(SPLITS)}
{subject_rows}

## How it was made

- Sampling: {sample.n} paths per train problem from each policy model, {sampled["paths"]:,}
  paths of {sampled["problems"]:,} problems in all. The policies ({len(base.models)}): {policies}.
- Scoring: `critique_model.critic: {critique.critic}`; a path passes the critique at score
  {threshold} or more of 10; at most `filter.top_m` = {filt.top_m} paths of a problem pass the
  filter, by reward.
- RFT set: at most `diversity.k` = {diversity.k} paths per problem, spread apart by their
  normalized programs; the answer the program printed is stated as the final answer.
- DPO pairs: `pairs.strategy: {pairs.strategy}`.
- The params are `params.yaml`'s and the accuracies `metrics/sample.json`'s, at:

{_lineage_of(root)}

## Lineage columns

{lineage}

## Seeds and licence

The problems descend from these seed sources (`data/seeds/*.jsonl`, field `source`):

{sources}

The dataset is released under `{license}`. Check the licence of any seed source not written
for this repository before redistributing it.
"""
