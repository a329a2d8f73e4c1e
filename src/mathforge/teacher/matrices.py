"""Matrix operations: product, determinant, inverse (exact, with fractions).

Sizes and numbers: base is 2x2 with one-digit entries; hard is 3x3 (or
rectangular, or combined operations) still with one-digit entries; ood is
4x4/5x5 or 3x3 and always has at least one two-digit entry, so every number in
an ood question can be told apart from base/hard by its digits.
Answers are ``[[1, 2], [3, 1/2]]``.
"""

from __future__ import annotations

import random

import sympy

from mathforge.teacher.answers import fmt_matrix, fmt_number
from mathforge.teacher.base import Problem, check_variant, code, make_problem
from mathforge.teacher.notation import MATRIX_STYLES, matrix

SUBJECT = "matrices"

_NAMES = [("A", "B"), ("M", "N"), ("P", "Q"), ("X", "Y"), ("S", "T"), ("F", "G")]

# how a matrix answer is asked for; the canonical form is fixed, the wording is not
_ANSWER_HINTS = [
    "",
    " Write the result as a list of rows.",
    " Give it as a nested list, row by row.",
    " Answer as a list of rows, e.g. [[a, b], [c, d]] for a 2x2 result.",
    " Use exact fractions where needed.",
]


def _problem(skill, variant, question, text, programs, answer, params) -> Problem:
    return make_problem(SUBJECT, skill, variant, question, text, programs, answer, params)


def _rand(rng: random.Random, rows: int, cols: int, lo: int, hi: int) -> list[list[int]]:
    return [[rng.randint(lo, hi) for _ in range(cols)] for _ in range(rows)]


def _with_big_entry(rng: random.Random, m: list[list[int]]) -> list[list[int]]:
    """Force one entry to two digits: what makes an ood matrix ood by construction."""
    i, j = rng.randrange(len(m)), rng.randrange(len(m[0]))
    m[i][j] = rng.randint(10, 40) * rng.choice([1, -1])
    return m


def _invertible(rng: random.Random, n: int, lo: int, hi: int, big: bool = False) -> list[list[int]]:
    while True:
        m = _rand(rng, n, n, lo, hi)
        if big:
            m = _with_big_entry(rng, m)
        if sympy.Matrix(m).det() != 0:
            return m


def _show(m: list[list[int]], style: str) -> str:
    return matrix(m, style)


# --------------------------------------------------------------------------- product


def _product_program(
    rng: random.Random, names: list[str], mats: list[list[list[int]]], expr: str
) -> str:
    """`expr` over sympy matrices named `names` (e.g. "A * B - 2 * C"), printed as nested rows."""
    lines = ["import sympy"] + [
        f"{n} = sympy.Matrix({m})" for n, m in zip(names, mats, strict=False)
    ]
    return code(*lines, f"result = {expr}", "print(result.tolist())")


def _plain_product_program(a: list[list[int]], b: list[list[int]]) -> str:
    return code(
        f"A = {a}",
        f"B = {b}",
        "C = [[sum(A[i][k] * B[k][j] for k in range(len(B))) for j in range(len(B[0]))]",
        "     for i in range(len(A))]",
        "print(C)",
    )


