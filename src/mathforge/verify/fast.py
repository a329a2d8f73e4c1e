"""The fast path: pure-Python parsers and exact comparison (microseconds a pair, no sympy).

Rationals, decimals, percentages, tuples / intervals / sets / lists / matrices of them and
polynomials with rational coefficients compare exactly; expressions of numbers with sqrt
and pi compare by value in floating point.  What it cannot read goes to `slow.py`.  The
decimal rule (`numbers_match`) is the one in the package docstring and docs/grading.md.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from fractions import Fraction

from mathforge.verify.extract import MATH_WORDS, extract_answer, latex_to_plain
from mathforge.verify.extract import balanced as _balanced
from mathforge.verify.extract import split_top as _split_top

MAX_SLOW_PATH_CHARS = 1000  # longer answers are ungradable: sympy time/memory is unbounded
MIN_DECIMAL_PLACES = 2  # a decimal is read as rounded (with a tolerance) from 2 places on ...
MIN_SIGNIFICANT_DIGITS = 2  # ... when it shows at least 2 significant digits
FLOAT_DIGITS = 12  # a decimal with this many significant digits is a float-precision value
FLOAT_NOISE = Fraction(1, 10**14)  # relative: what float arithmetic and repr leave on a value


@dataclass(frozen=True)
class _Num:
    value: Fraction | None  # None: infinity (sign in `inf`)
    places: int | None = None  # decimal places of a decimal literal; None: exact
    sig: int = 0  # significant digits shown (decimals only)
    pct: bool = False
    inf: int = 0


@dataclass(frozen=True)
class _Poly:
    terms: frozenset  # of (monomial, coefficient); monomial: tuple of (variable, exponent)


@dataclass(frozen=True)
class _Seq:
    brackets: str  # "()", "[)", "(]", "[]", "{}", "matrix"
    items: tuple  # of _Num or _Seq


_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?$")
_DECIMAL_RE = re.compile(r"^([+-]?)(\d*)(?:\.(\d*))?(%?)$")
_FRAC_RE = re.compile(r"^([+-]?)\s*(\d+)\s*/\s*(\d+)$")
_LATEX_FRAC_RE = re.compile(
    r"^([+-]?)\s*\\frac\s*(?:\{\s*([+-]?\d+)\s*\}|(\d))\s*(?:\{\s*(\d+)\s*\}|(\d))$"
)
_INF_RE = re.compile(r"^([+-]?)\s*(?:\\infty|\\inf|infinity|inf|oo|∞)$", re.IGNORECASE)
_MAX_DIGITS = 4000  # a longer number is left to the slow path's guards


def _parse_num(s: str) -> _Num | None:
    s = s.strip().replace(" ", "")
    if not s or len(s) > _MAX_DIGITS:
        return None
    if m := _INF_RE.match(s):
        return _Num(None, inf=-1 if m.group(1) == "-" else 1)
    if m := _FRAC_RE.match(s):
        den = int(m.group(3))
        if den == 0:
            return None
        value = Fraction(int(m.group(2)), den)
        return _Num(-value if m.group(1) == "-" else value)
    if m := _LATEX_FRAC_RE.match(s):
        num, den = int(m.group(2) or m.group(3)), int(m.group(4) or m.group(5))
        if den == 0:
            return None
        value = Fraction(num, den)
        return _Num(-value if m.group(1) == "-" else value)
    m = _DECIMAL_RE.match(s)
    if not m or not (m.group(2) or m.group(3)):
        return None
    sign, whole, frac, pct = m.groups()
    value = Fraction(
        int(whole or "0") * 10 ** len(frac or "") + int(frac or "0"), 10 ** len(frac or "")
    )
    value = -value if sign == "-" else value
    if frac is None or frac == "":  # integer (or "12.")
        return _Num(value, pct=bool(pct))
    digits = (whole + frac).lstrip("0")
    return _Num(value, places=len(frac), sig=len(digits), pct=bool(pct))


_COEF = r"\d+(?:\.\d+)?|\\frac\{\d+\}\{\d+\}|\d+/\d+"
_FACTOR = r"([a-zA-Z])(?:\s*(?:\*\*|\^)\s*(?:\{(\d+)\}|(\d+)))?"
_TERM_RE = re.compile(rf"^({_COEF})?\s*\*?\s*((?:{_FACTOR}\s*\*?\s*)*?)(?:\s*/\s*(\d+))?$")
_FACTOR_RE = re.compile(_FACTOR)
_CONSTANT_LETTERS = set("eiEIO")  # e, i, O(...) are not variables; leave them to sympy


def _coef(text: str) -> Fraction:
    if text.startswith("\\frac"):
        num, den = re.findall(r"\d+", text)
        return Fraction(int(num), int(den))
    if "/" in text:
        num, den = text.split("/")
        return Fraction(int(num), int(den))
    return Fraction(text)


def _parse_poly(s: str) -> _Poly | None:
    """A polynomial with rational coefficients and single-letter variables, written as sympy
    prints it (``3*x**2 - 5``) or as LaTeX (``3x^2 - 5``); None for anything else."""
    if (
        len(s) > 500
        or any(c in s for c in "()[]=<>|!,%")
        or re.search(r"[A-Za-z]{3,}", s.replace("\\frac", ""))
    ):
        return None
    pieces = re.split(r"\s*([+-])\s*", s.strip())
    pieces = pieces[1:] if pieces[0] == "" else ["+", *pieces]
    if len(pieces) % 2:
        return None
    terms: dict[tuple, Fraction] = {}
    has_variable = False
    for sign, body in zip(pieces[::2], pieces[1::2], strict=True):
        m = _TERM_RE.match(body.strip())
        if not m or not body.strip() or body.strip().endswith("*"):
            return None
        coef = _coef(m.group(1)) if m.group(1) else Fraction(1)
        if m.group(6):  # "x/2"
            if int(m.group(6)) == 0:
                return None
            coef /= int(m.group(6))
        if m.group(1) and "/" in m.group(1) and "/0" in m.group(1):
            return None
        powers: dict[str, int] = {}
        for var, exp_braced, exp_plain in _FACTOR_RE.findall(m.group(2)):
            if var in _CONSTANT_LETTERS:
                return None
            powers[var] = powers.get(var, 0) + int(exp_braced or exp_plain or 1)
            has_variable = True
        if not m.group(1) and not powers:
            return None
        monomial = tuple(sorted((v, e) for v, e in powers.items() if e))
        terms[monomial] = terms.get(monomial, Fraction(0)) + (coef if sign == "+" else -coef)
    if not has_variable:
        return None
    return _Poly(frozenset((k, v) for k, v in terms.items() if v))


def parse_fast(s: str, top: bool = True, depth: int = 0) -> _Num | _Seq | _Poly | None:
    """An exact structure for s, or None when the fast path cannot read it."""
    s = s.strip()
    if not s or depth > 8:
        return None
    if top and _THOUSANDS_RE.match(s):
        s = s.replace(",", "")
    num = _parse_num(s)
    if num is not None:
        return num
    if top and (poly := _parse_poly(s)) is not None:
        return poly
    m = re.match(r"^\\begin\{([pbvB]?matrix)\}(.*)\\end\{\1\}$", s, re.DOTALL)
    if m:
        rows = [r for r in re.split(r"\\\\", m.group(2)) if r.strip()]
        parsed_rows = []
        for row in rows:
            cells = [_parse_num(c) for c in row.split("&")]
            if any(c is None for c in cells):
                return None
            parsed_rows.append(_Seq("[]", tuple(cells)))
        return _Seq("matrix", tuple(parsed_rows)) if parsed_rows else None
    m = re.match(r"^(?:Matrix|sympy\.Matrix|np\.array|array)\((.*)\)$", s, re.DOTALL)
    if m:
        inner = parse_fast(m.group(1), top=False, depth=depth + 1)
        return _as_matrix(inner)
    if s.startswith("\\{") and s.endswith("\\}"):
        opener, closer, body = "{", "}", s[2:-2]
    elif len(s) >= 2 and s[0] in "([{" and s[-1] in ")]}":
        opener, closer, body = s[0], s[-1], s[1:-1]
        if (opener == "{") != (closer == "}"):
            return None
    else:
        return None
    if not _balanced(body):
        return None
    parts = _split_top(body, ",") if body.strip() else []
    items = []
    for part in parts:
        item = parse_fast(part, top=False, depth=depth + 1)
        if item is None:
            return None
        items.append(item)
    seq = _Seq(opener + closer, tuple(items))
    if (
        opener == "["
        and closer == "]"
        and items
        and all(isinstance(i, _Seq) and i.brackets == "[]" for i in items)
    ):
        return _as_matrix(seq) or seq
    return seq


def _as_matrix(seq) -> _Seq | None:
    if not isinstance(seq, _Seq) or not seq.items:
        return None
    rows = seq.items
    if not all(
        isinstance(r, _Seq) and r.brackets == "[]" and all(isinstance(c, _Num) for c in r.items)
        for r in rows
    ):
        return None
    if len({len(r.items) for r in rows}) != 1:
        return None
    return _Seq("matrix", rows)


def _num_values(n: _Num) -> list[tuple[Fraction, int | None, int]]:
    out = [(n.value, n.places, n.sig)]
    if n.pct:
        out.append((n.value / 100, None if n.places is None else n.places + 2, n.sig))
    return out


def states_at_float_precision(value: Fraction, places: int | None, sig: int, other) -> bool:
    """True when a decimal (`value` written with `places` places and `sig` significant digits)
    is `other` at float precision: it shows >= FLOAT_DIGITS significant digits and is `other`
    rounded to its places, or `other` up to float noise (``0.6666666666666666`` for 2/3,
    ``27.150000000000002`` for 27.15).  `other`: a Fraction, or a float for sqrt/pi values."""
    if places is None or sig < FLOAT_DIGITS:
        return False
    if isinstance(other, float):
        diff, scale = abs(float(value) - other), abs(other)
        return diff <= 0.5 * 10.0**-places * (1 + 1e-9) or diff <= float(FLOAT_NOISE) * scale
    diff = abs(value - other)
    return diff * 2 * 10**places <= 1 or diff <= FLOAT_NOISE * abs(other)


def numbers_match(a: tuple, b: tuple) -> bool:
    """The decimal rule, for two numbers given as (value, places, sig); places None: exact.

    Equal values match.  A decimal matches any value at float precision
    (`states_at_float_precision`).  Two decimals also match when the one with more places
    rounds to the other at the other's places, if that one has >= MIN_DECIMAL_PLACES places
    and >= MIN_SIGNIFICANT_DIGITS significant digits (a reference rounded to the cent).
    Nothing else: a short decimal is never an exact value (0.33 != 1/3, 12.04 != 12)."""
    (va, pa, sa), (vb, pb, sb) = a, b
    if va == vb:
        return True
    if states_at_float_precision(va, pa, sa, vb) or states_at_float_precision(vb, pb, sb, va):
        return True
    if pa is None or pb is None:
        return False
    places, sig = min((pa, sa), (pb, sb))  # the coarser decimal sets the tolerance
    if places < MIN_DECIMAL_PLACES or sig < MIN_SIGNIFICANT_DIGITS:
        return False
    return abs(va - vb) * 2 * 10**places <= 1


def _match_num(a: _Num, b: _Num) -> bool:
    if a.value is None or b.value is None:
        return a.value is None and b.value is None and a.inf == b.inf
    return any(numbers_match(x, y) for x in _num_values(a) for y in _num_values(b))


def _match_fast(a, b) -> bool:
    if isinstance(a, _Num) and isinstance(b, _Num):
        return _match_num(a, b)
    if isinstance(a, _Poly) or isinstance(b, _Poly):
        if not isinstance(a, _Poly):
            a, b = b, a
        if isinstance(b, _Num):  # a polynomial whose variables cancel may equal a number
            return (
                b.value is not None
                and not b.pct
                and dict(a.terms) == ({(): b.value} if b.value else {})
            )
        return isinstance(b, _Poly) and a.terms == b.terms
    if not (isinstance(a, _Seq) and isinstance(b, _Seq)) or a.brackets != b.brackets:
        return False
    if a.brackets == "{}":
        return all(any(_match_fast(x, y) for y in b.items) for x in a.items) and all(
            any(_match_fast(x, y) for x in a.items) for y in b.items
        )
    return len(a.items) == len(b.items) and all(
        _match_fast(x, y) for x, y in zip(a.items, b.items, strict=True)
    )


# ------------------------------------------------- fast path: numeric expressions (sqrt, pi)

_NUM_TOKEN_RE = re.compile(r"\s*(\d+\.?\d*|\.\d+|pi|sqrt|[-+*/^()])")


def _eval_numeric(s: str) -> float | None:
    """The value of an expression of numbers, + - * / ^, sqrt, pi and parentheses (implicit
    multiplication allowed); None for anything else or a value too large to trust."""
    plain = latex_to_plain(s)
    if plain is None or len(plain) > 300:
        return None
    tokens, pos = [], 0
    plain = plain.rstrip()
    while pos < len(plain):
        m = _NUM_TOKEN_RE.match(plain, pos)
        if not m:
            return None
        tokens.append(m.group(1))
        pos = m.end()
    if "pi" not in tokens and "sqrt" not in tokens:
        return None  # rationals are the exact fast path's; symbols are sympy's
    i = 0

    def peek() -> str | None:
        return tokens[i] if i < len(tokens) else None

    def take() -> str:
        nonlocal i
        i += 1
        return tokens[i - 1]

    def expr() -> float:
        value = term()
        while peek() in ("+", "-"):
            value = value + term() if take() == "+" else value - term()
        return value

    def term() -> float:
        value = unary()
        while True:
            tok = peek()
            if tok in ("*", "/"):
                take()
                rhs = unary()
                value = value * rhs if tok == "*" else value / rhs
            elif tok is not None and (
                tok[0].isdigit() or tok[0] == "." or tok in ("pi", "sqrt", "(")
            ):
                value = value * power()  # implicit multiplication: 2pi, 3sqrt(2), 2(1+x)
            else:
                return value

    def unary() -> float:
        if peek() in ("+", "-"):
            return -unary() if take() == "-" else unary()
        return power()

    def power() -> float:
        base = atom()
        if peek() == "^":
            take()
            exponent = unary()
            if abs(exponent) > 64:
                raise ValueError("exponent too large")
            return base**exponent
        return base

    def atom() -> float:
        tok = take()
        if tok == "pi":
            return math.pi
        if tok == "sqrt":
            if take() != "(":
                raise ValueError
            value = expr()
            if take() != ")":
                raise ValueError
            return math.sqrt(value)
        if tok == "(":
            value = expr()
            if take() != ")":
                raise ValueError
            return value
        if tok[0].isdigit() or tok[0] == ".":
            return float(tok)
        raise ValueError(tok)

    try:
        value = expr()
        if (
            i != len(tokens)
            or isinstance(value, complex)
            or not math.isfinite(value)
            or abs(value) > 1e12
        ):
            return None
        return float(value)
    except (ValueError, IndexError, ZeroDivisionError, OverflowError, TypeError):
        return None


def _match_numeric(p: str, fp, g: str, fg) -> bool | None:
    """Compare two answers that are numbers or numeric expressions with sqrt/pi by value.

    Two exact values (rationals, sqrt/pi expressions) agreeing to 1e-12 (relative) are
    equal: for expressions this small that is equality in practice.  A decimal matches
    only at float precision (`states_at_float_precision`).  None: not both numeric (the
    slow path decides)."""
    sides = []
    for text, fast in ((p, fp), (g, fg)):
        if isinstance(fast, _Seq) or (
            isinstance(fast, _Poly) and any(mono for mono, _ in fast.terms)
        ):
            other = g if text is p else p
            if _eval_numeric(other) is not None:
                return False  # a number is never a tuple/set/matrix or a non-constant polynomial
            return None
        if isinstance(fast, _Num):
            if fast.pct or fast.value is None:
                return None
            sides.append((fast.value, fast.places, fast.sig))
        elif fast is None and (value := _eval_numeric(text)) is not None:
            sides.append((value, None, 0))
        else:
            return None
    (va, pa, sa), (vb, pb, sb) = sides
    if pa is not None or pb is not None:  # a decimal against a sqrt/pi value
        (d, places, sig), (v, _, _) = (
            ((va, pa, sa), (vb, pb, sb))
            if pa is not None
            else (
                (vb, pb, sb),
                (va, pa, sa),
            )
        )
        return states_at_float_precision(d, places, sig, float(v))
    va, vb = float(va), float(vb)
    return abs(va - vb) <= 1e-12 * max(1.0, abs(va), abs(vb))


# ---------------------------------------------------------------------------- guards, decision

_PROSE_RE = re.compile(r"^[A-Za-z\s,.;:'!?-]+$")
# a power whose exponent is itself a power (10**10**10, 2^{2^{2^{100}}}), an exponent of 5+
# digits, or a factorial of a 4+ digit number: sympy may run (and allocate) without bound
_TOWER_RE = re.compile(r"(\*\*|\^)\s*[({]*\s*[-+]?[\d.]+\s*[)}]*\s*(\*\*|\^)")
_HUGE_EXP_RE = re.compile(r"(\*\*|\^)\s*[({]*\s*[-+]?\d{5,}|\d{4,}\s*!")


def ungradable(s: str) -> bool:
    """Guards run before the slow path: too long, a power tower, or prose without math."""
    if len(s) > MAX_SLOW_PATH_CHARS or _TOWER_RE.search(s) or _HUGE_EXP_RE.search(s):
        return True
    if _PROSE_RE.match(s):
        words = re.findall(r"[A-Za-z]+", s)
        return any(len(w) >= 3 and w.lower() not in MATH_WORDS for w in words)
    return False


@functools.lru_cache(maxsize=65536)
def read(text: str) -> tuple[str, _Num | _Seq | _Poly | None]:
    """(extracted answer, its fast-path structure or None), cached: golds repeat a lot."""
    answer = extract_answer(text)
    return answer, parse_fast(answer) if answer else None


def decide_fast(pred: str, gold: str) -> tuple[bool, bool | None, tuple[str, str, str, str] | None]:
    """(decided, result, slow_args): the fast-path verdict, or the arguments for the slow path."""
    if not isinstance(pred, str) or not isinstance(gold, str):
        return True, None, None
    (p, fp), (g, fg) = read(pred), read(gold)
    if not p or not g:
        return True, None, None
    if p == g:
        return True, True, None
    if fp is not None and fg is not None:
        return True, _match_fast(fp, fg), None
    if ungradable(p) or ungradable(g):
        return True, None, None
    numeric = _match_numeric(p, fp, g, fg)
    if numeric is not None:
        return True, numeric, None
    # order the pair canonically so the slow path is symmetric by construction
    a, b = sorted([(p, pred), (g, gold)])
    return (
        False,
        None,
        (a[0], b[0], a[1][: 4 * MAX_SLOW_PATH_CHARS], b[1][: 4 * MAX_SLOW_PATH_CHARS]),
    )
