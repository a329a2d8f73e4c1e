"""mathforge.diversity: same reasoning collapses, different approaches stay apart, and the
selection keeps no two duplicates and spreads what it keeps (checked against brute force)."""

from __future__ import annotations

import contextlib
import importlib
import io
import itertools
import math
import random
import textwrap

import numpy as np
import pytest

from mathforge.diversity import (
    FALLBACK_PREFIX,
    distance_matrix,
    normalize_program,
    program_distance,
    program_tokens,
    select_diverse,
    select_with_reasons,
)
from mathforge.diversity.select import spread_subset


def norm(code: str) -> str:
    return normalize_program(textwrap.dedent(code))


# --------------------------------------------------------------------- same reasoning
SAME = {
    "renamed variables": (
        """
        n1 = 26
        n2 = 4
        total = n1 * n2
        print(total - 3)
        """,
        """
        apples = 26
        boxes = 4
        result = apples * boxes
        print(result - 3)
        """,
    ),
    "comments and docstring": (
        '''
        """Cost of the muffins."""
        price = 3  # dollars
        count = 12
        # multiply
        print(price * count)
        ''',
        """
        price = 3
        count = 12
        print(price * count)
        """,
    ),
    "debug prints": (
        """
        a = 17
        b = 5
        print("a is", a)
        q = a // b
        print(q)
        print("answer:", q * 2)
        """,
        """
        a = 17
        b = 5
        q = a // b
        print(q * 2)
        """,
    ),
    "operand order": (
        """
        w = 7
        h = 9
        print(2 * (w + h) + w * h)
        """,
        """
        w = 7
        h = 9
        print(h * w + (h + w) * 2)
        """,
    ),
    "import style": (
        """
        from math import comb as C
        print(C(10, 3) * C(5, 2))
        """,
        """
        import math
        print(math.comb(10, 3) * math.comb(5, 2))
        """,
    ),
    "import alias": (
        """
        import math as m
        print(m.gcd(84, 36))
        """,
        """
        from math import gcd
        print(gcd(84, 36))
        """,
    ),
    "temporary variable": (
        """
        n1 = 48
        n2 = 6
        per_box = n1 // n2
        left = n1 - per_box * n2
        print(left)
        """,
        """
        print(48 - 48 // 6 * 6)
        """,
    ),
    "dead code": (
        """
        x = 12
        unused = x ** 5
        y = 7
        print(x + y)
        """,
        """
        x = 12
        y = 7
        print(x + y)
        """,
    ),
    "augmented assignment": (
        """
        total = 0
        for i in range(1, 11):
            total += i * i
        print(total)
        """,
        """
        s = 0
        for k in range(1, 11):
            s = s + k * k
        print(s)
        """,
    ),
    "function and argument names": (
        """
        def area(r):
            return 3 * r * r
        print(area(5))
        """,
        """
        def f(radius):
            # area of the thing (arguments have no known type: their order is kept)
            return 3 * radius * radius
        print(f(5))
        """,
    ),
    "order of independent bindings": (
        """
        a = 40
        b = 15
        print(a - b)
        """,
        """
        b = 15
        a = 40
        print(a - b)
        """,
    ),
    "decimal import style": (
        """
        from decimal import Decimal, ROUND_HALF_UP
        price = Decimal("19.99")
        total = price * 3
        print(total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
        """,
        """
        import decimal
        cost = decimal.Decimal("19.99")
        print((cost * 3).quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP))
        """,
    ),
}

# ------------------------------------------------------------------- different approaches
APART = {
    "loop vs closed form": (
        """
        total = 0
        for i in range(1, 101):
            total += i
        print(total)
        """,
        """
        n = 100
        print(n * (n + 1) // 2)
        """,
    ),
    "sympy.solve vs arithmetic": (
        """
        import sympy
        x = sympy.symbols("x")
        print(sympy.solve(sympy.Eq(3 * x + 5, 20), x)[0])
        """,
        """
        print((20 - 5) // 3)
        """,
    ),
    "/ vs //": (
        """
        print(17 / 5)
        """,
        """
        print(17 // 5)
        """,
    ),
    "Decimal rounding vs float rounding": (
        """
        from decimal import Decimal, ROUND_HALF_UP
        print((Decimal("2.675") * 3).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
        """,
        """
        print(round(2.675 * 3, 2))
        """,
    ),
    "different constants": (
        """
        print(12 * 7)
        """,
        """
        print(12 * 8)
        """,
    ),
    "subtraction order": (
        """
        a = 30
        b = 12
        print(a - b)
        """,
        """
        a = 30
        b = 12
        print(b - a)
        """,
    ),
    "string concatenation is not reordered": (
        """
        s = "ab"
        t = "cd"
        print(s + t)
        """,
        """
        s = "ab"
        t = "cd"
        print(t + s)
        """,
    ),
    "format precision": (
        """
        x = 2 / 3
        print(f"{x:.2f}")
        """,
        """
        x = 2 / 3
        print(f"{x:.3f}")
        """,
    ),
    "value read before a mutation": (
        """
        xs = [1, 2]
        n = len(xs)
        xs.append(3)
        print(n)
        """,
        """
        xs = [1, 2]
        xs.append(3)
        n = len(xs)
        print(n)
        """,
    ),
    "recursion vs math.factorial": (
        """
        def fact(n):
            return 1 if n == 0 else n * fact(n - 1)
        print(fact(6))
        """,
        """
        import math
        print(math.factorial(6))
        """,
    ),
}


