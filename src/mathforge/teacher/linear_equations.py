"""Linear equations: one equation in one unknown, and 2x2 linear systems.

Numbers: base and hard draw integers of at most 3 digits; ood always draws at
least one number of 4 or more digits (and takes more steps). Solutions that
are not whole stay exact fractions; a system's answer is ``(x, y)``.
"""

from __future__ import annotations

import random
from fractions import Fraction

from mathforge.teacher.answers import fmt_number, fmt_pair
from mathforge.teacher.base import Problem, check_variant, code, make_problem
from mathforge.teacher.notation import linear, python_linear
from mathforge.teacher.vocab import NAMES, two_names

SUBJECT = "linear_equations"

_VARS = ["x", "y", "n", "t", "k", "m", "z", "p", "w", "r"]
_PAIRS = [("x", "y"), ("a", "b"), ("p", "q"), ("m", "n"), ("u", "v"), ("s", "t")]

# (service, unit of work) for fee-plus-rate word problems
_SERVICES = [
    ("A plumber", "hour"),
    ("An electrician", "hour"),
    ("A taxi", "kilometre"),
    ("A bike courier", "mile"),
    ("A gym", "class"),
    ("A storage unit", "month"),
    ("A cleaning firm", "room"),
    ("A printing shop", "poster"),
]


def _problem(skill, variant, question, text, programs, answer, params) -> Problem:
    return make_problem(SUBJECT, skill, variant, question, text, programs, answer, params)


def _nonzero(rng: random.Random, lo: int, hi: int) -> int:
    """A nonzero integer with lo <= |value| <= hi and a random sign."""
    return rng.randint(lo, hi) * rng.choice([1, -1])


def _two_var(a: int, b: int, u: str, v: str) -> str:
    """``a*u + b*v`` written naturally, e.g. ``2x - y``."""
    first = linear(a, 0, u)
    second = linear(b, 0, v)
    if second.startswith("-"):
        return f"{first} - {second[1:]}"
    return f"{first} + {second}"


def _python_two_var(a: int, b: int, u: str, v: str) -> str:
    return f"{a}*{u} + ({b})*{v}"


def _sympy_program(var: str, lhs: str, rhs: str) -> str:
    return code(
        "import sympy",
        f'{var} = sympy.symbols("{var}")',
        f"solutions = sympy.solve(sympy.Eq({lhs}, {rhs}), {var})",
        "print(solutions[0])",
    )


# --------------------------------------------------------------------------- one unknown


