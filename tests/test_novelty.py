"""mathforge.novelty must make exactly the decisions of Self-Instruct's ROUGE-L filter."""

from __future__ import annotations

import math
import os
import random

import pytest
from rouge_score import rouge_scorer
from rouge_score import tokenize as rouge_tokenize

os.environ.setdefault("OMP_NUM_THREADS", "1")

import mathforge.novelty as nv  # noqa: E402
from mathforge.novelty import novelty_filter  # noqa: E402

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def reference(texts, threshold=0.7, pool=()):
    """Self-Instruct's loop, literally with rouge-score: drop iff max(F vs kept) > threshold."""
    kept = list(pool)
    out = []
    for inst in texts:
        scores = [SCORER.score(inst, k)["rougeL"].fmeasure for k in kept]
        if scores and max(scores) > threshold:
            out.append(False)
        else:
            out.append(True)
            kept.append(inst)
    return out


def check(texts, threshold=0.7, pool=()):
    expected = reference(texts, threshold, pool)
    got = novelty_filter(texts, threshold, pool)
    assert got == expected, (texts, threshold, pool)
    return got


@pytest.fixture(params=[2048, 5], ids=["default-blocks", "tiny-blocks"])
def blocks(request, monkeypatch):
    """Run the same cases with one big block and with many 5-text blocks."""
    if request.param != 2048:
        monkeypatch.setattr(nv, "_MIN_BLOCK", request.param)
        monkeypatch.setattr(nv, "_MAX_BLOCK", request.param)
    return request.param


UNICODE = [
    "İstanbul has 3 cats",
    "\u212a kelvin Kelvin",  # KELVIN SIGN lowercases to ascii k
    "straße STRASSE",
    "ｆｕｌｌ width １２３ digits",
    "naïve café 42",
    "emoji 🙂 only 🙂",
    "ÀÉÎÕÜ",
    "tab\tnew\nline  spaces",
    "don't can't won't",
    "x²+y²=z²",
    "",
    "   ",
    "?!...",
]


def test_tokenizer_is_rouge_scores():
    for text in UNICODE + ["Hello, World! 3.14 apples-and-ORANGES"]:
        assert nv.tokenize(text) == rouge_tokenize.tokenize(text, None)
    assert nv.tokenize("Hello, World! 3.14") == ["hello", "world", "3", "14"]


def test_tokenizer_random_unicode():
    rng = random.Random(11)
    alphabet = "aZ09 \t\n.,!?-_'" + (
        "\u0130\u212a\u00df\u00e9\u0131\uff21\uff11\u00b2\u2028\u00a0\U0001f642"
    )
    for _ in range(2000):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 30)))
        assert nv.tokenize(text) == rouge_tokenize.tokenize(text, None), repr(text)


def test_rapidfuzz_cutoff_margin_is_safe():
    """The pruning relies on rapidfuzz never rejecting a pair whose normalized Indel
    similarity is >= cutoff + _ABS_MARGIN (rapidfuzz's own cutoff is ~1e-8 imprecise)."""
    import numpy as np
    from rapidfuzz import process
    from rapidfuzz.distance import Indel

    rng = random.Random(2)
    queries, choices, cutoffs = [], [], []
    for _ in range(3000):
        m, n = rng.randint(1, 200), rng.randint(1, 200)
        lcs = rng.randint(1, min(m, n))
        queries.append("x" * lcs + nv._Q_PAD * (m - lcs))
        choices.append("x" * lcs + nv._K_PAD * (n - lcs))
        cutoffs.append(max(0.0, 2 * lcs / (m + n) - nv._ABS_MARGIN))
    for q, c, cut in zip(queries, choices, cutoffs, strict=True):
        assert Indel.normalized_similarity(q, c, score_cutoff=cut) > 0
        mat = process.cdist(
            [q, q],
            [c],
            scorer=Indel.normalized_similarity,
            score_cutoff=cut,
            workers=-1,
            dtype=np.float32,
        )
        assert (mat > 0).all()


def test_rouge_l_fmeasure_bit_for_bit():
    rng = random.Random(7)
    vocab = ["a", "b", "c", "d", "e", "cat", "dog", "1", "2", "A", "B!"]
    for _ in range(500):
        x = " ".join(rng.choices(vocab, k=rng.randint(0, 12)))
        y = " ".join(rng.choices(vocab, k=rng.randint(0, 12)))
        assert nv.rouge_l_fmeasure(x, y) == SCORER.score(x, y)["rougeL"].fmeasure


