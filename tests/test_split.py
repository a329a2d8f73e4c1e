"""Stratified splits keep OOD out of train; decontamination finds near-copies."""

from pathlib import Path

import polars as pl
import pytest

from mathforge.config import load_params
from mathforge.decontam import HeldOutIndex, word_ngrams
from mathforge.splitting import assign_splits

ROOT = Path(__file__).resolve().parents[1]


def questions(n_per_subject=40, n_ood=10, subjects=("a", "b")):
    rows = []
    for subject in subjects:
        rows.append({"subject": subject, "generator": "seed", "variant": "base"})
        rows += [
            {"subject": subject, "generator": "programmatic", "variant": "base"}
        ] * n_per_subject
        rows += [{"subject": subject, "generator": "programmatic", "variant": "ood"}] * n_ood
    return pl.DataFrame(
        [
            {**r, "question_id": f"q{i}", "synth_index": i, "question": f"problem {i}"}
            for i, r in enumerate(rows)
        ]
    )


def test_split_is_stratified_seeded_and_keeps_ood_out_of_train():
    overrides = {"seed": 1, "eval_fraction": 0.25, "test_fraction": 0.25, "ood_eval_fraction": 0.5}
    cfg = load_params("split", ROOT / "params.yaml", overrides)
    out = assign_splits(questions(), cfg)
    assert out.height == 2 * 51
    assert out.filter(pl.col("split") == "train")["ood"].sum() == 0
    assert set(out.filter(pl.col("generator") == "seed")["split"]) == {"train"}
    for subject in ("a", "b"):
        part = out.filter(
            (pl.col("subject") == subject)
            & (pl.col("variant") == "base")
            & (pl.col("generator") != "seed")
        )
        assert part.group_by("split").len().sort("split").rows() == [
            ("eval", 10),
            ("test", 10),
            ("train", 20),
        ]
        ood = out.filter((pl.col("subject") == subject) & pl.col("ood"))
        assert ood.group_by("split").len().sort("split").rows() == [("eval", 5), ("test", 5)]
    again = assign_splits(questions(), cfg)
    assert again["split"].to_list() == out["split"].to_list()
    other = assign_splits(questions(), cfg.model_copy(update={"seed": 2}))
    assert other["split"].to_list() != out["split"].to_list()


def test_ngrams_lowercase_words_and_short_texts():
    assert word_ngrams("A, b c!", 2) == {("a", "b"), ("b", "c")}
    assert word_ngrams("Only two", 5) == {("only", "two")}
    assert word_ngrams("?!", 3) == set()


@pytest.mark.parametrize(
    ("train_text", "expected"),
    [
        ("Tom has 12 apples and gives 5 to Ann. How many apples does Tom have left?", 1.0),
        ("Tom has 12 apples and gives 5 to Ann; how many apples remain with Tom now?", 9 / 13),
        ("Ann receives 5 of the 12 apples Tom has; find how many he keeps.", None),
        ("Compute the determinant of [[1, 2], [3, 4]].", None),
    ],
)
def test_held_out_index_overlap(train_text, expected):
    held = HeldOutIndex(
        ["e1", "e2"],
        [
            "Tom has 12 apples and gives 5 to Ann. How many apples does Tom have left?",
            "Find 7 * 8.",
        ],
        n=4,
    )
    hit = held.check(train_text)
    if expected is None:
        assert hit is None
    else:
        assert hit.overlap == pytest.approx(expected)
        assert hit.closest_id == "e1"