@pytest.mark.parametrize("kind", sorted(SAME))
def test_same_reasoning_normalizes_the_same(kind):
    a, b = SAME[kind]
    assert norm(a) == norm(b), (norm(a), norm(b))
    assert program_distance(norm(a), norm(b)) == 0.0


@pytest.mark.parametrize("kind", sorted(APART))
def test_different_approaches_stay_apart(kind):
    a, b = APART[kind]
    assert norm(a) != norm(b), norm(a)
    assert program_distance(norm(a), norm(b)) > 0.0


MODULES = {
    m: importlib.import_module(m)
    for m in ("math", "decimal", "fractions", "sympy", "collections", "itertools", "statistics")
}


def last_printed(code: str) -> str | None:
    """The last line a trusted (hand-written) program prints; the normalizer never runs code."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<program>", "exec"), {"__name__": "__main__", **MODULES})
    lines = out.getvalue().strip().splitlines()
    return lines[-1] if lines else None


@pytest.mark.parametrize("code", [c for pair in (*SAME.values(), *APART.values()) for c in pair])
def test_the_normalized_program_prints_the_same_answer(code):
    """The key-information form is a program: run (imports added), it prints the answer."""
    code = textwrap.dedent(code)
    shown = last_printed(code).split(": ")[-1]  # the kept print drops its label
    assert last_printed(normalize_program(code)) == shown


def test_key_information_form_inlines_straight_line_code():
    code = """
    n1 = 26
    n2 = 4
    each = n1 * n2
    print("each", each)
    print(each + 3)
    """
    assert norm(code) == "print(26 * 4 + 3)"
    loop = norm(
        """
        n = 9
        r = 1
        for _ in range(n):
            r = r * 9 % 44
        print(r)
        """
    )
    assert loop == "v0 = 1\nfor v1 in range(9):\n    v0 = 9 * v0 % 44\nprint(v0)"


def test_names_are_canonical_in_order_of_first_binding():
    form = norm(
        """
        def helper(p, q):
            return p % q
        acc = []
        for item in range(5):
            acc.append(helper(item, 3))
        print(sum(acc))
        """
    )
    assert form == (
        "def f0(a0, a1):\n    return a0 % a1\nv0 = []\nfor v1 in range(5):\n"
        "    v0.append(f0(v1, 3))\nprint(sum(v0))"
    )


def test_teacher_reference_programs_keep_their_answer():
    """Every subject's reference program (bound numbers, loops, sympy, Decimal) normalizes to a
    program that prints what it printed."""
    from mathforge.solution import program_of
    from mathforge.teacher import SUBJECTS

    rng = random.Random(11)
    for skills in SUBJECTS.values():
        for generate in skills.values():
            code = program_of(generate(rng, rng.choice(["base", "hard", "ood"])).solution)
            assert last_printed(normalize_program(code)) == last_printed(code), code


def test_unparseable_code_falls_back_to_text():
    broken = "n1 = 5\nprint(n1 *  (2  # the total\n"
    form = normalize_program(broken)
    assert form == FALLBACK_PREFIX + "n1 = 5\nprint(n1 * (2"
    assert normalize_program("n1 = 5   # five\n\n\nprint(n1 *  (2\n") == form
    assert normalize_program("n1 = 6\nprint(n1 * (2\n") != form
    assert normalize_program("print(1 +)") == FALLBACK_PREFIX + "print(1 +)"
    assert normalize_program("'#not a comment'  (") == FALLBACK_PREFIX + "'#not a comment' ("
    # a parsed program never prints a comment, so never equals a fallback
    assert not normalize_program("print(5)").startswith("#")
    assert normalize_program("1 +" + "(" * 300 + ")" * 300).startswith(FALLBACK_PREFIX)


def test_normalization_never_runs_code(tmp_path):
    marker = tmp_path / "ran"
    hostile = f"open({str(marker)!r}, 'w').write('x')\nwhile True:\n    n = 1\nprint(2)\n"
    assert normalize_program(hostile).endswith("print(2)")
    assert not marker.exists()
    assert normalize_program("") == ""


def test_tokens_and_distance():
    assert program_tokens("print(v0 ** 2 // 3.5, 'a b')") == [
        "print", "(", "v0", "**", "2", "//", "3.5", ",", "'a b'", ")",
    ]  # fmt: skip
    assert program_distance("print(1 + 2)", "print(1 + 2)") == 0.0
    assert program_distance("print(1 + 2)", "print(1 + 3)") == pytest.approx(1 / 6)
    assert program_distance("", "") == 0.0
    forms = ["print(1)", "print(2)", "v0 = 1\nprint(v0)"]
    d = distance_matrix(forms)
    assert d.shape == (3, 3) and np.allclose(d, d.T) and np.all(np.diag(d) == 0)
    assert d[0, 1] == program_distance(forms[0], forms[1])


# -------------------------------------------------------------------------- selection
def variant(rng: random.Random, template: int, numbers: tuple[int, int]) -> str:
    """One of 4 reasonings, written with random names, comments, debug prints, order."""
    a, b = (rng.choice(["a", "n1", "apples", "x"]), rng.choice(["b", "n2", "boxes", "y"]))
    comment = "  # given" if rng.random() < 0.5 else ""
    debug = f"print({a})\n" if rng.random() < 0.5 else ""
    x, y = numbers
    body = [
        f"print({a} * {b})" if rng.random() < 0.5 else f"print({b} * {a})",
        f"t = 0\nfor i in range({b}):\n    t += {a}\nprint(t)",
        f"print({a} + {a} * ({b} - 1))",
        f"import math\nprint(math.prod([{a}, {b}]))",
    ][template]
    return f"{a} = {x}{comment}\n{b} = {y}\n{debug}{body}\n"


def brute_force(dist: np.ndarray, k: int) -> float:
    best = -math.inf
    for subset in itertools.combinations(range(len(dist)), k):
        value = min((dist[i, j] for i, j in itertools.combinations(subset, 2)), default=math.inf)
        best = max(best, value)
    return best


def min_pairwise(dist: np.ndarray, subset) -> float:
    return min((dist[i, j] for i, j in itertools.combinations(subset, 2)), default=math.inf)


def test_select_never_keeps_two_normalized_duplicates():
    rng = random.Random(5)
    for _ in range(30):
        programs = [variant(rng, rng.randrange(4), (12, 7)) for _ in range(rng.randint(1, 30))]
        k = rng.randint(1, 6)
        sel = select_with_reasons(programs, k)
        forms = [normalize_program(programs[i]) for i in sel.kept]
        assert len(set(forms)) == len(forms) == min(k, len(set(sel.forms)))
        assert set(sel.kept) | set(sel.dropped) == set(range(len(programs)))
        assert not set(sel.kept) & set(sel.dropped)
        for i, drop in sel.dropped.items():
            assert drop.of in sel.kept
            if drop.reason == "duplicate":
                assert sel.forms[i] == sel.forms[drop.of] and drop.distance == 0.0
            else:
                assert drop.reason == "less_spread"
                assert drop.distance == min(
                    program_distance(sel.forms[i], sel.forms[j]) for j in sel.kept
                )


def test_the_four_reasonings_are_found():
    rng = random.Random(2)
    programs = [variant(rng, t % 4, (12, 7)) for t in range(40)]
    rng.shuffle(programs)
    kept = select_diverse(programs, 8)
    assert len(kept) == 4  # renames, comments, debug prints and operand order collapse
    assert sorted({select_with_reasons(programs, 8).forms[i] for i in kept}) == sorted(
        {normalize_program(variant(rng, t, (12, 7))) for t in range(4)}
    )


def random_metric(rng: random.Random, m: int) -> np.ndarray:
    points = np.array([[rng.random(), rng.random()] for _ in range(m)])
    return np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))


def test_spread_subset_is_a_local_optimum_within_a_factor_two_of_brute_force():
    """Greedy + swaps is not always the max-min optimum (the problem is NP-hard), so this checks
    what it guarantees: no single swap raises the minimum distance, and for a metric the minimum
    is at least half the brute-force optimum (farthest-first's bound; swaps only raise it)."""
    rng = random.Random(0)
    exact = 0
    for _ in range(300):
        m = rng.randint(2, 9)
        k = rng.randint(1, m)
        dist = random_metric(rng, m)
        chosen = spread_subset(dist, k)
        assert len(set(chosen)) == len(chosen) == k
        value = min_pairwise(dist, chosen)
        optimum = brute_force(dist, k)
        assert value >= optimum / 2 - 1e-12
        exact += value == optimum
        for pos, c in itertools.product(range(k), set(range(m)) - set(chosen)):
            swapped = chosen[:pos] + [c] + chosen[pos + 1 :]
            assert min_pairwise(dist, swapped) <= value
    assert exact >= 270  # measured: 295 of 300 equal the brute-force optimum


def test_spread_subset_equals_brute_force_where_it_must():
    rng = random.Random(1)
    for _ in range(100):
        m = rng.randint(1, 8)
        dist = random_metric(rng, m)
        # k = 1: any point (the preferred one); k >= m: everything; k = 2: the swaps end
        # on a pair no single swap improves, which for a metric... is not always the diameter,
        # so k = 2 is only checked on well-separated clusters below
        assert spread_subset(dist, 1) == [0]
        assert sorted(spread_subset(dist, m)) == list(range(m))
    for _ in range(100):
        # k clusters, each far smaller than the gaps: every max-min k-set takes one point of
        # each cluster, and so does spread_subset (which point of each is not always the best:
        # that is where it can fall short of brute force)
        k = rng.randint(2, 4)
        centres = [(10 * c, 10 * rng.random()) for c in range(k)]
        points = [(x + rng.random(), y + rng.random(), c) for c, (x, y) in enumerate(centres)]
        points += [(x + rng.random(), y + rng.random(), c) for c, (x, y) in enumerate(centres)]
        rng.shuffle(points)
        p = np.array([pt[:2] for pt in points])
        dist = np.sqrt(((p[:, None, :] - p[None, :, :]) ** 2).sum(-1))
        chosen = spread_subset(dist, k)
        assert sorted(points[i][2] for i in chosen) == list(range(k))


def test_select_maximizes_spread_on_real_programs_by_brute_force():
    rng = random.Random(3)
    pool = [textwrap.dedent(c) for pair in (*SAME.values(), *APART.values()) for c in pair] + [
        f"print({rng.randint(1, 99)} * {rng.randint(1, 99)})" for _ in range(6)
    ]
    exact = total = 0
    for _ in range(60):
        programs = rng.sample(pool, rng.randint(2, 10))
        k = rng.randint(1, 4)
        sel = select_with_reasons(programs, k)
        forms = sorted(set(sel.forms))
        dist = distance_matrix(forms)
        optimum = brute_force(dist, min(k, len(forms)))
        assert sel.min_distance <= optimum
        assert sel.min_distance >= optimum / 2
        total += 1
        exact += sel.min_distance == optimum
    assert exact / total >= 0.9  # measured: 59 of 60


def test_preferences_break_ties():
    a = "x = 3\nprint(x * 4)\n"
    a_renamed = "y = 3\nprint(y * 4)  # same\n"
    # duplicates: the higher judge score stands for the form, the other is its duplicate
    sel = select_with_reasons([a, a_renamed], 1, scores=[0.2, 0.9])
    assert sel.kept == [1] and sel.dropped[0].reason == "duplicate" and sel.dropped[0].of == 1
    # execution errors lose to clean runs whatever their score
    assert select_diverse([a, a_renamed], 1, scores=[0.2, 0.9], exec_ok=[True, False]) == [0]
    # among equally spread forms, the preferred one is kept
    p, q, r = "print(11)", "print(12)", "print(13)"  # every pair at distance 1/4
    assert select_diverse([p, q, r], 2, scores=[0.1, 0.5, 0.9]) == [1, 2]
    assert select_diverse([p, q, r], 2, scores=[0.9, 0.1, 0.5]) == [0, 2]
    assert select_diverse([p, q, r], 2, exec_ok=[False, True, True]) == [1, 2]
    assert select_diverse([p, q, r], 2, scores=[None, 0.3, None]) == [0, 1]
    # but spread comes first: a far program beats a near one with a higher score
    far = "import sympy\nprint(sympy.solve(sympy.symbols('z') - 5)[0])"
    assert select_diverse([p, q, far], 2, scores=[0.9, 0.8, 0.1]) == [0, 2]


def test_k_larger_than_the_set_empty_input_and_errors():
    programs = ["print(1)", "a = 1\nprint(a)", "print(2)", "print(2)  # again"]
    sel = select_with_reasons(programs, 10)
    assert sel.kept == [0, 2]  # "a = 1; print(a)" is print(1)
    assert sel.dropped[1].reason == "duplicate" and sel.dropped[1].of == 0
    assert sel.dropped[3].reason == "duplicate" and sel.dropped[3].of == 2
    assert sel.min_distance == program_distance("print(1)", "print(2)")
    empty = select_with_reasons([], 3)
    assert empty.kept == [] and empty.dropped == {} and empty.min_distance == math.inf
    assert select_diverse([], 3) == []
    assert select_diverse(["print(1)"], 1) == [0]
    with pytest.raises(ValueError, match="k must be"):
        select_diverse(programs, 0)
    with pytest.raises(ValueError, match="scores has 1 entries for 4 programs"):
        select_diverse(programs, 2, scores=[1.0])
    forms = [normalize_program(p) for p in programs]
    assert select_diverse(programs, 1, normalized=forms) == select_diverse(programs, 1)
