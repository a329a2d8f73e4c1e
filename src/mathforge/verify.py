"""Answer verification: does a model's answer match the reference answer?

    answers_match(pred, gold)                  -> True | False | None
    answers_match_batch(preds, golds, workers) -> list[True | False | None]

``None`` means *ungradable* (empty answer, text that holds no math, a timeout, an input too
large to check safely); callers count it apart from wrong answers, never as ``False``.
The result is symmetric: ``answers_match(a, b) == answers_match(b, a)``.

How an answer is read
---------------------
1. **Extraction** (both sides): the last ``\\boxed{..}`` / ``\\fbox{..}``, else the rest of the
   last "Final answer: X" / "The answer is X" line, else the whole string; then ``$..$``,
   ``\\(..\\)``, ``\\[..\\]``, a trailing full stop, ``\\left``/``\\right``, ``\\!``/``\\,``,
   currency signs (``$5``, ``\\$5``, "5 dollars"), degree signs, ``\\text{..}`` units and trailing
   unit words ("12 cm", "3 square meters") and a leading ``x =`` are dropped.  A top-level
   number with thousands separators (``1,234,567``) loses its commas; inside brackets a comma
   always separates elements.
2. **Fast path** (pure Python, microseconds, no sympy): if both sides are rationals -- integers,
   decimals, ``a/b``, ``\\frac{a}{b}``, percentages -- or tuples ``(a, b)``, intervals ``[a, b)``,
   sets ``{a, b}`` / ``\\{a, b\\}``, lists, matrices ``[[..], [..]]`` / ``\\begin{pmatrix}`` /
   ``Matrix([[..]])`` of them (``\\infty`` allowed in intervals), or polynomials with rational
   coefficients in single-letter variables (``3*x**2 + 2*x - 5`` as sympy prints it, or
   ``3x^2 + 2x - 5``), they are compared exactly here.  Numeric expressions of numbers,
   ``+ - * / ^``, ``sqrt``/``\\sqrt``, ``\\frac`` and ``pi`` (``2\\sqrt{2}``, ``sqrt(8)``,
   ``3\\pi/4``) are compared by value in floating point (equal to 1e-12 relative; a rounded
   decimal on the other side gets the decimal rule below).  A number against a tuple / set /
   matrix / non-constant polynomial is False here.  This covers the programmatic answer forms
   and most model renderings of them.
   Guards, before anything reaches sympy: answers longer than ``MAX_SLOW_PATH_CHARS``, power
   towers (``10**10**10``, ``2^(2^(2^100))``), exponents of 5+ digits, factorials of 4+ digit
   numbers, and plain prose ("I don't know") are ungradable (``None``).  All regexes run on
   whitespace-collapsed text and bounded tails, so a 10,000-character answer costs
   milliseconds.
3. **Slow path** (everything else: ``(x+1)^2``, ``e^{x}``, ``\\log_2 8``, trig, ...):
   math-verify (``parse`` + ``verify``) with its ``signal.alarm`` timeouts disabled, run in a
   small pool of worker *subprocesses* shared by all threads of a process.  Each call has a
   deadline (``SLOW_PATH_DEADLINE_S``, or ``timeout=``); a worker that overruns it is killed
   and replaced, and the call returns ``None``.  This works from any thread and from inside
   daemonic ``multiprocessing`` workers (workers are plain ``subprocess.Popen`` children, not
   ``multiprocessing.Process``; a forked child starts its own pool).  Each worker caps its
   address space (``WORKER_MEMORY_BYTES``) and exits when its parent dies.  Before
   math-verify sees a plain answer it is rewritten as LaTeX (``**`` -> ``^``, ``sqrt(..)`` ->
   ``\\sqrt{..}``, ``pi`` -> ``\\pi``, ``exp(`` -> ``\\exp(``, ``[[..]]`` -> ``pmatrix``) and
   wrapped in ``$..$``, because math-verify's default extraction misses bare LaTeX and plain
   ``sqrt(..)``; the raw text is the fallback.  Two plain expressions that differ at a numeric
   probe point (more than 1e-5 relative) are False without ``verify``'s simplify.
   math-verify's ``verify`` is asymmetric (gold vs target): the pair is put in a canonical
   order and True in either direction counts, so the result is symmetric by construction.
   Caches: extraction + fast parse per string (LRU), parsed answers per worker, and slow-path
   verdicts per pair (not for overruns).

Tolerance rules (fast path)
---------------------------
* Integers and fractions are **exact**.  A decimal with k places is read as a value rounded to
  k places when k >= 2 (``MIN_DECIMAL_PLACES``) and it shows at least 2 significant digits
  (``MIN_SIGNIFICANT_DIGITS``): it then matches a value v when ``|v - d| <= 0.5 * 10**-k``
  (v rounded to the decimal's own places gives d, half-up or half-even).  Otherwise only
  exact equality counts.  So "0.5" == "1/2", "0.33" == "1/3", "0.3333" == "1/3", but
  "0.3" != "1/3", "0.00" != "1/300" and "12" != "12.04".
* Two decimals: the more precise one rounded to the less precise one's places, by the same
  rule ("12.301" == "12.30"; "12.3" == "12.30" exactly), but a one-place decimal is exact
  ("12.3" != "12.301", "3078.6" != "3078.57": dropping a digit of a cents answer is wrong,
  not rounding).
  An integer is never read as a rounded decimal.
* Percentages: "X%" matches both X/100 and X ("25%" == "0.25" and "25%" == "25"), because
  questions ask "what percentage ..." and gold answers are written both ways.  "25" != "0.25".
* Ordered things (tuples, intervals, lists, matrices) compare element by element and their
  brackets must agree ("(1, 2)" != "[1, 2]": open vs closed).  Sets compare unordered and
  ignore duplicates.

The same decimal rule holds against sqrt/pi expressions ("1.41" == "sqrt(2)", "1.4" !=
"sqrt(2)", "3.14159" == "\\pi").  math-verify's own numeric rule (slow path only) rounds floats
to 6 places.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import re
import select
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

SLOW_PATH_DEADLINE_S = 3.0  # per slow-path call; a worker that overruns is killed -> None
WORKER_START_TIMEOUT_S = 60.0  # importing math-verify + sympy in a fresh worker
MAX_SLOW_PATH_CHARS = 1000  # longer answers are ungradable: sympy time/memory is unbounded
MIN_DECIMAL_PLACES = 2  # a decimal is read as rounded (with a tolerance) from 2 places on
MIN_SIGNIFICANT_DIGITS = 2  # ... and when it shows at least 2 significant digits
WORKER_MEMORY_BYTES = 4 << 30  # RLIMIT_AS of each worker (10**10**10 would need ~4 GB)

__all__ = ["answers_match", "answers_match_batch", "extract_answer", "shutdown_workers"]


# ---------------------------------------------------------------------------- extraction

_FINAL_RE = re.compile(
    r"(?:final\s+answer|the\s+(?:final\s+)?answer\s+is|answer\s*:)\s*(?:is\s*)?[:=]?\s*(.+)",
    re.IGNORECASE,
)
_UNIT_WORDS = (
    "dollars?|cents?|euros?|pounds?|usd|eur|units?|square|sq|cubic|cu|"
    "mm|cm|km|m|meters?|metres?|kilometers?|kilometres?|centimeters?|centimetres?|"
    "millimeters?|millimetres?|inch(?:es)?|in|feet|foot|ft|yards?|yd|miles?|mi|"
    "g|kg|mg|grams?|kilograms?|lbs?|ounces?|oz|tons?|"
    "ml|l|liters?|litres?|gallons?|"
    "s|sec|secs|seconds?|min|mins|minutes?|h|hr|hrs|hours?|days?|weeks?|months?|years?|"
    "km/h|kmh|mph|m/s|degrees?|deg|people|persons?|students?|items?|pieces?|apples?|"
    "books?|marbles?|cookies?|boxes|box|bags?|cars?|tickets?|times|ways"
)
# one trailing unit; stripped repeatedly from a bounded tail (no backtracking blow-up)
_UNIT_TAIL_RE = re.compile(
    rf"(?<=[\d)\]}}\s])(?:{_UNIT_WORDS})(?:\s*\^?\s*\{{?[23]\}}?|²|³)?\.?\s*$", re.IGNORECASE
)
_WORD_TAIL_RE = re.compile(r"(?<=\s)[A-Za-z]{3,}\s*$")
_PERCENT_WORD_RE = re.compile(r" ?\b(?:percent|per ?cent)\b", re.IGNORECASE)
_TAIL = 80  # unit words are looked for in the last _TAIL characters only


def _strip_trailing(s: str, pattern: re.Pattern, allowed=lambda word: True) -> str:
    """Drop trailing matches of `pattern` (at most 4) if a number or bracket is left before."""
    out = s
    for _ in range(4):
        tail = out[-_TAIL:]
        m = pattern.search(tail)
        if not m or not allowed(m.group(0).strip().lower()):
            break
        out = out[: len(out) - len(tail) + m.start()].rstrip()
    return out if out is not s and out and out[-1] in "0123456789)]}" else s


_TEXT_RE = re.compile(r"\\(?:text|textbf|mathrm|mbox|operatorname)\s*\{([^{}]*)\}")


def _last_braced(s: str, command: str) -> str | None:
    """The content of the last ``command{...}`` in s (balanced braces), or None."""
    start = s.rfind(command)
    while start != -1:
        i = start + len(command)
        while i < len(s) and s[i] == " ":
            i += 1
        if i < len(s) and s[i] == "{":
            depth, j = 0, i
            while j < len(s):
                if s[j] == "{":
                    depth += 1
                elif s[j] == "}":
                    depth -= 1
                    if depth == 0:
                        return s[i + 1 : j]
                j += 1
            return s[i + 1 :]  # unclosed: take the rest
        start = s.rfind(command, 0, start)
    return None


def _strip_delimiters(s: str) -> str:
    s = s.strip()
    changed = True
    while changed and s:
        changed = False
        for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
            if len(s) >= len(left) + len(right) and s.startswith(left) and s.endswith(right):
                inner = s[len(left) : len(s) - len(right)]
                if left == "$" and "$" in inner:
                    continue
                s, changed = inner.strip(), True
        if s.endswith((".", ";", "!")):
            s, changed = s[:-1].rstrip(), True  # "The answer is 42." -> "42"
    return s


def extract_answer(text: str) -> str:
    """The answer part of a model output, normalized (see the module docstring); may be ''."""
    s = (text or "").strip()
    boxed = _last_braced(s, "\\boxed") or _last_braced(s, "\\fbox")
    if boxed is not None:
        s = boxed
    else:
        matches = list(_FINAL_RE.finditer(s))
        if matches:
            s = matches[-1].group(1).strip().splitlines()[0]
            inner = _last_braced(s, "\\boxed")
            s = inner if inner is not None else s
    s = _strip_delimiters(re.sub(r"\s+", " ", s))  # one space at most: no regex blow-ups
    s = s.replace("\\$", "").replace("\\%", "%").replace("~", " ")
    s = re.sub(r"(?<!\\)\\[!,;: ]", " ", s)  # thin spaces; never the "\\" of a matrix row
    s = re.sub(r"\\(?:left|right|big|Big|bigg|Bigg)(?![a-zA-Z])", "", s)
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = re.sub(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree", "", s)
    s = _TEXT_RE.sub(lambda m: " " + m.group(1) + " ", s)  # \text{ cm} -> cm, \text{and} -> and
    s = s.replace("−", "-").replace("×", "*").replace("÷", "/")
    s = re.sub(r"^US\$", "", s).replace("$", "")  # after the math delimiters: currency or stray
    s = re.sub(r"^[a-zA-Z]\s*=\s*(?!.*=)", "", s.strip())  # "x = 5" -> "5"
    s = _PERCENT_WORD_RE.sub("%", s)
    s = _strip_trailing(s, _UNIT_TAIL_RE)  # "12 cm", "36 square meters"
    s = _strip_trailing(s, _WORD_TAIL_RE, lambda w: w not in _MATH_WORDS)  # "5 red bananas"
    s = _strip_delimiters(s)
    return re.sub(r"\s+", " ", s).strip()


# ---------------------------------------------------------------------------- fast path


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


def _split_top(s: str, sep: str) -> list[str]:
    parts, depth, cur = [], 0, []
    i = 0
    while i < len(s):
        c = s[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if depth == 0 and s.startswith(sep, i):
            parts.append("".join(cur))
            cur = []
            i += len(sep)
            continue
        cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def _balanced(s: str) -> bool:
    depth = 0
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _parse_fast(s: str, top: bool = True, depth: int = 0) -> _Num | _Seq | _Poly | None:
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
        inner = _parse_fast(m.group(1), top=False, depth=depth + 1)
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
        item = _parse_fast(part, top=False, depth=depth + 1)
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


def _close(a: tuple, b: tuple) -> bool:
    (va, pa, sa), (vb, pb, sb) = a, b
    if va == vb:
        return True
    decimals = [(p, s) for p, s in ((pa, sa), (pb, sb)) if p is not None]
    if not decimals:
        return False
    places, sig = min(decimals)  # the less precise decimal sets the tolerance
    if places < MIN_DECIMAL_PLACES or sig < MIN_SIGNIFICANT_DIGITS:
        return False
    return abs(va - vb) * 2 * 10**places <= 1


def _match_num(a: _Num, b: _Num) -> bool:
    if a.value is None or b.value is None:
        return a.value is None and b.value is None and a.inf == b.inf
    return any(_close(x, y) for x in _num_values(a) for y in _num_values(b))


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


def _latex_to_plain(s: str) -> str | None:
    """``\\frac{a}{b}`` -> ``((a)/(b))``, ``\\sqrt{a}`` -> ``sqrt(a)``, ``\\pi`` -> ``pi``; None if
    anything else LaTeX remains."""
    s = s.replace("\\cdot", "*").replace("\\times", "*").replace("\\pi", " pi ").replace("**", "^")
    for _ in range(50):
        m = re.search(r"\\(frac|sqrt)\s*", s)
        if not m:
            break
        args, i = [], m.end()
        for _ in range(2 if m.group(1) == "frac" else 1):
            while i < len(s) and s[i] == " ":
                i += 1
            if i < len(s) and s[i] == "{":
                depth, j = 0, i
                while j < len(s):
                    depth += {"{": 1, "}": -1}.get(s[j], 0)
                    if depth == 0:
                        break
                    j += 1
                if depth:
                    return None
                args.append(s[i + 1 : j])
                i = j + 1
            elif i < len(s) and s[i].isdigit():
                args.append(s[i])
                i += 1
            else:
                return None
        repl = f"(({args[0]})/({args[1]}))" if m.group(1) == "frac" else f"sqrt({args[0]})"
        s = s[: m.start()] + repl + s[i:]
    if "\\" in s:
        return None
    return s.replace("{", "(").replace("}", ")")


def _eval_numeric(s: str) -> float | None:
    """The value of an expression of numbers, + - * / ^, sqrt, pi and parentheses (implicit
    multiplication allowed); None for anything else or a value too large to trust."""
    import math

    plain = _latex_to_plain(s)
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

    Values agreeing to 1e-12 (relative) are equal: for expressions this small that is equality
    in practice.  A rounded decimal on one side gets the decimal tolerance rule.  None: not
    both numeric (the slow path decides)."""
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
            sides.append((float(fast.value), fast.places, fast.sig))
        elif fast is None and (value := _eval_numeric(text)) is not None:
            sides.append((value, None, 0))
        else:
            return None
    (va, pa, sa), (vb, pb, sb) = sides
    if abs(va - vb) <= 1e-12 * max(1.0, abs(va), abs(vb)):
        return True
    decimals = [(pl, sg) for pl, sg in ((pa, sa), (pb, sb)) if pl is not None]
    if decimals:
        places, sig = min(decimals)
        if places >= MIN_DECIMAL_PLACES and sig >= MIN_SIGNIFICANT_DIGITS and places <= 10:
            return abs(va - vb) <= 0.5 * 10**-places * (1 + 1e-9)
    return False


