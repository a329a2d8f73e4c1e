"""Self-Instruct's ROUGE-L novelty filter: identical decisions, much faster.

Semantics (``bootstrap_instructions.py`` of Self-Instruct): texts are visited in order and
text *i* is kept iff ``max(RougeScorer(["rougeL"]).score(text_i, k)["rougeL"].fmeasure)``
over every already-kept text *k* (the ``pool`` first, then the kept earlier ``texts``) is
not ``> threshold``.  The score is rouge-score 0.1.2's, bit for bit: its own tokenizer
(lowercase, ``[^a-z0-9]+`` -> space, split, keep ``^[a-z0-9]+$``), ``F = 0`` when either
token list is empty, else ``p = L/len(kept)``, ``r = L/len(candidate)`` and
``F = 2*p*r/(p+r)`` evaluated with the same float operations, so ties at the threshold
(e.g. F == 0.5 at threshold 0.5 -> kept) resolve exactly as in the reference.

Guarantees:
- the same keep/drop decision as Self-Instruct's loop with rouge-score 0.1.2, for every text
  and threshold (ties included; tested against the reference);
- work is cheap C++ upper bounds of the LCS for every candidate x kept pair plus about one exact
  LCS per candidate; all cores (``MATHFORGE_NOVELTY_WORKERS`` caps the threads).

How it is done and why (sketches, blocks, pruning margins, the measurements behind them):
``docs/novelty.md``; the speed against the reference loop: ``benchmarks/README.md``.
"""

from __future__ import annotations

import heapq
import math
import os
import sys

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Indel, LCSseq
from rouge_score.tokenize import NON_ALPHANUM_RE as _NON_ALPHANUM_RE
from rouge_score.tokenize import tokenize as _rouge_tokenize

__all__ = ["novelty_filter", "rouge_l_fmeasure", "tokenize"]

# Safety margin on the pruning cutoff.  rouge's float F differs from the exact rational
# 2L/(m+n) by a few ulps (~1e-16), but rapidfuzz's normalized ``score_cutoff`` is itself
# imprecise: measured with 3.14, a score up to ~1e-8 ABOVE the cutoff can be reported as 0
# (single-precision-like), while no miss was seen with a gap >= 1e-7 (see tests).  1e-5
# absolute is 100x wider than that and only lets a few more pairs reach the exact check.
_REL_MARGIN = 1e-9
_ABS_MARGIN = 1e-5
_PROGRESS_MIN = 5000
_MIN_BLOCK, _MAX_BLOCK = 64, 2048
_MAX_BLOCK_CELLS = 1 << 22  # B x kept matrix entries per cdist call (16 MiB of float32)
_N_CODES = 254  # one-byte codes for tokens; the two left are the paddings below
_Q_PAD, _K_PAD = "\xfe", "\xff"  # never equal to a token code nor to each other


def tokenize(text: str) -> list[str]:
    """rouge-score's default tokenizer without stemming, token for token.

    ``rouge_score.tokenize.tokenize(text, None)`` lowercases, replaces every run of
    ``[^a-z0-9]`` by one space, splits on ``\\s+`` and keeps tokens matching
    ``^[a-z0-9]+$``.  After the substitution only ``[a-z0-9 ]`` is left, so its final filter
    only removes the empty strings of a leading/trailing space, which ``str.split()`` never
    produces: same tokens, ~2x faster.  Non-``str`` input goes through rouge-score itself.
    """
    if type(text) is not str:
        return _rouge_tokenize(text, None)
    return _NON_ALPHANUM_RE.sub(" ", text.lower()).split()


def _fmeasure(lcs: int, n_candidate: int, n_kept: int) -> float:
    """rouge-score's ``_score_lcs(target=candidate, prediction=kept).fmeasure``."""
    if not n_candidate or not n_kept:
        return 0
    precision = lcs / n_kept
    recall = lcs / n_candidate
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def rouge_l_fmeasure(candidate: str, kept: str) -> float:
    """ROUGE-L F-measure exactly as ``RougeScorer(["rougeL"]).score(candidate, kept)``."""
    a, b = tokenize(candidate), tokenize(kept)
    if not a or not b:
        return 0
    return _fmeasure(LCSseq.similarity(a, b), len(a), len(b))


