"""Number theory: gcd, lcm, remainders, counting multiples in a range.

Numbers: base and hard questions use numbers of at most 3 digits; every ood
question has a number of at least 4 digits (and takes more steps), so ood is
told apart by construction. All answers are integers.
"""

from __future__ import annotations

import math
import random

from mathforge.teacher.base import Problem, check_variant, code, make_problem
from mathforge.teacher.vocab import NAMES, join_and

SUBJECT = "number_theory"


def _problem(skill, variant, question, text, programs, answer, params) -> Problem:
    return make_problem(SUBJECT, skill, variant, question, text, programs, answer, params)


def _gcd_program(rng: random.Random, numbers: list[int]) -> str:
    if rng.random() < 0.5:
        return code("import math", f"print(math.gcd({', '.join(map(str, numbers))}))")
    return code(
        "def gcd(a, b):",
        "    while b:",
        "        a, b = b, a % b",
        "    return a",
        f"result = {numbers[0]}",
        f"for n in {numbers[1:]}:",
        "    result = gcd(result, n)",
        "print(result)",
    )


def _multiples_of(rng: random.Random, g: int, count: int, hi: int) -> list[int]:
    """`count` distinct multiples of g up to hi, whose gcd is exactly g."""
    while True:
        numbers = sorted(rng.sample(range(g, hi + 1, g), count))
        if math.gcd(*numbers) == g:
            return numbers


# --------------------------------------------------------------------------- gcd