# ---------------------------------------------------------------------------- slow path


def _replace_call(s: str, name: str, latex: str) -> str:
    """``name(...)`` -> ``latex{...}`` with balanced parentheses."""
    out, i = [], 0
    pattern = re.compile(rf"(?<![A-Za-z\\]){name}\s*\(")
    while m := pattern.search(s, i):
        out.append(s[i : m.start()])
        depth, j = 1, m.end()
        while j < len(s) and depth:
            depth += {"(": 1, ")": -1}.get(s[j], 0)
            j += 1
        if depth:
            out.append(s[m.start() :])
            return "".join(out)
        out.append(f"{latex}{{{_replace_call(s[m.end() : j - 1], name, latex)}}}")
        i = j
    out.append(s[i:])
    return "".join(out)


def _to_latex(s: str) -> str:
    """Plain-math answer -> LaTeX that math-verify's LaTeX extraction reads, wrapped in $..$."""
    t = s.replace("**", "^")
    t = _replace_call(t, "sqrt", "\\sqrt")
    t = re.sub(r"(?<![A-Za-z\\])pi(?![A-Za-z])", r"\\pi", t)
    t = re.sub(r"(?<![A-Za-z\\])(exp|log|ln|sin|cos|tan)\s*\(", r"\\\1(", t)
    t = re.sub(r"(?<![A-Za-z\\])(oo|inf|infinity)(?![A-Za-z])", r"\\infty", t)
    t = re.sub(r"\^\(([^()]*)\)", r"^{\1}", t)
    m = re.match(r"^(?:Matrix)?\(?\[\s*\[(.*)\]\s*\]\)?$", t, re.DOTALL)
    if m:
        rows = re.split(r"\]\s*,\s*\[", m.group(1))
        t = (
            "\\begin{pmatrix}"
            + " \\\\ ".join(" & ".join(_split_top(r, ",")) for r in rows)
            + "\\end{pmatrix}"
        )
    if t.startswith("{") and t.endswith("}") and _balanced(t[1:-1]):
        t = "\\{" + t[1:-1] + "\\}"
    return f"${t}$"


