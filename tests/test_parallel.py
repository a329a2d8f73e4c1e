"""mathforge.parallel.pool_map: results in the items' order, from worker processes or not."""

from __future__ import annotations

import math
import os

import pytest

from mathforge.parallel import pool_map


def worker_pid(_: object) -> int:
    return os.getpid()


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_in_the_items_order_with_progress(workers):
    items = [30, 1, 12, 5, 0, 7]
    counted = []
    results = list(pool_map(math.factorial, items, workers, counted.append))
    assert results == [math.factorial(i) for i in items]
    assert counted == [1] * len(items)


def test_one_worker_runs_here_and_two_run_elsewhere():
    assert set(pool_map(worker_pid, range(4), 1)) == {os.getpid()}
    assert os.getpid() not in set(pool_map(worker_pid, range(4), 2))


def test_a_workers_error_reaches_the_caller():
    with pytest.raises(ValueError, match="not defined for negative values"):
        list(pool_map(math.factorial, [3, -1, 4], 2))
