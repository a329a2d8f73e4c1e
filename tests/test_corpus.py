"""The pretraining corpus: teacher problems in other formats than the mixed one, disjoint from
the splits and decontaminated; the stage writes them with every draw it dropped."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import get_args

import polars as pl
import pytest
import yaml
from profiles import write_tiny_params

from mathforge.config import CorpusParams, load_params
from mathforge.contracts.corpus import CORPUS
from mathforge.decontam import HeldOutIndex
from mathforge.grading import run_sandboxed
from mathforge.lineage import question_id
from mathforge.prompts import render
from mathforge.teacher import domain_skills, generate
from mathforge.teacher.corpus import (
    FORMATS,
    LONGEST,
    TEMPLATE,
    draw_problems,
    long_numbers_rewrite,
    render_formats,
    with_long_numbers,
)
from mathforge.verify import answers_match_batch
from stages import corpus as corpus_stage

ROOT = Path(__file__).resolve().parents[1]


def test_the_template_renders_each_format():
    q = "What is 2 + 3?"
    assert render(TEMPLATE, format="program", question=q).strip() == (
        "What is 2 + 3?\n\nWrite a Python program that prints the answer."
    )
    assert (
        render(TEMPLATE, format="numbers", question=q)
        .strip()
        .endswith("List the numbers this problem gives, in order.")
    )
    assert render(TEMPLATE, format="reasoning_program", question=q, reasoning="Add.").strip() == (
        "What is 2 + 3?\n\nReasoning: Add.\n\nWrite the Python program for this reasoning."
    )


def test_formats_carry_the_problem_but_never_the_mixed_solution():
    problem = generate("number_theory", "lcm", random.Random(2), "base")
    rows = {r["format"]: r for r in render_formats(problem, FORMATS)}
    assert set(rows) == set(FORMATS)
    assert "every 4 seconds and another every 20 seconds" in problem.question
    assert rows["numbers"]["completion"] == "4, 20"  # the question's numbers, in order
    # the line the mixed solution opens with: each number with what it counts
    assert rows["key_information"]["completion"] == (
        "Key information: n1 = 4 seconds, n2 = 20 seconds."  # the names the program binds
    )
    assert problem.solution.startswith(rows["key_information"]["completion"])
    # the chain of thought alone: the solution's text before its program, nothing after
    assert problem.solution.startswith(rows["reasoning"]["completion"])
    assert "```" not in rows["reasoning"]["completion"]
    for row in rows.values():
        if row["format"] != "long_numbers":  # its question is rewritten (below)
            assert problem.question in row["prompt"]
        assert "Final answer" not in row["completion"]  # not the mixed format
    assert rows["program"]["completion"].startswith("```python\n")
    assert "Reasoning: Key information:" in rows["reasoning_program"]["prompt"]
    with pytest.raises(ValueError, match="unknown corpus format 'essay'"):
        render_formats(problem, ["essay"])


def test_long_numbers_rewrites_the_bound_numbers_in_question_and_program_alike():
    question = "Pack 26 muffins into boxes of 4; 4 boxes fill a tray. Each weighs $1.50."
    program = "n1 = 26\nboxes = -(-n1 // 4)\nprint(boxes)"
    new_question, new_program = with_long_numbers(question, program, random.Random(0))
    (number,) = [line.split(" = ")[1] for line in new_program.splitlines()[:1]]
    assert number != "26" and 1 <= len(number) <= LONGEST and not number.startswith("0")
    assert new_question == question.replace("26", number)  # 4 is given twice: left alone
    assert new_program == program.replace("n1 = 26", f"n1 = {number}")
    lengths = set()
    for seed in range(200):
        q, p = with_long_numbers(
            "Share 12 pens among 5 pupils.", "n1 = 12\nn2 = 5\n", random.Random(seed)
        )
        a, b = p.split()[2], p.split()[5]
        assert q == f"Share {a} pens among {b} pupils." and a != b
        lengths |= {len(a), len(b)}
    assert lengths == set(range(1, LONGEST + 1))


def test_the_long_numbers_row_is_the_program_row_of_the_rewritten_question():
    problem = generate("number_theory", "lcm", random.Random(2), "base")
    rows = {r["format"]: r for r in render_formats(problem, ["program", "long_numbers"])}
    question, program = long_numbers_rewrite(problem)
    assert long_numbers_rewrite(problem) == (question, program)  # seeded by the question
    assert question != problem.question
    assert rows["long_numbers"]["prompt"] == rows["program"]["prompt"].replace(
        problem.question, question
    )
    assert rows["long_numbers"]["completion"] == f"```python\n{program}\n```"
    before, after = rows["program"]["completion"], rows["long_numbers"]["completion"]
    assert [line for line in before.splitlines() if not line.startswith("n")] == [
        line for line in after.splitlines() if not line.startswith("n")
    ]  # only the bindings changed


def test_one_list_of_formats_in_the_teacher_the_contract_and_the_params():
    contract = next(c for c in CORPUS.columns if c.name == "format")
    field = CorpusParams.model_fields["formats"].annotation
    assert set(FORMATS) == set(contract.values) == set(get_args(get_args(field)[0]))


def test_every_drawn_skill_appears_and_every_program_prints_the_answer():
    skills = domain_skills(load_params("domain", ROOT / "params.yaml").subjects)
    problems = list(draw_problems(skills, 120, 0.3, random.Random(0)))
    drawn = {(p.subject, p.skill) for p in problems}
    assert drawn == {(s, k) for s, ks in skills.items() for k in ks}
    assert {p.variant for p in problems} == {"base", "hard"}  # never ood
    programs = [
        render_formats(p, ["program"])[0]["completion"].removeprefix("```python\n")[:-4]
        for p in problems
    ]
    sandbox = load_params("sandbox", ROOT / "params.yaml")
    results = run_sandboxed(programs, sandbox)
    printed = [r.stdout.strip().splitlines()[-1] for r in results]
    assert answers_match_batch(printed, [p.answer for p in problems]) == [True] * len(problems)


def split_frames(tmp_path: Path) -> tuple[Path, pl.DataFrame]:
    """Splits whose eval and test hold real teacher problems of the domain."""
    rng = random.Random(5)
    rows = []
    for name in ("train", "eval", "test"):
        for _ in range(30):
            p = generate("number_theory", rng.choice(["gcd", "lcm"]), rng, "base")
            rows.append({"question_id": question_id(p.question), "question": p.question,
                         "split": name})  # fmt: skip
    frame = pl.DataFrame(rows).unique("question_id")
    splits = tmp_path / "splits"
    splits.mkdir()
    for name in ("train", "eval", "test"):
        frame.filter(pl.col("split") == name).write_parquet(splits / f"{name}.parquet")
    return splits, frame


def test_the_stage_keeps_no_split_problem_and_no_contaminated_one(tmp_path):
    splits, frame = split_frames(tmp_path)
    params = write_tiny_params(tmp_path / "params.yaml", corpus={"problems": 400})
    raw = yaml.safe_load(params.read_text())
    raw["domain"]["subjects"] = {"number_theory": ["gcd", "lcm"]}  # replaced, not merged
    params.write_text(yaml.safe_dump(raw))
    out, metrics = tmp_path / "corpus", tmp_path / "corpus.json"
    corpus_stage.main([str(splits), str(out), str(metrics), "--params", str(params)])

    corpus = pl.read_parquet(out / "corpus.parquet")
    report = json.loads(metrics.read_text())
    rejects = pl.read_parquet(out / "rejects.parquet")
    assert not set(corpus["question_id"]) & set(frame["question_id"])
    cfg = load_params("split", params)
    held = frame.filter(pl.col("split") != "train")
    index = HeldOutIndex(held["question_id"].to_list(), held["question"].to_list(),
                         cfg.decontam_ngram)  # fmt: skip
    assert "long_numbers" in load_params("corpus", params).formats  # its questions are new text
    shown = corpus.filter(pl.col("format").is_in(["program", "long_numbers"]))["prompt"]
    questions = [p.split("\n\n")[0] for p in shown]
    overlaps = [index.check(q) for q in questions]
    assert all(h is None or h.overlap < cfg.decontam_threshold for h in overlaps)
    # every draw is kept or dropped with its reason, counted under the same name
    assert report["problems"] + rejects.height == 400
    assert corpus.height == report["problems"] * len(load_params("corpus", params).formats)
    reasons = dict(rejects.group_by("reason").len().iter_rows())
    assert reasons.get("contaminated", 0) > 0  # the tiny draw repeats templates of the splits
    assert {f"dropped_{r}": n for r, n in reasons.items()} == {
        k: v for k, v in report.items() if k.startswith("dropped_")
    }
    assert set(corpus["skill"]) == {"gcd", "lcm"}
    assert corpus["row_id"].n_unique() == corpus.height
