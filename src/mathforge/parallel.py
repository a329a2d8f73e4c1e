"""Work spread over processes, results in order: the stages' one way to use both cores.

Spawned, never forked: a forked child inherits polars' thread pool (and torch's) mid-state
and can hang. Each worker imports what it needs once and keeps it for its next tasks (a
model it loaded, for instance), so tasks should be ordered to let it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def pool_map(
    function: Callable[[T], R],
    items: Sequence[T],
    workers: int,
    progress: Callable[[int], None] | None = None,
) -> Iterator[R]:
    """`function` over `items`, in `workers` processes (1: in this one), yielding the results
    in the items' order and calling `progress(1)` as each is yielded. `function` must be
    importable by name (a module's top level), and its items and results picklable."""
    if workers <= 1 or len(items) <= 1:
        for item in items:
            result = function(item)
            if progress:
                progress(1)
            yield result
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        for result in pool.map(function, items, chunksize=1):
            if progress:
                progress(1)
            yield result