def product(rng: random.Random, variant: str) -> Problem:
    """Matrix products (and, in hard, products combined with sums and scalars)."""
    check_variant(variant)
    a_name, b_name = rng.choice(_NAMES)
    style = rng.choice(MATRIX_STYLES)
    hint = rng.choice(_ANSWER_HINTS)
    if variant == "base":
        shape = rng.choice(["square", "square", "vector"])
        a = _rand(rng, 2, 2, -5, 9)
        b = _rand(rng, 2, 2 if shape == "square" else 1, -5, 9)
        sa, sb = _show(a, style), _show(b, style)
        question = rng.choice(
            [
                f"Let {a_name} = {sa} and {b_name} = {sb}. Compute {a_name}{b_name}.{hint}",
                f"Multiply {sa} by {sb}, in that order.{hint}",
                f"What is the product {a_name}·{b_name} when {a_name} is {sa} and {b_name} is "
                f"{sb}?{hint}",
                f"Find {a_name} times {b_name} for {a_name} = {sa}, {b_name} = {sb}.{hint}",
            ]
        )
        text = (
            f"Entry (i, j) of {a_name}{b_name} is row i of {a_name} dotted with column j of "
            f"{b_name}; {a_name} is 2x2 and {b_name} is 2x{len(b[0])}, so the result is "
            f"2x{len(b[0])}."
        )
        program = rng.choice(
            [_plain_product_program(a, b), _product_program(rng, ["A", "B"], [a, b], "A * B")]
        )
        answer = fmt_matrix((sympy.Matrix(a) * sympy.Matrix(b)).tolist())
        return _problem(
            "product",
            "base",
            question,
            text,
            [program],
            answer,
            {"form": shape, "style": style, "a": a, "b": b, "steps": 1},
        )

    if variant == "hard":
        form = rng.choice(["rectangular", "square3", "combined"])
        if form == "rectangular":
            n, k = rng.choice([(2, 3), (3, 2), (2, 4)])
            a, b = _rand(rng, n, k, -9, 9), _rand(rng, k, n, -9, 9)
            sa, sb = _show(a, style), _show(b, style)
            question = rng.choice(
                [
                    f"{a_name} is the {n}x{k} matrix {sa} and {b_name} is the {k}x{n} matrix {sb}. "
                    f"Compute {a_name}{b_name}.{hint}",
                    f"Find the {n}x{n} product of {sa} and {sb} (first times second).{hint}",
                ]
            )
            text = (
                f"A {n}x{k} matrix times a {k}x{n} matrix is {n}x{n}; each entry is a sum of "
                f"{k} products."
            )
            program = rng.choice(
                [_plain_product_program(a, b), _product_program(rng, ["A", "B"], [a, b], "A * B")]
            )
            answer = fmt_matrix((sympy.Matrix(a) * sympy.Matrix(b)).tolist())
            return _problem(
                "product",
                "hard",
                question,
                text,
                [program],
                answer,
                {"form": form, "style": style, "a": a, "b": b, "steps": 2},
            )
        if form == "square3":
            a, b = _rand(rng, 3, 3, -6, 6), _rand(rng, 3, 3, -6, 6)
            sa, sb = _show(a, style), _show(b, style)
            question = rng.choice(
                [
                    f"Compute {b_name}{a_name} for {a_name} = {sa} and {b_name} = {sb}.{hint}",
                    f"With {a_name} = {sa} and {b_name} = {sb}, find the product {b_name}·{a_name} "
                    f"(note the order).{hint}",
                ]
            )
            text = (
                f"Matrix multiplication does not commute: {b_name}{a_name} takes rows of {b_name} "
                f"against columns of {a_name}. Nine entries, three products each."
            )
            program = _product_program(rng, ["A", "B"], [a, b], "B * A")
            answer = fmt_matrix((sympy.Matrix(b) * sympy.Matrix(a)).tolist())
            return _problem(
                "product",
                "hard",
                question,
                text,
                [program],
                answer,
                {"form": form, "style": style, "a": a, "b": b, "steps": 2},
            )
        a, b = _rand(rng, 2, 2, -7, 9), _rand(rng, 2, 2, -7, 9)
        k = rng.randint(2, 9)
        op = rng.choice(["square_minus", "product_plus_identity"])
        sa, sb = _show(a, style), _show(b, style)
        if op == "square_minus":
            expr_text, expr_code = f"{a_name}^2 - {k}{b_name}", f"A * A - {k} * B"
            result = sympy.Matrix(a) ** 2 - k * sympy.Matrix(b)
        else:
            expr_text, expr_code = f"{a_name}{b_name} + {k}I", f"A * B + {k} * sympy.eye(2)"
            result = sympy.Matrix(a) * sympy.Matrix(b) + k * sympy.eye(2)
        question = rng.choice(
            [
                f"Given {a_name} = {sa} and {b_name} = {sb}, compute {expr_text}"
                f"{' (I is the identity)' if 'I' in expr_text else ''}.{hint}",
                f"Evaluate the matrix {expr_text} where {a_name} = {sa}, {b_name} = {sb}"
                f"{' and I is the 2x2 identity' if 'I' in expr_text else ''}.{hint}",
            ]
        )
        text = (
            "First the product, then the scalar multiple of the other term, then add or "
            f"subtract entrywise: {expr_text}."
        )
        program = _product_program(rng, ["A", "B"], [a, b], expr_code)
        params = {"form": form, "op": op, "k": k, "style": style, "a": a, "b": b, "steps": 3}
        return _problem(
            "product", "hard", question, text, [program], fmt_matrix(result.tolist()), params
        )

    form = rng.choice(["square4", "chain3"])
    if form == "square4":
        a = _with_big_entry(rng, _rand(rng, 4, 4, -12, 12))
        b = _with_big_entry(rng, _rand(rng, 4, 4, -12, 12))
        sa, sb = _show(a, style), _show(b, style)
        question = rng.choice(
            [
                f"Compute the 4x4 product {a_name}{b_name} for {a_name} = {sa} and {b_name} = "
                f"{sb}.{hint}",
                f"Multiply the 4x4 matrices {sa} and {sb} (in this order).{hint}",
            ]
        )
        text = (
            "Sixteen entries, each the dot product of a row of the first with a column of the "
            "second (four terms)."
        )
        program = rng.choice(
            [_plain_product_program(a, b), _product_program(rng, ["A", "B"], [a, b], "A * B")]
        )
        answer = fmt_matrix((sympy.Matrix(a) * sympy.Matrix(b)).tolist())
        return _problem(
            "product",
            "ood",
            question,
            text,
            [program],
            answer,
            {"form": form, "style": style, "a": a, "b": b, "steps": 4},
        )
    a, b, c = (_with_big_entry(rng, _rand(rng, 3, 3, -9, 9)) for _ in range(3))
    c_name = "C" if a_name == "A" else "R"
    sa, sb, sc = (_show(m, style) for m in (a, b, c))
    question = rng.choice(
        [
            f"Let {a_name} = {sa}, {b_name} = {sb} and {c_name} = {sc}. Compute "
            f"{a_name}{b_name}{c_name}.{hint}",
            f"Find the triple product {a_name}·{b_name}·{c_name} of the 3x3 matrices {a_name} = "
            f"{sa}, {b_name} = {sb}, {c_name} = {sc}.{hint}",
        ]
    )
    text = (
        f"Multiply in two stages: first {a_name}{b_name}, then that product times {c_name} "
        "(associativity)."
    )
    programs = [
        code("import sympy", f"A = sympy.Matrix({a})", f"B = sympy.Matrix({b})", "AB = A * B"),
        code(f"C = sympy.Matrix({c})", "print((AB * C).tolist())"),
    ]
    answer = fmt_matrix((sympy.Matrix(a) * sympy.Matrix(b) * sympy.Matrix(c)).tolist())
    return _problem(
        "product",
        "ood",
        question,
        text,
        programs,
        answer,
        {"form": form, "style": style, "a": a, "b": b, "c": c, "steps": 5},
    )


