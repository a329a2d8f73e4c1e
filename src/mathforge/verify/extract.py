"""Reading an answer out of text: the final-answer extractor and the LaTeX/plain rewriting.

`final_answer` is the one rule for "what answer does this text state" (used by
`mathforge.solution.parse_solution`, hence by Self-Instruct parsing and the `paths`
table's `final_answer` column); `extract_answer` is that answer normalised for grading.
The rules, with examples: docs/grading.md.
"""

from __future__ import annotations

import re

# ------------------------------------------------------------------ the final answer of a text

# "Final answer: X" at the start of a line (markdown decorations allowed: "**Final Answer:** X",
# "> Final answer = X", "- final answer is X"); group 1 is the rest of the line
FINAL_LINE_RE = re.compile(
    r"^[ \t>*_#-]*final[ \t]+answer[ \t]*[*_]*[ \t]*[:：=-]?[ \t]*[*_]*[ \t]*"
    r"(?:is[ \t]+)?([^\n]*)$",
    re.IGNORECASE | re.MULTILINE,
)
# "The answer is X." / "the final answer is X" anywhere on a line; X up to 200 characters
_ANSWER_IS_RE = re.compile(
    r"\bthe[ \t]+(?:final[ \t]+)?answer[ \t]+is[ \t]*:?[ \t]*"
    r"([^\n]{1,200}?)[ \t]*(?:\.[ \t]*$|\.\s|$)",
    re.IGNORECASE | re.MULTILINE,
)


def last_boxed(text: str) -> str | None:
    """The content of the last closed ``\\boxed{..}`` (the last 10 tried: bounded work)."""
    start = text.rfind("\\boxed")
    for _ in range(10):
        if start == -1:
            return None
        i = start + len("\\boxed")
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "{":
            depth = 0
            for j in range(i, min(len(text), i + 5000)):
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                if depth == 0:
                    return text[i + 1 : j].strip()
        start = text.rfind("\\boxed", 0, start)
    return None


def final_answer(text: str) -> str | None:
    """The answer a text states, or None: the value of its last "Final answer: X" line (the
    ``\\boxed{..}`` inside it if any); else its last closed ``\\boxed{..}``; else its last
    "The answer is X". ``$`` around the value is dropped; nothing else is normalised."""
    if not isinstance(text, str):
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    says_answer = "answer" in text.lower()  # both phrases need the word: skip their regexes
    value = None
    for m in FINAL_LINE_RE.finditer(text) if says_answer else ():
        stated = m.group(1).strip(" \t*_")
        if stated:
            value = stated  # the last one wins
    if value is not None:
        value = last_boxed(value) or value  # "Final answer: $\boxed{14}$" -> 14
    else:
        value = last_boxed(text)
        if value is None and says_answer:
            matches = list(_ANSWER_IS_RE.finditer(text))
            value = matches[-1].group(1).strip() if matches else None
    if value is not None:
        value = value.strip().strip("$").strip() or None
    return value


# ------------------------------------------------------------------ normalisation for grading

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
_TEXT_RE = re.compile(r"\\(?:text|textbf|mathrm|mbox|operatorname)\s*\{([^{}]*)\}")
_TAIL = 80  # unit words are looked for in the last _TAIL characters only

MATH_WORDS = frozenset(  # words that are math, not prose ("5 pi" keeps its "pi")
    (
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
    )
)


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
    """The answer part of `text` (`final_answer`, else the whole text), normalised for
    grading: math delimiters, ``\\left``/``\\right``, thin spaces, currency and degree signs,
    ``\\text{..}`` and trailing unit words, a leading ``x =`` dropped; may be ''."""
    s = final_answer(text) if isinstance(text, str) else None
    if s is None:
        s = (text or "").strip()
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
    s = _strip_trailing(s, _WORD_TAIL_RE, lambda w: w not in MATH_WORDS)  # "5 red bananas"
    s = _strip_delimiters(s)
    return re.sub(r"\s+", " ", s).strip()


# ------------------------------------------------------------------ bracket helpers


def split_top(s: str, sep: str) -> list[str]:
    """`s` split at `sep` outside brackets."""
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


def balanced(s: str) -> bool:
    depth = 0
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


# ------------------------------------------------------------------ LaTeX <-> plain rewriting


def latex_to_plain(s: str) -> str | None:
    """``\\frac{a}{b}`` -> ``((a)/(b))``, ``\\sqrt{a}`` -> ``sqrt(a)``, ``\\pi`` -> ``pi``; None if
    anything else LaTeX remains (the fast path's numeric evaluation reads the result)."""
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


def to_latex(s: str) -> str:
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
            + " \\\\ ".join(" & ".join(split_top(r, ",")) for r in rows)
            + "\\end{pmatrix}"
        )
    if t.startswith("{") and t.endswith("}") and balanced(t[1:-1]):
        t = "\\{" + t[1:-1] + "\\}"
    return f"${t}$"
