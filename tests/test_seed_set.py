"""The hand-written seed set (data/seeds/<subject>.jsonl): well-formed, covering every skill,
and every reference solution prints its answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mathforge.sandbox import run_programs
from mathforge.seeds import read_seed_files
from mathforge.solution import FINAL_ANSWER_PREFIX, extract_programs
from mathforge.teacher import SUBJECTS

SEED_DIR = Path(__file__).resolve().parents[1] / "data" / "seeds"
FIELDS = ("id", "subject", "skill", "question", "answer", "solution", "source")


def _load() -> dict[str, list[dict]]:
    return {
        path.stem: [
            json.loads(line)
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        for path in sorted(SEED_DIR.glob("*.jsonl"))
    }


@pytest.fixture(scope="module")
def seeds() -> dict[str, list[dict]]:
    return _load()


def test_one_file_per_subject(seeds):
    assert sorted(seeds) == sorted(SUBJECTS)


def test_fields_present_and_non_empty(seeds):
    for subject, rows in seeds.items():
        assert 8 <= len(rows) <= 12, f"{subject}: {len(rows)} seeds"
        for row in rows:
            assert set(row) == set(FIELDS), row.get("id")
            for field in FIELDS:
                assert isinstance(row[field], str) and row[field].strip(), (row["id"], field)
            assert row["subject"] == subject, row["id"]
            assert row["source"] == "mathforge-annotators", row["id"]


def test_ids_unique_across_files(seeds):
    ids = [row["id"] for rows in seeds.values() for row in rows]
    assert len(ids) == len(set(ids))


def test_skills_are_known_and_all_covered(seeds):
    for subject, rows in seeds.items():
        skills = {row["skill"] for row in rows}
        assert skills <= set(SUBJECTS[subject]), (
            f"{subject}: unknown {skills - set(SUBJECTS[subject])}"
        )
        assert skills == set(SUBJECTS[subject]), (
            f"{subject}: no seed for {set(SUBJECTS[subject]) - skills}"
        )


def test_solutions_are_in_the_mixed_format(seeds):
    for rows in seeds.values():
        for row in rows:
            solution = row["solution"]
            assert solution.endswith(f"{FINAL_ANSWER_PREFIX} {row['answer']}"), row["id"]
            assert extract_programs(solution), row["id"]
            assert solution.split("```python")[0].strip(), (
                f"{row['id']}: no reasoning before the code"
            )


def test_seed_solutions_print_their_answers(seeds):
    rows = [row for rows in seeds.values() for row in rows]
    sources = ["\n".join(extract_programs(row["solution"])) for row in rows]
    failures = []
    for row, result in zip(rows, run_programs(sources, timeout_s=30.0), strict=True):
        lines = result.stdout.strip().splitlines()
        if not result.ok or not lines or lines[-1].strip() != row["answer"]:
            failures.append(f"{row['id']}: {result.stderr or lines[-1:]} != {row['answer']}")
    assert not failures, "\n".join(failures)


def test_seed_files_load_with_the_seed_reader():
    """The pipeline's own reader accepts the files (schema, ids, non-empty fields)."""
    table = read_seed_files(sorted(SEED_DIR.glob("*.jsonl")))
    assert table.height == sum(len(rows) for rows in _load().values())