def one_unknown(rng: random.Random, variant: str) -> Problem:
    """Solve one linear equation in one unknown (symbolic or in words)."""
    check_variant(variant)
    var = rng.choice(_VARS)
    name = rng.choice(NAMES)
    if variant == "base":
        form = rng.choice(["plain", "both_sides", "puzzle", "fee"])
        if form == "plain":
            sol, a, b = rng.randint(-12, 12), _nonzero(rng, 2, 9), _nonzero(rng, 1, 30)
            c = a * sol + b
            eq = f"{linear(a, b, var)} = {c}"
            question = rng.choice(
                [
                    f"Solve for {var}: {eq}.",
                    f"Find the value of {var} that satisfies {eq}.",
                    f"If {eq}, what is {var}?",
                    f"What number {var} makes {c} = {linear(a, b, var)} true?",
                ]
            )
            text = f"Move {b} to the right-hand side, then divide by the coefficient {a}."
            program = code(f"{var} = ({c} - ({b})) // ({a})", f"print({var})")
            params = {"form": form, "a": a, "b": b, "c": c, "steps": 2}
            return _problem("one_unknown", "base", question, text, [program], str(sol), params)
        if form == "both_sides":
            sol = rng.randint(-10, 10)
            a, c = rng.sample([v for v in range(-9, 10) if v != 0], 2)
            b = _nonzero(rng, 1, 25)
            d = a * sol + b - c * sol
            eq = f"{linear(a, b, var)} = {linear(c, d, var)}"
            question = rng.choice(
                [
                    f"Solve the equation {eq}.",
                    f"For which {var} is {eq}?",
                    f"Determine {var} given that {eq}.",
                ]
            )
            text = (
                f"Collect the {var} terms on one side ({a} - ({c})) and the constants on the "
                f"other ({d} - ({b}))."
            )
            program = _sympy_program(var, python_linear(a, b, var), python_linear(c, d, var))
            params = {"form": form, "coefficients": [a, b, c, d], "steps": 3}
            return _problem("one_unknown", "base", question, text, [program], str(sol), params)
        if form == "puzzle":
            sol, a, b = rng.randint(2, 40), rng.randint(2, 9), rng.randint(1, 30)
            op, signed = rng.choice([("adds", b), ("subtracts", -b)])
            c = a * sol + signed
            question = rng.choice(
                [
                    f"{name} thinks of a number, multiplies it by {a}, then {op} {b}, and gets "
                    f"{c}. What was the number?",
                    f"When a number is multiplied by {a} and then {b} is "
                    f"{'added' if signed > 0 else 'subtracted'}, the result is {c}. Find the "
                    "number.",
                ]
            )
            text = (
                f"Let the number be {var}: {a}{var} {'+' if signed > 0 else '-'} {b} = {c}. "
                "Undo the steps in reverse order."
            )
            program = code(f"{var} = ({c} - ({signed})) // {a}", f"print({var})")
            params = {"form": form, "a": a, "b": signed, "c": c, "steps": 2}
            return _problem("one_unknown", "base", question, text, [program], str(sol), params)
        service, unit = rng.choice(_SERVICES)
        fee, rate, sol = rng.randint(10, 90), rng.randint(2, 60), rng.randint(2, 12)
        total = fee + rate * sol
        question = rng.choice(
            [
                f"{service} charges a fixed ${fee} plus ${rate} per {unit}. {name}'s bill is "
                f"${total}. How many {unit}s were charged?",
                f"{name} paid ${total} to {service.lower()} that charges ${rate} for each {unit} "
                f"on top of a ${fee} flat fee. For how many {unit}s did {name} pay?",
            ]
        )
        text = (
            f"Write {fee} + {rate}{var} = {total}: remove the fixed {fee}, then divide by {rate}."
        )
        program = code(f"{var} = ({total} - {fee}) // {rate}", f"print({var})")
        params = {"form": "fee", "fee": fee, "rate": rate, "total": total, "steps": 2}
        return _problem("one_unknown", "base", question, text, [program], str(sol), params)

    if variant == "hard":
        form = rng.choice(["brackets", "fractions", "rectangle", "mixture"])
        if form == "brackets":
            a, d = rng.sample(range(2, 10), 2)
            b, e = rng.randint(1, 9), rng.randint(1, 9)
            c, f = rng.randint(1, 20), rng.randint(1, 20)
            sol = Fraction(d * -e + f - a * b + c, a - d)
            eq = f"{a}({var} + {b}) - {c} = {d}({var} - {e}) + {f}"
            question = rng.choice(
                [
                    f"Solve for {var}, giving an exact fraction if needed: {eq}.",
                    f"Find the exact value of {var} such that {eq}.",
                    f"Expand the brackets and solve {eq}.",
                ]
            )
            text = (
                f"Expand both sides: {a}{var} + {a * b} - {c} and {d}{var} - {d * e} + {f}; "
                f"collect {var} terms ({a} - {d}) and constants, then divide, keeping a fraction."
            )
            program = _sympy_program(var, f"{a}*({var} + {b}) - {c}", f"{d}*({var} - {e}) + {f}")
            params = {"form": form, "coefficients": [a, b, c, d, e, f], "steps": 4}
            return _problem(
                "one_unknown", "hard", question, text, [program], fmt_number(sol), params
            )
        if form == "fractions":
            b, d = rng.sample(range(2, 10), 2)
            a, c, e = rng.randint(1, 12), rng.randint(1, 12), rng.randint(1, 6)
            # (x + a)/b = (x - c)/d + e  ->  d(x + a) = b(x - c) + b*d*e
            sol = Fraction(-b * c + b * d * e - d * a, d - b)
            eq = f"({var} + {a})/{b} = ({var} - {c})/{d} + {e}"
            question = rng.choice(
                [
                    f"Solve {eq} for {var}. Give an exact answer.",
                    f"What exact value of {var} satisfies {eq}?",
                ]
            )
            text = (
                f"Multiply both sides by {b} x {d} to clear denominators, then collect terms; "
                "fractions keep it exact."
            )
            program = code(
                "from fractions import Fraction",
                "# d*(x + a) = b*(x - c) + b*d*e, so x*(d - b) = -b*c + b*d*e - d*a",
                f"a, b, c, d, e = {a}, {b}, {c}, {d}, {e}",
                f"{var} = Fraction(-b * c + b * d * e - d * a, d - b)",
                f"print({var})",
            )
            params = {"form": form, "coefficients": [a, b, c, d, e], "steps": 4}
            return _problem(
                "one_unknown", "hard", question, text, [program], fmt_number(sol), params
            )
        if form == "rectangle":
            k, extra, perimeter = rng.randint(2, 5), rng.randint(1, 15), rng.randint(40, 400)
            width = Fraction(Fraction(perimeter, 2) - extra, k + 1)
            obj = rng.choice(["garden", "playground", "car park", "photo frame", "field"])
            question = rng.choice(
                [
                    f"A rectangular {obj} is {extra} m longer than {k} times its width, and its "
                    f"perimeter is {perimeter} m. What is its width in metres? Give an exact "
                    "fraction if needed.",
                    f"The length of a rectangular {obj} exceeds {k} times the width by {extra} "
                    f"metres. With a perimeter of {perimeter} metres, exactly how wide is it?",
                ]
            )
            text = (
                f"With width {var}, length = {k}{var} + {extra}; perimeter 2({var} + {k}{var} + "
                f"{extra}) = {perimeter}. Solve for {var} exactly."
            )
            program = _sympy_program(var, f"2*({var} + {k}*{var} + {extra})", str(perimeter))
            params = {"form": form, "k": k, "extra": extra, "perimeter": perimeter, "steps": 4}
            return _problem(
                "one_unknown", "hard", question, text, [program], fmt_number(width), params
            )
        strong, weak = rng.randint(40, 95), rng.randint(5, 30)
        target, volume = rng.randint(weak + 3, strong - 3), rng.randint(10, 99)
        added = Fraction(volume * (target - weak), strong - target)
        liquid = rng.choice(
            ["salt solution", "acid solution", "fruit juice concentrate", "alcohol mixture"]
        )
        question = rng.choice(
            [
                f"How many litres of a {strong}% {liquid} must be added to {volume} litres of a "
                f"{weak}% {liquid} to get a {target}% mixture? Give an exact fraction if needed.",
                f"{name} has {volume} L of {liquid} at {weak}% strength and wants {target}% "
                f"strength by mixing in {liquid} at {strong}%. Exactly how many litres must be "
                "added?",
            ]
        )
        text = (
            f"Balance the pure amount: {weak}% of {volume} plus {strong}% of {var} equals "
            f"{target}% of ({volume} + {var}). Solve for {var} with exact fractions."
        )
        program = _sympy_program(
            var,
            f"sympy.Rational({weak}, 100)*{volume} + sympy.Rational({strong}, 100)*{var}",
            f"sympy.Rational({target}, 100)*({volume} + {var})",
        )
        params = {
            "form": "mixture",
            "strong": strong,
            "weak": weak,
            "target": target,
            "volume": volume,
            "steps": 4,
        }
        return _problem("one_unknown", "hard", question, text, [program], fmt_number(added), params)

    # ood: 4-digit coefficients and more terms
    form = rng.choice(["big", "plans", "sum_of_parts"])
    if form == "big":
        a1, a2 = rng.randint(1000, 9999), rng.randint(100, 9999)
        a3 = rng.randint(100, 9999)
        if a3 == a1 + a2:
            a3 += 1
        b1, b2, c = rng.randint(100, 9999), rng.randint(100, 9999), _nonzero(rng, 1000, 99999)
        sol = Fraction(c - a1 * b1 + a2 * b2, a1 + a2 - a3)
        eq = f"{a1}({var} + {b1}) + {a2}({var} - {b2}) = {a3}{var} + {c}".replace("+ -", "- ")
        question = rng.choice(
            [
                f"Solve exactly for {var}: {eq}.",
                f"Find the exact solution of {eq}.",
            ]
        )
        text = (
            f"Expand the two brackets, gather the {var} terms ({a1} + {a2} - {a3}) and the "
            "constants, and divide."
        )
        program = _sympy_program(
            var, f"{a1}*({var} + {b1}) + {a2}*({var} - {b2})", f"{a3}*{var} + ({c})"
        )
        params = {"form": form, "coefficients": [a1, b1, a2, b2, a3, c], "steps": 6}
        return _problem("one_unknown", "ood", question, text, [program], fmt_number(sol), params)
    if form == "plans":
        f1, f2 = sorted(rng.sample(range(1000, 50000), 2))
        r2 = rng.randint(10, 400)
        r1 = r2 + rng.randint(5, 300)  # the cheaper fixed fee has the dearer rate
        sol = Fraction(f2 - f1, r1 - r2)
        thing = rng.choice(["server", "vehicle", "seat", "user licence", "container"])
        question = rng.choice(
            [
                f"Plan A costs ${f1} a year plus ${r1} per {thing}; plan B costs ${f2} a year "
                f"plus ${r2} per {thing}. For exactly how many {thing}s do the plans cost the "
                "same? Give an exact fraction if needed.",
                f"A firm compares two contracts: a ${f1} base fee with ${r1} per {thing}, or a "
                f"${f2} base fee with ${r2} per {thing}. Solve for the number of {thing}s at "
                "which they are equal, exactly.",
            ]
        )
        text = (
            f"Set {f1} + {r1}{var} = {f2} + {r2}{var}; the fee difference divided by the rate "
            "difference."
        )
        program = code(
            "from fractions import Fraction", f"print(Fraction({f2} - {f1}, {r1} - {r2}))"
        )
        params = {"form": form, "fees": [f1, f2], "rates": [r1, r2], "steps": 4}
        return _problem("one_unknown", "ood", question, text, [program], fmt_number(sol), params)
    dens = rng.sample(range(2, 20), 4)
    total = rng.randint(1000, 99999)
    sol = Fraction(total) / sum(Fraction(1, dd) for dd in dens)
    lhs = " + ".join(f"{var}/{dd}" for dd in dens)
    question = rng.choice(
        [
            f"Solve {lhs} = {total} exactly.",
            f"A quantity {var} is split so that {lhs} equals {total}. What is {var}, exactly?",
        ]
    )
    text = (
        f"Factor out {var}: {var} times the sum of 1/{', 1/'.join(map(str, dens))} equals "
        f"{total}; divide."
    )
    programs = [
        code("from fractions import Fraction", f"weights = sum(Fraction(1, d) for d in {dens})"),
        code(f"{var} = {total} / weights", f"print({var})"),
    ]
    params = {"form": form, "denominators": dens, "total": total, "steps": 6}
    return _problem("one_unknown", "ood", question, text, programs, fmt_number(sol), params)