def test_random_small_vocabulary(blocks):
    rng = random.Random(1234)
    vocab = ["a", "b", "c", "the", "Cat", "sat", "1", "on", "mat."]
    kept = dropped = 0
    for trial in range(60):
        n = rng.randint(1, 45)
        texts: list[str] = []
        for _ in range(n):
            if texts and rng.random() < 0.5:  # a mutated copy of an earlier text
                words = rng.choice(texts).split()
                for _ in range(rng.randint(0, 2)):
                    op = rng.randrange(3)
                    if op == 0 and words:
                        words[rng.randrange(len(words))] = rng.choice(vocab)
                    elif op == 1:
                        words.insert(rng.randint(0, len(words)), rng.choice(vocab + ["!", ""]))
                    elif words:
                        words.pop(rng.randrange(len(words)))
                texts.append(" ".join(words))
            else:
                texts.append(" ".join(rng.choices(vocab, k=rng.randint(0, 10))))
        pool = [" ".join(rng.choices(vocab, k=rng.randint(1, 8))) for _ in range(trial % 3)]
        threshold = rng.choice([0.3, 0.5, 0.6, 2 / 3, 0.7, 0.75, 0.8, 0.9])
        got = check(texts, threshold, pool)
        kept += sum(got)
        dropped += len(got) - sum(got)
    # the cases are informative: plenty of both decisions
    assert kept > 300 and dropped > 300


def test_templated_math_problems(blocks):
    rng = random.Random(5)
    names = ["Ann", "Bo", "Cy", "Di", "Eve", "Finn", "Gus", "Hal"]
    objects = ["apples", "pens", "coins", "cards", "eggs", "toy cars"]
    templates = [
        "{a} has {x} {o}. {b} gives {a} {y} more. How many {o} does {a} have now?",
        "{a} had {x} {o} and gave {y} to {b}. How many {o} are left?",
        "A box holds {x} {o}. {a} buys {y} boxes. How many {o} does {a} buy?",
        "{a} reads {x} pages a day for {y} days. How many pages in total?",
        "What is {x} percent of {y}?",
        "Solve for x: {x}x + {y} = {z}.",
    ]
    texts = []
    for _ in range(160):
        a, b = rng.sample(names, 2)
        text = rng.choice(templates).format(
            a=a,
            b=b,
            o=rng.choice(objects),
            x=rng.randint(1, 30),
            y=rng.randint(1, 30),
            z=rng.randint(30, 99),
        )
        if rng.random() < 0.2:
            text += " Show your work."
        texts.append(text)
    got = check(texts)
    assert 10 < sum(got) < len(texts) - 10


def test_adversarial_near_duplicates(blocks):
    base = "Tom has 12 red apples and gives 5 of them to Mary. How many apples are left?"
    texts = [
        base,
        base,  # exact duplicate
        base.upper(),  # case only
        base.replace(".", "!").replace("?", "??"),  # punctuation only
        base.replace("red", "green"),  # one word changed
        "Mary has 12 red apples and gives 5 of them to Tom. How many apples are left?",
        "How many apples are left? Tom has 12 red apples and gives 5 of them to Mary.",
        "apples apples apples apples apples apples apples",
        "apples apples apples",
        "apples",
        "12 5 12 5 12 5",
        "12 5",
        "5 12",
        "Tom has 13 red apples and gives 6 of them to Mary. How many apples are left?",
        "",
        "",
        "!!! ??? ...",
        "   \t\n",
        "¿¡ — “ ” …",
        "Tom",
        "tom",
        "TOM!",
        "a b c d e f g h i j",
        "j i h g f e d c b a",
        "a b c d e f g h i k",
        "a a b b c c d d e e",
        *UNICODE,
        *UNICODE,
    ]
    for threshold in (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 1.0):
        check(texts, threshold)
        check(texts[::-1], threshold)
        check(texts, threshold, pool=[base, ""])
    got = check(texts, 0.7)
    assert got[0] and not got[1] and not got[2] and not got[3] and not got[4]
    assert got[texts.index("")]  # empty text: F == 0, kept


def _pair(lcs: int, m: int, n: int) -> tuple[str, str]:
    """Candidate with m tokens and kept text with n tokens whose LCS is exactly lcs."""
    shared = [f"s{i}" for i in range(lcs)]
    cand = shared + [f"c{i}" for i in range(m - lcs)]
    kept = shared + [f"k{i}" for i in range(n - lcs)]
    return " ".join(cand), " ".join(kept)


