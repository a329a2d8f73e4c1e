"""Answer grading: does a model's answer state the same answer as the reference?

    answers_match(pred, gold)                  -> True | False | None
    answers_match_batch(preds, golds, workers) -> list[True | False | None]

Guarantees (how an answer is read and the tolerance rules, with examples: docs/grading.md):

* ``None`` means ungradable (empty, prose without math, a timeout, an input too large to
  check safely); callers count it apart from wrong answers, never as ``False``.
* Symmetric: ``answers_match(a, b) == answers_match(b, a)`` for every pair.
* No rounding tolerance against exact values: an integer, fraction, surd or pi expression
  matches a decimal only at float precision -- a decimal with >= 12 significant digits that
  is the value rounded to its places, or the value up to float noise (1e-14 relative), as
  Python's float repr prints it (``0.6666666666666666`` == ``2/3``; ``0.33``, ``0.3333``,
  ``1.41`` and ``3.14`` are not ``1/3``, ``sqrt(2)``, ``pi``).
* Two decimals match when the one with more places rounds to the other at the other's
  places, if the other has >= 2 places and >= 2 significant digits (``27.150000000000002``
  and ``27.1500001`` == ``27.15``; ``12.3`` != ``12.34``); a decimal at float precision
  matches any value it states (``0.30000000000000004`` == ``0.3``).  The same rule holds on
  the slow path (math-verify's 6-place float rounding is not used for numbers).
* Exact forms compare exactly: integers, fractions, tuples / intervals / sets / matrices,
  polynomials; ``X%`` matches ``X/100`` and ``X``.
* Bounded time: the fast path (pure Python) decides most pairs in microseconds; the rest
  go to math-verify in worker subprocesses with a per-call deadline (``timeout``, default
  ``SLOW_PATH_DEADLINE_S``): an overrunning worker is killed and replaced, the call returns
  None.  Workers cap their memory (``WORKER_MEMORY_BYTES``) and exit with their parent.
* Safe from any thread and from daemonic ``multiprocessing`` workers; math-verify's
  ``signal.alarm`` timeouts are off.

`final_answer(text)` is the one final-answer extractor of the project ("Final answer: X"
line, else the last ``\\boxed{..}``, else "The answer is X"); `extract_answer` normalises it
for grading.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from mathforge.verify.extract import extract_answer, final_answer
from mathforge.verify.fast import decide_fast
from mathforge.verify.slow import (
    SLOW_PATH_DEADLINE_S,
    WORKER_MEMORY_BYTES,
    _pool,
    shutdown_workers,
)

__all__ = [
    "SLOW_PATH_DEADLINE_S",
    "WORKER_MEMORY_BYTES",
    "answers_match",
    "answers_match_batch",
    "extract_answer",
    "final_answer",
    "shutdown_workers",
]


def answers_match(pred: str, gold: str, *, timeout: float = SLOW_PATH_DEADLINE_S) -> bool | None:
    """True if `pred` states the same answer as `gold`, False if not, None if ungradable.

    Symmetric in its arguments; safe to call from any thread or process; the time spent is
    bounded by about `timeout` seconds (plus a worker's start-up on first use).
    """
    decided, result, slow_args = decide_fast(pred, gold)
    if decided:
        return result
    return _pool().run(list(slow_args), timeout)


def answers_match_batch(
    preds: Sequence[str],
    golds: Sequence[str],
    *,
    workers: int | None = None,
    timeout: float = SLOW_PATH_DEADLINE_S,
) -> list[bool | None]:
    """`answers_match` over pairs; the slow-path pairs run on `workers` processes at once.

    Identical (pred, gold) pairs are checked once.  `workers` defaults to the CPU count (max 4).
    """
    if len(preds) != len(golds):
        raise ValueError(f"preds and golds differ in length: {len(preds)} != {len(golds)}")
    results: list[bool | None] = [None] * len(preds)
    pending: dict[tuple[str, str, str, str], list[int]] = {}
    for i, (pred, gold) in enumerate(zip(preds, golds, strict=True)):
        decided, result, slow_args = decide_fast(pred, gold)
        if decided:
            results[i] = result
        else:
            pending.setdefault(slow_args, []).append(i)
    if pending:
        n = workers or max(1, min(os.cpu_count() or 1, 4))
        pool = _pool(n)
        keys = list(pending)
        with ThreadPoolExecutor(max_workers=n) as ex:
            for key, result in zip(
                keys, ex.map(lambda k: pool.run(list(k), timeout), keys), strict=True
            ):
                for i in pending[key]:
                    results[i] = result
    return results
