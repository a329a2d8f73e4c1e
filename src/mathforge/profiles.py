"""Params profiles: a YAML file of the values a profile changes, laid over params.yaml.

    mathforge profile configs/profiles/gpu.yaml    # params.yaml becomes the GPU profile
    git checkout params.yaml                       # back to the CPU demo

`configs/profiles/` holds them: `gpu.yaml` (real models, vLLM, an OpenAI-compatible judge,
DeepSpeed, the recipe's sizes) and `tiny.yaml` (every stage in seconds: the tests' profile).
A profile's mappings merge into params.yaml's key by key; a mapping that names another
`backend` (a generation engine, a judge) replaces the old one whole, since each backend has
keys of its own. params.yaml keeps its comments. The result is validated as `mathforge
check` validates params.yaml (every section, the launcher's config) before params.yaml is
replaced; on an error nothing is written.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

import yaml

from mathforge.config import ParamsError, check_all
from mathforge.io import write_text


def read_profile(path: str | Path) -> dict[str, Any]:
    """A profile file: a mapping of params.yaml sections to the values it changes."""
    profile = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(profile, dict):
        raise ParamsError(f"{path}: a profile is a mapping of params.yaml sections")
    return profile


def overlay(target: MutableMapping[str, Any], changes: Mapping[str, Any]) -> None:
    """Lay `changes` over `target` in place: mappings merged key by key, anything else (and a
    mapping whose `backend` differs from the old one's) replaced."""
    for key, value in changes.items():
        old = target.get(key)
        if (
            isinstance(value, Mapping)
            and isinstance(old, MutableMapping)
            and value.get("backend", old.get("backend")) == old.get("backend")
        ):
            overlay(old, value)
        else:
            target[key] = copy.deepcopy(value)


def with_profile(params: Mapping[str, Any], profile: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `params` with `profile` laid over it (plain dicts: tests, code)."""
    out = copy.deepcopy(dict(params))
    overlay(out, profile)
    return out


def apply_profile(profile_path: str | Path, params_path: str | Path = "params.yaml") -> str:
    """Lay the profile at `profile_path` over `params_path` (comments kept), check every
    section of the result, and replace the file with it; returns the new text."""
    from ruamel.yaml import YAML

    params_path = Path(params_path)
    rt = YAML()  # round trip: comments, quotes and key order as they were
    rt.preserve_quotes = True
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.representer.add_representer(
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    params = rt.load(params_path.read_text(encoding="utf-8"))
    overlay(params, read_profile(profile_path))
    out = io.StringIO()
    rt.dump(params, out)
    text = out.getvalue()
    scratch = params_path.with_name(f".{params_path.name}.profile")
    try:
        write_text(text, scratch)
        try:
            check_all(scratch)
        except ParamsError as err:
            raise ParamsError(
                f"{profile_path} over {params_path} is not valid params; nothing written:\n"
                + str(err).replace(str(scratch), str(params_path))
            ) from None
    finally:
        scratch.unlink(missing_ok=True)
    write_text(text, params_path)
    return text
