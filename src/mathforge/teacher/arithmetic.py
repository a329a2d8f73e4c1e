"""Multi-step arithmetic word problems: shopping, travel, sharing, rates.

Steps (``params["steps"]``): base 1–3, hard 3–5, ood 6 or more — ood is told
apart by construction by its step count (and its numbers are larger too).
Money with cents is computed with ``decimal.Decimal`` and rounded half up to
the cent; quotients that are not whole stay exact fractions.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

from mathforge.teacher.answers import fmt_number, fmt_rounded
from mathforge.teacher.base import Problem, check_variant, code, make_problem
from mathforge.teacher.vocab import (
    NAMES,
    decimal_literal,
    join_and,
    money,
    money_cents,
    two_names,
)

SUBJECT = "arithmetic"

DECIMAL_IMPORT = "from decimal import Decimal, ROUND_HALF_UP"
CENT = 'Decimal("0.01")'

# shop -> items: (singular, plural, cheapest, dearest) in whole dollars
_SHOPS = [
    (
        "a bakery",
        [
            ("muffin", "muffins", 2, 5),
            ("loaf of rye bread", "loaves of rye bread", 3, 7),
            ("fruit tart", "fruit tarts", 4, 9),
            ("bag of bagels", "bags of bagels", 5, 8),
            ("cinnamon roll", "cinnamon rolls", 2, 4),
            ("birthday cake", "birthday cakes", 15, 30),
        ],
    ),
    (
        "a stationery shop",
        [
            ("notebook", "notebooks", 2, 6),
            ("pack of pens", "packs of pens", 3, 8),
            ("ring binder", "ring binders", 4, 9),
            ("box of crayons", "boxes of crayons", 2, 7),
            ("desk lamp", "desk lamps", 12, 25),
            ("ream of paper", "reams of paper", 5, 9),
        ],
    ),
    (
        "the hardware store",
        [
            ("box of screws", "boxes of screws", 3, 9),
            ("paintbrush", "paintbrushes", 2, 8),
            ("tape measure", "tape measures", 6, 15),
            ("can of varnish", "cans of varnish", 9, 20),
            ("pair of work gloves", "pairs of work gloves", 4, 12),
            ("extension cord", "extension cords", 8, 18),
        ],
    ),
    (
        "a garden centre",
        [
            ("bag of compost", "bags of compost", 5, 12),
            ("tomato plant", "tomato plants", 2, 6),
            ("watering can", "watering cans", 7, 15),
            ("packet of seeds", "packets of seeds", 1, 4),
            ("clay pot", "clay pots", 3, 9),
            ("rose bush", "rose bushes", 10, 22),
        ],
    ),
    (
        "a sports shop",
        [
            ("can of tennis balls", "cans of tennis balls", 4, 9),
            ("pair of socks", "pairs of socks", 3, 8),
            ("water bottle", "water bottles", 6, 14),
            ("skipping rope", "skipping ropes", 5, 11),
            ("swimming cap", "swimming caps", 4, 10),
            ("football", "footballs", 12, 28),
        ],
    ),
    (
        "the farmers' market",
        [
            ("jar of honey", "jars of honey", 5, 11),
            ("basket of plums", "baskets of plums", 3, 7),
            ("wedge of cheese", "wedges of cheese", 4, 10),
            ("bunch of flowers", "bunches of flowers", 6, 14),
            ("dozen eggs", "dozens of eggs", 3, 6),
            ("bottle of cider", "bottles of cider", 4, 9),
        ],
    ),
    (
        "a pet shop",
        [
            ("bag of dog food", "bags of dog food", 12, 30),
            ("cat toy", "cat toys", 2, 6),
            ("bird feeder", "bird feeders", 8, 16),
            ("fish tank filter", "fish tank filters", 10, 24),
            ("chew stick", "chew sticks", 1, 3),
            ("hamster wheel", "hamster wheels", 7, 14),
        ],
    ),
    (
        "an online bookshop",
        [
            ("paperback", "paperbacks", 6, 12),
            ("hardcover atlas", "hardcover atlases", 20, 35),
            ("comic book", "comic books", 3, 8),
            ("cookbook", "cookbooks", 12, 25),
            ("puzzle book", "puzzle books", 4, 9),
            ("bookmark", "bookmarks", 1, 3),
        ],
    ),
]

_DISHES = [
    ("pasta", 1100, 1900),
    ("curry", 1200, 2100),
    ("salad", 700, 1400),
    ("burger", 900, 1700),
    ("soup", 500, 1100),
    ("pizza", 1000, 2200),
    ("risotto", 1300, 2300),
    ("fish tacos", 900, 1600),
    ("dessert platter", 800, 1500),
    ("steak", 2000, 3400),
]

# vehicle, slowest, fastest (in km/h or mph)
_VEHICLES = [
    ("a freight train", 40, 90),
    ("a cyclist", 12, 25),
    ("a coach", 50, 80),
    ("a ferry", 20, 35),
    ("a delivery van", 40, 70),
    ("a hiker", 3, 6),
    ("a cargo ship", 15, 30),
    ("a motorbike courier", 30, 60),
    ("a tractor", 10, 25),
    ("a rowing team", 6, 12),
]

_UNITS = [("km", "km/h", "kilometres"), ("miles", "mph", "miles")]

# things to share, who receives them
_SHARE_ITEMS = [
    "marbles",
    "stickers",
    "trading cards",
    "pencils",
    "oranges",
    "seashells",
    "coins",
    "beads",
    "chocolates",
    "postcards",
    "seed packets",
    "raffle tickets",
]
_RECIPIENTS = [
    "friends",
    "cousins",
    "classmates",
    "neighbours",
    "team mates",
    "grandchildren",
    "scouts",
    "volunteers",
]

# goods packed by the crate, with a crate size range
_GOODS = [
    ("bottles of water", 12, 24),
    ("jars of jam", 12, 30),
    ("cans of paint", 4, 16),
    ("light bulbs", 20, 60),
    ("paperback books", 20, 40),
    ("melons", 6, 15),
    ("bricks", 40, 90),
]

# products made by a machine / a worker
_PRODUCTS = [
    ("bottle caps", "a capping machine"),
    ("bolts", "a lathe"),
    ("leaflets", "a press"),
    ("cupcakes", "an oven line"),
    ("T-shirts", "a printing machine"),
    ("bricks", "a kiln"),
    ("labels", "a label printer"),
    ("toy cars", "an assembly robot"),
]


def _problem(skill, variant, question, text, programs, answer, params) -> Problem:
    return make_problem(SUBJECT, skill, variant, question, text, programs, answer, params)


def _price(rng: random.Random, lo: int, hi: int, with_cents: bool) -> int:
    """A price in cents between `lo` and `hi` dollars; never a whole dollar if `with_cents`."""
    if not with_cents:
        return 100 * rng.randint(lo, hi)
    return 100 * rng.randint(lo, hi - 1) + rng.randint(1, 99)


# --------------------------------------------------------------------------- shopping


def shopping(rng: random.Random, variant: str) -> Problem:
    """Buying things: totals, change, budgets, discounts, taxes and deals."""
    check_variant(variant)
    shop, items = rng.choice(_SHOPS)
    if variant == "base":
        return _shopping_base(rng, shop, items)
    if variant == "hard":
        return _shopping_hard(rng, shop, items)
    return _shopping_ood(rng, shop, items)


def _shopping_base(rng: random.Random, shop: str, items: list) -> Problem:
    (s1, pl1, lo1, hi1), (s2, pl2, lo2, hi2) = rng.sample(items, 2)
    name, other = two_names(rng)
    p1, p2 = rng.randint(lo1, hi1), rng.randint(lo2, hi2)
    q1, q2 = rng.randint(2, 9), rng.randint(2, 9)
    cost = q1 * p1 + q2 * p2
    form = rng.choice(["change", "total", "afford", "reverse", "compare"])
    params = {
        "form": form,
        "shop": shop,
        "items": [s1, s2],
        "prices": [p1, p2],
        "quantities": [q1, q2],
    }
    if form == "change":
        bill = next(b for b in (20, 50, 100, 200, 500) if b > cost)
        question = rng.choice(
            [
                f"{name} buys {q1} {pl1} at ${p1} each and {q2} {pl2} at ${p2} each from {shop}, "
                f"paying with a ${bill} bill. How much change, in dollars, should {name} get back?",
                f"At {shop}, {pl1} sell for ${p1} apiece and {pl2} for ${p2} apiece. {name} picks "
                f"up {q1} {pl1} and {q2} {pl2} and hands over ${bill}. How many dollars come back "
                "as change?",
                f"With a ${bill} note, {name} pays for {q1} {pl1} (${p1} each) and {q2} {pl2} "
                f"(${p2} each). What change is due?",
            ]
        )
        text = (
            f"The bill is {q1} x ${p1} for the {pl1} plus {q2} x ${p2} for the {pl2}; "
            f"the change is ${bill} minus that bill."
        )
        program = code(
            f"cost = {q1} * {p1} + {q2} * {p2}", f"change = {bill} - cost", "print(change)"
        )
        params["bill"] = bill
        return _problem(
            "shopping", "base", question, text, [program], str(bill - cost), {**params, "steps": 3}
        )
    if form == "total":
        question = rng.choice(
            [
                f"What do {q1} {pl1} and {q2} {pl2} cost altogether at {shop}, where one {s1} is "
                f"${p1} and one {s2} is ${p2}?",
                f"{name} is stocking up at {shop}: {q1} {pl1} priced at ${p1} each and {q2} {pl2} "
                f"priced at ${p2} each. Find the total bill in dollars.",
                f"A {s1} costs ${p1} and a {s2} costs ${p2}. {name} orders {q1} of the first and "
                f"{q2} of the second from {shop}. How much is that in total?",
            ]
        )
        text = (
            f"Multiply each price by its quantity ({q1} x ${p1} and {q2} x ${p2}) and add the "
            "two amounts."
        )
        program = code(f"first = {q1} * {p1}", f"second = {q2} * {p2}", "print(first + second)")
        return _problem(
            "shopping", "base", question, text, [program], str(cost), {**params, "steps": 3}
        )
    if form == "afford":
        budget = q1 * p1 + rng.randint(max(p2, 5), 12 * p2)
        budget = math.ceil(budget / 5) * 5
        answer = (budget - q1 * p1) // p2
        question = rng.choice(
            [
                f"{name} has ${budget} to spend at {shop}. After buying {q1} {pl1} at ${p1} each, "
                f"{name} spends as much of the rest as possible on {pl2} at ${p2} each. "
                f"How many {pl2} can {name} buy?",
                f"A budget of ${budget} has to cover {q1} {pl1} costing ${p1} apiece; whatever is "
                f"left goes on {pl2}, which are ${p2} each at {shop}. What is the largest number "
                f"of {pl2} that fits in the budget?",
            ]
        )
        text = (
            f"Subtract the {q1} {pl1} (${p1} each) from the ${budget} budget, then see how many "
            f"whole {pl2} at ${p2} fit into what remains: floor division."
        )
        program = code(f"left = {budget} - {q1} * {p1}", f"print(left // {p2})")
        params["budget"] = budget
        return _problem(
            "shopping", "base", question, text, [program], str(answer), {**params, "steps": 3}
        )
    if form == "reverse":
        question = rng.choice(
            [
                f"{name} paid ${cost} at {shop} for {q1} {pl1} and some {pl2}. Each {s1} cost "
                f"${p1} and each {s2} cost ${p2}. How many {pl2} did {name} buy?",
                f"The receipt from {shop} shows ${cost} for {q1} {pl1} at ${p1} each plus a number "
                f"of {pl2} at ${p2} each. How many {pl2} are on the receipt?",
            ]
        )
        text = (
            f"Take the cost of the {q1} {pl1} (${p1} each) away from the ${cost} total; "
            f"what is left was spent on {pl2} at ${p2} each, so divide."
        )
        program = code(f"rest = {cost} - {q1} * {p1}", f"print(rest // {p2})")
        params["total"] = cost
        return _problem(
            "shopping", "base", question, text, [program], str(q2), {**params, "steps": 3}
        )
    # compare
    if q1 * p1 == q2 * p2:
        q1 += 1
        params["quantities"] = [q1, q2]
    (na, qa, pla, pa), (nb, qb, plb, pb) = (name, q1, pl1, p1), (other, q2, pl2, p2)
    if qa * pa < qb * pb:
        (na, qa, pla, pa), (nb, qb, plb, pb) = (nb, qb, plb, pb), (na, qa, pla, pa)
    question = rng.choice(
        [
            f"{na} buys {qa} {pla} at ${pa} each, while {nb} buys {qb} {plb} at ${pb} each, both "
            f"at {shop}. How much more does {na} spend than {nb}?",
            f"At {shop}, {nb} spends money on {qb} {plb} (${pb} each) and {na} on {qa} {pla} "
            f"(${pa} each). By how many dollars does {na}'s spending exceed {nb}'s?",
        ]
    )
    text = f"Work out each person's spending ({qa} x ${pa} and {qb} x ${pb}) and subtract."
    program = code(f"spend_a = {qa} * {pa}", f"spend_b = {qb} * {pb}", "print(spend_a - spend_b)")
    answer = str(qa * pa - qb * pb)
    return _problem("shopping", "base", question, text, [program], answer, {**params, "steps": 3})


def _shopping_hard(rng: random.Random, shop: str, items: list) -> Problem:
    (s1, pl1, lo1, hi1), (s2, pl2, lo2, hi2) = rng.sample(items, 2)
    name = rng.choice(NAMES)
    p1, p2 = _price(rng, lo1, hi1 + 1, True), _price(rng, lo2, hi2 + 1, True)
    form = rng.choice(["discount_tax", "deal", "packs", "split"])
    params = {"form": form, "shop": shop, "items": [s1, s2], "prices_cents": [p1, p2]}
    if form == "discount_tax":
        q1, q2 = rng.randint(2, 9), rng.randint(2, 9)
        d, t = rng.choice([10, 15, 20, 25, 30, 35, 40]), rng.choice([5, 6, 7, 8, 9, 10])
        value = Fraction(q1 * p1 + q2 * p2, 100) * Fraction(100 - d, 100) * Fraction(100 + t, 100)
        question = rng.choice(
            [
                f"{name} buys {q1} {pl1} at {money_cents(p1)} each and {q2} {pl2} at "
                f"{money_cents(p2)} each from {shop}. A {d}% discount comes off the whole order, "
                f"and then {t}% sales tax is added to the discounted amount. How much does {name} "
                "pay, in dollars, rounded to the nearest cent?",
                f"At {shop} one {s1} costs {money_cents(p1)} and one {s2} costs "
                f"{money_cents(p2)}. Everything is {d}% off today, and a {t}% tax is charged on "
                f"the sale price. What is the final cost of {q1} {pl1} and {q2} {pl2}? Round to "
                "the nearest cent.",
                f"Sales tax is {t}% and it is applied after a {d}% store-wide discount. Rounded "
                f"to the nearest cent, what does a basket of {q2} {pl2} ({money_cents(p2)} each) "
                f"and {q1} {pl1} ({money_cents(p1)} each) come to at {shop}?",
            ]
        )
        text = (
            f"Add up the basket ({q1} x {money_cents(p1)} + {q2} x {money_cents(p2)}), take off "
            f"{d}%, then add {t}% tax on the reduced amount. Decimal arithmetic keeps the cents "
            f"exact; round half up to the cent only at the end."
        )
        program = code(
            DECIMAL_IMPORT,
            f"subtotal = {q1} * {decimal_literal(p1)} + {q2} * {decimal_literal(p2)}",
            f"discounted = subtotal * (100 - {d}) / 100",
            f"total = discounted * (100 + {t}) / 100",
            f"print(total.quantize({CENT}, rounding=ROUND_HALF_UP))",
        )
        params.update(quantities=[q1, q2], discount=d, tax=t)
        return _problem(
            "shopping",
            "hard",
            question,
            text,
            [program],
            fmt_rounded(value, 2),
            {**params, "steps": 5},
        )
    if form == "deal":
        k = rng.randint(2, 4)
        q1, q2 = rng.randint(10, 40), rng.randint(2, 9)
        paid_units = q1 - q1 // (k + 1)
        value = Fraction(paid_units * p1 + q2 * p2, 100)
        question = rng.choice(
            [
                f"{shop.capitalize()} has a 'buy {k}, get 1 free' offer on {pl1}: in every group "
                f"of {k + 1} {pl1}, one is free. {name} takes {q1} {pl1} at {money_cents(p1)} "
                f"each and {q2} {pl2} at {money_cents(p2)} each (no offer on those). What is the "
                "bill in dollars, to the nearest cent?",
                f"{name} leaves {shop} with {q2} {pl2} ({money_cents(p2)} each) and {q1} {pl1} "
                f"({money_cents(p1)} each). The {pl1} were on a deal where every {k + 1}th one is "
                f"free. How much did {name} pay? Give dollars and cents.",
            ]
        )
        text = (
            f"Only complete groups of {k + 1} {pl1} earn a free one, so the free count is "
            f"{q1} // {k + 1}; pay for the rest at {money_cents(p1)}, then add {q2} x "
            f"{money_cents(p2)} for the {pl2}."
        )
        program = code(
            DECIMAL_IMPORT,
            f"free = {q1} // ({k} + 1)",
            f"paid = {q1} - free",
            f"total = paid * {decimal_literal(p1)} + {q2} * {decimal_literal(p2)}",
            f"print(total.quantize({CENT}, rounding=ROUND_HALF_UP))",
        )
        params.update(quantities=[q1, q2], group=k)
        return _problem(
            "shopping",
            "hard",
            question,
            text,
            [program],
            fmt_rounded(value, 2),
            {**params, "steps": 4},
        )
    if form == "packs":
        n = rng.randint(4, 12)
        pack = n * p1 - rng.randint(n * p1 // 10, n * p1 // 4)
        need = rng.randint(20, 99)
        if need % n == 0:
            need += rng.randint(1, n - 1)
        value = Fraction((need // n) * pack + (need % n) * p1, 100)
        question = rng.choice(
            [
                f"At {shop}, {pl1} cost {money_cents(p1)} each or {money_cents(pack)} for a pack "
                f"of {n}. {name} needs exactly {need} {pl1} and buys as many packs as possible, "
                f"then single {pl1} for the rest. How much does {name} spend, in dollars to the "
                "cent?",
                f"{name} must buy {need} {pl1}. Singles are {money_cents(p1)}; a pack of {n} is "
                f"{money_cents(pack)}. Using the largest possible number of packs and no extra "
                f"{pl1}, what is the cost? Answer to the nearest cent.",
            ]
        )
        text = (
            f"{need} // {n} full packs at {money_cents(pack)}, and the remainder {need} % {n} "
            f"bought singly at {money_cents(p1)}."
        )
        program = code(
            DECIMAL_IMPORT,
            f"packs, singles = divmod({need}, {n})",
            f"total = packs * {decimal_literal(pack)} + singles * {decimal_literal(p1)}",
            f"print(total.quantize({CENT}, rounding=ROUND_HALF_UP))",
        )
        params.update(pack_size=n, pack_cents=pack, need=need)
        return _problem(
            "shopping",
            "hard",
            question,
            text,
            [program],
            fmt_rounded(value, 2),
            {**params, "steps": 4},
        )
    # split: a restaurant bill plus tip, shared equally
    dishes = rng.sample(_DISHES, 3)
    prices = [_price(rng, lo // 100, hi // 100, True) for _, lo, hi in dishes]
    tip, people = rng.choice([12, 15, 18, 20, 22]), rng.randint(3, 7)
    value = Fraction(sum(prices), 100) * Fraction(100 + tip, 100) / people
    order = join_and(
        [f"a {d} for {money_cents(p)}" for (d, _, _), p in zip(dishes, prices, strict=False)]
    )
    friends = rng.sample(NAMES, 2)
    question = rng.choice(
        [
            f"{friends[0]} and {people - 1} friends order {order}. They add a {tip}% tip on the "
            f"total and split the bill equally among the {people} of them. How much does each "
            "person pay, rounded to the nearest cent?",
            f"A table of {people} shares {order}, leaves a {tip}% tip, and divides everything "
            "evenly. What is one person's share in dollars, to the nearest cent?",
        ]
    )
    text = (
        f"Sum the three dishes, multiply by 1 + {tip}/100 for the tip, and divide by {people}; "
        f"keep it exact and round half up to the cent at the end."
    )
    program = code(
        DECIMAL_IMPORT,
        "subtotal = " + " + ".join(decimal_literal(p) for p in prices),
        f"with_tip = subtotal * (100 + {tip}) / 100",
        f"share = with_tip / {people}",
        f"print(share.quantize({CENT}, rounding=ROUND_HALF_UP))",
    )
    params = {
        "form": form,
        "dishes": [d for d, _, _ in dishes],
        "prices_cents": prices,
        "tip": tip,
        "people": people,
    }
    return _problem(
        "shopping", "hard", question, text, [program], fmt_rounded(value, 2), {**params, "steps": 5}
    )


def _shopping_ood(rng: random.Random, shop: str, items: list) -> Problem:
    n = rng.randint(4, 6)
    chosen = rng.sample(items, n)
    prices = [_price(rng, lo, hi + 1, True) for _, _, lo, hi in chosen]
    quantities = [rng.randint(1000, 9999) for _ in chosen]
    subtotal = Fraction(sum(q * p for q, p in zip(quantities, prices, strict=False)), 100)
    lines = [
        f"{q} {pl} at {money_cents(p)} each"
        for (_, pl, _, _), q, p in zip(chosen, quantities, prices, strict=False)
    ]
    buyer = rng.choice(
        ["A school district", "A hotel chain", "A charity", "A distributor", "A city council"]
    )
    form = rng.choice(["discount", "budget"])
    params = {
        "form": form,
        "shop": shop,
        "items": [c[0] for c in chosen],
        "prices_cents": prices,
        "quantities": quantities,
    }
    subtotal_line = "subtotal = " + " + ".join(
        f"{q} * {decimal_literal(p)}" for q, p in zip(quantities, prices, strict=False)
    )
    if form == "discount":
        d, t = rng.choice([4, 6, 8, 12, 15]), rng.choice([5, 7, 9])
        value = subtotal * Fraction(100 - d, 100) * Fraction(100 + t, 100)
        question = rng.choice(
            [
                f"{buyer} places a bulk order with {shop}: {join_and(lines)}. The order gets a "
                f"{d}% volume discount, and {t}% tax is then charged on the discounted amount. "
                "What is the final invoice in dollars, rounded to the nearest cent?",
                f"Rounded to the nearest cent, how much does {buyer.lower()} pay for "
                f"{join_and(lines)} if {shop} gives {d}% off the order and {t}% tax is added "
                "after the discount?",
            ]
        )
        text = (
            f"There are {n} order lines: multiply each quantity by its unit price and add them. "
            f"Then apply the {d}% discount and the {t}% tax, in that order, with exact decimals, "
            f"and round half up to the cent."
        )
        programs = [
            code(DECIMAL_IMPORT, subtotal_line),
            code(
                f"total = subtotal * (100 - {d}) / 100 * (100 + {t}) / 100",
                f"print(total.quantize({CENT}, rounding=ROUND_HALF_UP))",
            ),
        ]
        params.update(discount=d, tax=t)
        return _problem(
            "shopping",
            "ood",
            question,
            text,
            programs,
            fmt_rounded(value, 2),
            {**params, "steps": 2 * n + 2},
        )
    budget = 100 * (math.ceil(subtotal * Fraction(11, 10) / 1000) * 1000)  # cents
    value = Fraction(budget, 100) - subtotal
    question = rng.choice(
        [
            f"{buyer} has a budget of {money(budget)}. From {shop} it buys {join_and(lines)}. How "
            f"much of the budget is left, in dollars to the nearest cent?",
            f"After ordering {join_and(lines)} from {shop}, how many dollars remain of "
            f"{buyer.lower()}'s {money(budget)} budget? Give the answer to the nearest cent.",
        ]
    )
    text = (
        f"Price each of the {n} order lines (quantity x unit price), add them, and subtract the "
        f"total from the {money(budget)} budget; Decimal keeps every cent exact."
    )
    programs = [
        code(DECIMAL_IMPORT, subtotal_line),
        code(
            f"left = {budget // 100} - subtotal",
            f"print(left.quantize({CENT}, rounding=ROUND_HALF_UP))",
        ),
    ]
    params.update(budget_cents=budget)
    return _problem(
        "shopping",
        "ood",
        question,
        text,
        programs,
        fmt_rounded(value, 2),
        {**params, "steps": 2 * n + 1},
    )


# --------------------------------------------------------------------------- travel


def travel(rng: random.Random, variant: str) -> Problem:
    """Distance, speed and time across legs; fuel; meeting and average speeds."""
    check_variant(variant)
    vehicle, lo, hi = rng.choice(_VEHICLES)
    unit, speed_unit, unit_word = rng.choice(_UNITS)
    name = rng.choice(NAMES)
    if variant == "base":
        form = rng.choice(["two_legs", "duration", "gap", "fuel"])
        if form == "two_legs":
            v1, v2 = rng.randint(lo, hi), rng.randint(lo, hi)
            t1, t2 = rng.randint(2, 5), rng.randint(2, 5)
            question = rng.choice(
                [
                    f"{vehicle.capitalize()} travels at {v1} {speed_unit} for {t1} hours and then "
                    f"at {v2} {speed_unit} for {t2} hours. How many {unit_word} does it cover in "
                    "total?",
                    f"For the first {t1} hours of a journey {vehicle} keeps a steady {v1} "
                    f"{speed_unit}; for the next {t2} hours it manages {v2} {speed_unit}. What is "
                    f"the total distance in {unit}?",
                    f"How far does {vehicle} get if it spends {t1} h at {v1} {speed_unit} "
                    f"followed by {t2} h at {v2} {speed_unit}? Answer in {unit}.",
                ]
            )
            text = f"Distance is speed times time for each leg: {v1} x {t1} plus {v2} x {t2}."
            program = code(f"leg1 = {v1} * {t1}", f"leg2 = {v2} * {t2}", "print(leg1 + leg2)")
            params = {"form": form, "speeds": [v1, v2], "hours": [t1, t2], "steps": 3}
            return _problem(
                "travel", "base", question, text, [program], str(v1 * t1 + v2 * t2), params
            )
        if form == "duration":
            v, t, stop = rng.randint(lo, hi), rng.randint(2, 8), rng.randint(1, 3)
            d = v * t
            question = rng.choice(
                [
                    f"{name} drives a route of {d} {unit} at a constant {v} {speed_unit} and "
                    f"takes one break of {stop} hours. How many hours does the whole trip last?",
                    f"{vehicle.capitalize()} must cover {d} {unit_word}. Moving at {v} "
                    f"{speed_unit} and stopping for {stop} hours on the way, how long is the trip "
                    "in hours?",
                ]
            )
            text = f"Moving time is {d} / {v} hours; add the {stop}-hour stop."
            program = code(f"moving = {d} // {v}", f"print(moving + {stop})")
            params = {"form": form, "distance": d, "speed": v, "stop": stop, "steps": 2}
            return _problem("travel", "base", question, text, [program], str(t + stop), params)
        if form == "gap":
            v2 = rng.randint(lo, hi - 2)
            v1, t = rng.randint(v2 + 1, hi), rng.randint(2, 6)
            other = rng.choice([n for n in NAMES if n != name])
            question = rng.choice(
                [
                    f"{name} and {other} leave the same town at the same time along the same "
                    f"road. {name} goes at {v1} {speed_unit}, {other} at {v2} {speed_unit}. How "
                    f"many {unit} apart are they after {t} hours?",
                    f"Two friends set off together in the same direction, one at {v1} "
                    f"{speed_unit} and the other at {v2} {speed_unit}. After {t} hours, what is "
                    f"the distance between them in {unit_word}?",
                ]
            )
            text = (
                f"Each hour the faster one gains {v1} - {v2}; over {t} hours the gap is that "
                f"times {t}."
            )
            program = code(f"gain_per_hour = {v1} - {v2}", f"print(gain_per_hour * {t})")
            params = {"form": form, "speeds": [v1, v2], "hours": t, "steps": 2}
            return _problem("travel", "base", question, text, [program], str((v1 - v2) * t), params)
        # fuel, in litres per 100 km and whole-dollar prices
        per100, hundreds, price = rng.randint(5, 9), rng.randint(2, 9), rng.randint(2, 3)
        question = rng.choice(
            [
                f"{name}'s car uses {per100} litres of fuel per 100 km. Fuel costs ${price} a "
                f"litre. What does the fuel for a {100 * hundreds} km trip cost?",
                f"A trip of {100 * hundreds} km in a van that burns {per100} L per 100 km: at "
                f"${price} per litre, how many dollars is the fuel?",
            ]
        )
        text = (
            f"Litres needed = {per100} x ({100 * hundreds} / 100); multiply by ${price} per litre."
        )
        program = code(f"litres = {per100} * {100 * hundreds} // 100", f"print(litres * {price})")
        params = {
            "form": "fuel",
            "per100": per100,
            "distance": 100 * hundreds,
            "price": price,
            "steps": 3,
        }
        return _problem(
            "travel", "base", question, text, [program], str(per100 * hundreds * price), params
        )

    if variant == "hard":
        form = rng.choice(["average", "meet", "fuel_rounded", "minutes"])
        if form == "average":
            v1, v2 = rng.sample(range(lo, hi + 1), 2)
            d = rng.randint(2, 30) * 5
            avg = Fraction(2 * d, 1) / (Fraction(d, v1) + Fraction(d, v2))
            question = rng.choice(
                [
                    f"{vehicle.capitalize()} goes {d} {unit} to a depot at {v1} {speed_unit} and "
                    f"comes back the same way at {v2} {speed_unit}. What is its average speed for "
                    f"the round trip, in {speed_unit}? Give an exact fraction if it is not whole.",
                    f"{name} travels {d} {unit_word} out at {v1} {speed_unit} and the same {d} "
                    f"back at {v2} {speed_unit}. Find the exact average speed over the whole trip.",
                ]
            )
            text = (
                f"Average speed is total distance over total time, not the mean of {v1} and {v2}: "
                f"2 x {d} divided by ({d}/{v1} + {d}/{v2}), kept exact with fractions."
            )
            program = code(
                "from fractions import Fraction",
                f"time = Fraction({d}, {v1}) + Fraction({d}, {v2})",
                f"print(2 * {d} / time)",
            )
            params = {"form": form, "speeds": [v1, v2], "distance": d, "steps": 4}
            return _problem("travel", "hard", question, text, [program], fmt_number(avg), params)
        if form == "meet":
            v1, v2 = rng.randint(lo, hi), rng.randint(lo, hi)
            delay = rng.randint(1, 3)
            dist = v1 * delay + rng.randint(3, 9) * (v1 + v2) // rng.choice([1, 2, 3])
            t = delay + Fraction(dist - v1 * delay, v1 + v2)
            other = rng.choice([n for n in NAMES if n != name])
            question = rng.choice(
                [
                    f"Two towns are {dist} {unit} apart. {name} leaves the first town at {v1} "
                    f"{speed_unit}; {delay} hours later {other} leaves the second town towards "
                    f"{name} at {v2} {speed_unit}. How many hours after {name} set off do they "
                    "meet? Give an exact fraction if needed.",
                    f"{other} starts {delay} h after {name}, heading towards each other on a "
                    f"{dist}-{unit_word[:-1]} road; {name}'s speed is {v1} {speed_unit} and "
                    f"{other}'s is {v2} {speed_unit}. Exactly how long after {name}'s start do "
                    "they meet, in hours?",
                ]
            )
            text = (
                f"In the first {delay} hours only {name} moves, covering {v1} x {delay}. The rest "
                f"of the {dist} closes at {v1} + {v2} per hour; add that time to the {delay} hours."
            )
            program = code(
                "from fractions import Fraction",
                f"head_start = {v1} * {delay}",
                f"together = Fraction({dist} - head_start, {v1} + {v2})",
                f"print({delay} + together)",
            )
            params = {
                "form": form,
                "speeds": [v1, v2],
                "distance": dist,
                "delay": delay,
                "steps": 5,
            }
            return _problem("travel", "hard", question, text, [program], fmt_number(t), params)
        if form == "fuel_rounded":
            per100_tenths, d, price = (
                rng.randint(45, 99),
                rng.randint(120, 980),
                rng.randint(120, 260),
            )
            value = Fraction(per100_tenths, 10) * Fraction(d, 100) * Fraction(price, 100)
            per100 = f"{per100_tenths / 10:.1f}"
            question = rng.choice(
                [
                    f"A car uses {per100} litres per 100 km and fuel is {money_cents(price)} per "
                    f"litre. What does the fuel for a {d} km drive cost, rounded to the nearest "
                    "cent?",
                    f"{name} plans a {d} km road trip in a car that averages {per100} L/100 km. "
                    f"With fuel at {money_cents(price)} a litre, what is the fuel bill to the "
                    "nearest cent?",
                ]
            )
            text = (
                f"Litres = {per100} x {d} / 100, cost = litres x {money_cents(price)}; use Decimal "
                f"so {per100} stays exact, then round half up to the cent."
            )
            program = code(
                DECIMAL_IMPORT,
                f'litres = Decimal("{per100}") * {d} / 100',
                f"cost = litres * {decimal_literal(price)}",
                f"print(cost.quantize({CENT}, rounding=ROUND_HALF_UP))",
            )
            params = {
                "form": form,
                "per100_tenths": per100_tenths,
                "distance": d,
                "price_cents": price,
                "steps": 3,
            }
            return _problem(
                "travel", "hard", question, text, [program], fmt_rounded(value, 2), params
            )
        # minutes over two legs with a break: hours -> minutes conversion
        v1, v2 = rng.randint(lo, hi), rng.randint(lo, hi)
        d1, d2 = v1 * rng.randint(1, 7) // 4 or v1, v2 * rng.randint(1, 7) // 3 or v2
        brk = rng.randint(5, 45)
        minutes = Fraction(60 * d1, v1) + Fraction(60 * d2, v2) + brk
        question = rng.choice(
            [
                f"{name} covers {d1} {unit} at {v1} {speed_unit}, rests for {brk} minutes, then "
                f"covers {d2} {unit} at {v2} {speed_unit}. How many minutes does the trip take "
                "altogether? Give an exact fraction if it is not whole.",
                f"Leg one: {d1} {unit_word} at {v1} {speed_unit}. A {brk}-minute pause. Leg two: "
                f"{d2} {unit_word} at {v2} {speed_unit}. What is the exact total time in minutes?",
            ]
        )
        text = (
            f"Each leg takes distance / speed hours, i.e. 60 x distance / speed minutes "
            f"({d1}/{v1} and {d2}/{v2} hours); add the {brk}-minute rest. Fractions keep it exact."
        )
        program = code(
            "from fractions import Fraction",
            f"leg1 = Fraction(60 * {d1}, {v1})",
            f"leg2 = Fraction(60 * {d2}, {v2})",
            f"print(leg1 + leg2 + {brk})",
        )
        params = {
            "form": "minutes",
            "speeds": [v1, v2],
            "distances": [d1, d2],
            "break": brk,
            "steps": 4,
        }
        return _problem("travel", "hard", question, text, [program], fmt_number(minutes), params)

    # ood: many long legs of a flight or a convoy
    n = rng.randint(4, 6)
    craft = rng.choice(
        ["A cargo plane", "A long-haul truck convoy", "A survey aircraft", "A container ship"]
    )
    fast = craft.endswith(("plane", "aircraft"))
    # speeds with small prime factors keep the exact answers readable
    pool = (
        [450, 480, 500, 540, 600, 640, 720, 750, 800, 900]
        if fast
        else [40, 45, 48, 50, 60, 64, 72, 75, 80, 90]
    )
    speeds = [rng.choice(pool) for _ in range(n)]
    dists = [rng.randint(1000, 9999) for _ in range(n)]
    legs = join_and(
        [f"{d} {unit} at {v} {speed_unit}" for d, v in zip(dists, speeds, strict=False)]
    )
    total_time = sum(Fraction(d, v) for d, v in zip(dists, speeds, strict=False))
    form = rng.choice(["time", "average"])
    if form == "time":
        answer = fmt_number(total_time)
        question = rng.choice(
            [
                f"{craft} completes {n} legs: {legs}. What is the total travel time in hours, as "
                "an exact fraction?",
                f"Exactly how many hours of travel do these {n} legs take: {legs}?",
            ]
        )
        text = f"Add the {n} leg times distance / speed, each kept as an exact fraction."
        last = "print(time)"
    else:
        answer = fmt_number(sum(dists) / total_time)
        question = rng.choice(
            [
                f"{craft} completes {n} legs: {legs}. What is its exact average speed over the "
                f"whole route, in {speed_unit}?",
                f"Over the legs {legs}, what is the exact overall average speed in {speed_unit}?",
            ]
        )
        text = (
            f"Average speed is total distance over total time: add the {n} distances, add the {n} "
            f"leg times distance / speed as exact fractions, and divide."
        )
        last = "print(sum(distances) / time)"
    programs = [
        code(
            "from fractions import Fraction",
            f"distances = {dists}",
            f"speeds = {speeds}",
            "time = sum(Fraction(d, v) for d, v in zip(distances, speeds))",
        ),
        last,
    ]
    params = {
        "form": form,
        "craft": craft,
        "speeds": speeds,
        "distances": dists,
        "steps": 2 * n + 1,
    }
    return _problem("travel", "ood", question, text, programs, answer, params)


# --------------------------------------------------------------------------- sharing


def sharing(rng: random.Random, variant: str) -> Problem:
    """Equal shares, groups and leftovers, where remainders matter."""
    check_variant(variant)
    name = rng.choice(NAMES)
    things, people = rng.choice(_SHARE_ITEMS), rng.choice(_RECIPIENTS)
    if variant == "base":
        form = rng.choice(["equal", "after_giving", "leftover", "containers"])
        k = rng.randint(2, 9)
        if form == "equal":
            each, kept = rng.randint(3, 15), rng.randint(2, 12)
            n = k * each + kept
            question = rng.choice(
                [
                    f"{name} has {n} {things}, keeps {kept} and shares the rest equally among {k} "
                    f"{people}. How many {things} does each of them get?",
                    f"After putting {kept} {things} aside, {name} divides the remaining ones from "
                    f"a pile of {n} evenly between {k} {people}. How many does each receive?",
                ]
            )
            text = f"Remove the {kept} kept {things} from {n}, then divide by {k}."
            program = code(f"rest = {n} - {kept}", f"print(rest // {k})")
            params = {"form": form, "total": n, "kept": kept, "groups": k, "steps": 2}
            return _problem("sharing", "base", question, text, [program], str(each), params)
        if form == "after_giving":
            each, boxes = rng.randint(2, 9), rng.randint(2, 6)
            per_box = -(-(k * each + rng.randint(1, 5)) // boxes)
            total = boxes * per_box
            extra = total - k * each
            question = rng.choice(
                [
                    f"{name} buys {boxes} boxes of {things} with {per_box} in each box, gives "
                    f"{extra} to a neighbour, and shares the rest equally among {k} {people}. How "
                    "many does each get?",
                    f"There are {boxes} bags holding {per_box} {things} each. {extra} are set "
                    f"aside and the others go equally to {k} {people}. What is each share?",
                ]
            )
            text = f"Total {boxes} x {per_box}, minus the {extra} given away, divided among {k}."
            program = code(
                f"total = {boxes} * {per_box}", f"rest = total - {extra}", f"print(rest // {k})"
            )
            params = {
                "form": form,
                "boxes": boxes,
                "per_box": per_box,
                "extra": extra,
                "groups": k,
                "steps": 3,
            }
            return _problem("sharing", "base", question, text, [program], str(each), params)
        if form == "leftover":
            n = rng.randint(20, 150)
            if n % k == 0:
                n += 1
            question = rng.choice(
                [
                    f"{n} {things} are dealt out as evenly as possible to {k} {people}, each "
                    f"getting the same whole number. How many {things} are left over?",
                    f"{name} puts {n} {things} into {k} equal piles, as big as possible. How many "
                    f"{things} do not fit into a pile?",
                ]
            )
            text = f"The leftover is the remainder of {n} divided by {k}."
            program = code(f"print({n} % {k})")
            params = {"form": form, "total": n, "groups": k, "steps": 1}
            return _problem("sharing", "base", question, text, [program], str(n % k), params)
        cap = rng.randint(4, 12)
        n = rng.randint(3 * cap, 12 * cap)
        if n % cap == 0:
            n += rng.randint(1, cap - 1)
        question = rng.choice(
            [
                f"Each tin holds {cap} {things}. How many tins does {name} need to store all {n} "
                f"{things}?",
                f"{n} {things} must be packed into envelopes that take at most {cap} each. What "
                "is the smallest number of envelopes needed?",
            ]
        )
        text = f"{n} / {cap} is not whole, so one more container holds the remainder: round up."
        program = code(f"full, rest = divmod({n}, {cap})", "print(full + (1 if rest else 0))")
        params = {"form": "containers", "total": n, "capacity": cap, "steps": 2}
        return _problem("sharing", "base", question, text, [program], str(-(-n // cap)), params)

    if variant == "hard":
        form = rng.choice(["buses", "cartons", "two_rounds", "fractions"])
        if form == "buses":
            riders, cap, cost = (
                rng.randint(60, 400),
                rng.choice([24, 30, 35, 40, 48, 52]),
                rng.randint(180, 650),
            )
            if riders % cap == 0:
                riders += 1
            buses = -(-riders // cap)
            value = Fraction(buses * cost, riders)
            question = rng.choice(
                [
                    f"A school trip has {riders} people. Each coach seats {cap} and costs ${cost} "
                    "to hire. The total hire cost is shared equally by everyone. What does each "
                    "person pay, rounded to the nearest cent?",
                    f"{riders} fans travel to a match in minibuses of {cap} seats; hiring one "
                    f"minibus costs ${cost}. If the bill is split evenly among the fans, what is "
                    "one fan's share in dollars to the nearest cent?",
                ]
            )
            text = (
                f"Vehicles needed = {riders} / {cap} rounded up (a partly full one still costs "
                f"${cost}); total = that count x ${cost}; divide by {riders} and round half up."
            )
            program = code(
                DECIMAL_IMPORT,
                f"buses = -(-{riders} // {cap})",
                f"share = Decimal(buses * {cost}) / {riders}",
                f"print(share.quantize({CENT}, rounding=ROUND_HALF_UP))",
            )
            params = {"form": form, "people": riders, "capacity": cap, "cost": cost, "steps": 4}
            return _problem(
                "sharing", "hard", question, text, [program], fmt_rounded(value, 2), params
            )
        if form == "cartons":
            size = rng.choice([6, 10, 12])
            eggs = rng.randint(50, 400)
            if eggs % size == 0:
                eggs += rng.randint(1, size - 1)
            carton, loose = rng.randint(250, 699), rng.randint(25, 69)
            value = Fraction((eggs // size) * carton + (eggs % size) * loose, 100)
            question = rng.choice(
                [
                    f"A farm collects {eggs} eggs. They are packed into cartons of {size}; each "
                    f"full carton sells for {money_cents(carton)} and every egg that does not "
                    f"fill a carton sells for {money_cents(loose)}. How much money does the farm "
                    "take in, to the nearest cent?",
                    f"{name} packs {eggs} eggs in boxes of {size}, selling full boxes at "
                    f"{money_cents(carton)} and the leftover eggs singly at {money_cents(loose)}. "
                    "What is the revenue in dollars to the nearest cent?",
                ]
            )
            text = (
                f"Full cartons = {eggs} // {size}, loose eggs = {eggs} % {size}; price each group "
                f"and add, in exact decimals."
            )
            program = code(
                DECIMAL_IMPORT,
                f"cartons, loose = divmod({eggs}, {size})",
                f"revenue = cartons * {decimal_literal(carton)} + loose * {decimal_literal(loose)}",
                f"print(revenue.quantize({CENT}, rounding=ROUND_HALF_UP))",
            )
            params = {
                "form": form,
                "eggs": eggs,
                "size": size,
                "carton_cents": carton,
                "loose_cents": loose,
                "steps": 4,
            }
            return _problem(
                "sharing", "hard", question, text, [program], fmt_rounded(value, 2), params
            )
        if form == "two_rounds":
            kids, helpers = rng.randint(5, 12), rng.randint(2, 4)
            n = rng.randint(60, 300)
            extra = rng.randint(3, 20)
            left = (n % kids + extra) % helpers
            question = rng.choice(
                [
                    f"A teacher shares {n} {things} among {kids} children so each gets the same "
                    "and as many as possible; the teacher keeps the leftovers. Then the teacher "
                    f"adds {extra} more {things} and shares that pile the same way among "
                    f"{helpers} helpers. How many {things} remain with the teacher at the end?",
                    f"{n} {things} go to {kids} {people} in equal whole shares, largest possible; "
                    f"the remainder, together with {extra} extra {things}, is split the same way "
                    f"among {helpers} organisers. How many are left undistributed?",
                ]
            )
            text = (
                f"First remainder: {n} % {kids}. Add the {extra} extra and take the remainder "
                f"modulo {helpers}."
            )
            program = code(
                f"first_left = {n} % {kids}",
                f"pile = first_left + {extra}",
                f"print(pile % {helpers})",
            )
            params = {
                "form": form,
                "total": n,
                "groups": [kids, helpers],
                "extra": extra,
                "steps": 4,
            }
            return _problem("sharing", "hard", question, text, [program], str(left), params)
        # fractions: an amount split by fractions of the remainder
        a, b = rng.sample([2, 3, 4, 5, 6, 8], 2)
        heirs = rng.randint(2, 5)
        total = rng.randint(6, 95) * 100
        rest = Fraction(total) * (1 - Fraction(1, a)) * (1 - Fraction(1, b))
        each = rest / heirs
        first, second = two_names(rng)
        question = rng.choice(
            [
                f"A prize of ${total} is shared out: {first} receives 1/{a} of it, {second} "
                f"receives 1/{b} of what remains, and the rest is split equally among {heirs} "
                "other winners. How many dollars does each of those winners receive? Give an "
                "exact fraction if it is not whole.",
                f"From a fund of ${total}, 1/{a} goes to {first}, then 1/{b} of the remainder "
                f"goes to {second}; the {heirs} remaining members share what is left equally. "
                "What is one member's exact share in dollars?",
            ]
        )
        text = (
            f"After {first}: {total} x (1 - 1/{a}). After {second}: times (1 - 1/{b}). Divide by "
            f"{heirs}, with fractions so nothing is rounded."
        )
        program = code(
            "from fractions import Fraction",
            f"rest = {total} * (1 - Fraction(1, {a}))",
            f"rest = rest * (1 - Fraction(1, {b}))",
            f"print(rest / {heirs})",
        )
        params = {
            "form": "fractions",
            "total": total,
            "fractions": [a, b],
            "heirs": heirs,
            "steps": 4,
        }
        return _problem("sharing", "hard", question, text, [program], fmt_number(each), params)

    # ood: packing chains (items -> crates -> pallets -> trucks) with ceilings at every level
    goods, lo, hi = rng.choice(_GOODS)
    crate = rng.randint(lo, hi)
    pallet, truck = rng.randint(8, 40), rng.randint(10, 26)
    n = rng.randint(10000, 999999)
    crates = -(-n // crate)
    pallets = -(-crates // pallet)
    trucks = -(-pallets // truck)
    form = rng.choice(["trucks", "empty_slots"])
    chain = (
        f"{goods} are packed {crate} to a crate, crates are stacked {pallet} to a pallet, and a "
        f"truck carries {truck} pallets"
    )
    if form == "trucks":
        answer = trucks
        question = rng.choice(
            [
                f"A warehouse must ship {n} {goods}. The {chain}. Partly filled crates, pallets "
                "and trucks are allowed. How many trucks are needed?",
                f"To ship {n} units, {chain}. What is the fewest trucks that can carry the whole "
                f"shipment?",
            ]
        )
        last = code("print(trucks)")
    else:
        answer = trucks * truck - pallets
        question = rng.choice(
            [
                f"A warehouse ships {n} {goods}, using as few crates, pallets and trucks as "
                f"possible. The {chain}. How many pallet places are left empty on the trucks?",
                f"For an order of {n} items, {chain}. Using the fewest trucks, how many unused "
                "pallet slots are there across all trucks?",
            ]
        )
        last = code(f"print(trucks * {truck} - pallets)")
    text = (
        f"Round up at every level: crates = ceil({n} / {crate}), pallets = ceil(crates / "
        f"{pallet}), trucks = ceil(pallets / {truck})."
    )
    programs = [
        code(
            f"crates = -(-{n} // {crate})",
            f"pallets = -(-crates // {pallet})",
            f"trucks = -(-pallets // {truck})",
        ),
        last,
    ]
    params = {
        "form": form,
        "goods": goods,
        "total": n,
        "crate": crate,
        "pallet": pallet,
        "truck": truck,
        "steps": 6,
    }
    return _problem("sharing", "ood", question, text, programs, str(answer), params)


# --------------------------------------------------------------------------- rates


def rates(rng: random.Random, variant: str) -> Problem:
    """Work, production, flow and pay rates."""
    check_variant(variant)
    name = rng.choice(NAMES)
    product, machine = rng.choice(_PRODUCTS)
    if variant == "base":
        form = rng.choice(["production", "fill", "wage"])
        if form == "production":
            r1, r2 = rng.randint(10, 90), rng.randint(10, 90)
            h1, h2 = rng.randint(2, 8), rng.randint(2, 8)
            question = rng.choice(
                [
                    f"{machine.capitalize()} makes {r1} {product} an hour and runs for {h1} "
                    f"hours; a second one makes {r2} an hour and runs for {h2} hours. How many "
                    f"{product} do they make in total?",
                    f"On Monday {machine} produced {product} at {r1} per hour for {h1} hours, and "
                    f"on Tuesday at {r2} per hour for {h2} hours. What was the two-day output?",
                ]
            )
            text = f"Output = rate x time for each run: {r1} x {h1} + {r2} x {h2}."
            program = code(f"first = {r1} * {h1}", f"second = {r2} * {h2}", "print(first + second)")
            params = {"form": form, "rates": [r1, r2], "hours": [h1, h2], "steps": 3}
            return _problem(
                "rates", "base", question, text, [program], str(r1 * h1 + r2 * h2), params
            )
        if form == "fill":
            r, t, already = rng.randint(5, 40), rng.randint(4, 30), rng.randint(10, 200)
            volume = r * t + already
            question = rng.choice(
                [
                    f"A tank holds {volume} litres and already has {already} litres in it. A hose "
                    f"adds {r} litres per minute. How many minutes until the tank is full?",
                    f"{name} is filling a {volume}-litre pond that contains {already} litres. The "
                    f"pump delivers {r} litres a minute. How long, in minutes, will it take?",
                ]
            )
            text = f"Litres still needed: {volume} - {already}; divide by {r} litres per minute."
            program = code(f"needed = {volume} - {already}", f"print(needed // {r})")
            params = {"form": form, "volume": volume, "already": already, "rate": r, "steps": 2}
            return _problem("rates", "base", question, text, [program], str(t), params)
        w, h, bonus = rng.randint(12, 40), rng.randint(5, 40), rng.randint(10, 90)
        question = rng.choice(
            [
                f"{name} earns ${w} an hour and works {h} hours this week, plus a ${bonus} bonus. "
                f"How much does {name} earn this week?",
                f"A tutor charges ${w} per hour. After {h} hours of lessons and a ${bonus} tip, "
                "how many dollars has the tutor made?",
            ]
        )
        text = f"Hourly pay {w} x {h} hours, plus the {bonus} extra."
        program = code(f"pay = {w} * {h}", f"print(pay + {bonus})")
        params = {"form": "wage", "wage": w, "hours": h, "bonus": bonus, "steps": 2}
        return _problem("rates", "base", question, text, [program], str(w * h + bonus), params)

    if variant == "hard":
        form = rng.choice(["together", "overtime", "printers", "days_left"])
        if form == "together":
            a, b = rng.sample(range(2, 13), 2)
            drain = rng.choice([0, 0, rng.randint(max(a, b) + 2, 30)])
            rate = Fraction(1, a) + Fraction(1, b) - (Fraction(1, drain) if drain else 0)
            drain_text = f" while a leak empties a full tank in {drain} hours" if drain else ""
            rain = (
                f", but rain washes off a whole fence of paint every {drain} hours" if drain else ""
            )
            question = rng.choice(
                [
                    f"Pipe A alone fills a tank in {a} hours and pipe B alone in {b} hours. "
                    "Starting empty, how many hours does it take with both pipes "
                    f"open{drain_text}? Give an exact fraction.",
                    f"{name} can paint a fence in {a} hours and a friend can do it in {b} "
                    f"hours{rain}. "
                    "Working together, exactly how many hours does the job take?",
                ]
            )
            text = (
                f"Rates add: 1/{a} + 1/{b}{f' - 1/{drain}' if drain else ''} of the job per hour; "
                f"the time is the reciprocal, kept exact."
            )
            drain_term = f" - Fraction(1, {drain})" if drain else ""
            program = code(
                "from fractions import Fraction",
                f"rate = Fraction(1, {a}) + Fraction(1, {b}){drain_term}",
                "print(1 / rate)",
            )
            params = {"form": form, "times": [a, b], "drain": drain, "steps": 4 if drain else 3}
            return _problem(
                "rates", "hard", question, text, [program], fmt_number(1 / rate), params
            )
        if form == "overtime":
            w, hours, mult = (
                rng.randint(1500, 3999),
                rng.randint(41, 60),
                rng.choice(["1.5", "1.25", "2"]),
            )
            w = w // 10 * 10 + rng.choice([5, 5, 3, 7])
            value = Fraction(w, 100) * 40 + Fraction(w, 100) * Fraction(mult) * (hours - 40)
            question = rng.choice(
                [
                    f"{name} is paid {money_cents(w)} per hour for the first 40 hours of a week "
                    f"and {mult} times that rate for every hour beyond 40. How much does {name} "
                    f"earn for {hours} hours, rounded to the nearest cent?",
                    f"Overtime pays {mult} x the normal rate of {money_cents(w)} an hour once a "
                    f"worker passes 40 hours. What is the pay for a {hours}-hour week, to the "
                    "nearest cent?",
                ]
            )
            text = (
                f"40 hours at {money_cents(w)}, plus {hours} - 40 overtime hours at {mult} x "
                f"{money_cents(w)}; the overtime rate has fractions of a cent, so compute exactly "
                f"and round half up at the end."
            )
            program = code(
                DECIMAL_IMPORT,
                f"rate = {decimal_literal(w)}",
                f'pay = 40 * rate + ({hours} - 40) * rate * Decimal("{mult}")',
                f"print(pay.quantize({CENT}, rounding=ROUND_HALF_UP))",
            )
            params = {"form": form, "wage_cents": w, "hours": hours, "multiplier": mult, "steps": 4}
            return _problem(
                "rates", "hard", question, text, [program], fmt_rounded(value, 2), params
            )
        if form == "printers":
            p1, p2, pages = rng.randint(12, 45), rng.randint(12, 45), rng.randint(150, 999)
            minutes = Fraction(pages, p1 + p2)
            question = rng.choice(
                [
                    f"One printer prints {p1} pages a minute and another {p2} pages a minute. "
                    f"Working together, how many minutes do they need for a {pages}-page job? "
                    "Give an exact fraction if needed.",
                    f"{name} splits a {pages}-page print run between a {p1}-ppm printer and a "
                    f"{p2}-ppm printer running at the same time. Exactly how many minutes does it "
                    "take?",
                ]
            )
            text = f"Combined rate {p1} + {p2} pages per minute; time = {pages} / that, exact."
            program = code(
                "from fractions import Fraction", f"print(Fraction({pages}, {p1} + {p2}))"
            )
            params = {"form": form, "rates": [p1, p2], "pages": pages, "steps": 3}
            return _problem("rates", "hard", question, text, [program], fmt_number(minutes), params)
        per_day, done_days = rng.randint(15, 80), rng.randint(2, 9)
        length = per_day * done_days + rng.randint(per_day + 1, 9 * per_day)
        if (length - per_day * done_days) % per_day == 0:
            length += 1
        more = -(-(length - per_day * done_days) // per_day)
        question = rng.choice(
            [
                f"A crew paves {per_day} metres of road per day. After {done_days} days of a "
                f"{length}-metre road, how many more days (counting a partial day as a full one) "
                "are needed to finish?",
                f"{name} knits {per_day} rows a day on a scarf of {length} rows and has knitted "
                f"for {done_days} days. How many more days will it take to finish, counting the "
                "last partial day?",
            ]
        )
        text = (
            f"Remaining = {length} - {per_day} x {done_days}; days = remaining / {per_day} rounded "
            f"up, because the last partial day still counts."
        )
        program = code(
            f"remaining = {length} - {per_day} * {done_days}", f"print(-(-remaining // {per_day}))"
        )
        params = {
            "form": "days_left",
            "per_day": per_day,
            "days": done_days,
            "length": length,
            "steps": 3,
        }
        return _problem("rates", "hard", question, text, [program], str(more), params)

    # ood: a factory floor of several machines, or a team of several workers
    n = rng.randint(4, 6)
    form = rng.choice(["factory", "team"])
    if form == "factory":
        rates_ = [rng.randint(100, 999) for _ in range(n)]
        hours = [rng.randint(10, 99) for _ in range(n)]
        defect = rng.choice([1, 2, 3, 4, 5])
        good = Fraction(sum(r * h for r, h in zip(rates_, hours, strict=False))) * Fraction(
            100 - defect, 100
        )
        lines = join_and(
            [f"{r} per hour for {h} hours" for r, h in zip(rates_, hours, strict=False)]
        )
        question = rng.choice(
            [
                f"A factory has {n} machines making {product}, running at {lines}. If {defect}% "
                f"of all output is defective, how many good {product} are made? Give an exact "
                "fraction if it is not whole.",
                f"Over a month, {n} lines make {product}: {lines}. {defect} percent are rejected "
                "at inspection. Exactly how many pass?",
            ]
        )
        text = (
            f"Total = sum of rate x hours over the {n} machines; keep (100 - {defect})% of it, "
            f"as an exact fraction."
        )
        programs = [
            code(
                f"rates = {rates_}",
                f"hours = {hours}",
                "total = sum(r * h for r, h in zip(rates, hours))",
            ),
            code("from fractions import Fraction", f"print(total * Fraction(100 - {defect}, 100))"),
        ]
        params = {
            "form": form,
            "rates": rates_,
            "hours": hours,
            "defect": defect,
            "steps": 2 * n + 1,
        }
        return _problem("rates", "ood", question, text, programs, fmt_number(good), params)
    times = rng.sample([10, 12, 15, 16, 18, 20, 24, 30, 36, 40, 45, 48, 60, 72, 80, 90, 120], n)
    job = rng.choice(
        ["harvest a field", "proofread a book", "paint a warehouse", "index an archive"]
    )
    time = 1 / sum(Fraction(1, t) for t in times)
    workers = rng.sample(NAMES, n)
    who = join_and([f"{w} in {t} hours" for w, t in zip(workers, times, strict=False)])
    question = rng.choice(
        [
            f"Working alone, {n} people could each {job}: {who}. If all of them work together at "
            f"these rates, exactly how many hours does the job take?",
            f"Alone, {who} could {job}. How long, as an exact number of hours, if they all work "
            f"at once?",
        ]
    )
    text = f"Add the {n} hourly rates 1/t and take the reciprocal, with fractions."
    programs = [
        code(
            "from fractions import Fraction",
            f"times = {times}",
            "rate = sum(Fraction(1, t) for t in times)",
        ),
        code("print(1 / rate)"),
    ]
    params = {"form": form, "times": times, "steps": 2 * n}
    return _problem("rates", "ood", question, text, programs, fmt_number(time), params)


SKILLS = {"shopping": shopping, "travel": travel, "sharing": sharing, "rates": rates}
