"""Counting and probability: permutations, combinations, probabilities as exact fractions.

Numbers: base and hard questions use numbers of at most 2 digits; every ood
question has a number of 3 or more digits (a club of 150, a batch of 2400).
Counts are integers, probabilities reduced fractions like ``5/18``.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from fractions import Fraction

from mathforge.teacher.answers import fmt_number
from mathforge.teacher.base import Problem, check_variant, code, make_problem
from mathforge.teacher.vocab import NAMES

SUBJECT = "counting_probability"

_WORDS = [
    "BANANA",
    "LETTER",
    "BALLOON",
    "PEPPER",
    "COFFEE",
    "SUCCESS",
    "MISSISSIPPI",
    "STATISTICS",
    "COMMITTEE",
    "TATTOO",
    "ASSESS",
    "PARALLEL",
    "BOOKKEEPER",
    "REFERENCE",
    "GRAMMAR",
    "CALCULUS",
]

_COLOURS = ["red", "blue", "green", "yellow", "white", "black"]


def _problem(skill, variant, question, text, programs, answer, params) -> Problem:
    return make_problem(SUBJECT, skill, variant, question, text, programs, answer, params)


# --------------------------------------------------------------------------- permutations


def permutations(rng: random.Random, variant: str) -> Problem:
    """Ordered arrangements: rows, podiums, codes, words with repeated letters, round tables."""
    check_variant(variant)
    name = rng.choice(NAMES)
    if variant == "base":
        form = rng.choice(["row", "podium", "code"])
        if form == "row":
            n = rng.randint(4, 8)
            things = rng.choice(
                [
                    f"{n} different books be arranged on a shelf",
                    f"{n} runners finish a race (no ties)",
                    f"{n} photos be hung in a line on a wall",
                    f"{name} order a playlist of {n} different songs",
                ]
            )
            question = f"In how many ways can {things}?"
            text = f"Every ordering of {n} distinct items counts: {n}! = {n} x {n - 1} x ... x 1."
            program = rng.choice(
                [
                    code("import math", f"print(math.factorial({n}))"),
                    code(
                        "import itertools",
                        f"print(sum(1 for _ in itertools.permutations(range({n}))))",
                    ),
                ]
            )
            return _problem(
                "permutations",
                "base",
                question,
                text,
                [program],
                str(math.factorial(n)),
                {"form": form, "n": n, "steps": 1},
            )
        if form == "podium":
            n, k = rng.randint(5, 12), rng.choice([2, 3])
            roles = (
                ["gold", "silver", "bronze"][:k]
                if rng.random() < 0.5
                else ["captain", "vice-captain", "kit manager"][:k]
            )
            question = rng.choice(
                [
                    f"{n} athletes compete. In how many ways can the {' and '.join(roles)} "
                    "positions be awarded?",
                    f"From a squad of {n}, how many ways are there to choose a "
                    f"{' and a '.join(roles)} (different people)?",
                    f"{name}'s club has {n} members; one is named {', another '.join(roles)}. How "
                    "many ways can the titles be handed out?",
                ]
            )
            third = f", then {n - 2}" if k == 3 else ""
            text = f"Order matters and no one holds two roles: {n} choices, then {n - 1}{third}."
            program = code("import math", f"print(math.perm({n}, {k}))")
            return _problem(
                "permutations",
                "base",
                question,
                text,
                [program],
                str(math.perm(n, k)),
                {"form": form, "n": n, "k": k, "steps": 2},
            )
        m, k = rng.randint(5, 10), rng.randint(3, 4)
        question = rng.choice(
            [
                f"A {k}-digit code uses the digits 0 to {m - 1}, with no digit repeated. How many "
                "codes are possible?",
                f"How many {k}-letter passwords can be made from {m} different letters if no "
                "letter is used twice?",
                f"A bike lock has {k} dials, and {name} wants a combination that uses {k} "
                f"different symbols out of {m} available. How many such combinations exist?",
            ]
        )
        text = f"Choose positions one by one without repetition: {m} x {m - 1} x ... ({k} factors)."
        program = code("import math", f"print(math.perm({m}, {k}))")
        return _problem(
            "permutations",
            "base",
            question,
            text,
            [program],
            str(math.perm(m, k)),
            {"form": "code", "n": m, "k": k, "steps": 2},
        )
    if variant == "hard":
        form = rng.choice(["word", "together", "apart", "round"])
        if form == "word":
            word = rng.choice(_WORDS)
            counts = Counter(word)
            answer = math.factorial(len(word))
            for c in counts.values():
                answer //= math.factorial(c)
            question = rng.choice(
                [
                    f"How many distinct arrangements are there of the letters of {word}?",
                    f"In how many different ways can the letters of the word {word} be ordered?",
                    f"{name} writes the letters of {word} on tiles and shuffles them into a row. "
                    "How many different strings can appear?",
                ]
            )
            repeated = ", ".join(f"{letter} x{c}" for letter, c in sorted(counts.items()) if c > 1)
            text = (
                f"{len(word)}! orderings, divided by the factorial of each repeated letter's "
                f"count ({repeated}) since swapping equal letters changes nothing."
            )
            program = code(
                "import math",
                "from collections import Counter",
                f'word = "{word}"',
                "count = math.factorial(len(word))",
                "for c in Counter(word).values():",
                "    count //= math.factorial(c)",
                "print(count)",
            )
            return _problem(
                "permutations",
                "hard",
                question,
                text,
                [program],
                str(answer),
                {"form": form, "word": word, "steps": 3},
            )
        n = rng.randint(5, 9)
        a, b = rng.sample(NAMES, 2)
        if form == "together":
            answer = 2 * math.factorial(n - 1)
            question = rng.choice(
                [
                    f"{n} people, including {a} and {b}, sit in a row. In how many arrangements "
                    f"do {a} and {b} sit next to each other?",
                    f"In how many ways can {n} friends line up for a photo if {a} and {b} insist "
                    "on standing side by side?",
                    f"A row of {n} theatre seats is filled by {n} guests. {a} must be seated "
                    f"directly beside {b}. Count the seatings.",
                ]
            )
            text = (
                f"Glue {a} and {b} into one block: ({n} - 1)! orders of the blocks, times 2 "
                "orders inside the block."
            )
            program = code("import math", f"print(2 * math.factorial({n} - 1))")
        elif form == "apart":
            answer = math.factorial(n) - 2 * math.factorial(n - 1)
            question = rng.choice(
                [
                    f"{n} people, including {a} and {b}, sit in a row. In how many arrangements "
                    f"are {a} and {b} NOT next to each other?",
                    f"How many ways can {n} students queue if {a} and {b} must not stand together?",
                    f"{a} and {b} have quarrelled, so at a dinner for {n} seated along one side "
                    "of a table they must not be neighbours. How many seatings work?",
                ]
            )
            text = (
                f"Complement: all {n}! orders minus those with {a} and {b} adjacent, 2 x ({n} "
                "- 1)!."
            )
            program = code(
                "import math", f"print(math.factorial({n}) - 2 * math.factorial({n} - 1))"
            )
        else:
            answer = math.factorial(n - 1)
            question = rng.choice(
                [
                    f"In how many ways can {n} people sit around a round table, if rotations of "
                    "the same seating count as one?",
                    f"{n} knights sit at a round table. How many distinct seatings are there, up "
                    "to rotation?",
                    f"{name} and {n - 1} friends sit in a circle round a campfire. Seatings that "
                    "differ only by a rotation are the same. How many seatings are there?",
                    f"How many different circular orders are there for {n} dancers holding hands "
                    "in a ring (rotations count as the same order)?",
                ]
            )
            text = (
                f"Fix one person's seat to remove rotations; arrange the other {n} - 1: ({n} - 1)!."
            )
            program = code("import math", f"print(math.factorial({n} - 1))")
        return _problem(
            "permutations",
            "hard",
            question,
            text,
            [program],
            str(answer),
            {"form": form, "n": n, "steps": 3},
        )
    n, k = rng.randint(100, 999), rng.randint(3, 5)
    roles = ["president", "vice-president", "secretary", "treasurer", "auditor"][:k]
    body = rng.choice(
        ["club", "company", "student union", "orchestra", "chess federation", "rowing association"]
    )
    question = rng.choice(
        [
            f"A {body} has {n} members. In how many ways can it elect a {', a '.join(roles)} (all "
            "different people)?",
            f"{n} entrants compete for {k} distinct ranked prizes. How many possible prize lists "
            "are there?",
            f"From {n} applicants, a {body} fills {k} different posts ({', '.join(roles)}), one "
            "person per post. Count the possible outcomes.",
            f"How many ordered shortlists of {k} distinct names can be drawn up from a pool of "
            f"{n}?",
        ]
    )
    text = (
        f"Ordered selection without repetition: {n} x {n - 1} x ... ({k} factors) = {n}! / "
        f"({n} - {k})!."
    )
    programs = [
        code(f"n, k = {n}, {k}", "count = 1", "for i in range(k):", "    count *= n - i"),
        code("print(count)"),
    ]
    return _problem(
        "permutations",
        "ood",
        question,
        text,
        programs,
        str(math.perm(n, k)),
        {"form": "big_roles", "n": n, "k": k, "steps": k + 1},
    )


# --------------------------------------------------------------------------- combinations


def combinations(rng: random.Random, variant: str) -> Problem:
    """Unordered selections: teams, toppings, handshakes, committees with conditions, grid paths."""
    check_variant(variant)
    name = rng.choice(NAMES)
    if variant == "base":
        form = rng.choice(["choose", "handshakes"])
        if form == "choose":
            n, k = rng.randint(5, 12), rng.randint(2, 5)
            question = rng.choice(
                [
                    f"A pizzeria offers {n} toppings. How many different pizzas with exactly {k} "
                    "different toppings can be made?",
                    f"In how many ways can a team of {k} be picked from {n} players?",
                    f"{name} may take {k} of {n} library books on holiday. How many different "
                    "selections are possible?",
                    f"How many {k}-element subsets does a set with {n} elements have?",
                    f"A florist picks {k} different flowers from {n} varieties for a bunch. How "
                    "many different bunches are there?",
                ]
            )
            text = f"Order does not matter: C({n}, {k}) = {n}! / ({k}! ({n} - {k})!)."
            program = rng.choice(
                [
                    code("import math", f"print(math.comb({n}, {k}))"),
                    code(
                        "import itertools",
                        f"print(len(list(itertools.combinations(range({n}), {k}))))",
                    ),
                ]
            )
            return _problem(
                "combinations",
                "base",
                question,
                text,
                [program],
                str(math.comb(n, k)),
                {"form": form, "n": n, "k": k, "steps": 2},
            )
        n = rng.randint(5, 30)
        question = rng.choice(
            [
                f"At a meeting each of the {n} guests shakes hands once with every other guest. "
                "How many handshakes are there?",
                f"In a round-robin tournament with {n} teams, every pair plays once. How many "
                "games are played?",
                f"{n} points lie on a circle. How many chords join two of them?",
                f"Every pair of {n} villages is to be linked by its own footpath. How many "
                "footpaths are needed?",
                f"{name} wants a photo of every possible pair from a group of {n} cousins. How "
                "many photos is that?",
            ]
        )
        text = f"One event per unordered pair: C({n}, 2) = {n} x {n - 1} / 2."
        program = code(f"print({n} * ({n} - 1) // 2)")
        return _problem(
            "combinations",
            "base",
            question,
            text,
            [program],
            str(math.comb(n, 2)),
            {"form": form, "n": n, "steps": 2},
        )
    if variant == "hard":
        form = rng.choice(["mixed", "at_least_one", "grid", "includes"])
        if form == "mixed":
            m1, m2 = rng.randint(4, 12), rng.randint(4, 12)
            a, b = rng.randint(1, min(4, m1)), rng.randint(1, min(4, m2))
            g1, g2 = rng.choice(
                [
                    ("women", "men"),
                    ("teachers", "parents"),
                    ("seniors", "juniors"),
                    ("chemists", "physicists"),
                ]
            )
            question = rng.choice(
                [
                    f"A committee of {a} {g1} and {b} {g2} is chosen from {m1} {g1} and {m2} "
                    f"{g2}. How many committees are possible?",
                    f"From {m1} {g1} and {m2} {g2}, how many ways are there to select exactly {a} "
                    f"{g1} and exactly {b} {g2}?",
                    f"{name} must choose {a} of {m1} {g1} and {b} of {m2} {g2} for a working "
                    "party. How many working parties are possible?",
                ]
            )
            text = f"Choose each group independently and multiply: C({m1}, {a}) x C({m2}, {b})."
            program = code("import math", f"print(math.comb({m1}, {a}) * math.comb({m2}, {b}))")
            answer = math.comb(m1, a) * math.comb(m2, b)
            return _problem(
                "combinations",
                "hard",
                question,
                text,
                [program],
                str(answer),
                {"form": form, "groups": [m1, m2], "picks": [a, b], "steps": 3},
            )
        if form == "at_least_one":
            m1, m2, k = rng.randint(3, 10), rng.randint(3, 10), rng.randint(3, 5)
            g1, g2 = rng.choice(
                [
                    ("girls", "boys"),
                    ("left-handers", "right-handers"),
                    ("vegetarians", "meat eaters"),
                ]
            )
            answer = math.comb(m1 + m2, k) - math.comb(m2, k)
            question = rng.choice(
                [
                    f"A group of {k} is chosen from {m1} {g1} and {m2} {g2}. How many groups "
                    f"include at least one of the {g1}?",
                    f"How many ways are there to choose {k} people from {m1} {g1} and {m2} {g2} "
                    f"so that not everyone chosen is one of the {g2}?",
                    f"A jury of {k} is drawn from a pool of {m1} {g1} and {m2} {g2}. In how many "
                    f"possible juries is there at least one of the {g1}?",
                ]
            )
            text = (
                f"Complement: all C({m1 + m2}, {k}) groups minus the C({m2}, {k}) groups with "
                f"no {g1}."
            )
            program = code(
                "import math", f"print(math.comb({m1} + {m2}, {k}) - math.comb({m2}, {k}))"
            )
            return _problem(
                "combinations",
                "hard",
                question,
                text,
                [program],
                str(answer),
                {"form": form, "groups": [m1, m2], "k": k, "steps": 3},
            )
        if form == "grid":
            r, c = rng.randint(2, 9), rng.randint(2, 9)
            question = rng.choice(
                [
                    f"On a grid, how many shortest paths go from (0, 0) to ({c}, {r}) moving only "
                    "right or up one unit at a time?",
                    "A walker in a city grid moves only east or north, one block at a time. How "
                    f"many shortest routes lead {c} blocks east and {r} blocks north?",
                    f"{name}'s robot on a chessboard-like grid steps right or up only. In how "
                    f"many ways can it travel from the bottom-left corner to the point {c} right "
                    f"and {r} up?",
                ]
            )
            text = (
                f"A route is {r + c} moves of which {r} are up: choose their positions, C({r + c}, "
                f"{r})."
            )
            program = code("import math", f"print(math.comb({r} + {c}, {r}))")
            return _problem(
                "combinations",
                "hard",
                question,
                text,
                [program],
                str(math.comb(r + c, r)),
                {"form": form, "size": [c, r], "steps": 3},
            )
        n, k = rng.randint(6, 15), rng.randint(3, 5)
        question = rng.choice(
            [
                f"How many {k}-person teams chosen from {n} players include {name}?",
                f"{name} is one of {n} candidates, and {k} are shortlisted. In how many "
                f"shortlists is {name} included?",
                f"A squad of {k} is picked from {n} climbers, and the expedition leader {name} "
                "must be in it. How many squads are possible?",
            ]
        )
        text = (
            f"{name} is fixed on the team; choose the other {k} - 1 from the remaining {n} - "
            f"1: C({n - 1}, {k - 1})."
        )
        program = code("import math", f"print(math.comb({n} - 1, {k} - 1))")
        return _problem(
            "combinations",
            "hard",
            question,
            text,
            [program],
            str(math.comb(n - 1, k - 1)),
            {"form": "includes", "n": n, "k": k, "steps": 2},
        )
    form = rng.choice(["lottery", "two_groups"])
    if form == "lottery":
        n, k = rng.randint(100, 999), rng.randint(3, 6)
        question = rng.choice(
            [
                f"A lottery draws {k} different numbers from 1 to {n}, order irrelevant. How many "
                "different draws are possible?",
                f"How many {k}-element subsets does a set of {n} elements have?",
                f"A tasting panel samples {k} of the {n} wines entered in a competition, in no "
                "particular order. How many samples are possible?",
            ]
        )
        text = f"C({n}, {k}) = {n} x ... x {n - k + 1} / {k}!."
        programs = [
            code(
                f"n, k = {n}, {k}",
                "count = 1",
                "for i in range(k):",
                "    count = count * (n - i) // (i + 1)",
            ),
            code("print(count)"),
        ]
        return _problem(
            "combinations",
            "ood",
            question,
            text,
            programs,
            str(math.comb(n, k)),
            {"form": form, "n": n, "k": k, "steps": k + 1},
        )
    m1, m2 = rng.randint(100, 400), rng.randint(100, 400)
    a, b = rng.randint(2, 4), rng.randint(2, 4)
    question = rng.choice(
        [
            f"A panel needs exactly {a} members from a union of {m1} nurses and {b} from a union "
            f"of {m2} doctors. How many panels are possible?",
            f"From {m1} volunteers in one town and {m2} in another, choose {a} from the first and "
            f"{b} from the second. How many ways?",
            f"A survey picks {a} of {m1} schools and {b} of {m2} hospitals for inspection. How "
            "many different selections could it make?",
        ]
    )
    text = f"C({m1}, {a}) x C({m2}, {b}): independent choices multiply."
    programs = [
        code("import math", f"first = math.comb({m1}, {a})", f"second = math.comb({m2}, {b})"),
        code("print(first * second)"),
    ]
    return _problem(
        "combinations",
        "ood",
        question,
        text,
        programs,
        str(math.comb(m1, a) * math.comb(m2, b)),
        {"form": form, "groups": [m1, m2], "picks": [a, b], "steps": a + b + 1},
    )


# --------------------------------------------------------------------------- probability


def probability(rng: random.Random, variant: str) -> Problem:
    """Exact probabilities: bags of balls, dice, coins, cards, samples from a batch."""
    check_variant(variant)
    name = rng.choice(NAMES)
    if variant == "base":
        form = rng.choice(["bag", "die", "coins"])
        if form == "bag":
            colours = rng.sample(_COLOURS, 3)
            counts = [rng.randint(1, 12) for _ in colours]
            target = rng.randrange(3)
            p = Fraction(counts[target], sum(counts))
            contents = ", ".join(f"{c} {col}" for c, col in zip(counts, colours, strict=False))
            container = rng.choice(["bag", "jar", "box", "hat"])
            question = rng.choice(
                [
                    f"A {container} holds {contents} marbles. One is drawn at random. What is the "
                    f"probability it is {colours[target]}?",
                    f"{name} picks one sweet at random from a {container} with {contents} sweets. "
                    f"Find the probability of a {colours[target]} one, as a fraction.",
                    f"What is the chance that a ticket drawn at random is {colours[target]}, if "
                    f"the {container} contains {contents} raffle tickets?",
                ]
            )
            text = (
                f"Favourable {colours[target]} items over all items: {counts[target]} / "
                f"({' + '.join(map(str, counts))}), reduced."
            )
            program = code(
                "from fractions import Fraction",
                f"print(Fraction({counts[target]}, {' + '.join(map(str, counts))}))",
            )
            return _problem(
                "probability",
                "base",
                question,
                text,
                [program],
                fmt_number(p),
                {"form": form, "counts": counts, "target": target, "steps": 2},
            )
        if form == "die":
            sides = rng.choice([6, 8, 10, 12, 20])
            k = rng.randint(2, sides - 1)
            kind = rng.choice(["at_least", "multiple"])
            if kind == "at_least":
                good, desc = sides - k + 1, f"at least {k}"
                cond = f"n >= {k}"
            else:
                good, desc = sides // k, f"a multiple of {k}"
                cond = f"n % {k} == 0"
            question = rng.choice(
                [
                    f"A fair {sides}-sided die numbered 1 to {sides} is rolled. What is the "
                    f"probability that the result is {desc}?",
                    f"{name} spins a fair spinner with {sides} equal sections labelled 1 to "
                    f"{sides}. What is the probability of landing on {desc}?",
                    f"One card is drawn from {sides} cards numbered 1 to {sides}. How likely is "
                    f"it that the number is {desc}? Give a fraction.",
                ]
            )
            text = f"Count outcomes 1..{sides} that are {desc}, and divide by {sides}."
            program = code(
                "from fractions import Fraction",
                f"good = sum(1 for n in range(1, {sides} + 1) if {cond})",
                f"print(Fraction(good, {sides}))",
            )
            return _problem(
                "probability",
                "base",
                question,
                text,
                [program],
                fmt_number(Fraction(good, sides)),
                {"form": form, "sides": sides, "k": k, "kind": kind, "steps": 2},
            )
        n = rng.randint(2, 4)
        k = rng.randint(0, n)
        p = Fraction(math.comb(n, k), 2**n)
        heads = {0: "no heads", 1: "exactly one head"}.get(k, f"exactly {k} heads")
        girls = {0: "none", 1: "exactly one"}.get(k, f"exactly {k}")
        question = rng.choice(
            [
                f"{n} fair coins are tossed. What is the probability of {heads}?",
                f"{name} flips a fair coin {n} times. Find the probability of getting {heads}.",
                f"A family has {n} children, each equally likely to be a boy or a girl, "
                f"independently. What is the probability that {girls} "
                f"{'is a girl' if k == 1 else 'are girls'}?",
            ]
        )
        text = f"2^{n} equally likely sequences; C({n}, {k}) of them have exactly {k} heads."
        program = code(
            "import math",
            "from fractions import Fraction",
            f"print(Fraction(math.comb({n}, {k}), 2 ** {n}))",
        )
        return _problem(
            "probability",
            "base",
            question,
            text,
            [program],
            fmt_number(p),
            {"form": "coins", "n": n, "k": k, "steps": 2},
        )
    if variant == "hard":
        form = rng.choice(["two_draws", "dice_sum", "at_least_one", "cards"])
        if form == "two_draws":
            colours = rng.sample(_COLOURS, 2)
            r, o = rng.randint(2, 15), rng.randint(2, 15)
            p = Fraction(r, r + o) * Fraction(r - 1, r + o - 1)
            question = rng.choice(
                [
                    f"A box has {r} {colours[0]} and {o} {colours[1]} counters. Two are drawn "
                    f"without replacement. What is the probability both are {colours[0]}?",
                    f"{name} takes two socks at random, one after the other, from a drawer with "
                    f"{r} {colours[0]} and {o} {colours[1]} socks. Find the probability that both "
                    f"are {colours[0]}.",
                    f"Two raffle tickets are pulled from a drum with {r} {colours[0]} tickets and "
                    f"{o} {colours[1]} tickets, without putting the first back. How likely is it "
                    f"that both are {colours[0]}?",
                ]
            )
            text = (
                "Without replacement the second draw depends on the first: "
                f"{r}/{r + o} x {r - 1}/{r + o - 1}."
            )
            program = code(
                "from fractions import Fraction",
                f"print(Fraction({r}, {r + o}) * Fraction({r - 1}, {r + o - 1}))",
            )
            return _problem(
                "probability",
                "hard",
                question,
                text,
                [program],
                fmt_number(p),
                {"form": form, "counts": [r, o], "steps": 3},
            )
        if form == "dice_sum":
            s = rng.randint(3, 11)
            kind = rng.choice(["equal", "at_least"])
            good = sum(
                1
                for a in range(1, 7)
                for b in range(1, 7)
                if (a + b == s if kind == "equal" else a + b >= s)
            )
            desc = f"exactly {s}" if kind == "equal" else f"at least {s}"
            question = rng.choice(
                [
                    "Two fair six-sided dice are rolled. What is the probability that their sum "
                    f"is {desc}?",
                    f"{name} rolls a pair of fair dice. Find the probability that the total is "
                    f"{desc}.",
                    "In a board game you move the total of two fair dice. What is the "
                    f"probability of moving {desc.replace('exactly ', '')} "
                    f"squares{' or more' if kind == 'at_least' else ''}?",
                ]
            )
            text = f"36 equally likely ordered pairs; count those with sum {desc}."
            cond = f"a + b == {s}" if kind == "equal" else f"a + b >= {s}"
            program = code(
                "import itertools",
                "from fractions import Fraction",
                "rolls = list(itertools.product(range(1, 7), repeat=2))",
                f"good = sum(1 for a, b in rolls if {cond})",
                "print(Fraction(good, len(rolls)))",
            )
            return _problem(
                "probability",
                "hard",
                question,
                text,
                [program],
                fmt_number(Fraction(good, 36)),
                {"form": form, "sum": s, "kind": kind, "steps": 3},
            )
        if form == "at_least_one":
            n, face = rng.randint(2, 6), rng.randint(1, 6)
            p = 1 - Fraction(5, 6) ** n
            question = rng.choice(
                [
                    f"A fair die is rolled {n} times. What is the probability of getting at least "
                    f"one {face}?",
                    f"{name} rolls a fair six-sided die {n} times. Find the exact probability "
                    f"that a {face} appears at least once.",
                    f"What is the probability that {n} throws of a fair die include one or more "
                    f"{face}s?",
                ]
            )
            text = (
                f"Complement: no {face} in any of {n} rolls has probability (5/6)^{n}; "
                "subtract from 1."
            )
            program = code("from fractions import Fraction", f"print(1 - Fraction(5, 6) ** {n})")
            return _problem(
                "probability",
                "hard",
                question,
                text,
                [program],
                fmt_number(p),
                {"form": form, "rolls": n, "face": face, "steps": 3},
            )
        kind = rng.choice(["two_aces", "two_hearts", "king_then_queen"])
        p = {
            "two_aces": Fraction(4, 52) * Fraction(3, 51),
            "two_hearts": Fraction(13, 52) * Fraction(12, 51),
            "king_then_queen": Fraction(4, 52) * Fraction(4, 51),
        }[kind]
        desc = {
            "two_aces": "both are aces",
            "two_hearts": "both are hearts",
            "king_then_queen": "the first is a king and the second a queen",
        }[kind]
        question = rng.choice(
            [
                "Two cards are drawn without replacement from a standard 52-card deck. What is "
                f"the probability that {desc}?",
                f"{name} deals two cards, one after the other, from a shuffled 52-card deck. Find "
                f"the probability that {desc}.",
                "From a well-shuffled standard deck (52 cards), the top two cards are turned "
                f"over. What is the probability that {desc}?",
            ]
        )
        first, second = {"two_aces": (4, 3), "two_hearts": (13, 12), "king_then_queen": (4, 4)}[
            kind
        ]
        text = (
            f"Multiply the chance of the first card ({first}/52) by the chance of the second "
            f"given the first ({second}/51)."
        )
        program = code(
            "from fractions import Fraction",
            f"print(Fraction({first}, 52) * Fraction({second}, 51))",
        )
        return _problem(
            "probability",
            "hard",
            question,
            text,
            [program],
            fmt_number(p),
            {"form": "cards", "kind": kind, "steps": 3},
        )
    form = rng.choice(["batch", "big_bag"])
    if form == "batch":
        n, bad, k = rng.randint(500, 5000), rng.randint(10, 200), rng.randint(3, 6)
        exactly = rng.choice([0, 1])
        p = Fraction(math.comb(bad, exactly) * math.comb(n - bad, k - exactly), math.comb(n, k))
        desc = "none of them is defective" if exactly == 0 else "exactly one of them is defective"
        items = rng.choice(
            ["light bulbs", "phone chargers", "eggs", "circuit boards", "bottles", "bolts"]
        )
        question = rng.choice(
            [
                f"A batch of {n} {items} contains {bad} defective ones. An inspector picks {k} at "
                f"random without replacement. What is the exact probability that {desc}?",
                f"Of {n} {items}, {bad} are faulty. {k} are sampled at random (no replacement). "
                f"Give the probability, as a reduced fraction, that {desc}.",
                f"{name} audits a delivery of {n} {items} by testing {k} chosen at random, "
                f"without replacement. If {bad} of the delivery are faulty, what is the "
                f"probability that {desc}?",
            ]
        )
        text = (
            f"Hypergeometric: C({bad}, {exactly}) x C({n - bad}, {k - exactly}) favourable "
            f"samples over C({n}, {k}) samples."
        )
        programs = [
            code(
                "import math",
                "from fractions import Fraction",
                f"n, bad, k, exactly = {n}, {bad}, {k}, {exactly}",
            ),
            code(
                "favourable = math.comb(bad, exactly) * math.comb(n - bad, k - exactly)",
                "print(Fraction(favourable, math.comb(n, k)))",
            ),
        ]
        return _problem(
            "probability",
            "ood",
            question,
            text,
            programs,
            fmt_number(p),
            {"form": form, "n": n, "bad": bad, "k": k, "exactly": exactly, "steps": k + 2},
        )
    colours = rng.sample(_COLOURS, 3)
    counts = [rng.randint(100, 999) for _ in colours]
    target = rng.randrange(3)
    draws = rng.randint(3, 4)
    total, good = sum(counts), counts[target]
    p = Fraction(1)
    for i in range(draws):
        p *= Fraction(good - i, total - i)
    contents = ", ".join(f"{c} {col}" for c, col in zip(counts, colours, strict=False))
    question = rng.choice(
        [
            f"A vat holds {contents} balls. {draws} balls are drawn without replacement. What is "
            f"the probability that all are {colours[target]}?",
            f"From a container of {contents} tokens, {name} draws {draws} at random without "
            f"replacement. Find the exact probability they are all {colours[target]}.",
            f"A seed merchant's sack has {contents} seeds (by colour). {draws} seeds are taken "
            "out at random, one at a time without replacement. What is the probability every one "
            f"is {colours[target]}?",
        ]
    )
    text = (
        f"Multiply the conditional chances: {good}/{total}, then {good - 1}/{total - 1}, ... "
        f"for {draws} draws."
    )
    programs = [
        code("from fractions import Fraction", f"good, total = {good}, {total}", "p = Fraction(1)"),
        code(f"for i in range({draws}):", "    p *= Fraction(good - i, total - i)", "print(p)"),
    ]
    return _problem(
        "probability",
        "ood",
        question,
        text,
        programs,
        fmt_number(p),
        {"form": form, "counts": counts, "target": target, "draws": draws, "steps": draws + 2},
    )


SKILLS = {"permutations": permutations, "combinations": combinations, "probability": probability}