_PARSE_CACHE: dict[str, list] = {}  # per worker process: an answer is parsed once
_PARSE_CACHE_MAX = 8192


def _parse_cached(text: str) -> list:
    from math_verify import parse

    out = _PARSE_CACHE.get(text)
    if out is None:
        out = parse(text, parsing_timeout=None) if text else []
        if len(_PARSE_CACHE) >= _PARSE_CACHE_MAX:
            _PARSE_CACHE.clear()
        _PARSE_CACHE[text] = out
    return out


_PROBE_POINT = (0.7371, 1.3093, 0.4127, 2.2719)  # values for the free symbols, in name order


def _numerically_different(a, b) -> bool:
    """True when two plain sympy expressions differ at a probe point by more than math-verify's
    rounding could hide (a cheap, sound rejection before verify's simplify); False: unknown."""
    import sympy

    if not (isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr)):
        return False
    symbols = sorted(a.free_symbols | b.free_symbols, key=lambda x: x.name)
    if len(symbols) > len(_PROBE_POINT):
        return False
    point = dict(zip(symbols, _PROBE_POINT, strict=False))
    try:
        va = complex(a.evalf(30, subs=point))
        vb = complex(b.evalf(30, subs=point))
    except (TypeError, ValueError, ArithmeticError, AttributeError):
        return False
    if any(v != v or abs(v) == float("inf") for v in (va, vb)):
        return False
    return abs(va - vb) > 1e-5 * max(1.0, abs(va), abs(vb))


