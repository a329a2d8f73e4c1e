"""Writing stage outputs: Parquet tables, text and metrics JSON.

Writes are atomic (a temporary file in the same directory, then `os.replace`),
so a crash or a failed validation never leaves a half-written output behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl


@contextmanager
def _atomic_path(path: str | Path) -> Iterator[Path]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_parquet(df: pl.DataFrame, path: str | Path) -> None:
    """Write `df` to `path` atomically (zstd-compressed Parquet)."""
    with _atomic_path(path) as tmp:
        df.write_parquet(tmp, compression="zstd", statistics=True)


def write_text(text: str, path: str | Path) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    with _atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(obj: Any, path: str | Path) -> None:
    """Write `obj` as pretty, key-sorted JSON, atomically."""
    write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", path)