# --------------------------------------------------------------------------- 2x2 systems


def _system_program(rng: random.Random, u: str, v: str, eqs: list[list[int]]) -> str:
    """Either sympy.solve or Cramer's rule with fractions, for ``a u + b v = c`` rows."""
    (a1, b1, c1), (a2, b2, c2) = eqs
    if rng.random() < 0.5:
        return code(
            "import sympy",
            f'{u}, {v} = sympy.symbols("{u} {v}")',
            f"solution = sympy.solve([sympy.Eq({_python_two_var(a1, b1, u, v)}, {c1}), "
            f"sympy.Eq({_python_two_var(a2, b2, u, v)}, {c2})], [{u}, {v}])",
            f'print(f"({{solution[{u}]}}, {{solution[{v}]}})")',
        )
    return code(
        "from fractions import Fraction",
        f"a1, b1, c1 = {a1}, {b1}, {c1}",
        f"a2, b2, c2 = {a2}, {b2}, {c2}",
        "det = a1 * b2 - a2 * b1",
        f"{u} = Fraction(c1 * b2 - c2 * b1, det)",
        f"{v} = Fraction(a1 * c2 - a2 * c1, det)",
        f'print(f"({{{u}}}, {{{v}}})")',
    )


def _solve2(eqs: list[list[int]]) -> tuple[Fraction, Fraction]:
    (a1, b1, c1), (a2, b2, c2) = eqs
    det = a1 * b2 - a2 * b1
    return Fraction(c1 * b2 - c2 * b1, det), Fraction(a1 * c2 - a2 * c1, det)