def _slow_pair(pred_norm: str, gold_norm: str, pred_raw: str, gold_raw: str) -> bool | None:
    """math-verify on one pair, both directions (runs inside a worker process)."""
    from math_verify import verify

    def parsed(norm: str, raw: str) -> list:
        return _parse_cached(_to_latex(norm) if norm else "") or _parse_cached(raw)

    p, g = parsed(pred_norm, pred_raw), parsed(gold_norm, gold_raw)
    if not p or not g:
        return None
    if _numerically_different(p[0], g[0]):
        return False
    return bool(verify(g, p, timeout_seconds=None) or verify(p, g, timeout_seconds=None))


def _worker_main() -> None:
    """Loop of one slow-path worker: JSON requests on stdin, JSON results on stdout."""
    import logging
    import resource
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.CRITICAL)
    import math_verify  # noqa: F401  (import before announcing readiness)

    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    parent = os.getppid()

    def watchdog() -> None:  # exit if the parent dies while we are stuck in sympy
        import time

        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for line in sys.stdin:
        try:
            args = json.loads(line)
            result = _slow_pair(*args)
        except BaseException:  # noqa: BLE001 - any failure in sympy is "ungradable"
            result = None
        out.write(json.dumps(result) + "\n")
        out.flush()


class _Worker:
    def __init__(self) -> None:
        src = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
        env["OMP_NUM_THREADS"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from mathforge.verify import _worker_main; _worker_main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        self.ready = False
        self._buf = b""

    def _readline(self, timeout: float) -> bytes | None:
        import time

        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            readable, _, _ = select.select([fd], [], [], left)
            if not readable:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None  # worker died
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def call(self, args: list[str], deadline: float) -> tuple[bool, bool | None]:
        """(alive, result). alive=False: the worker overran or died and must be replaced."""
        if not self.ready:
            if self._readline(WORKER_START_TIMEOUT_S) != b"ready":
                return False, None
            self.ready = True
        try:
            self.proc.stdin.write((json.dumps(args) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:
            return False, None
        line = self._readline(deadline)
        if line is None:
            return False, None
        return True, json.loads(line)

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001
            pass


_RESULT_CACHE_MAX = 65536


class _Pool:
    """Slow-path workers shared by all threads of this process; grows on demand."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.idle: list[_Worker] = []
        self.size = 0
        self.available = threading.Condition(self.lock)
        self.capacity = max(1, min(os.cpu_count() or 1, 4))
        self.results: dict[tuple[str, ...], bool | None] = {}  # slow-path verdicts, by pair

    def run(self, args: list[str], deadline: float) -> bool | None:
        key = tuple(args)
        with self.lock:
            if key in self.results:
                return self.results[key]
        alive, result = self._run(args, deadline)
        if alive:  # an overrun may be load, not the pair: do not remember it
            with self.lock:
                if len(self.results) >= _RESULT_CACHE_MAX:
                    self.results.clear()
                self.results[key] = result
        return result

    def _run(self, args: list[str], deadline: float) -> tuple[bool, bool | None]:
        with self.available:
            while not self.idle and self.size >= self.capacity:
                self.available.wait()
            if self.idle:
                worker = self.idle.pop()
            else:
                worker = _Worker()
                self.size += 1
        alive, result = worker.call(args, deadline)
        if not alive:
            worker.kill()
            worker = _Worker()  # replace now, so it warms up while we return
        with self.available:
            self.idle.append(worker)
            self.available.notify()
        return alive, result

    def close(self) -> None:
        with self.lock:
            for worker in self.idle:
                worker.kill()
            self.idle.clear()
            self.size = 0


_POOL: _Pool | None = None
_POOL_LOCK = threading.Lock()


def _pool(capacity: int | None = None) -> _Pool:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL.pid != os.getpid():  # new process (fork): never reuse pipes
            _POOL = _Pool()
        if capacity is not None and capacity > _POOL.capacity:
            with _POOL.available:
                _POOL.capacity = capacity
                _POOL.available.notify_all()
        return _POOL


def shutdown_workers() -> None:
    """Stop the slow-path worker processes (they also stop when this process exits)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None and _POOL.pid == os.getpid():
            _POOL.close()
        _POOL = None


atexit.register(shutdown_workers)


# ---------------------------------------------------------------------------- public API

_MATH_WORDS = {
    "pi",
    "inf",
    "infty",
    "infinity",
    "oo",
    "sqrt",
    "frac",
    "sin",
    "cos",
    "tan",
    "log",
    "ln",
    "exp",
}
_PROSE_RE = re.compile(r"^[A-Za-z\s,.;:'!?-]+$")
# a power whose exponent is itself a power (10**10**10, 2^{2^{2^{100}}}), an exponent of 5+
# digits, or a factorial of a 4+ digit number: sympy may run (and allocate) without bound
_TOWER_RE = re.compile(r"(\*\*|\^)\s*[({]*\s*[-+]?[\d.]+\s*[)}]*\s*(\*\*|\^)")
_HUGE_EXP_RE = re.compile(r"(\*\*|\^)\s*[({]*\s*[-+]?\d{5,}|\d{4,}\s*!")


def _ungradable(s: str) -> bool:
    """Guards run before the slow path: too long, a power tower, or prose without math."""
    if len(s) > MAX_SLOW_PATH_CHARS or _TOWER_RE.search(s) or _HUGE_EXP_RE.search(s):
        return True
    if _PROSE_RE.match(s):
        words = re.findall(r"[A-Za-z]+", s)
        return any(len(w) >= 3 and w.lower() not in _MATH_WORDS for w in words)
    return False


@functools.lru_cache(maxsize=65536)
def _read(text: str) -> tuple[str, _Num | _Seq | _Poly | None]:
    """(extracted answer, its fast-path structure or None), cached: golds repeat a lot."""
    answer = extract_answer(text)
    return answer, _parse_fast(answer) if answer else None


def _decide_fast(
    pred: str, gold: str
) -> tuple[bool, bool | None, tuple[str, str, str, str] | None]:
    """(decided, result, slow_args): the fast-path verdict, or the arguments for the slow path."""
    if not isinstance(pred, str) or not isinstance(gold, str):
        return True, None, None
    (p, fp), (g, fg) = _read(pred), _read(gold)
    if not p or not g:
        return True, None, None
    if p == g:
        return True, True, None
    if fp is not None and fg is not None:
        return True, _match_fast(fp, fg), None
    if _ungradable(p) or _ungradable(g):
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


def answers_match(pred: str, gold: str, *, timeout: float = SLOW_PATH_DEADLINE_S) -> bool | None:
    """True if `pred` states the same answer as `gold`, False if not, None if ungradable.

    Symmetric in its arguments; safe to call from any thread or process; the time spent is
    bounded by about `timeout` seconds (plus a worker's start-up on first use).
    """
    decided, result, slow_args = _decide_fast(pred, gold)
    if decided:
        return result
    return _pool().run(list(slow_args), timeout)


def answers_match_batch(
    preds: Sequence[str],
    golds: Sequence[str],
    *,
    workers: int | None = None,
    timeout: float = SLOW_PATH_DEADLINE_S,
) -> list[bool | None]:
    """`answers_match` over pairs; the slow-path pairs run on `workers` processes at once.

    Identical (pred, gold) pairs are checked once.  `workers` defaults to the CPU count (max 4).
    """
    if len(preds) != len(golds):
        raise ValueError(f"preds and golds differ in length: {len(preds)} != {len(golds)}")
    results: list[bool | None] = [None] * len(preds)
    pending: dict[tuple[str, str, str, str], list[int]] = {}
    for i, (pred, gold) in enumerate(zip(preds, golds, strict=True)):
        decided, result, slow_args = _decide_fast(pred, gold)
        if decided:
            results[i] = result
        else:
            pending.setdefault(slow_args, []).append(i)
    if pending:
        n = workers or max(1, min(os.cpu_count() or 1, 4))
        pool = _pool(n)
        keys = list(pending)
        with ThreadPoolExecutor(max_workers=n) as ex:
            for key, result in zip(
                keys, ex.map(lambda k: pool.run(list(k), timeout), keys), strict=True
            ):
                for i in pending[key]:
                    results[i] = result
    return results
