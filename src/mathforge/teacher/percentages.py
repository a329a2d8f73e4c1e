"""Percentages and proportion: percent of, percent change, successive changes, ratios.

Steps: base 1–3, hard 2–4, ood 5 or more (chains of 4–6 changes, 4–5 part
ratios), which is what tells ood apart by construction; ood amounts are also
larger (5–7 digits).
Rounded answers always state the rounding ("to the nearest cent", "to two
decimal places") and are computed exactly, then rounded half up.
"""

from __future__ import annotations

import random
from fractions import Fraction

from mathforge.teacher.answers import fmt_number, fmt_rounded
from mathforge.teacher.base import Problem, check_variant, code, make_problem
from mathforge.teacher.vocab import NAMES, decimal_literal, join_and, money_cents, two_names

SUBJECT = "percentages"

DECIMAL_IMPORT = "from decimal import Decimal, ROUND_HALF_UP"

# (group, part) for "p% of a group" problems
_GROUPS = [
    ("students in a school", "walk to school"),
    ("members of a choir", "sing tenor"),
    ("trees in an orchard", "are apple trees"),
    ("emails in an inbox", "are spam"),
    ("seats in a theatre", "are in the balcony"),
    ("runners in a marathon", "finish under four hours"),
    ("books in a library", "are novels"),
    ("employees at a firm", "work remotely"),
    ("cars in a car park", "are electric"),
    ("visitors to a museum", "buy a guidebook"),
]

# things whose price or count changes over time
_CHANGING = [
    ("the price of a bicycle", "$"),
    ("a town's population", ""),
    ("monthly rent", "$"),
    ("the number of subscribers", ""),
    ("the price of a laptop", "$"),
    ("a farm's harvest in kg", ""),
    ("the cost of a train pass", "$"),
    ("a website's daily visitors", ""),
]

_GOODS = [
    "a sofa",
    "a winter coat",
    "a television",
    "a pair of boots",
    "an espresso machine",
    "a guitar",
    "a tent",
    "a desk chair",
    "a camera",
    "a washing machine",
]


def _problem(skill, variant, question, text, programs, answer, params) -> Problem:
    return make_problem(SUBJECT, skill, variant, question, text, programs, answer, params)


# --------------------------------------------------------------------------- percent of