def gcd(rng: random.Random, variant: str) -> Problem:
    """Greatest common divisors, plain or as tiling / grouping / cutting problems."""
    check_variant(variant)
    name = rng.choice(NAMES)
    if variant == "base":
        g = rng.randint(2, 15)
        a, b = _multiples_of(rng, g, 2, 99)
        form = rng.choice(["plain", "groups", "tiles", "cutting"])
        if form == "plain":
            question = rng.choice(
                [
                    f"What is the greatest common divisor of {a} and {b}?",
                    f"Find gcd({a}, {b}).",
                    f"What is the largest whole number that divides both {a} and {b}?",
                    f"Compute the highest common factor of {a} and {b}.",
                ]
            )
        elif form == "groups":
            first, second = rng.choice(
                [
                    ("roses", "tulips"),
                    ("pencils", "erasers"),
                    ("apples", "oranges"),
                    ("stickers", "badges"),
                    ("red beads", "white beads"),
                    ("boys", "girls"),
                ]
            )
            groups = rng.choice(["bouquets", "gift bags", "party packs", "baskets", "teams"])
            question = rng.choice(
                [
                    f"{name} has {a} {first} and {b} {second} and wants to make identical {groups} "
                    f"using every one of them. What is the largest number of {groups} possible?",
                    f"What is the greatest number of identical {groups} that can be made from {a} "
                    f"{first} and {b} {second}, with nothing left over?",
                    f"With {a} {first} and {b} {second}, {name} makes as many {groups} as "
                    f"possible, all alike and with none to spare. How many {groups} is that?",
                ]
            )
        elif form == "tiles":
            surface, unit = rng.choice(
                [
                    ("floor", "dm"),
                    ("courtyard", "m"),
                    ("wall", "cm"),
                    ("tabletop", "cm"),
                    ("garden plot", "m"),
                    ("mosaic panel", "mm"),
                ]
            )
            question = rng.choice(
                [
                    f"A {surface} measures {a} {unit} by {b} {unit}. It is covered exactly with "
                    "equal square tiles, as large as possible. What is the side of a tile in "
                    f"{unit}?",
                    f"What is the biggest square tile that fits a {a} {unit} x {b} {unit} "
                    f"{surface} a whole number of times in both directions? Give its side in "
                    f"{unit}.",
                ]
            )
        else:
            material, unit = rng.choice(
                [
                    ("ribbons", "cm"),
                    ("ropes", "m"),
                    ("copper wires", "cm"),
                    ("timber planks", "dm"),
                    ("steel pipes", "m"),
                    ("rolls of fabric", "m"),
                ]
            )
            question = rng.choice(
                [
                    f"Two {material} of {a} {unit} and {b} {unit} are cut into pieces all of the "
                    "same length, with nothing left over. What is the longest possible piece, in "
                    f"{unit}?",
                    f"{name} must cut {material} of lengths {a} {unit} and {b} {unit} into equal "
                    "pieces without waste. How long can each piece be at most?",
                ]
            )
        text = f"The answer is the greatest common divisor of {a} and {b} (Euclid's algorithm)."
        return _problem(
            "gcd",
            "base",
            question,
            text,
            [_gcd_program(rng, [a, b])],
            str(g),
            {"form": form, "numbers": [a, b], "steps": 2},
        )
    if variant == "hard":
        form = rng.choice(["three", "tiles_count", "teams"])
        g = rng.randint(3, 40)
        if form == "three":
            numbers = _multiples_of(rng, g, 3, 999)
            question = rng.choice(
                [
                    f"Find the greatest common divisor of {join_and([str(n) for n in numbers])}.",
                    f"What is gcd({', '.join(map(str, numbers))})?",
                ]
            )
            text = f"gcd of three numbers: gcd(gcd({numbers[0]}, {numbers[1]}), {numbers[2]})."
            return _problem(
                "gcd",
                "hard",
                question,
                text,
                [_gcd_program(rng, numbers)],
                str(g),
                {"form": form, "numbers": numbers, "steps": 3},
            )
        if form == "tiles_count":
            a, b = _multiples_of(rng, g, 2, 600)
            count = (a // g) * (b // g)
            question = rng.choice(
                [
                    f"A {a} cm by {b} cm rectangular wall is covered with identical square tiles, "
                    "as large as possible, with no cutting. How many tiles are needed?",
                    f"{name} cuts a {a} mm by {b} mm sheet into the largest equal squares with no "
                    f"waste. How many squares are there?",
                ]
            )
            text = f"The tile side is gcd({a}, {b}); the count is ({a} / side) x ({b} / side)."
            program = code(
                "import math", f"side = math.gcd({a}, {b})", f"print(({a} // side) * ({b} // side))"
            )
            return _problem(
                "gcd",
                "hard",
                question,
                text,
                [program],
                str(count),
                {"form": form, "numbers": [a, b], "steps": 4},
            )
        numbers = _multiples_of(rng, g, 3, 600)
        kinds = rng.choice(
            [
                ("pencils", "erasers", "notebooks"),
                ("apples", "pears", "plums"),
                ("red", "blue", "green"),
            ]
        )
        per = numbers[0] // g
        question = rng.choice(
            [
                f"A teacher has {numbers[0]} {kinds[0]}, {numbers[1]} {kinds[1]} and {numbers[2]} "
                f"{kinds[2]} to pack into identical gift bags with nothing left over, using as "
                f"many bags as possible. How many {kinds[0]} go in each bag?",
                f"{numbers[0]} {kinds[0]}, {numbers[1]} {kinds[1]} and {numbers[2]} {kinds[2]} are "
                f"shared into the greatest number of identical groups with none left. How many "
                f"{kinds[0]} are in one group?",
            ]
        )
        text = (
            f"The number of bags is gcd{tuple(numbers)}; each bag gets {numbers[0]} / that "
            f"many {kinds[0]}."
        )
        program = code(
            "import math",
            f"bags = math.gcd({', '.join(map(str, numbers))})",
            f"print({numbers[0]} // bags)",
        )
        return _problem(
            "gcd",
            "hard",
            question,
            text,
            [program],
            str(per),
            {"form": "teams", "numbers": numbers, "steps": 4},
        )
    g = rng.randint(11, 999)
    count = rng.randint(3, 5)
    numbers = _multiples_of(rng, g, count, 999999)
    if max(numbers) < 1000:  # ood by construction: some number has 4+ digits; 1009 is prime
        numbers[-1] = 1009 * g
    question = rng.choice(
        [
            f"Find the greatest common divisor of {join_and([str(n) for n in numbers])}.",
            f"What is the largest integer dividing each of {', '.join(map(str, numbers))}?",
        ]
    )
    text = f"Fold Euclid's algorithm over the {len(numbers)} numbers: gcd(gcd(gcd(a, b), c), ...)."
    return _problem(
        "gcd",
        "ood",
        question,
        text,
        [_gcd_program(rng, numbers)],
        str(g),
        {"form": "many", "numbers": numbers, "steps": 2 * len(numbers)},
    )


# --------------------------------------------------------------------------- lcm


def lcm(rng: random.Random, variant: str) -> Problem:
    """Least common multiples: timetables, flashing lights, smallest common multiples."""
    check_variant(variant)
    name = rng.choice(NAMES)
    if variant == "base":
        a, b = rng.sample(range(2, 21), 2)
        answer = math.lcm(a, b)
        form = rng.choice(["plain", "timetable", "packs"])
        if form == "plain":
            question = rng.choice(
                [
                    f"What is the least common multiple of {a} and {b}?",
                    f"Find lcm({a}, {b}).",
                    f"What is the smallest positive number divisible by both {a} and {b}?",
                    f"Compute the lowest common multiple of {a} and {b}.",
                ]
            )
        elif form == "timetable":
            first, second, unit = rng.choice(
                [
                    ("a bus", "a tram", "minutes"),
                    ("one lighthouse", "another", "seconds"),
                    ("a red lamp", "a green lamp", "seconds"),
                    ("one alarm", "a second alarm", "minutes"),
                    ("the ferry", "the shuttle bus", "minutes"),
                    ("one gear tooth", "another", "turns"),
                ]
            )
            question = rng.choice(
                [
                    f"{first.capitalize()} repeats every {a} {unit} and {second} every {b} "
                    f"{unit}. They start together. After how many {unit} do they next coincide?",
                    f"If {first} comes round every {a} {unit} and {second} every {b} {unit}, and "
                    f"both happen right now, when (in {unit}) will they next happen at the same "
                    "moment?",
                ]
            )
        else:
            first, second = rng.choice(
                [
                    ("hot dogs", "buns"),
                    ("cups", "lids"),
                    ("plates", "napkins"),
                    ("envelopes", "stamps"),
                    ("nuts", "bolts"),
                    ("candles", "holders"),
                ]
            )
            question = rng.choice(
                [
                    f"{first.capitalize()} come in packs of {a} and {second} in packs of {b}. "
                    f"What is the smallest number of {first} {name} can buy to have exactly as "
                    f"many {second} as {first}?",
                    f"{name} buys {first} in packs of {a} and {second} in packs of {b}, wanting "
                    f"equal numbers of each. What is the least number of {first} that works?",
                ]
            )
        text = f"The first common multiple of {a} and {b}: lcm = {a} x {b} / gcd({a}, {b})."
        program = rng.choice(
            [
                code("import math", f"print(math.lcm({a}, {b}))"),
                code("import math", f"print({a} * {b} // math.gcd({a}, {b}))"),
            ]
        )
        return _problem(
            "lcm",
            "base",
            question,
            text,
            [program],
            str(answer),
            {"form": form, "numbers": [a, b], "steps": 2},
        )
    if variant == "hard":
        form = rng.choice(["lights", "above", "remainder"])
        numbers = sorted(rng.sample(range(2, 31), 3))
        common = math.lcm(*numbers)
        if form == "lights":
            question = rng.choice(
                [
                    f"Three lighthouses flash every {numbers[0]}, {numbers[1]} and {numbers[2]} "
                    "seconds. They flash together now. After how many seconds do they next flash "
                    "together?",
                    f"Three runners lap a track in {numbers[0]}, {numbers[1]} and {numbers[2]} "
                    "minutes. Starting together, when are they next all at the start line "
                    "together (in minutes)?",
                ]
            )
            text = f"The first common time is lcm({numbers[0]}, {numbers[1]}, {numbers[2]})."
            program = code("import math", f"print(math.lcm({', '.join(map(str, numbers))}))")
            return _problem(
                "lcm",
                "hard",
                question,
                text,
                [program],
                str(common),
                {"form": form, "numbers": numbers, "steps": 3},
            )
        if form == "above":
            bound = rng.randint(100, 999)
            answer = (bound // common + 1) * common
            question = rng.choice(
                [
                    f"What is the smallest number greater than {bound} that is divisible by each "
                    f"of {join_and([str(n) for n in numbers])}?",
                    f"Find the least integer above {bound} that is a common multiple of "
                    f"{', '.join(map(str, numbers))}.",
                ]
            )
            text = (
                f"Common multiples are the multiples of lcm = lcm{tuple(numbers)}; take the "
                f"first one past {bound}."
            )
            program = code(
                "import math",
                f"common = math.lcm({', '.join(map(str, numbers))})",
                f"print(({bound} // common + 1) * common)",
            )
            return _problem(
                "lcm",
                "hard",
                question,
                text,
                [program],
                str(answer),
                {"form": form, "numbers": numbers, "bound": bound, "steps": 4},
            )
        r = rng.randint(1, numbers[0] - 1) if numbers[0] > 2 else 1
        answer = common + r
        question = rng.choice(
            [
                f"Find the smallest number greater than {r} that leaves remainder {r} when "
                f"divided by each of {join_and([str(n) for n in numbers])}.",
                f"{name} has a pile of coins. Stacked in {numbers[0]}s, {numbers[1]}s or "
                f"{numbers[2]}s, there are always {r} left over. What is the smallest possible "
                f"pile larger than {r}?",
            ]
        )
        text = (
            f"The number minus {r} is a common multiple of {numbers}; the smallest positive "
            f"one is the lcm, so add {r}."
        )
        program = code("import math", f"print(math.lcm({', '.join(map(str, numbers))}) + {r})")
        return _problem(
            "lcm",
            "hard",
            question,
            text,
            [program],
            str(answer),
            {"form": form, "numbers": numbers, "remainder": r, "steps": 3},
        )
    numbers = sorted(rng.sample(range(1000, 10000), rng.randint(3, 5)))
    answer = math.lcm(*numbers)
    question = rng.choice(
        [
            f"Compute the least common multiple of {join_and([str(n) for n in numbers])}.",
            f"{len(numbers)} machines restart every {', '.join(map(str, numbers))} seconds "
            "respectively. If they all restart now, after how many seconds do they next all "
            "restart together?",
        ]
    )
    text = f"Fold lcm(a, b) = a x b / gcd(a, b) over the {len(numbers)} numbers."
    program = code(
        "import math",
        "result = 1",
        f"for n in {numbers}:",
        "    result = result * n // math.gcd(result, n)",
        "print(result)",
    )
    return _problem(
        "lcm",
        "ood",
        question,
        text,
        [program],
        str(answer),
        {"form": "many", "numbers": numbers, "steps": 2 * len(numbers)},
    )


# --------------------------------------------------------------------------- remainders


def remainders(rng: random.Random, variant: str) -> Problem:
    """Remainders: division, clocks and cycles, powers modulo m, simultaneous congruences."""
    check_variant(variant)
    name = rng.choice(NAMES)
    if variant == "base":
        form = rng.choice(["plain", "clock", "pattern"])
        if form == "plain":
            n, d = rng.randint(100, 999), rng.randint(3, 12)
            question = rng.choice(
                [
                    f"What is the remainder when {n} is divided by {d}?",
                    f"Find {n} mod {d}.",
                    f"When {n} is divided by {d}, what is left over?",
                ]
            )
            text = f"{n} = {d} x {n // d} + remainder; the remainder is {n} mod {d}."
            return _problem(
                "remainders",
                "base",
                question,
                text,
                [code(f"print({n} % {d})")],
                str(n % d),
                {"form": form, "n": n, "d": d, "steps": 1},
            )
        if form == "clock":
            start, hours = rng.randint(1, 12), rng.randint(20, 500)
            answer = (start - 1 + hours) % 12 + 1
            question = rng.choice(
                [
                    f"It is {start} o'clock now. What hour will a 12-hour clock show {hours} "
                    "hours from now?",
                    f"A 12-hour clock reads {start}:00. Which hour (1 to 12) does it read after "
                    f"{hours} hours?",
                    f"{name} sets off on a {hours}-hour journey when the station clock (12-hour, "
                    f"no minutes shown) points to {start}. What hour does it point to on arrival?",
                ]
            )
            text = (
                f"Hours repeat every 12: count {hours} hours on from {start}, working modulo "
                "12 with hours numbered 1 to 12."
            )
            program = code(f"print(({start} - 1 + {hours}) % 12 + 1)")
            return _problem(
                "remainders",
                "base",
                question,
                text,
                [program],
                str(answer),
                {"form": form, "start": start, "hours": hours, "steps": 2},
            )
        colours = rng.sample(
            ["red", "blue", "green", "yellow", "white", "black", "purple", "orange"],
            rng.randint(3, 6),
        )
        k = rng.randint(20, 300)
        answer = (k - 1) % len(colours) + 1
        question = rng.choice(
            [
                f"Beads are threaded in the repeating order {', '.join(colours)}. The {k}th bead "
                f"is the same colour as which bead of the first group (1 to {len(colours)})?",
                f"A light cycles through {len(colours)} colours ({', '.join(colours)}) and "
                f"repeats. At step {k}, what is its position in the cycle (1 to {len(colours)})?",
            ]
        )
        text = (
            f"The pattern has length {len(colours)}; position = ({k} - 1) mod {len(colours)} + 1."
        )
        program = code(f"pattern = {colours}", f"print(({k} - 1) % len(pattern) + 1)")
        return _problem(
            "remainders",
            "base",
            question,
            text,
            [program],
            str(answer),
            {"form": "pattern", "cycle": len(colours), "k": k, "steps": 2},
        )
    if variant == "hard":
        form = rng.choice(["power", "last_digit", "sum"])
        if form == "power":
            a, e, m = rng.randint(2, 20), rng.randint(20, 99), rng.randint(5, 19)
            question = rng.choice(
                [
                    f"What is the remainder when {a}^{e} is divided by {m}?",
                    f"Compute {a}**{e} mod {m}.",
                ]
            )
            text = (
                f"Reduce modulo {m} as you go (repeated squaring), never forming {a}^{e} in full."
            )
            program = rng.choice(
                [
                    code(f"print(pow({a}, {e}, {m}))"),
                    code("r = 1", f"for _ in range({e}):", f"    r = r * {a} % {m}", "print(r)"),
                ]
            )
            return _problem(
                "remainders",
                "hard",
                question,
                text,
                [program],
                str(pow(a, e, m)),
                {"form": form, "base": a, "exponent": e, "modulus": m, "steps": 4},
            )
        if form == "last_digit":
            a, e = rng.choice([n for n in range(2, 100) if n % 10]), rng.randint(20, 999)
            question = rng.choice(
                [
                    f"What is the last digit of {a}^{e}?",
                    f"Find the units digit of {a} raised to the power {e}.",
                ]
            )
            text = (
                f"The last digit is the remainder mod 10; last digits of powers of {a % 10} cycle."
            )
            program = code(f"print(pow({a}, {e}, 10))")
            return _problem(
                "remainders",
                "hard",
                question,
                text,
                [program],
                str(pow(a, e, 10)),
                {"form": form, "base": a, "exponent": e, "steps": 3},
            )
        n, m = rng.randint(50, 999), rng.randint(7, 30)
        answer = (n * (n + 1) // 2) % m
        question = rng.choice(
            [
                f"What is the remainder when 1 + 2 + 3 + ... + {n} is divided by {m}?",
                f"{name} adds all whole numbers from 1 to {n}. What remainder does the total "
                f"leave on division by {m}?",
            ]
        )
        text = f"The sum is {n}({n} + 1)/2; take it modulo {m}."
        program = code(f"total = {n} * ({n} + 1) // 2", f"print(total % {m})")
        return _problem(
            "remainders",
            "hard",
            question,
            text,
            [program],
            str(answer),
            {"form": "sum", "n": n, "modulus": m, "steps": 3},
        )
    form = rng.choice(["big_power", "congruences"])
    if form == "big_power":
        a, e, m = rng.randint(2, 999), rng.randint(1000, 999999), rng.randint(1000, 9999)
        question = rng.choice(
            [
                f"What is the remainder when {a}^{e} is divided by {m}?",
                f"Compute {a}^{e} modulo {m}.",
            ]
        )
        text = (
            f"Modular exponentiation by repeated squaring: reduce modulo {m} after every "
            "multiplication."
        )
        program = code(
            f"base, exponent, modulus = {a}, {e}, {m}",
            "result = 1",
            "base %= modulus",
            "while exponent:",
            "    if exponent & 1:",
            "        result = result * base % modulus",
            "    base = base * base % modulus",
            "    exponent >>= 1",
            "print(result)",
        )
        return _problem(
            "remainders",
            "ood",
            question,
            text,
            [program],
            str(pow(a, e, m)),
            {"form": form, "base": a, "exponent": e, "modulus": m, "steps": 6},
        )
    moduli = rng.choice(
        [[7, 11, 13], [8, 9, 25], [9, 11, 16], [5, 7, 9, 11], [7, 13, 16, 17], [11, 13, 17]]
    )
    residues = [rng.randint(0, m - 1) for m in moduli]
    answer = next(
        n
        for n in range(1000, 1000 + math.prod(moduli))
        if all(n % m == r for m, r in zip(moduli, residues, strict=False))
    )
    conditions = join_and(
        [f"remainder {r} when divided by {m}" for m, r in zip(moduli, residues, strict=False)]
    )
    question = rng.choice(
        [
            f"Find the smallest integer of at least 1000 that leaves {conditions}.",
            f"What is the least number n >= 1000 with {conditions}?",
            f"A warehouse holds at least 1000 boxes. Counting them in groups leaves {conditions}. "
            f"What is the smallest possible number of boxes?",
        ]
    )
    text = (
        f"The moduli {moduli} are pairwise coprime, so solutions repeat every "
        f"{math.prod(moduli)}; search upward from 1000 (or use the Chinese remainder theorem)."
    )
    program = code(
        f"conditions = {[[m, r] for m, r in zip(moduli, residues, strict=False)]}",
        "n = 1000",
        "while not all(n % m == r for m, r in conditions):",
        "    n += 1",
        "print(n)",
    )
    return _problem(
        "remainders",
        "ood",
        question,
        text,
        [program],
        str(answer),
        {"form": form, "moduli": moduli, "residues": residues, "steps": 2 * len(moduli)},
    )


# --------------------------------------------------------------------------- counting multiples


def _count(lo: int, hi: int, d: int) -> int:
    return hi // d - (lo - 1) // d


def count_multiples(rng: random.Random, variant: str) -> Problem:
    """How many numbers in a range are divisible by ..., with inclusion-exclusion."""
    check_variant(variant)
    if variant == "base":
        d, hi = rng.randint(3, 19), rng.randint(50, 999)
        form = rng.choice(["from_one", "range"])
        if form == "from_one":
            question = rng.choice(
                [
                    f"How many multiples of {d} are there from 1 to {hi}?",
                    f"How many of the whole numbers 1, 2, ..., {hi} are divisible by {d}?",
                    f"Count the positive integers up to {hi} that {d} divides.",
                ]
            )
            text = f"Multiples of {d} up to {hi}: floor({hi} / {d})."
            return _problem(
                "count_multiples",
                "base",
                question,
                text,
                [code(f"print({hi} // {d})")],
                str(hi // d),
                {"form": form, "d": d, "hi": hi, "steps": 1},
            )
        lo = rng.randint(10, hi - 20)
        question = rng.choice(
            [
                f"How many multiples of {d} lie between {lo} and {hi}, inclusive?",
                f"Count the numbers from {lo} to {hi} (both included) that are divisible by {d}.",
            ]
        )
        text = f"Count up to {hi} minus count up to {lo} - 1: {hi} // {d} - ({lo} - 1) // {d}."
        program = rng.choice(
            [
                code(f"print({hi} // {d} - ({lo} - 1) // {d})"),
                code(f"print(sum(1 for n in range({lo}, {hi} + 1) if n % {d} == 0))"),
            ]
        )
        return _problem(
            "count_multiples",
            "base",
            question,
            text,
            [program],
            str(_count(lo, hi, d)),
            {"form": form, "d": d, "lo": lo, "hi": hi, "steps": 2},
        )
    if variant == "hard":
        a, b = rng.sample(range(2, 16), 2)
        lo, hi = rng.randint(10, 300), rng.randint(400, 999)
        common = math.lcm(a, b)
        form = rng.choice(["either", "neither", "only_first"])
        both = _count(lo, hi, common)
        counts = {
            "either": _count(lo, hi, a) + _count(lo, hi, b) - both,
            "neither": (hi - lo + 1) - (_count(lo, hi, a) + _count(lo, hi, b) - both),
            "only_first": _count(lo, hi, a) - both,
        }
        phrase = {
            "either": f"divisible by {a} or by {b} (or both)",
            "neither": f"divisible by neither {a} nor {b}",
            "only_first": f"divisible by {a} but not by {b}",
        }[form]
        question = rng.choice(
            [
                f"How many integers from {lo} to {hi} inclusive are {phrase}?",
                f"Among the whole numbers {lo}, {lo + 1}, ..., {hi}, how many are {phrase}?",
            ]
        )
        text = (
            f"Inclusion-exclusion: numbers divisible by both {a} and {b} are the multiples of "
            f"lcm({a}, {b}) = {common}; count each set in [{lo}, {hi}] as hi // d - (lo - 1) // d."
        )
        condition = {
            "either": f"n % {a} == 0 or n % {b} == 0",
            "neither": f"n % {a} != 0 and n % {b} != 0",
            "only_first": f"n % {a} == 0 and n % {b} != 0",
        }[form]
        program = rng.choice(
            [
                code(f"print(sum(1 for n in range({lo}, {hi} + 1) if {condition}))"),
                code(
                    "import math",
                    f"def count(d):\n    return {hi} // d - ({lo} - 1) // d",
                    f"both = count(math.lcm({a}, {b}))",
                    {
                        "either": f"print(count({a}) + count({b}) - both)",
                        "neither": f"print(({hi} - {lo} + 1) - (count({a}) + count({b}) - both))",
                        "only_first": f"print(count({a}) - both)",
                    }[form],
                ),
            ]
        )
        return _problem(
            "count_multiples",
            "hard",
            question,
            text,
            [program],
            str(counts[form]),
            {"form": form, "divisors": [a, b], "lo": lo, "hi": hi, "steps": 4},
        )
    divisors = sorted(rng.sample(range(3, 30), 3))
    lo, hi = rng.randint(1000, 99999), rng.randint(100000, 9999999)
    total = 0
    for mask in range(1, 8):
        chosen = [d for i, d in enumerate(divisors) if mask >> i & 1]
        sign = 1 if len(chosen) % 2 else -1
        total += sign * _count(lo, hi, math.lcm(*chosen))
    question = rng.choice(
        [
            f"How many integers between {lo} and {hi} inclusive are divisible by at least one of "
            f"{join_and([str(d) for d in divisors])}?",
            f"Count the numbers n with {lo} <= n <= {hi} such that n is a multiple of "
            f"{divisors[0]}, {divisors[1]} or {divisors[2]}.",
        ]
    )
    text = (
        "Inclusion-exclusion over the three divisors: add the single counts, subtract the "
        f"pairwise lcm counts, add the triple lcm count; each count in [{lo}, {hi}] is hi // d - "
        "(lo - 1) // d."
    )
    programs = [
        code(
            "import math",
            "from itertools import combinations",
            f"lo, hi = {lo}, {hi}",
            f"divisors = {divisors}",
            "def count(d):",
            "    return hi // d - (lo - 1) // d",
        ),
        code(
            "total = 0",
            "for k in range(1, len(divisors) + 1):",
            "    for group in combinations(divisors, k):",
            "        total += (-1) ** (k + 1) * count(math.lcm(*group))",
            "print(total)",
        ),
    ]
    return _problem(
        "count_multiples",
        "ood",
        question,
        text,
        programs,
        str(total),
        {"form": "three", "divisors": divisors, "lo": lo, "hi": hi, "steps": 8},
    )


SKILLS = {"gcd": gcd, "lcm": lcm, "remainders": remainders, "count_multiples": count_multiples}
