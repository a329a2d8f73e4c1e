"""Seed files: good files load; every kind of bad input fails with file:line."""

import json

import pytest

from mathforge.seeds import SeedFileError, build_taxonomy, read_seed_files

GOOD = {"id": "s1", "subject": "arithmetic", "question": "What is 2 + 3?", "answer": "5"}


def write(tmp_path, name, lines: list, raw: bytes | None = None):
    path = tmp_path / name
    path.write_bytes(
        raw
        if raw is not None
        else "\n".join(
            line if isinstance(line, str) else json.dumps(line) for line in lines
        ).encode()
        + b"\n"
    )
    return path


def test_reads_rows_with_defaults_and_provenance(tmp_path):
    path = write(tmp_path, "a.jsonl", [GOOD, "", {**GOOD, "id": "s2", "skill": "sum", "answer": 7}])
    seeds = read_seed_files([path])
    assert seeds["seed_id"].to_list() == ["s1", "s2"]
    assert seeds["skill"].to_list() == ["general", "sum"]
    assert seeds["answer"].to_list() == ["5", "7"]  # an integer answer becomes its string
    assert seeds["line"].to_list() == [1, 3]
    assert seeds["source"].to_list() == ["a.jsonl", "a.jsonl"]


@pytest.mark.parametrize(
    ("lines", "line", "fragment"),
    [
        ([GOOD, '{"id": "s2", "subject": '], 2, "malformed JSON"),
        (
            [GOOD, {k: v for k, v in GOOD.items() if k != "answer"} | {"id": "s2"}],
            2,
            "missing field 'answer'",
        ),
        ([{**GOOD, "question": "   "}], 1, "field 'question' is empty"),
        ([GOOD, GOOD], 2, "duplicate id 's1'"),
        ([{**GOOD, "anwser": "5"}], 1, "unknown field 'anwser'"),
        ([{**GOOD, "answer": 2.5}], 1, "field 'answer' must be a string"),
        ([[1, 2]], 1, "expected a JSON object"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, lines, line, fragment):
    path = write(tmp_path, "bad.jsonl", lines)
    with pytest.raises(SeedFileError) as err:
        read_seed_files([path])
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert fragment in str(err.value)


def test_non_utf8_names_the_line(tmp_path):
    raw = (
        json.dumps(GOOD).encode()
        + b'\n{"id": "s2", "subject": "a", "question": "caf\xe9?", "answer": "1"}\n'
    )
    path = write(tmp_path, "latin1.jsonl", [], raw=raw)
    with pytest.raises(SeedFileError, match=r"latin1\.jsonl:2: not valid UTF-8"):
        read_seed_files([path])


def test_empty_file_and_no_files(tmp_path):
    path = write(tmp_path, "empty.jsonl", [], raw=b"\n\n")
    with pytest.raises(SeedFileError, match="empty.jsonl: empty file"):
        read_seed_files([path])
    with pytest.raises(SeedFileError, match="no seed files"):
        read_seed_files([])


def test_duplicate_id_across_files(tmp_path):
    a = write(tmp_path, "a.jsonl", [GOOD])
    b = write(tmp_path, "b.jsonl", [{**GOOD, "question": "Other?"}])
    with pytest.raises(
        SeedFileError, match=r"b\.jsonl:1: duplicate id 's1' \(first at .*a\.jsonl:1\)"
    ):
        read_seed_files([a, b])


def test_taxonomy_marks_paths_and_counts(tmp_path):
    path = write(
        tmp_path,
        "a.jsonl",
        [
            {**GOOD, "skill": "multi_step"},
            {**GOOD, "id": "s2", "skill": "multi_step"},
            {**GOOD, "id": "s3", "subject": "topology", "skill": "knots"},
        ],
    )
    taxonomy = build_taxonomy(
        read_seed_files([path]), {"arithmetic": {"multi_step": None, "rates": None}}
    )
    rows = {(r["subject"], r["skill"]): r for r in taxonomy.iter_rows(named=True)}
    assert rows[("arithmetic", "multi_step")]["n_seeds"] == 2
    assert rows[("arithmetic", "rates")]["n_seeds"] == 0
    assert rows[("arithmetic", "rates")]["path"] == "programmatic"
    assert rows[("topology", "knots")]["path"] == "llm"
    assert rows[("topology", "knots")]["n_subject_seeds"] == 1