# --------------------------------------------------------------------------- determinant


def _det_program(rng: random.Random, m: list[list[int]]) -> str:
    if len(m) == 2 and rng.random() < 0.5:
        (p, q), (r, s) = m
        return code(f"a, b, c, d = {p}, {q}, {r}, {s}", "print(a * d - b * c)")
    return code("import sympy", f"M = sympy.Matrix({m})", "print(M.det())")


def determinant(rng: random.Random, variant: str) -> Problem:
    """Determinants, and the parameter value that makes a matrix singular."""
    check_variant(variant)
    name = rng.choice(_NAMES)[0]
    style = rng.choice(MATRIX_STYLES)
    ask = rng.choice(
        [
            "Compute the determinant of {m}.",
            "Find det({n}) where {n} = {m}.",
            "What is |{n}| for {n} = {m}?",
            "Evaluate the determinant of the matrix {n} = {m}.",
            "Give the determinant of {n} = {m}; a zero answer would mean {n} is singular.",
        ]
    )
    if variant == "base":
        m = _rand(rng, 2, 2, -9, 9)
        question = ask.format(m=_show(m, style), n=name)
        text = "For a 2x2 matrix [[a, b], [c, d]] the determinant is ad - bc."
        answer = fmt_number(sympy.Matrix(m).det())
        return _problem(
            "determinant",
            "base",
            question,
            text,
            [_det_program(rng, m)],
            answer,
            {"form": "2x2", "style": style, "m": m, "steps": 2},
        )
    if variant == "hard":
        form = rng.choice(["3x3", "3x3", "singular", "scaled"])
        if form == "3x3":
            m = _rand(rng, 3, 3, -6, 6)
            question = ask.format(m=_show(m, style), n=name)
            text = (
                "Expand along the first row: each entry times its 2x2 minor, with alternating "
                "signs."
            )
            answer = fmt_number(sympy.Matrix(m).det())
            return _problem(
                "determinant",
                "hard",
                question,
                text,
                [_det_program(rng, m)],
                answer,
                {"form": form, "style": style, "m": m, "steps": 4},
            )
        if form == "singular":
            b, c, d = _nonzero_entry(rng), _nonzero_entry(rng), _nonzero_entry(rng)
            shown = _show([["k", b], [c, d]], style)
            question = rng.choice(
                [
                    f"For which value of k is {shown} singular? Give an exact fraction if needed.",
                    f"Find k so that the determinant of {shown} is zero.",
                ]
            )
            text = f"Singular means determinant zero: k*{d} - ({b})*({c}) = 0, so k = {b}*{c}/{d}."
            program = code(
                "import sympy",
                'k = sympy.symbols("k")',
                f"M = sympy.Matrix([[k, {b}], [{c}, {d}]])",
                "print(sympy.solve(M.det(), k)[0])",
            )
            answer = fmt_number(sympy.Rational(b * c, d))
            params = {"form": form, "style": style, "m": [["k", b], [c, d]], "steps": 3}
            return _problem("determinant", "hard", question, text, [program], answer, params)
        m = _rand(rng, 2, 2, -9, 9)
        k = rng.randint(2, 5)
        question = rng.choice(
            [
                f"{name} = {_show(m, style)}. What is det({k}{name})?",
                f"If {name} is {_show(m, style)}, compute the determinant of {k} times {name}.",
            ]
        )
        text = (
            f"Scaling a 2x2 matrix by {k} scales its determinant by {k}^2, not by {k}: "
            f"det({k}{name}) = {k}^2 det({name})."
        )
        program = code("import sympy", f"M = sympy.Matrix({m})", f"print(({k} * M).det())")
        answer = fmt_number(k * k * sympy.Matrix(m).det())
        return _problem(
            "determinant",
            "hard",
            question,
            text,
            [program],
            answer,
            {"form": form, "style": style, "m": m, "k": k, "steps": 3},
        )
    n = rng.choice([4, 4, 5])
    m = _with_big_entry(rng, _rand(rng, n, n, -12, 12))
    question = ask.format(m=_show(m, style), n=name)
    text = (
        f"A {n}x{n} determinant: row-reduce exactly (or expand by cofactors); sympy does it "
        "exactly."
    )
    program = code("import sympy", f"M = sympy.Matrix({m})", "print(M.det())")
    answer = fmt_number(sympy.Matrix(m).det())
    return _problem(
        "determinant",
        "ood",
        question,
        text,
        [program],
        answer,
        {"form": f"{n}x{n}", "style": style, "m": m, "steps": n},
    )


