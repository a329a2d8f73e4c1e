"""Resumable, sharded stage output: finished shards survive a crash or a kill.

DVC deletes a stage's outputs before it reruns the stage, so shards written
into the output directory would be gone after a kill. A `ShardStore` keeps them
in a scratch directory next to the output instead (``<out>.partial/``, ignored
by git), under a *fingerprint* of everything the shards depend on: the stage's
params, the bytes of its inputs and its code (the code deps dvc.yaml lists for the
stage, :func:`stage_code_deps`: what DVC itself calls the stage's code). A rerun with the same
fingerprint finds its finished shards and skips them; a rerun after anything
changed starts clean (stale fingerprints are deleted). Each shard is written
atomically (a temporary file, then a rename), so a shard file is either whole
or absent: a kill loses at most the shards in progress, never a row of a
finished one, and never writes one twice.

    store = ShardStore.open(Path("data/paths"), fingerprint({...}, inputs))
    for key, rows in work:
        if not store.done(key):
            store.write(key, make_shard(rows), stats={"seconds": ...})
    # ... then move the shards into the real output and drop the scratch:
    store.discard()
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from mathforge.io import write_json, write_parquet

PARTIAL_SUFFIX = ".partial"
_FINGERPRINT_FILE = "fingerprint.json"
CODE_DIRS = ("stages/", "src/")  # a dvc.yaml dep under one of these is code


def stage_code_deps(stage: str, root: Path) -> list[Path]:
    """The code deps (under stages/ or src/) dvc.yaml at `root` lists for `stage`, as paths
    under `root`. `stage` may name a foreach/matrix entry (``sft@policy_small``): its deps are
    the template's. A shard fingerprint over these agrees with DVC on what the stage's code is,
    so a refactor of a module the stage does not import keeps its finished shards."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    name = stage.split("@", 1)[0]
    if name not in stages:
        raise KeyError(f"{root / 'dvc.yaml'} has no stage {name!r}")
    definition = stages[name].get("do", stages[name])
    deps = [d for d in definition.get("deps", []) if d.startswith(CODE_DIRS)]
    return [root / d for d in deps]


def file_digest(path: Path, digest: Any = None) -> Any:
    """SHA-256 of a file's bytes, or of a directory's files (relative names and bytes)."""
    digest = digest or hashlib.sha256()
    if path.is_dir():  # bytecode caches differ between runs of the same source: skipped
        files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    else:
        files = [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest


def fingerprint(settings: Mapping[str, Any], inputs: Iterable[Path]) -> str:
    """A short hash of `settings` (JSON-able) and of the bytes of every input path."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in inputs:
        digest.update(f"\0{path}\0".encode())
        file_digest(path, digest)
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class ShardStore:
    """Finished shards of one output under one fingerprint (`root` = the scratch directory)."""

    root: Path
    fingerprint: str

    @classmethod
    def open(cls, out: Path, fingerprint: str) -> ShardStore:
        """The scratch store for output `out`; any shards of another fingerprint are deleted."""
        base = out.parent / f"{out.name}{PARTIAL_SUFFIX}"
        if base.is_dir():
            for stale in base.iterdir():
                if stale.name != fingerprint:
                    shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        root = base / fingerprint
        root.mkdir(parents=True, exist_ok=True)
        return cls(root, fingerprint)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.parquet"

    def done(self, key: str) -> bool:
        return self.path(key).is_file()

    def write(self, key: str, df: pl.DataFrame, stats: Mapping[str, Any] | None = None) -> None:
        """Store shard `key` (and its `stats`, e.g. timings); the Parquet file lands last."""
        if stats is not None:
            write_json(dict(stats), self.root / f"{key}.json")
        write_parquet(df, self.path(key))

    def read(self, key: str) -> pl.DataFrame:
        return pl.read_parquet(self.path(key))

    def stats(self, key: str) -> dict[str, Any]:
        path = self.root / f"{key}.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def finished(self) -> list[str]:
        """Keys of the finished shards, sorted."""
        return sorted(p.stem for p in self.root.glob("*.parquet"))

    def discard(self) -> None:
        """Delete the scratch directory (after the shards reached the real output)."""
        shutil.rmtree(self.root.parent, ignore_errors=True)
