"""`mathforge export`: the RFT set, the DPO pairs and the eval set as a Hugging Face dataset,
loaded back with `datasets` three ways, with a card built from the repository's files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from datasets import load_dataset, load_from_disk
from typer.testing import CliRunner

from mathforge.cli import app
from mathforge.contracts.diversity import SELECTED
from mathforge.contracts.pairs import PAIRS
from mathforge.contracts.seeds import SEEDS
from mathforge.contracts.splits import EVAL
from mathforge.errors import UserError
from mathforge.export import export_dataset

ROOT = Path(__file__).resolve().parents[1]


def hex16(i: int) -> str:
    return f"{i:016x}"


def selected(i: int, subject: str) -> dict:
    return {
        "path_id": f"p_{hex16(i)}", "question_id": f"q_{hex16(i // 2)}", "subject": subject,
        "model": "policy_small", "sample_index": i % 2, "prompt": f"What is {i} + 1?",
        "text": f"n1 = {i}\n```python\nprint({i} + 1)\n```\nFinal answer: {i + 1}",
        "predicted": str(i + 1), "reference": str(i + 1), "critique_score": 9, "reward": 0.5,
        "keep_rank": 1 + i % 2, "form_id": f"f_{hex16(i)}", "hard": i % 3 == 0,
    }  # fmt: skip


def pair(i: int, subject: str) -> dict:
    return {
        "pair_id": f"d_{hex16(i)}", "question_id": f"q_{hex16(i)}", "subject": subject,
        "strategy": "hard", "pair_type": "one_step_wrong", "prompt": f"What is {i} * 2?",
        "chosen": f"print({i} * 2)", "rejected": f"print({i} * 3)",
        "chosen_path_id": f"p_{hex16(100 + i)}", "rejected_path_id": f"p_{hex16(200 + i)}",
        "chosen_model": "policy_small", "rejected_model": "policy_tiny",
        "chosen_critique_score": 9, "rejected_critique_score": None, "chosen_reward": 0.9,
        "rejected_reward": 0.1, "hard": True, "detail": json.dumps({"i": i}),
    }  # fmt: skip


def eval_problem(i: int, subject: str) -> dict:
    return {
        "question_id": f"q_{hex16(500 + i)}", "subject": subject, "skill": "sharing",
        "variant": "base", "question": f"Share {i} apples.", "answer": str(i),
        "solution": None, "generator": "programmatic", "seed_ids": [f"s{i}", "s0"],
        "params": "{}", "synth_index": i, "split": "eval", "ood": i == 2,
    }  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The files export reads, laid out as the repository: the three tables, the seeds,
    params.yaml (the shipped one) and the sample stage's metrics."""
    frames = {
        SELECTED: SELECTED.frame([selected(i, ("arithmetic", "percentages")[i % 2])
                                  for i in range(5)]),
        PAIRS: PAIRS.frame([pair(i, "arithmetic") for i in range(3)]),
        EVAL: EVAL.frame([eval_problem(i, ("arithmetic", "algebra")[i % 2]) for i in range(4)]),
        SEEDS: SEEDS.frame([
            {"seed_id": f"s{i}", "subject": "arithmetic", "skill": "sharing", "question": "q",
             "answer": "1", "solution": None, "source": ("annotators", "textbook-x")[i > 1],
             "file": "arithmetic.jsonl", "line": i + 1} for i in range(3)
        ]),
    }  # fmt: skip
    for table, frame in frames.items():
        path = tmp_path / table.glob
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(path)
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/sample.json").write_text(json.dumps({
        "paths": 64, "problems": 4,
        "models": {"policy_small": {"accuracy": 0.5}, "policy_tiny": {"accuracy": 0.25}},
    }))  # fmt: skip
    return tmp_path


def test_export_loads_back_three_ways_with_every_row(repo, tmp_path):
    out = tmp_path / "export"
    rows = export_dataset(repo, out)
    assert rows == {"rft": 5, "dpo": 3, "eval": 4}
    written = {name: pl.read_parquet(repo / t.glob) for name, t in
               (("rft", SELECTED), ("dpo", PAIRS), ("eval", EVAL))}  # fmt: skip

    saved = load_from_disk(str(out / "dataset"))
    assert set(saved) == {"rft", "dpo", "eval"}
    for name, frame in written.items():
        assert pl.from_arrow(saved[name].data.table).equals(frame), name

    cache = str(tmp_path / "hf-cache")  # never the user's cache
    for name, frame in written.items():
        parquet = load_dataset("parquet", data_files={"train": str(out / f"data/{name}.parquet")},
                               split="train", cache_dir=cache)  # fmt: skip
        assert pl.from_arrow(parquet.data.table).equals(frame), name
    # the card's YAML header makes each split a config of the folder, as on the Hub
    rft = load_dataset(str(out), "rft", split="train", cache_dir=cache)
    assert rft["path_id"] == written["rft"]["path_id"].to_list()
    evaluation = load_dataset(str(out), "eval", split="test", cache_dir=cache)
    assert evaluation["seed_ids"] == written["eval"]["seed_ids"].to_list()


def test_the_card_says_sizes_subjects_params_lineage_and_sources(repo, tmp_path):
    export_dataset(repo, tmp_path / "export", license="cc-by-4.0")
    card = (tmp_path / "export/README.md").read_text()
    assert card.startswith("---\nlicense: cc-by-4.0\n")
    assert "| `rft` | 5 | 3 | `selected` |" in card  # 5 paths of 3 problems
    assert "| `dpo` | 3 | 3 | `pairs` |" in card
    assert "| arithmetic | 3 | 3 | 2 |" in card and "| algebra | 0 | 0 | 2 |" in card
    assert "| percentages | 2 | 0 | 0 |" in card
    assert "64\n  paths of 4 problems" in card and "path accuracy 25.0%" in card
    assert "`pairs.strategy: hard`" in card and "`diversity.k` = 4" in card
    assert "- `chosen_path_id` (dpo)" in card and "- `seed_ids` (eval)" in card
    assert "- `annotators`: 2 seed problem(s)" in card and "- `textbook-x`: 1" in card


def test_a_missing_table_names_its_stage_and_leaves_the_old_export(repo, tmp_path):
    out = tmp_path / "export"
    export_dataset(repo, out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    (repo / PAIRS.glob).unlink()
    with pytest.raises(
        UserError, match=r"data/pairs/pairs.parquet not found \(run `dvc repro pairs`\)"
    ):
        export_dataset(repo, out)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    result = CliRunner().invoke(app, ["export", str(tmp_path / "other"), "--root", str(repo)])
    assert result.exit_code == 1 and "dvc repro pairs" in " ".join(result.output.split())
    assert not (tmp_path / "other").exists()