def _nonzero_entry(rng: random.Random) -> int:
    return rng.randint(1, 9) * rng.choice([1, -1])


# --------------------------------------------------------------------------- inverse


def _inverse_program(rng: random.Random, m: list[list[int]]) -> str:
    if len(m) == 2 and rng.random() < 0.5:
        (p, q), (r, s) = m
        return code(
            "from fractions import Fraction",
            f"a, b, c, d = {p}, {q}, {r}, {s}",
            "det = a * d - b * c",
            "inv = [[Fraction(d, det), Fraction(-b, det)], [Fraction(-c, det), Fraction(a, det)]]",
            'print("[" + ", ".join("[" + ", ".join(str(v) for v in row) + "]" for row in inv) + '
            '"]")',
        )
    return code("import sympy", f"M = sympy.Matrix({m})", "print(M.inv().tolist())")


def inverse(rng: random.Random, variant: str) -> Problem:
    """Exact inverses (fractions), 2x2 in base, 3x3 in hard, larger entries or 4x4 in ood."""
    check_variant(variant)
    name = rng.choice(_NAMES)[0]
    style = rng.choice(MATRIX_STYLES)
    hint = rng.choice(_ANSWER_HINTS[1:])
    if variant == "base":
        m, steps, text = (
            _invertible(rng, 2, -6, 9),
            3,
            (
                "For [[a, b], [c, d]] the inverse is 1/(ad - bc) times [[d, -b], [-c, a]]; the "
                "determinant is nonzero, and the entries stay exact fractions."
            ),
        )
    elif variant == "hard":
        m, steps, text = (
            _invertible(rng, 3, -4, 4),
            5,
            (
                "A 3x3 inverse is the adjugate (transposed cofactors) divided by the determinant; "
                "Gauss-Jordan with exact fractions gives the same."
            ),
        )
    else:
        n = rng.choice([3, 4])
        m, steps, text = (
            _invertible(rng, n, -6 if n == 4 else -20, 6 if n == 4 else 20, big=True),
            2 * n,
            (
                f"A {n}x{n} inverse with large entries: exact Gauss-Jordan elimination (fractions, "
                f"no floating point)."
            ),
        )
    shown = _show(m, style)
    question = rng.choice(
        [
            f"Find the inverse of {name} = {shown}.{hint}",
            f"Compute {name}^(-1) for {name} = {shown}.{hint}",
            f"What matrix multiplied by {shown} gives the identity?{hint}",
            f"Invert the matrix {shown} exactly.{hint}",
        ]
    )
    answer = fmt_matrix(sympy.Matrix(m).inv().tolist())
    params = {"form": f"{len(m)}x{len(m)}", "style": style, "m": m, "steps": steps}
    return _problem("inverse", variant, question, text, [_inverse_program(rng, m)], answer, params)


SKILLS = {"product": product, "determinant": determinant, "inverse": inverse}