def percent_of(rng: random.Random, variant: str) -> Problem:
    """p% of an amount, what percent one amount is of another, chains of percentages."""
    check_variant(variant)
    name = rng.choice(NAMES)
    group, part = rng.choice(_GROUPS)
    if variant == "base":
        form = rng.choice(["of", "of", "rest", "what_percent"])
        p = rng.choice([5, 10, 12, 15, 20, 25, 30, 35, 40, 45, 60, 75, 80])
        whole = rng.randint(2, 40) * (100 // _gcd(p, 100))
        count = whole * p // 100
        if form == "of":
            question = rng.choice(
                [
                    f"What is {p}% of {whole}?",
                    f"There are {whole} {group}, and {p}% of them {part}. How many is that?",
                    f"{name} reads that {p} percent of the {whole} {group} {part}. How many "
                    f"{group.split(' ')[0]} is that?",
                ]
            )
            text = f"{p}% means {p}/100, so multiply {whole} by {p} and divide by 100."
            program = code(f"print({whole} * {p} // 100)")
            return _problem(
                "percent_of",
                "base",
                question,
                text,
                [program],
                str(count),
                {"form": form, "percent": p, "whole": whole, "steps": 1},
            )
        if form == "rest":
            question = rng.choice(
                [
                    f"Of the {whole} {group}, {p}% {part}. How many do not?",
                    f"{p}% of {whole} {group} {part}. How many of them are in the other "
                    f"{100 - p}%?",
                ]
            )
            text = (
                f"Find {p}% of {whole}, then subtract it from {whole} (or take {100 - p}% "
                "directly)."
            )
            program = code(f"part = {whole} * {p} // 100", f"print({whole} - part)")
            return _problem(
                "percent_of",
                "base",
                question,
                text,
                [program],
                str(whole - count),
                {"form": form, "percent": p, "whole": whole, "steps": 2},
            )
        question = rng.choice(
            [
                f"{count} of the {whole} {group} {part}. What percent is that?",
                f"What percentage of {whole} is {count}?",
            ]
        )
        text = f"Percent = part / whole x 100 = {count} / {whole} x 100."
        program = code(f"print({count} * 100 // {whole})")
        return _problem(
            "percent_of",
            "base",
            question,
            text,
            [program],
            str(p),
            {"form": form, "part": count, "whole": whole, "steps": 2},
        )

    if variant == "hard":
        form = rng.choice(["chain", "what_percent_rounded", "of_money"])
        if form == "chain":
            p1, p2 = rng.randint(11, 89), rng.randint(11, 89)
            whole = rng.randint(120, 2500)
            value = Fraction(whole * p1 * p2, 10000)
            question = rng.choice(
                [
                    f"Of the {whole} {group}, {p1}% {part}, and {p2}% of those also joined a club. "
                    f"How many is that, as an exact number (a fraction if necessary)?",
                    f"What is {p2}% of {p1}% of {whole}? Give the exact value.",
                ]
            )
            text = (
                f"Apply the percentages one after the other: {whole} x {p1}/100 x {p2}/100, "
                "kept exact."
            )
            program = code(
                "from fractions import Fraction",
                f"print({whole} * Fraction({p1}, 100) * Fraction({p2}, 100))",
            )
            params = {"form": form, "percents": [p1, p2], "whole": whole, "steps": 2}
            return _problem(
                "percent_of", "hard", question, text, [program], fmt_number(value), params
            )
        if form == "what_percent_rounded":
            whole = rng.randint(30, 2000)
            count = rng.randint(1, whole - 1)
            value = Fraction(100 * count, whole)
            question = rng.choice(
                [
                    f"{count} of the {whole} {group} {part}. What percent is that, rounded to two "
                    "decimal places?",
                    f"Express {count} out of {whole} as a percentage to 2 decimal places.",
                ]
            )
            text = f"{count} / {whole} x 100, computed exactly and rounded half up to two decimals."
            program = code(
                DECIMAL_IMPORT,
                f"percent = Decimal({count}) * 100 / {whole}",
                'print(percent.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))',
            )
            params = {"form": form, "part": count, "whole": whole, "steps": 2}
            return _problem(
                "percent_of", "hard", question, text, [program], fmt_rounded(value, 2), params
            )
        price, p = rng.randint(1000, 9999), rng.choice([7, 8, 12, 13, 15, 17, 18, 22])
        value = Fraction(price * p, 10000)
        thing = rng.choice(["tip", "deposit", "commission", "service charge", "booking fee"])
        question = rng.choice(
            [
                f"A {thing} of {p}% is charged on a bill of {money_cents(price)}. How much is the "
                f"{thing}, rounded to the nearest cent?",
                f"{name} owes a {p}% {thing} on {money_cents(price)}. What is it in dollars, to "
                "the nearest cent?",
            ]
        )
        text = (
            f"{p}% of {money_cents(price)} = {money_cents(price)} x {p} / 100; round half up "
            "to the cent."
        )
        program = code(
            DECIMAL_IMPORT,
            f"amount = {decimal_literal(price)} * {p} / 100",
            'print(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))',
        )
        params = {"form": form, "price_cents": price, "percent": p, "steps": 2}
        return _problem(
            "percent_of", "hard", question, text, [program], fmt_rounded(value, 2), params
        )

    # ood: a 4-6 level funnel on a 5-6 digit population
    n = rng.randint(4, 6)
    whole = rng.randint(10000, 999999)
    percents = [rng.randint(11, 95) for _ in range(n)]
    stages = [
        "visit the website",
        "create an account",
        "add an item to the cart",
        "start checkout",
        "enter payment details",
        "complete the order",
    ][:n]
    value = Fraction(whole)
    for p in percents:
        value = value * Fraction(p, 100)
    funnel = join_and(
        [
            f"{p}% of those {s}" if i else f"{p}% {s}"
            for i, (p, s) in enumerate(zip(percents, stages, strict=False))
        ]
    )
    question = rng.choice(
        [
            f"Of {whole} people who see an advert, {funnel}. How many people {stages[-1]}, "
            "rounded to the nearest whole number?",
            f"An advert reaches {whole} people: {funnel}. To the nearest whole person, how many "
            f"{stages[-1]}?",
        ]
    )
    text = (
        f"Multiply {whole} by each of the {n} percentages in turn (exactly), then round half "
        "up to a whole number."
    )
    programs = [
        code(
            "from fractions import Fraction",
            f"people = Fraction({whole})",
            f"for p in {percents}:",
            "    people = people * Fraction(p, 100)",
        ),
        code(
            "from decimal import Decimal, ROUND_HALF_UP",
            "exact = Decimal(people.numerator) / Decimal(people.denominator)",
            'print(exact.quantize(Decimal("1"), rounding=ROUND_HALF_UP))',
        ),
    ]
    params = {"form": "funnel", "whole": whole, "percents": percents, "steps": n + 1}
    return _problem("percent_of", "ood", question, text, programs, fmt_rounded(value, 0), params)


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


# --------------------------------------------------------------------------- percent change


def percent_change(rng: random.Random, variant: str) -> Problem:
    """Percent increase/decrease, reversing a percentage change, compound change."""
    check_variant(variant)
    thing, unit = rng.choice(_CHANGING)
    name = rng.choice(NAMES)
    if variant == "base":
        p = rng.choice([5, 10, 15, 20, 25, 30, 40, 50, 60, 75])
        old = rng.randint(2, 30) * (100 // _gcd(p, 100))
        up = rng.random() < 0.5
        new = old + old * p // 100 if up else old - old * p // 100
        form = rng.choice(["find_percent", "find_new"])
        word = "increase" if up else "decrease"
        if form == "find_percent":
            question = rng.choice(
                [
                    f"{thing.capitalize()} went from {unit}{old} to {unit}{new}. What was the "
                    f"percent {word}?",
                    f"By what percentage did {thing} {'rise' if up else 'fall'} if it changed "
                    f"from {unit}{old} to {unit}{new}?",
                ]
            )
            text = f"Percent change = change / original x 100 = |{new} - {old}| / {old} x 100."
            program = code(f"change = abs({new} - {old})", f"print(change * 100 // {old})")
            return _problem(
                "percent_change",
                "base",
                question,
                text,
                [program],
                str(p),
                {"form": form, "old": old, "new": new, "steps": 2},
            )
        question = rng.choice(
            [
                f"{thing.capitalize()} was {unit}{old} and then {'rose' if up else 'fell'} by "
                f"{p}%. What is it now?",
                f"After a {p}% {word}, what does {unit}{old} become?",
            ]
        )
        text = f"Multiply {old} by {'1 + ' if up else '1 - '}{p}/100."
        program = code(f"print({old} * (100 {'+' if up else '-'} {p}) // 100)")
        return _problem(
            "percent_change",
            "base",
            question,
            text,
            [program],
            str(new),
            {"form": form, "old": old, "percent": p, "up": int(up), "steps": 2},
        )

    if variant == "hard":
        form = rng.choice(["rounded", "reverse", "up_down"])
        if form == "rounded":
            old = rng.randint(100, 9000)
            new = old + rng.randint(-old // 2, old // 2)
            if new == old:
                new += 7
            value = Fraction(100 * (new - old), old)
            question = rng.choice(
                [
                    f"{thing.capitalize()} changed from {unit}{old} to {unit}{new}. What is the "
                    "percent change, rounded to two decimal places (negative for a decrease)?",
                    f"Give the percentage change from {old} to {new} to 2 decimal places, with a "
                    "minus sign if it fell.",
                ]
            )
            text = (
                f"({new} - {old}) / {old} x 100, exact, then round half up (away from zero) "
                "to two decimals."
            )
            program = code(
                DECIMAL_IMPORT,
                f"change = Decimal({new} - {old}) * 100 / {old}",
                'print(change.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))',
            )
            return _problem(
                "percent_change",
                "hard",
                question,
                text,
                [program],
                fmt_rounded(value, 2),
                {"form": form, "old": old, "new": new, "steps": 3},
            )
        if form == "reverse":
            p = rng.choice([8, 12, 15, 18, 20, 25, 30, 35])
            up = rng.random() < 0.5
            new = rng.randint(1000, 9999)
            original = Fraction(new, 100) / Fraction(100 + p if up else 100 - p, 100)
            good = rng.choice(_GOODS)
            question = rng.choice(
                [
                    f"After a {p}% {'price rise' if up else 'discount'}, {good} costs "
                    f"{money_cents(new)}. What was the price before, to the nearest cent?",
                    f"{name} paid {money_cents(new)} for {good} {'including' if up else 'after'} "
                    f"a {p}% {'markup' if up else 'reduction'}. What was the original price? "
                    "Round to the nearest cent.",
                ]
            )
            text = (
                f"The new price is the original times {'1 + ' if up else '1 - '}{p}/100, so divide "
                f"{money_cents(new)} by that factor (not {'subtract' if up else 'add'} {p}% of "
                "the new price)."
            )
            program = code(
                DECIMAL_IMPORT,
                f"original = {decimal_literal(new)} / (Decimal(100 {'+' if up else '-'} {p}) / "
                "100)",
                'print(original.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))',
            )
            params = {"form": form, "new_cents": new, "percent": p, "up": int(up), "steps": 3}
            return _problem(
                "percent_change",
                "hard",
                question,
                text,
                [program],
                fmt_rounded(original, 2),
                params,
            )
        p1, p2 = rng.randint(5, 60), rng.randint(5, 60)
        factor = Fraction(100 + p1, 100) * Fraction(100 - p2, 100)
        net = (factor - 1) * 100
        question = rng.choice(
            [
                f"{thing.capitalize()} rises by {p1}% and then falls by {p2}%. What is the overall "
                f"percent change? Give an exact value (negative for a net decrease).",
                f"A {p1}% increase is followed by a {p2}% decrease. What single percentage change "
                "is equivalent? Answer exactly, negative if it is a decrease.",
            ]
        )
        text = (
            f"Multiply the factors (1 + {p1}/100)(1 - {p2}/100); the net change is (product - "
            "1) x 100. The percents do not simply add."
        )
        program = code(
            "from fractions import Fraction",
            f"factor = Fraction(100 + {p1}, 100) * Fraction(100 - {p2}, 100)",
            "print((factor - 1) * 100)",
        )
        return _problem(
            "percent_change",
            "hard",
            question,
            text,
            [program],
            fmt_number(net),
            {"form": "up_down", "percents": [p1, p2], "steps": 4},
        )

    n = rng.randint(4, 6)
    start = rng.randint(10000, 999999)
    changes = [rng.choice([1, -1]) * rng.randint(1, 25) for _ in range(n)]
    value = Fraction(start)
    for c in changes:
        value = value * Fraction(100 + c, 100)
    described = join_and(
        [f"{'up' if c > 0 else 'down'} {abs(c)}% in year {i + 1}" for i, c in enumerate(changes)]
    )
    form = rng.choice(["final", "overall"])
    if form == "final":
        question = rng.choice(
            [
                f"{thing.capitalize()} starts at {unit}{start} and changes {described}. What is "
                f"it after year {n}, rounded to two decimal places?",
                f"Starting from {start}, a quantity goes {described}. Find the final value to 2 "
                "decimal places.",
            ]
        )
        answer = fmt_rounded(value, 2)
        last = code(
            DECIMAL_IMPORT,
            "exact = Decimal(value.numerator) / Decimal(value.denominator)",
            'print(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))',
        )
    else:
        question = rng.choice(
            [
                f"{thing.capitalize()} starts at {unit}{start} and changes {described}. What is "
                f"the overall percent change over the {n} years, rounded to two decimal places?",
                f"A value of {start} goes {described}. Overall, by what percent has it changed (2 "
                "decimal places, negative if down)?",
            ]
        )
        answer = fmt_rounded((value / start - 1) * 100, 2)
        last = code(
            DECIMAL_IMPORT,
            f"overall = (value / {start} - 1) * 100",
            "exact = Decimal(overall.numerator) / Decimal(overall.denominator)",
            'print(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))',
        )
    text = (
        f"Compound the {n} yearly factors (1 + change/100) exactly with fractions, then round "
        "half up only at the end."
    )
    programs = [
        code(
            "from fractions import Fraction",
            f"value = Fraction({start})",
            f"for change in {changes}:",
            "    value = value * Fraction(100 + change, 100)",
        ),
        last,
    ]
    params = {"form": form, "start": start, "changes": changes, "steps": n + 2}
    return _problem("percent_change", "ood", question, text, programs, answer, params)


# --------------------------------------------------------------------------- successive changes


def successive_discounts(rng: random.Random, variant: str) -> Problem:
    """A price through several discounts (and tax): final price, or the equivalent single "
    "discount."""
    check_variant(variant)
    good = rng.choice(_GOODS)
    name = rng.choice(NAMES)
    store = rng.choice(
        ["a department store", "an outlet", "a furniture shop", "an online store", "a music shop"]
    )
    if variant == "base":
        # multiples of 10 (and 25 with prices in hundreds of dollars) keep every step whole
        form = rng.choice(["final", "equivalent"])
        d1 = rng.choice([10, 20, 25, 30, 40, 50] if form == "final" else [10, 20, 30, 40, 50])
        d2 = rng.choice([10, 20, 30, 50])
        price = rng.randint(1, 12) * 400
        final = price * (100 - d1) * (100 - d2) // 10000
        if form == "final":
            question = rng.choice(
                [
                    f"{good.capitalize()} priced at ${price} is reduced by {d1}%, and then the "
                    f"sale price is cut by a further {d2}%. What is the final price?",
                    f"At {store}, {name} uses a {d2}% coupon on {good} that was already {d1}% off "
                    f"its ${price} tag. What does {name} pay?",
                ]
            )
            text = (
                f"Apply the discounts one after another: {price} x (1 - {d1}/100) x (1 - {d2}/100)."
            )
            program = code(
                f"after_first = {price} * (100 - {d1}) // 100",
                f"print(after_first * (100 - {d2}) // 100)",
            )
            return _problem(
                "successive_discounts",
                "base",
                question,
                text,
                [program],
                str(final),
                {"form": form, "price": price, "discounts": [d1, d2], "steps": 2},
            )
        single = 100 - (100 - d1) * (100 - d2) // 100
        question = rng.choice(
            [
                f"A {d1}% discount followed by a {d2}% discount is the same as what single "
                "percentage discount?",
                f"{store.capitalize()} takes {d1}% off and then another {d2}% off the reduced "
                "price. What single discount, in percent, has the same effect?",
            ]
        )
        text = (
            f"What remains is (1 - {d1}/100)(1 - {d2}/100) of the price; the single discount "
            "is 100% minus that."
        )
        program = code(f"remaining = (100 - {d1}) * (100 - {d2}) // 100", "print(100 - remaining)")
        return _problem(
            "successive_discounts",
            "base",
            question,
            text,
            [program],
            str(single),
            {"form": form, "discounts": [d1, d2], "steps": 3},
        )

    if variant == "hard":
        form = rng.choice(["with_tax", "equivalent_exact", "coupon_then_percent"])
        price = rng.randint(1500, 9999)
        if form == "with_tax":
            d1, d2, tax = rng.randint(5, 40), rng.randint(5, 30), rng.choice([5, 6, 7, 8, 9, 10])
            value = (
                Fraction(price, 100)
                * Fraction(100 - d1, 100)
                * Fraction(100 - d2, 100)
                * Fraction(100 + tax, 100)
            )
            question = rng.choice(
                [
                    f"{good.capitalize()} lists at {money_cents(price)}. It is marked down {d1}%, "
                    f"then a further {d2}% at the checkout, and {tax}% sales tax is added to the "
                    "result. What is the final price, rounded to the nearest cent?",
                    f"{name} buys {good} at {store}: list price {money_cents(price)}, {d1}% off, "
                    f"then {d2}% off the sale price, plus {tax}% tax. How much is paid, to the "
                    "nearest cent?",
                ]
            )
            text = (
                f"Chain the factors on {money_cents(price)}: x (1 - {d1}/100) x (1 - "
                f"{d2}/100) x (1 + {tax}/100); round half up once, at the end."
            )
            program = code(
                DECIMAL_IMPORT,
                f"price = {decimal_literal(price)}",
                f"price = price * (100 - {d1}) / 100",
                f"price = price * (100 - {d2}) / 100",
                f"price = price * (100 + {tax}) / 100",
                'print(price.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))',
            )
            params = {
                "form": form,
                "price_cents": price,
                "discounts": [d1, d2],
                "tax": tax,
                "steps": 4,
            }
            return _problem(
                "successive_discounts",
                "hard",
                question,
                text,
                [program],
                fmt_rounded(value, 2),
                params,
            )
        if form == "equivalent_exact":
            d1, d2, d3 = rng.randint(5, 45), rng.randint(5, 45), rng.randint(5, 45)
            single = 100 - Fraction((100 - d1) * (100 - d2) * (100 - d3), 10000)
            question = rng.choice(
                [
                    f"Three successive discounts of {d1}%, {d2}% and {d3}% equal one single "
                    "discount of what percent? Give the exact value.",
                    f"{store.capitalize()} stacks discounts of {d1}%, then {d2}%, then {d3}%. "
                    "What exact single percentage discount is equivalent?",
                ]
            )
            text = (
                f"The kept fraction is (100 - {d1})(100 - {d2})(100 - {d3}) / 100^3; the "
                "single discount is 100 minus that as a percent. Discounts do not add."
            )
            program = code(
                "from fractions import Fraction",
                f"kept = Fraction((100 - {d1}) * (100 - {d2}) * (100 - {d3}), 100 ** 3)",
                "print(100 - kept * 100)",
            )
            return _problem(
                "successive_discounts",
                "hard",
                question,
                text,
                [program],
                fmt_number(single),
                {"form": form, "discounts": [d1, d2, d3], "steps": 4},
            )
        coupon, d = rng.randint(5, 25), rng.randint(10, 40)
        value = (Fraction(price, 100) - coupon) * Fraction(100 - d, 100)
        question = rng.choice(
            [
                f"{name} has a ${coupon} voucher for {good} priced at {money_cents(price)}. The "
                f"voucher is applied first and then a {d}% discount. What is the final price to "
                "the nearest cent?",
                f"First ${coupon} comes off the {money_cents(price)} price of {good}, then {d}% "
                "off what remains. How much is left to pay, to the nearest cent?",
            ]
        )
        text = f"Order matters: subtract the ${coupon} first, then take {d}% off the remainder."
        program = code(
            DECIMAL_IMPORT,
            f"after_voucher = {decimal_literal(price)} - {coupon}",
            f"final = after_voucher * (100 - {d}) / 100",
            'print(final.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))',
        )
        params = {"form": form, "price_cents": price, "coupon": coupon, "discount": d, "steps": 3}
        return _problem(
            "successive_discounts", "hard", question, text, [program], fmt_rounded(value, 2), params
        )

    n = rng.randint(4, 6)
    price = rng.randint(1000000, 9999999)  # cents: $10000.00 to $99999.99
    asset = rng.choice(["a car", "a boat", "a printing press", "a tractor", "a kitchen refit"])
    cuts = [rng.randint(3, 30) for _ in range(n)]
    tax = rng.choice([5, 8, 10, 20])
    value = Fraction(price, 100)
    for c in cuts:
        value = value * Fraction(100 - c, 100)
    value = value * Fraction(100 + tax, 100)
    listed = join_and([f"{c}%" for c in cuts])
    question = rng.choice(
        [
            f"{asset.capitalize()} costs {money_cents(price)} before {n} successive discounts of "
            f"{listed}; {tax}% tax is added after all discounts. What is the final price, rounded "
            "to the nearest cent?",
            f"A dealer takes {listed} off, one after another, from the {money_cents(price)} price "
            f"of {asset}, then charges {tax}% tax. To the nearest cent, what does the buyer pay?",
        ]
    )
    text = (
        f"Multiply {money_cents(price)} by (1 - c/100) for each of the {n} cuts, then by (1 + "
        f"{tax}/100); round half up at the end."
    )
    programs = [
        code(
            DECIMAL_IMPORT,
            f"price = {decimal_literal(price)}",
            f"for cut in {cuts}:",
            "    price = price * (100 - cut) / 100",
        ),
        code(
            f"price = price * (100 + {tax}) / 100",
            'print(price.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))',
        ),
    ]
    params = {"form": "chain", "price_cents": price, "discounts": cuts, "tax": tax, "steps": n + 2}
    return _problem(
        "successive_discounts", "ood", question, text, programs, fmt_rounded(value, 2), params
    )


# --------------------------------------------------------------------------- ratios and proportion


def ratio_proportion(rng: random.Random, variant: str) -> Problem:
    """Sharing in a ratio, direct and inverse proportion, combining ratios."""
    check_variant(variant)
    first, second = two_names(rng)
    if variant == "base":
        form = rng.choice(["split", "direct", "recipe"])
        if form == "split":
            a, b = rng.sample(range(1, 10), 2)
            total = (a + b) * rng.randint(2, 20)
            question = rng.choice(
                [
                    f"{first} and {second} share ${total} in the ratio {a}:{b}. How much does "
                    f"{first} get?",
                    f"${total} is divided between {first} and {second} so that their shares are "
                    f"in the ratio {a} to {b}. What is {first}'s share?",
                ]
            )
            text = (
                f"There are {a} + {b} equal parts; {first} gets {a} of them: {total} / ({a} + "
                f"{b}) x {a}."
            )
            program = code(f"part = {total} // ({a} + {b})", f"print(part * {a})")
            return _problem(
                "ratio_proportion",
                "base",
                question,
                text,
                [program],
                str(total // (a + b) * a),
                {"form": form, "ratio": [a, b], "total": total, "steps": 2},
            )
        if form == "direct":
            unit, q1, q2 = rng.randint(2, 15), rng.randint(2, 9), rng.randint(2, 20)
            item = rng.choice(
                [
                    "kg of apples",
                    "metres of rope",
                    "litres of paint",
                    "bags of rice",
                    "rolls of tape",
                ]
            )
            question = rng.choice(
                [
                    f"{q1} {item} cost ${unit * q1}. At the same rate, what do {q2} {item} cost?",
                    f"If ${unit * q1} buys {q1} {item}, how many dollars do {q2} {item} cost?",
                ]
            )
            text = f"Unit price = {unit * q1} / {q1}; multiply by {q2}."
            program = code(f"unit_price = {unit * q1} // {q1}", f"print(unit_price * {q2})")
            return _problem(
                "ratio_proportion",
                "base",
                question,
                text,
                [program],
                str(unit * q2),
                {"form": form, "quantities": [q1, q2], "cost": unit * q1, "steps": 2},
            )
        serves, per, want = rng.randint(2, 6), rng.randint(1, 9), rng.randint(2, 5)
        ingredient = rng.choice(["eggs", "cups of flour", "spoons of sugar", "carrots", "onions"])
        people = serves * want
        question = rng.choice(
            [
                f"A recipe for {serves} people needs {per * serves} {ingredient}. How many "
                f"{ingredient} are needed for {people} people?",
                f"{first} scales a {serves}-serving recipe that uses {per * serves} {ingredient} "
                f"up to {people} servings. How many {ingredient} now?",
            ]
        )
        text = f"Scale by {people} / {serves}: {per * serves} x {people} / {serves}."
        program = code(f"print({per * serves} * {people} // {serves})")
        return _problem(
            "ratio_proportion",
            "base",
            question,
            text,
            [program],
            str(per * people),
            {
                "form": "recipe",
                "serves": serves,
                "amount": per * serves,
                "people": people,
                "steps": 2,
            },
        )

    if variant == "hard":
        form = rng.choice(["three_way", "inverse", "combine"])
        if form == "three_way":
            a, b, c = rng.randint(1, 9), rng.randint(1, 9), rng.randint(1, 9)
            total = rng.randint(100, 5000)
            share = Fraction(total * b, a + b + c)
            third = rng.choice([n for n in NAMES if n not in (first, second)])
            question = rng.choice(
                [
                    f"{first}, {second} and {third} split ${total} in the ratio {a}:{b}:{c}. What "
                    f"exact amount does {second} receive?",
                    f"An inheritance of ${total} is shared {a}:{b}:{c} among {first}, {second} "
                    f"and {third}. Give {second}'s share exactly (a fraction if needed).",
                ]
            )
            text = (
                f"{second} gets {b} of the {a} + {b} + {c} parts: {total} x {b} / ({a} + {b} "
                f"+ {c}), exact."
            )
            program = code(
                "from fractions import Fraction", f"print(Fraction({total} * {b}, {a} + {b} + {c}))"
            )
            return _problem(
                "ratio_proportion",
                "hard",
                question,
                text,
                [program],
                fmt_number(share),
                {"form": form, "ratio": [a, b, c], "total": total, "steps": 3},
            )
        if form == "inverse":
            w1, d1 = rng.randint(3, 20), rng.randint(4, 30)
            w2 = rng.randint(2, 25)
            if w2 == w1:
                w2 += 1
            days = Fraction(w1 * d1, w2)
            job = rng.choice(
                ["build a wall", "paint a school", "harvest the grapes", "lay a pipeline"]
            )
            question = rng.choice(
                [
                    f"{w1} workers can {job} in {d1} days. Working at the same rate, how many "
                    f"days would {w2} workers need? Give an exact fraction if needed.",
                    f"It takes {w1} people {d1} days to {job}. Exactly how long would it take "
                    f"{w2} people?",
                ]
            )
            text = (
                f"Inverse proportion: the work is {w1} x {d1} worker-days; divide by {w2} workers."
            )
            program = code("from fractions import Fraction", f"print(Fraction({w1} * {d1}, {w2}))")
            return _problem(
                "ratio_proportion",
                "hard",
                question,
                text,
                [program],
                fmt_number(days),
                {"form": form, "workers": [w1, w2], "days": d1, "steps": 2},
            )
        a, b, c, d = rng.randint(1, 9), rng.randint(1, 9), rng.randint(1, 9), rng.randint(1, 9)
        ratio = Fraction(a * c, b * d)
        x, y, z = rng.choice(
            [
                ("cats", "dogs", "rabbits"),
                ("red beads", "blue beads", "green beads"),
                ("boys", "girls", "teachers"),
            ]
        )
        question = rng.choice(
            [
                f"The ratio of {x} to {y} is {a}:{b}, and the ratio of {y} to {z} is {c}:{d}. "
                f"What is the ratio of {x} to {z}, as a single fraction in lowest terms?",
                f"{x.capitalize()} : {y} = {a} : {b} and {y} : {z} = {c} : {d}. Express {x} / {z} "
                "as an exact fraction.",
            ]
        )
        text = f"{x}/{z} = ({x}/{y}) x ({y}/{z}) = {a}/{b} x {c}/{d}."
        program = code(
            "from fractions import Fraction", f"print(Fraction({a}, {b}) * Fraction({c}, {d}))"
        )
        return _problem(
            "ratio_proportion",
            "hard",
            question,
            text,
            [program],
            fmt_number(ratio),
            {"form": "combine", "ratios": [a, b, c, d], "steps": 3},
        )

    n = rng.randint(4, 5)
    parts = [rng.randint(1, 12) for _ in range(n)]
    total = rng.randint(100000, 9999999)
    who = rng.sample(NAMES, n)
    k = rng.randrange(n)
    share = Fraction(total * parts[k], sum(parts))
    ratio_text = ":".join(map(str, parts))
    question = rng.choice(
        [
            f"A lottery syndicate of {n} — {join_and(who)} — shares a ${total} prize in the ratio "
            f"{ratio_text}. How much does {who[k]} get, rounded to the nearest cent?",
            f"${total} is split among {join_and(who)} in proportion {ratio_text} (in that order). "
            f"To the nearest cent, what is {who[k]}'s share?",
        ]
    )
    text = (
        f"Add the {n} ratio parts; {who[k]} gets {parts[k]} of them: {total} x {parts[k]} / "
        "sum; round half up to the cent."
    )
    programs = [
        code(f"parts = {parts}", "total_parts = sum(parts)"),
        code(
            DECIMAL_IMPORT,
            f"share = Decimal({total}) * {parts[k]} / total_parts",
            'print(share.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))',
        ),
    ]
    params = {"form": "syndicate", "parts": parts, "total": total, "index": k, "steps": n + 2}
    return _problem(
        "ratio_proportion", "ood", question, text, programs, fmt_rounded(share, 2), params
    )


SKILLS = {
    "percent_of": percent_of,
    "percent_change": percent_change,
    "successive_discounts": successive_discounts,
    "ratio_proportion": ratio_proportion,
}