def _workers() -> int:
    value = os.environ.get("MATHFORGE_NOVELTY_WORKERS")
    return int(value) if value else -1


def _wide_codes(vocab_size: int) -> list[str] | None:
    """One code point per token id (surrogates skipped), or None if the vocab is too big."""
    if vocab_size > 0x110000 - 0x800:
        return None
    return [chr(i if i < 0xD800 else i + 0x800) for i in range(vocab_size)]


def _byte_codes(df: list[int]) -> list[str]:
    """Map token ids to one-byte codes 0..253 ('' for df == 1 tokens, which never match).

    Longest-processing-time assignment by document frequency: the frequent tokens each get
    their own code, rarer ones share the least loaded code, which keeps collisions (extra
    matches in the upper bound) rare.  Codes 254/255 are reserved for padding.
    """
    order = sorted((i for i, f in enumerate(df) if f > 1), key=lambda i: -df[i])
    heap = [(0, code) for code in range(_N_CODES)]
    codes = [""] * len(df)
    for i in order:
        load, code = heapq.heappop(heap)
        codes[i] = chr(code)
        heapq.heappush(heap, (load + df[i], code))
    return codes


def _special(texts_tokens: list[list[int]], pool_size: int, threshold: float) -> list[bool]:
    """Exact answers for threshold NaN, < 0 and == 0 (where the byte bound cannot prune)."""
    n = len(texts_tokens) - pool_size
    if math.isnan(threshold):
        return [True] * n  # F > nan is always False
    if threshold < 0:  # every score (>= 0) exceeds it: only a first text with no pool survives
        return [pool_size == 0] + [False] * (n - 1)
    # threshold == 0: dropped iff F > 0 with some kept text iff they share a token.
    seen: set[int] = set()
    for toks in texts_tokens[:pool_size]:
        seen.update(toks)
    out = []
    for toks in texts_tokens[pool_size:]:
        if toks and not seen.isdisjoint(toks):
            out.append(False)
        else:
            out.append(True)
            seen.update(toks)
    return out


def _survivors(matrix: np.ndarray) -> dict[int, list[int]]:
    """Non-zero (bound >= cutoff) entries, grouped per row, highest bound first."""
    flat = np.flatnonzero(matrix)
    if flat.size == 0:
        return {}
    rows, cols = np.divmod(flat, matrix.shape[1])
    order = np.lexsort((-matrix.ravel()[flat], rows))
    rows, cols = rows[order], cols[order]
    cuts = (np.flatnonzero(np.diff(rows)) + 1).tolist()
    starts, ends = [0, *cuts], [*cuts, rows.size]
    rows_l = rows.tolist()
    cols_l = cols.tolist()
    return {rows_l[a]: cols_l[a:b] for a, b in zip(starts, ends, strict=True)}