def _random_system(rng: random.Random, lo: int, hi: int, sol: tuple[int, int] | None, rhs_hi: int):
    """Coefficient rows with a nonzero determinant; rhs from `sol`, or drawn when sol is None."""
    while True:
        a1, b1, a2, b2 = (_nonzero(rng, lo, hi) for _ in range(4))
        if a1 * b2 - a2 * b1 == 0:
            continue
        if sol is None:
            c1, c2 = _nonzero(rng, 1, rhs_hi), _nonzero(rng, 1, rhs_hi)
        else:
            c1, c2 = a1 * sol[0] + b1 * sol[1], a2 * sol[0] + b2 * sol[1]
        return [[a1, b1, c1], [a2, b2, c2]]


def system_2x2(rng: random.Random, variant: str) -> Problem:
    """Two linear equations in two unknowns, symbolic or in words; the answer is (x, y)."""
    check_variant(variant)
    u, v = rng.choice(_PAIRS)
    name = rng.choice(NAMES)
    if variant == "base":
        form = rng.choice(["plain", "plain", "tickets", "sum_difference", "two_items"])
        if form == "plain":
            eqs = _random_system(rng, 1, 6, (rng.randint(-9, 9), rng.randint(-9, 9)), 0)
            e1 = f"{_two_var(eqs[0][0], eqs[0][1], u, v)} = {eqs[0][2]}"
            e2 = f"{_two_var(eqs[1][0], eqs[1][1], u, v)} = {eqs[1][2]}"
            question = rng.choice(
                [
                    f"Solve the system {e1} and {e2}. Write the answer as ({u}, {v}).",
                    f"Find {u} and {v} if {e1} and {e2}. Answer in the form ({u}, {v}).",
                    f"Which pair ({u}, {v}) satisfies both {e1} and {e2}?",
                    f"Solve simultaneously: {e1}; {e2}. Give ({u}, {v}).",
                ]
            )
            text = (
                f"Eliminate one unknown between {e1} and {e2}, solve for the other, and "
                "substitute back."
            )
            program = _system_program(rng, u, v, eqs)
            answer = fmt_pair(*_solve2(eqs))
            return _problem(
                "system_2x2",
                "base",
                question,
                text,
                [program],
                answer,
                {"form": form, "equations": eqs, "steps": 3},
            )
        if form == "tickets":
            adult, child = rng.randint(8, 15), rng.randint(3, 7)
            na, nc = rng.randint(5, 40), rng.randint(5, 40)
            n, revenue = na + nc, adult * na + child * nc
            venue = rng.choice(["A theatre", "A museum", "A zoo", "A school play", "A planetarium"])
            question = rng.choice(
                [
                    f"{venue} sold {n} tickets for ${revenue}. Adult tickets cost ${adult} and "
                    f"child tickets ${child}. How many of each were sold? Answer as (adults, "
                    "children).",
                    f"Adults pay ${adult} and children ${child} at {venue.lower()}. One morning "
                    f"{n} visitors paid ${revenue} in total. Give (number of adults, number of "
                    "children).",
                ]
            )
            text = (
                f"Let {u} adults and {v} children: {u} + {v} = {n} and {adult}{u} + "
                f"{child}{v} = {revenue}."
            )
            eqs = [[1, 1, n], [adult, child, revenue]]
            program = _system_program(rng, u, v, eqs)
            params = {"form": form, "equations": eqs, "steps": 3}
            return _problem(
                "system_2x2", "base", question, text, [program], fmt_pair(na, nc), params
            )
        if form == "sum_difference":
            big, small = sorted(rng.sample(range(-20, 80), 2), reverse=True)
            s, d = big + small, big - small
            question = rng.choice(
                [
                    f"Two numbers add up to {s} and differ by {d}. Find them, larger first, as "
                    "(larger, smaller).",
                    f"The sum of two numbers is {s}; their difference is {d}. What are the "
                    "numbers? Write (larger, smaller).",
                ]
            )
            text = (
                f"With larger {u} and smaller {v}: {u} + {v} = {s}, {u} - {v} = {d}; add the "
                f"equations to get 2{u}."
            )
            eqs = [[1, 1, s], [1, -1, d]]
            program = _system_program(rng, u, v, eqs)
            params = {"form": form, "equations": eqs, "steps": 3}
            return _problem(
                "system_2x2", "base", question, text, [program], fmt_pair(big, small), params
            )
        (i1, i2) = rng.sample(
            ["apple", "pear", "bun", "coffee", "sandwich", "juice", "pencil", "eraser"], 2
        )
        p1, p2 = rng.randint(1, 9), rng.randint(1, 9)
        q = [[rng.randint(2, 6), rng.randint(2, 6)] for _ in range(2)]
        while q[0][0] * q[1][1] == q[0][1] * q[1][0]:
            q[1][1] += 1
        t1, t2 = q[0][0] * p1 + q[0][1] * p2, q[1][0] * p1 + q[1][1] * p2
        question = rng.choice(
            [
                f"{q[0][0]} {i1}s and {q[0][1]} {i2}s cost ${t1}; {q[1][0]} {i1}s and {q[1][1]} "
                f"{i2}s cost ${t2}. What does one {i1} and one {i2} cost? Answer as ({i1}, {i2}).",
                f"{name} pays ${t1} for {q[0][0]} {i1}s with {q[0][1]} {i2}s, and another day "
                f"${t2} for {q[1][0]} {i1}s with {q[1][1]} {i2}s. Find the price of each, as "
                f"({i1} price, {i2} price).",
            ]
        )
        eqs = [[q[0][0], q[0][1], t1], [q[1][0], q[1][1], t2]]
        text = (
            f"Prices {u} and {v}: {q[0][0]}{u} + {q[0][1]}{v} = {t1} and {q[1][0]}{u} + "
            f"{q[1][1]}{v} = {t2}."
        )
        program = _system_program(rng, u, v, eqs)
        params = {"form": "two_items", "equations": eqs, "steps": 3}
        return _problem("system_2x2", "base", question, text, [program], fmt_pair(p1, p2), params)

    if variant == "hard":
        form = rng.choice(["plain", "rearranged", "boat", "mixture"])
        if form == "plain":
            eqs = _random_system(rng, 1, 12, None, 40)
            e1 = f"{_two_var(eqs[0][0], eqs[0][1], u, v)} = {eqs[0][2]}"
            e2 = f"{_two_var(eqs[1][0], eqs[1][1], u, v)} = {eqs[1][2]}"
            question = rng.choice(
                [
                    f"Solve exactly: {e1} and {e2}. Give ({u}, {v}) with fractions in lowest "
                    "terms.",
                    f"Find the exact solution ({u}, {v}) of the system {e1}, {e2}.",
                    f"The lines {e1} and {e2} meet at one point. What is it, as ({u}, {v}) with "
                    "exact fractions?",
                ]
            )
            text = (
                "The determinant is nonzero, so there is one solution; Cramer's rule or "
                "elimination, with exact fractions."
            )
            program = _system_program(rng, u, v, eqs)
            return _problem(
                "system_2x2",
                "hard",
                question,
                text,
                [program],
                fmt_pair(*_solve2(eqs)),
                {"form": form, "equations": eqs, "steps": 4},
            )
        if form == "rearranged":
            eqs = _random_system(rng, 1, 9, None, 30)
            (a1, b1, c1), (a2, b2, c2) = eqs
            # a1 u = c1 - b1 v  and  b2 v - c2 = -a2 u
            e1 = f"{linear(a1, 0, u)} = {linear(-b1, c1, v)}"
            e2 = f"{linear(b2, -c2, v)} = {linear(-a2, 0, u)}"
            question = rng.choice(
                [
                    f"Solve for {u} and {v}: {e1} and {e2}. Give ({u}, {v}) exactly.",
                    f"Given {e1} and {e2}, find the exact pair ({u}, {v}).",
                ]
            )
            text = (
                f"Bring both to standard form: {_two_var(a1, b1, u, v)} = {c1} and "
                f"{_two_var(a2, b2, u, v)} = {c2}; then eliminate."
            )
            program = _system_program(rng, u, v, eqs)
            return _problem(
                "system_2x2",
                "hard",
                question,
                text,
                [program],
                fmt_pair(*_solve2(eqs)),
                {"form": form, "equations": eqs, "steps": 5},
            )
        if form == "boat":
            t1, t2, d2 = rng.randint(2, 6), rng.randint(2, 6), rng.randint(10, 60)
            d1 = d2 * t1 // t2 + rng.randint(1, 40)  # downstream is faster than upstream
            down, up = Fraction(d1, t1), Fraction(d2, t2)
            boat, current = (down + up) / 2, (down - up) / 2
            question = rng.choice(
                [
                    f"A boat goes {d1} km downstream in {t1} hours and {d2} km upstream in {t2} "
                    "hours. Find the boat's speed in still water and the speed of the current, "
                    "in km/h, as (boat, current), exactly.",
                    f"{name} paddles {d1} km with the current in {t1} h and {d2} km against it in "
                    f"{t2} h. Give (speed in still water, current speed) in km/h as exact "
                    "fractions.",
                ]
            )
            eqs = [[t1, t1, d1], [t2, -t2, d2]]
            text = (
                f"With still-water speed {u} and current {v}: {t1}({u} + {v}) = {d1} downstream "
                f"and {t2}({u} - {v}) = {d2} upstream."
            )
            program = _system_program(rng, u, v, eqs)
            return _problem(
                "system_2x2",
                "hard",
                question,
                text,
                [program],
                fmt_pair(boat, current),
                {"form": form, "equations": eqs, "steps": 5},
            )
        low, high = rng.sample(range(5, 95, 5), 2)
        low, high = min(low, high), max(low, high)
        target = rng.randint(low + 1, high - 1)
        total = rng.randint(10, 90)
        x_low = Fraction(total * (high - target), high - low)
        x_high = total - x_low
        stuff = rng.choice(["coffee beans", "nuts", "tea", "seed mix"])
        question = rng.choice(
            [
                f"A shop blends {stuff} worth ${low} per kg with {stuff} worth ${high} per kg to "
                f"make {total} kg worth ${target} per kg. How many kg of each go in? Answer as "
                "(cheaper, dearer), exactly.",
                f"{name} wants {total} kg of {stuff} at ${target}/kg by mixing a ${low}/kg kind "
                f"and a ${high}/kg kind. Find (kg of the ${low} kind, kg of the ${high} kind) "
                "exactly.",
            ]
        )
        eqs = [[1, 1, total], [low, high, target * total]]
        text = f"Weights {u} + {v} = {total}; value {low}{u} + {high}{v} = {target} x {total}."
        program = _system_program(rng, u, v, eqs)
        return _problem(
            "system_2x2",
            "hard",
            question,
            text,
            [program],
            fmt_pair(x_low, x_high),
            {"form": "mixture", "equations": eqs, "steps": 4},
        )

    # ood: 4-5 digit coefficients
    form = rng.choice(["plain", "stadium"])
    if form == "plain":
        eqs = _random_system(rng, 100, 9999, None, 99999)
        eqs[0][0] = rng.randint(1000, 9999) * (1 if eqs[0][0] > 0 else -1)
        while eqs[0][0] * eqs[1][1] == eqs[1][0] * eqs[0][1]:
            eqs[1][1] += 1
        e1 = f"{_two_var(eqs[0][0], eqs[0][1], u, v)} = {eqs[0][2]}"
        e2 = f"{_two_var(eqs[1][0], eqs[1][1], u, v)} = {eqs[1][2]}"
        question = rng.choice(
            [
                f"Solve exactly: {e1} and {e2}. Give ({u}, {v}).",
                f"Find the exact intersection ({u}, {v}) of {e1} and {e2}.",
            ]
        )
        text = "Large coefficients: use exact elimination (Cramer's rule) rather than decimals."
        program = _system_program(rng, u, v, eqs)
        return _problem(
            "system_2x2",
            "ood",
            question,
            text,
            [program],
            fmt_pair(*_solve2(eqs)),
            {"form": form, "equations": eqs, "steps": 6},
        )
    cheap, dear = rng.randint(15, 45), rng.randint(50, 120)
    nc, nd = rng.randint(5000, 60000), rng.randint(1000, 20000)
    n, revenue = nc + nd, cheap * nc + dear * nd
    event = rng.choice(["A stadium", "A music festival", "A cup final", "An air show"])
    first, _ = two_names(rng)
    question = rng.choice(
        [
            f"{event} sold {n} tickets, standard at ${cheap} and premium at ${dear}, taking "
            f"${revenue} in total. How many of each were sold? Answer as (standard, premium).",
            f"The organiser {first} reports {n} tickets and ${revenue} of sales for "
            f"{event.lower()}; a standard ticket is ${cheap} and a premium one ${dear}. Find "
            "(standard, premium).",
        ]
    )
    eqs = [[1, 1, n], [cheap, dear, revenue]]
    text = f"{u} standard and {v} premium: {u} + {v} = {n}, {cheap}{u} + {dear}{v} = {revenue}."
    program = _system_program(rng, u, v, eqs)
    return _problem(
        "system_2x2",
        "ood",
        question,
        text,
        [program],
        fmt_pair(nc, nd),
        {"form": "stadium", "equations": eqs, "steps": 6},
    )


SKILLS = {"one_unknown": one_unknown, "system_2x2": system_2x2}
