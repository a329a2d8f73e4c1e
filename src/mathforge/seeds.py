"""Seed problem files: read, validate, and build the subject → skill taxonomy.

A seed file is JSON Lines, one problem per line::

    {"id": "arith-001", "subject": "arithmetic", "question": "...", "answer": "14",
     "skill": "multi_step", "solution": "...", "source": "mathforge-annotators"}

Required: `id` (unique across all files), `subject`, `question`, `answer`
(a string; an integer is accepted and kept as its decimal string). Optional:
`solution` (the mixed CoT+PoT format of `mathforge.solution`), `skill`
(defaults to "general"), `source` (defaults to the file name). Blank lines are
allowed; any other problem is a :class:`SeedFileError` naming file, line and field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from mathforge.contracts.seeds import SEEDS, TAXONOMY

REQUIRED = ("id", "subject", "question", "answer")
OPTIONAL = ("skill", "solution", "source")
DEFAULT_SKILL = "general"


class SeedFileError(ValueError):
    """A seed file is malformed; the message starts with `file:line:`."""

    def __init__(self, file: Path | str, line: int | None, message: str):
        self.file, self.line = str(file), line
        where = f"{file}:{line}" if line is not None else str(file)
        super().__init__(f"{where}: {message}")


def _parse_line(path: Path, lineno: int, raw: bytes) -> dict[str, str | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SeedFileError(
            path, lineno, f"not valid UTF-8 ({err.reason} at byte {err.start})"
        ) from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise SeedFileError(
            path, lineno, f"malformed JSON: {err.msg} (column {err.colno})"
        ) from None
    if not isinstance(obj, dict):
        raise SeedFileError(path, lineno, f"expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        allowed = ", ".join(REQUIRED + OPTIONAL)
        raise SeedFileError(path, lineno, f"unknown field '{unknown[0]}'; allowed: {allowed}")
    row: dict[str, str | None] = {}
    for field in REQUIRED + OPTIONAL:
        value = obj.get(field)
        if value is None:
            if field in REQUIRED:
                raise SeedFileError(path, lineno, f"missing field '{field}'")
            row[field] = None
            continue
        if field == "answer" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise SeedFileError(
                path, lineno, f"field '{field}' must be a string, got {type(value).__name__}"
            )
        if not value.strip():
            raise SeedFileError(path, lineno, f"field '{field}' is empty")
        row[field] = value.strip() if field != "solution" else value.strip("\n")
    return row


def read_seed_files(paths: Iterable[Path | str]) -> pl.DataFrame:
    """Read and validate seed files (in the given order) into the seeds table.

    Raises SeedFileError on the first problem; nothing is returned partially.
    """
    rows: list[dict] = []
    first_seen: dict[str, str] = {}
    paths = [Path(p) for p in paths]
    if not paths:
        raise SeedFileError("<seed files>", None, "no seed files matched")
    for path in paths:
        n_before = len(rows)
        for lineno, raw in enumerate(path.read_bytes().splitlines(), start=1):
            if not raw.strip():
                continue
            row = _parse_line(path, lineno, raw)
            seed_id = row["id"]
            if seed_id in first_seen:
                raise SeedFileError(
                    path, lineno, f"duplicate id '{seed_id}' (first at {first_seen[seed_id]})"
                )
            first_seen[seed_id] = f"{path}:{lineno}"
            rows.append(
                {
                    "seed_id": seed_id,
                    "subject": row["subject"],
                    "skill": row["skill"] or DEFAULT_SKILL,
                    "question": row["question"],
                    "answer": row["answer"],
                    "solution": row["solution"],
                    "source": row["source"] or path.name,
                    "file": str(path),
                    "line": lineno,
                }
            )
        if len(rows) == n_before:
            raise SeedFileError(path, None, "empty file: no seed problems")
    return SEEDS.frame(rows)


def build_taxonomy(seeds: pl.DataFrame, generators: dict[str, dict]) -> pl.DataFrame:
    """Subject → skill table with seed counts and which synthesis path serves each.

    `generators` is `mathforge.teacher.SUBJECTS` (subject → skill → generator);
    skills a subject's generator has but no seed names are listed with 0 seeds.
    """
    counts = seeds.group_by("subject", "skill").agg(pl.len().alias("n_seeds"))
    rows = {(r["subject"], r["skill"]): r["n_seeds"] for r in counts.iter_rows(named=True)}
    for subject in seeds["subject"].unique():
        for skill in generators.get(subject, {}):
            rows.setdefault((subject, skill), 0)
    subject_totals = seeds.group_by("subject").agg(pl.len().alias("n")).rows()
    subject_totals = dict(subject_totals)
    return TAXONOMY.frame(
        {
            "subject": subject,
            "skill": skill,
            "n_seeds": n,
            "n_subject_seeds": subject_totals[subject],
            "path": "programmatic" if skill in generators.get(subject, {}) else "llm",
        }
        for (subject, skill), n in sorted(rows.items())
    )