def test_exact_ties_at_the_threshold(blocks):
    # F == 0.5 exactly: kept at threshold 0.5, dropped just below it.
    cand, kept = "a b c d", "a b x y"
    assert SCORER.score(cand, kept)["rougeL"].fmeasure == 0.5
    assert check([kept, cand], 0.5) == [True, True]
    assert check([kept, cand], math.nextafter(0.5, 0)) == [True, False]
    assert check([cand], 0.5, pool=[kept]) == [True]
    # every (L, m, n) with the threshold set to the rouge score itself and one ulp either side
    n_cases = n_float_sensitive = 0
    for m in range(1, 12):
        for n in range(1, 12):
            for lcs in range(1, min(m, n) + 1):
                cand, kept = _pair(lcs, m, n)
                f = SCORER.score(cand, kept)["rougeL"].fmeasure
                assert check([cand], f, pool=[kept]) == [True]
                assert check([cand], math.nextafter(f, 0), pool=[kept]) == [False]
                assert check([kept, cand], math.nextafter(f, 2)) == [True, True]
                # thresholds where rouge's float formula and 2L/(m+n) disagree
                exact = 2 * lcs / (m + n)
                if exact != f:
                    n_float_sensitive += 1
                    assert check([cand], exact, pool=[kept]) == [f <= exact]
                n_cases += 1
    assert n_float_sensitive > 20 and n_cases > 400


def test_pool_argument(blocks):
    pool = ["Tom has 12 apples. How many apples does Tom have?", "Solve for x: 2x + 3 = 7."]
    texts = [
        "Tom has 13 apples. How many apples does Tom have?",  # near a pool text
        "A train travels 60 miles per hour for 3 hours. How far does it go?",
        "Solve for x: 2x + 4 = 7.",  # near a pool text
        "A train travels 70 miles per hour for 3 hours. How far does it go?",  # near kept
    ]
    got = check(texts, 0.7, pool)
    assert got == [False, True, False, False]
    assert len(got) == len(texts)  # pool texts are not in the output
    assert novelty_filter(texts, 0.7) == [True, True, True, False]
    assert novelty_filter(texts, 0.7, tuple(pool)) == got
    # duplicated / empty pool entries
    check(texts, 0.7, pool + pool + ["", "!!"])
    assert novelty_filter([], 0.7, pool) == []
    assert novelty_filter([pool[0]], 0.7, pool) == [False]


def test_threshold_edges(blocks):
    texts = ["a b c", "a b c", "d e f", "c x y", "", "?!", "q", "a b c d"]
    for pool in ((), ("z",), ("a",), ("",)):
        for threshold in (0.0, -0.0, 1.0, -0.5, 1.5, float("inf"), 1e-300, 0.999999):
            check(texts, threshold, list(pool))
    assert novelty_filter(texts, 1.0) == [True] * len(texts)  # F <= 1 always
    assert novelty_filter(texts, 0.0) == [True, False, True, False, True, True, True, False]
    nan = novelty_filter(texts, float("nan"))  # F > nan is always False
    assert nan == reference(texts, float("nan")) == [True] * len(texts)


def test_wide_fallback_and_single_worker(monkeypatch):
    rng = random.Random(3)
    vocab = ["x", "y", "z", "w", "v", "u", "t"]
    texts = [" ".join(rng.choices(vocab, k=rng.randint(0, 9))) for _ in range(80)]
    expected = reference(texts, 0.6)
    monkeypatch.setenv("MATHFORGE_NOVELTY_WORKERS", "1")
    monkeypatch.setattr(nv, "_wide_codes", lambda _size: None)  # tuples of token ids
    assert novelty_filter(texts, 0.6) == expected


def test_progress_bar_on_large_inputs(monkeypatch, capsys):
    texts = [f"problem number {i} about apples" for i in range(30)]
    monkeypatch.setattr(nv, "_PROGRESS_MIN", 10)
    assert novelty_filter(texts, 0.7) == reference(texts, 0.7)
    assert "novelty" in capsys.readouterr().err
    monkeypatch.setattr(nv, "_PROGRESS_MIN", 5000)
    novelty_filter(texts, 0.7)
    assert "novelty" not in capsys.readouterr().err