def novelty_filter(texts: list[str], threshold: float = 0.7, pool: list[str] = ()) -> list[bool]:
    """Keep/drop decisions of Self-Instruct's ROUGE-L filter, identical to the reference.

    ``texts[i]`` is kept (True) iff its rouge-score ROUGE-L F-measure against every text
    kept so far -- all of ``pool`` plus the kept ``texts[:i]`` -- is ``<= threshold``.
    Pool texts are always "kept" and are not part of the output.
    """
    texts = list(texts)
    pool = list(pool)
    n_pool, n_total = len(pool), len(pool) + len(texts)
    if not texts:
        return []

    # 1. tokenize once, intern tokens, document frequencies.
    vocab: dict[str, int] = {}
    df: list[int] = []
    ids: list[list[int]] = []
    for text in pool + texts:
        row = []
        for tok in tokenize(text):
            tid = vocab.get(tok)
            if tid is None:
                tid = vocab[tok] = len(df)
                df.append(0)
            row.append(tid)
        for tid in set(row):
            df[tid] += 1
        ids.append(row)

    t = threshold
    tf = float(threshold)
    if not tf > 0:  # nan, negative, zero
        return _special(ids, n_pool, tf)

    # 2. exact (wide) strings and padded one-byte sketches (query side / kept side).
    wide_codes = _wide_codes(len(df))
    byte_codes = _byte_codes(df)
    wide: list = []
    q_sketch: list[str] = []
    k_sketch: list[str] = []
    length: list[int] = []
    for row in ids:
        core = "".join([byte_codes[i] for i in row])
        if core:  # else: shares no token with any other text -> F == 0 with all of them
            pad = len(row) - len(core)
            q_sketch.append(core + _Q_PAD * pad)
            k_sketch.append(core + _K_PAD * pad)
            wide.append(
                "".join([wide_codes[i] for i in row]) if wide_codes is not None else tuple(row)
            )
        else:
            q_sketch.append("")
            k_sketch.append("")
            wide.append("")
        length.append(len(row))
    del ids

    # Lenient cutoff: far wider than any float rounding in rouge-score or rapidfuzz.
    cutoff = min(max(0.0, tf * (1.0 - _REL_MARGIN) - _ABS_MARGIN), 1.0 - _ABS_MARGIN)
    workers = _workers()

    # kept texts that can ever cause a drop (non-empty sketch), in keep order.
    kept_sketch = [k_sketch[j] for j in range(n_pool) if k_sketch[j]]
    kept_wide = [wide[j] for j in range(n_pool) if k_sketch[j]]
    kept_len = [length[j] for j in range(n_pool) if k_sketch[j]]

    out: list[bool] = [True] * len(texts)
    progress = None
    if len(texts) > _PROGRESS_MIN:
        from tqdm import tqdm

        progress = tqdm(total=len(texts), desc="novelty", unit="text", file=sys.stderr)

    start = n_pool
    while start < n_total:
        block = max(_MIN_BLOCK, min(_MAX_BLOCK, _MAX_BLOCK_CELLS // max(len(kept_sketch), 1)))
        stop = min(n_total, start + block)
        active = [i for i in range(start, stop) if q_sketch[i]]  # others: F == 0, kept
        if active:
            queries = [q_sketch[i] for i in active]
            old: dict[int, list[int]] = {}
            if kept_sketch:
                old = _survivors(
                    process.cdist(
                        queries,
                        kept_sketch,
                        scorer=Indel.normalized_similarity,
                        score_cutoff=cutoff,
                        workers=workers,
                        dtype=np.float32,
                    )
                )
            new: dict[int, list[int]] = {}
            if len(active) > 1:
                mat = process.cdist(
                    queries,
                    [k_sketch[i] for i in active],
                    scorer=Indel.normalized_similarity,
                    score_cutoff=cutoff,
                    workers=workers,
                    dtype=np.float32,
                )
                new = _survivors(np.tril(mat, -1))  # only earlier texts of the block
                del mat
            kept_in_block: list[bool] = []
            for a, i in enumerate(active):
                m, w = length[i], wide[i]
                dropped = False
                for j in old.get(a, ()):
                    if _fmeasure(LCSseq.similarity(w, kept_wide[j]), m, kept_len[j]) > t:
                        dropped = True
                        break
                if not dropped:
                    for b in new.get(a, ()):
                        if kept_in_block[b]:
                            k = active[b]
                            if _fmeasure(LCSseq.similarity(w, wide[k]), m, length[k]) > t:
                                dropped = True
                                break
                kept_in_block.append(not dropped)
                if dropped:
                    out[i - n_pool] = False
                else:
                    kept_sketch.append(k_sketch[i])
                    kept_wide.append(w)
                    kept_len.append(m)
        if progress is not None:
            progress.update(stop - start)
        start = stop
    if progress is not None:
        progress.close()
    return out
