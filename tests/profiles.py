"""The tiny profile (configs/profiles/tiny.yaml): the repository's params.yaml shrunk so a
stage, or the whole pipeline, runs in seconds on CPU. Every stage test and the end-to-end test
take their params here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mathforge.profiles import read_profile, with_profile

ROOT = Path(__file__).resolve().parents[1]

# configs/profiles/tiny.yaml: what the profile changes (`mathforge profile` lays it over
# params.yaml for a user; the tests lay it over a copy)
TINY = read_profile(ROOT / "configs/profiles/tiny.yaml")


def tiny_params(params_file: Path = ROOT / "params.yaml", **sections: dict) -> dict[str, Any]:
    """`params_file` (the repository's by default) with the tiny profile, then `sections`
    merged in: `tiny_params(sample={"n": 4, "engine": {"batch_size": 4}})`."""
    params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    return with_profile(with_profile(params, TINY), sections)


def write_tiny_params(path: Path, **sections: dict) -> Path:
    """Write `tiny_params(**sections)` to `path` (a params.yaml for a stage's --params)."""
    path.write_text(yaml.safe_dump(tiny_params(**sections), sort_keys=False), encoding="utf-8")
    return path


def question_ids_by_role(n_each: int) -> dict[str, list[str]]:
    """Question ids whose role under the tiny profile's scoring params (`mathforge.scoring`)
    is train, heldout and score, `n_each` of each."""
    from mathforge.scoring import scoring_role

    scoring = tiny_params()["scoring"]
    roles = (scoring["fit_fraction"], scoring["heldout_fraction"], scoring["seed"])
    found: dict[str, list[str]] = {"train": [], "heldout": [], "score": []}
    i = 0
    while min(len(v) for v in found.values()) < n_each:
        q = f"q_{i:016x}"
        role = scoring_role(q, *roles)
        if len(found[role]) < n_each:
            found[role].append(q)
        i += 1
    return found
