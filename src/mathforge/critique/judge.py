"""The programmatic judge: does a path reach its answer by the question's own reasoning?

Answer-only grading lets through programs that hit the right answer by accident (numbers
miscopied from the question that compensate, floor division, a hard-coded answer, a wrong
method that coincides here). The judge runs the path's programs in the sandbox and checks
what a careful grader would, each check one line of the critique (`mathforge.critique.format`):

- **runs**: there is a program; it runs cleanly and prints an answer.
- **answer**: the printed answer matches the reference (`answers_match`; ungradable fails).
- **numbers**: every number literal of the program is a number of the question (as written,
  or a percentage as a share: 44% -> 0.44) or one of `ALLOWED_CONSTANTS`, the constants a
  solution brings by itself: 0-12 (range bounds, small counts, months, "twice"), the units
  15, 24, 30, 60, 90, 180, 360, 365, 3600 (minutes, hours, days, degrees), powers of ten
  (percent, cents, rounding), the halves and quarters 0.5 / 0.25 / 0.1 / 0.01, and any
  number below 1e-6 (a tolerance).
- **computed**: the answer is not printed as a literal: the print that gives it has only
  constants for arguments, or the answer equals a literal of the program that is neither a
  number of the question nor an allowed constant (``x = 152; print(x)``).
- **claims**: every result the reasoning text states (`ParsedSolution.claimed_numbers`:
  "= 104", "gives 7") is a value the program computes (the result of any operation or call,
  recorded by an instrumented run), a number of the question or the printed answer, up to the
  rounding the text shows.
- **final_answer**: the "Final answer:" line, where there is one, matches the printed answer.
- **counterfactual**: for a problem with a reference *solution* (the programmatic teacher's),
  the numbers the reference program binds (``n1 = 26``) are redrawn, substituted into both
  programs, and both are run: the path must agree with the reference on the new numbers
  (`COUNTERFACTUAL_TRIALS` draws). A program that reached the answer by accident fails here.
  Only paths with the right answer are tried; a draw where the reference itself fails to
  print an answer is not counted.

The score (0-10, `ACCEPT` = 7 accepts): a path that does not run scores 0; a wrong answer 1;
a right answer (or no reference) 10 with every reasoning check (`REASONING`: numbers,
computed, claims, counterfactual) passing, 6 with one failing, 3 with more: any failed
reasoning check rejects the path. A final-answer line that disagrees with the printed answer
costs one point (10 -> 9) and does not reject: the line is text the model writes without
running its program, and the graded answer is the printed one.
"""

from __future__ import annotations

import ast
import hashlib
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from mathforge.config import SandboxParams
from mathforge.critique.format import ACCEPT, Check, render_critique
from mathforge.grading import last_line, run_sandboxed
from mathforge.solution import parse_solution, program_of
from mathforge.verify import answers_match_batch

ALLOWED_CONSTANTS = frozenset(
    [Fraction(n) for n in range(13)]
    + [Fraction(n) for n in (15, 24, 30, 60, 90, 180, 360, 365, 3600)]
    + [Fraction(10) ** k for k in range(2, 10)]
    + [Fraction(1, 2), Fraction(1, 4), Fraction(1, 10), Fraction(1, 100)]
)
# Results a text may state without the program computing them: "= 0" (an equation), "is 1",
# "100%" (the whole), the powers of ten.
_RESTATED = frozenset([Fraction(0), Fraction(1)] + [Fraction(10) ** k for k in range(1, 10)])
COUNTERFACTUAL_TRIALS = 2
# The checks whose failure rejects a path with the right answer. The final-answer line is
# text a model writes without running its program (the graded answer is what the program
# prints): a line that disagrees costs one point and does not reject.
REASONING = ("numbers", "computed", "claims", "counterfactual")
DEFAULT_SANDBOX = SandboxParams(
    timeout_s=5.0, wall_timeout_s=None, memory_mb=1024, workers=None, allow_unsandboxed=False
)

# Every digit run of the question, decimals included ("3x" gives 3, "$4.50" gives 4.50).
_QUESTION_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_BINDING = re.compile(r"^(n\d+) = (\d+(?:\.\d+)?)$", re.MULTILINE)  # the teacher's `n1 = 26`
_VALUES_MARK = "MATHFORGE_VALUES"  # the instrumented run's last stdout line
_MAX_VALUES = 200  # values an instrumented run reports (the sandbox caps output at 64 KiB)
# Names the instrumentation adds: no leading underscore, so vetted programs stay in the
# sandbox's fast in-process runner (`mathforge.sandbox.vet`).
_RECORD, _SEEN = "mathforge_record", "mathforge_values"
_HEADER = f"""
import fractions as mathforge_fractions
import decimal as mathforge_decimal
{_SEEN} = {{}}
def {_RECORD}(value):
    if len({_SEEN}) < {_MAX_VALUES} and not isinstance(value, bool) and isinstance(
        value, (int, float, mathforge_fractions.Fraction, mathforge_decimal.Decimal)
    ):
        if not isinstance(value, int) or -10**30 < value < 10**30:
            {_SEEN}[str(value)] = None
    elif hasattr(value, "is_Number") and value.is_Number and len({_SEEN}) < {_MAX_VALUES}:
        {_SEEN}[str(value)] = None
    return value
"""


@dataclass(frozen=True)
class JudgeItem:
    """One path to judge: its problem, the reference answer (None: none) and, for a teacher
    problem, the reference solution whose bound numbers the counterfactual check redraws;
    `output`: what its program printed when sampling ran it (`format.program_output`), shown
    to an endpoint judge (the programmatic judge runs the program itself)."""

    question: str
    reference: str | None
    solution: str
    reference_solution: str | None = None
    output: str | None = None


@dataclass(frozen=True)
class Judgement:
    """The judge's verdict on one path. `score` is None only when a judge's output did not
    parse (an endpoint judge); `error` then says why, and the path is not accepted."""

    score: int | None
    critique: str
    checks: dict[str, str]  # check name -> pass | fail | skip
    details: tuple[Check, ...] = field(default=())
    predicted: str | None = None
    error: str | None = None
    threshold: int = ACCEPT

    @property
    def accepted(self) -> bool:
        return self.score is not None and self.score >= self.threshold


def judge(
    question: str,
    reference: str | None,
    solution: str,
    *,
    reference_solution: str | None = None,
    sandbox: SandboxParams = DEFAULT_SANDBOX,
) -> Judgement:
    """The programmatic judge on one path (see the module doc); `judge_many` for a batch."""
    return judge_many([JudgeItem(question, reference, solution, reference_solution)], sandbox)[0]


def judge_many(
    items: Sequence[JudgeItem],
    sandbox: SandboxParams = DEFAULT_SANDBOX,
    *,
    seed: int = 0,
    trials: int = COUNTERFACTUAL_TRIALS,
    threshold: int = ACCEPT,
) -> list[Judgement]:
    """Judge every item: one sandbox batch of instrumented runs, one of counterfactual runs
    (`trials` redraws per right answer, seeded by `seed` and the question); a score of
    `threshold` or more accepts."""
    parsed = [parse_solution(item.solution) for item in items]
    programs = [program_of(p) for p in parsed]
    runs = _run_instrumented(programs, sandbox)
    predicted = [run.predicted for run in runs]
    answer_ok = _match([(p, item.reference) for p, item in zip(predicted, items, strict=True)])
    final_ok = _match(
        [(p, parsed_.final_answer) for p, parsed_ in zip(predicted, parsed, strict=True)]
    )
    redraws = _counterfactual_trials(items, programs, runs, answer_ok, seed, trials)
    counterfactual = _run_counterfactuals(redraws, sandbox)

    judgements = []
    for i, item in enumerate(items):
        checks = [_runs_check(programs[i], runs[i])]
        if checks[0].verdict == "pass":
            checks += _reasoning_checks(item, parsed[i], programs[i], runs[i], answer_ok[i],
                                        final_ok[i], counterfactual.get(i))  # fmt: skip
        score = _score(checks)
        judgements.append(
            Judgement(
                score=score,
                critique=render_critique(checks, score),
                checks={c.name: c.verdict for c in checks},
                details=tuple(checks),
                predicted=runs[i].predicted,
                threshold=threshold,
            )
        )
    return judgements


# ---------------------------------------------------------------------------- scoring
def _score(checks: list[Check]) -> int:
    verdicts = {c.name: c.verdict for c in checks}
    if verdicts["runs"] != "pass":
        return 0
    if verdicts.get("answer") == "fail":
        return 1
    failed = sum(verdicts.get(name) == "fail" for name in REASONING)
    score = 10 if failed == 0 else 6 if failed == 1 else 3
    return score - (verdicts.get("final_answer") == "fail")


# ------------------------------------------------------------------- instrumented run
@dataclass(frozen=True)
class _Run:
    ok: bool
    error_kind: str | None
    predicted: str | None
    values: tuple[str, ...] | None  # what the program computed; None: not recorded


class _Record(ast.NodeTransformer):
    """Wraps every operation and call in `mathforge_record(...)`, which notes its value."""

    def _wrap(self, node: ast.expr) -> ast.expr:
        self.generic_visit(node)
        call = ast.Call(ast.Name(_RECORD, ast.Load()), [node], [])
        return ast.copy_location(call, node)

    visit_BinOp = _wrap
    visit_Call = _wrap


def instrument(program: str) -> str | None:
    """`program` recording the values it computes, printed as its last stdout line (also when
    it raises); None when it does not parse (it then runs as it is)."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError):
        return None
    if any(isinstance(s, ast.ImportFrom) and s.module == "__future__" for s in tree.body):
        return None
    body = _Record().visit(tree).body
    dump = ast.parse(f'print("\\n{_VALUES_MARK} " + "\\t".join({_SEEN}))').body
    wrapped = ast.Try(body=body or [ast.Pass()], handlers=[], orelse=[], finalbody=dump)
    module = ast.Module(body=[*ast.parse(_HEADER).body, wrapped], type_ignores=[])
    return ast.unparse(ast.fix_missing_locations(module))


def _run_instrumented(programs: list[str], sandbox: SandboxParams) -> list[_Run]:
    sources = [instrument(p) or p if p.strip() else "" for p in programs]
    to_run = [i for i, source in enumerate(sources) if source]
    results = dict(zip(to_run, run_sandboxed([sources[i] for i in to_run], sandbox), strict=True))
    runs = []
    for i in range(len(programs)):
        if i not in results:
            runs.append(_Run(False, "no_program", None, None))
            continue
        result = results[i]
        lines = result.stdout.splitlines()
        values = None
        marks = [k for k, line in enumerate(lines) if line.startswith(_VALUES_MARK)]
        if marks:  # the last one is ours: a program cannot print after its finally block
            values = tuple(v for v in lines[marks[-1]][len(_VALUES_MARK) + 1 :].split("\t") if v)
            lines = lines[: marks[-1]]
        predicted = last_line("\n".join(lines)) if result.ok else None
        kind = result.error_kind or (None if predicted is not None else "no_output")
        runs.append(_Run(result.ok and predicted is not None, kind, predicted, values))
    return runs


def _match(pairs: list[tuple[str | None, str | None]]) -> list[bool | None]:
    """answers_match on the pairs where both sides exist; None where one is missing."""
    todo = [i for i, (a, b) in enumerate(pairs) if a is not None and b is not None]
    found = answers_match_batch([pairs[i][0] for i in todo], [pairs[i][1] for i in todo])
    out: list[bool | None] = [None] * len(pairs)
    for i, verdict in zip(todo, found, strict=True):
        out[i] = bool(verdict)  # ungradable counts as no match
    return out


# ----------------------------------------------------------------------------- checks
def _runs_check(program: str, run: _Run) -> Check:
    if not program.strip():
        return Check("runs", "fail", "no program")
    if not run.ok:
        return Check("runs", "fail", run.error_kind or "failed")
    return Check("runs", "pass", f"printed {_short(run.predicted)}")


def _reasoning_checks(item, parsed, program, run, answer_ok, final_ok, counterfactual):
    checks = []
    if item.reference is None:
        checks.append(Check("answer", "skip", "no reference"))
    elif answer_ok:
        checks.append(Check("answer", "pass"))
    else:
        checks.append(Check("answer", "fail", f"reference {_short(item.reference)}"))
    numbers = question_numbers(item.question)
    literals = program_literals(program)
    foreign = [v for v in literals if not _allowed(v, numbers)]
    checks.append(
        Check("numbers", "fail", f"{_fmt(foreign[0])} is not a number of the question")
        if foreign else Check("numbers", "pass")
    )  # fmt: skip
    checks.append(_computed_check(program, run.predicted, literals, numbers))
    checks.append(_claims_check(parsed.claimed_numbers, run, numbers))
    if parsed.final_answer is None:
        checks.append(Check("final_answer", "skip", "none stated"))
    elif final_ok:
        checks.append(Check("final_answer", "pass"))
    else:
        checks.append(Check("final_answer", "fail", f"states {_short(parsed.final_answer)}"))
    if counterfactual is not None:
        checks.append(counterfactual)
    elif item.reference_solution is None:
        checks.append(Check("counterfactual", "skip", "no reference solution"))
    else:
        checks.append(Check("counterfactual", "skip", "not tried"))
    return checks


def question_numbers(question: str) -> set[Fraction]:
    """Every number the question writes, as exact values, with either sign (the question
    writes "-4x" or "4 less"), and as shares (44% -> 0.44)."""
    numbers = set()
    for text in _QUESTION_NUMBER.findall(question.replace(",", "")):
        value = Fraction(text)
        numbers |= {value, -value, value / 100}
    return numbers


def program_literals(program: str) -> list[Fraction]:
    """The number literals of `program` (ints and floats, not bools or strings), in order."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError):
        return []
    values = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            if isinstance(node.value, float) and not math.isfinite(node.value):
                continue
            values.append(Fraction(node.value).limit_denominator(10**9))
    return values


def _allowed(value: Fraction, numbers: set[Fraction]) -> bool:
    return value in numbers or value in ALLOWED_CONSTANTS or abs(value) < Fraction(1, 10**6)


def _computed_check(program, predicted, literals, numbers) -> Check:
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError):
        return Check("computed", "skip", "does not parse")
    prints = [
        node for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        and node.func.id == "print" and node.args
    ]  # fmt: skip
    last = max(prints, key=lambda n: (n.lineno, n.col_offset), default=None)
    if last is not None and all(isinstance(a, ast.Constant) for a in last.args):
        return Check("computed", "fail", "the answer is printed as a literal")
    value = _value(predicted)
    if value is not None and not _allowed(value, numbers) and value in literals:
        return Check("computed", "fail", f"the answer {_short(predicted)} is a literal")
    return Check("computed", "pass")


def _claims_check(claims: list[str], run: _Run, numbers: set[Fraction]) -> Check:
    if not claims:
        return Check("claims", "skip", "no results stated")
    if run.values is None:
        return Check("claims", "skip", "values not recorded")
    known = [v for v in (_value(text) for text in (*run.values, run.predicted)) if v is not None]
    for claim in claims:
        if not _claim_agrees(claim, known, numbers):
            return Check(
                "claims", "fail", f"the text states {claim}, the program never computes it"
            )
    return Check("claims", "pass")


def _claim_agrees(claim: str, known: list[Fraction], numbers: set[Fraction]) -> bool:
    value = _value(claim.rstrip("%"))
    if value is None:
        return True  # not a number we can read: nothing to contradict
    candidates = {value, value / 100} if claim.endswith("%") else {value}
    if candidates & (numbers | _RESTATED):
        return True
    decimals = len(claim.rstrip("%").split(".")[1]) if "." in claim else None
    for number in known:
        for target in candidates:
            if number == target or number * 100 == target:
                return True
            if decimals is not None and round(number, decimals) == target:
                return True
    return False


def _value(text: str | None) -> Fraction | None:
    """`text` as an exact number ("3/4", "2.50", "1e3", "$1,204"), or None."""
    if text is None:
        return None
    cleaned = text.strip().replace(",", "").lstrip("$").rstrip(".")
    try:
        value = Fraction(cleaned)
    except (ValueError, ZeroDivisionError):
        try:
            number = float(cleaned)
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
        value = Fraction(number)
    return value.limit_denominator(10**9) if value.denominator > 10**9 else value


def _fmt(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else str(float(value))


def _short(text: str | None, limit: int = 40) -> str:
    text = "" if text is None else " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------- counterfactual
@dataclass(frozen=True)
class _Trial:
    item: int
    reference_program: str
    path_program: str
    numbers: dict[str, str]  # old -> new


def _counterfactual_trials(items, programs, runs, answer_ok, seed, count) -> list[_Trial]:
    trials = []
    for i, item in enumerate(items):
        if not (item.reference_solution and runs[i].ok and answer_ok[i]):
            continue
        reference_program = program_of(parse_solution(item.reference_solution))
        bound, named = _rebindable(item.question, reference_program)
        if not bound:
            continue
        rng = random.Random(hashlib.sha256(f"{seed}:{item.question}".encode()).digest())
        taken = {str(v) for v in _QUESTION_NUMBER.findall(item.question)}
        for _ in range(count):
            new: dict[str, str] = {}
            for old in bound:
                draws = (_redraw(old, rng) for _ in range(50))
                fresh = next((n for n in draws if n not in taken and n not in new.values()), None)
                if fresh is not None:  # else this number keeps its value in this draw
                    new[old] = fresh
            if not new:
                continue
            trials.append(
                _Trial(
                    i,
                    _substitute(reference_program, new, bindings_only=named),
                    _substitute(programs[i], new, bindings_only=_binds(programs[i], new)),
                    new,
                )
            )
    return trials


def _rebindable(question: str, reference_program: str) -> tuple[list[str], bool]:
    """The numbers of the question the counterfactual redraws, and whether the reference binds
    them by name. The numbers the reference binds (``n1 = 26``, the teacher's style) or, in
    a reference without bindings, the literals of its program; either way only numbers the
    question gives once, and none that is also a constant of solutions (0-2, 24, 60, 100:
    "what percentage of 100" binds the 100 that also converts to percent)."""
    given = _QUESTION_NUMBER.findall(question.replace(",", ""))
    once = [v for v in dict.fromkeys(given) if given.count(v) == 1 and _redrawable(Fraction(v))]
    bound = {Fraction(value) for _, value in _BINDING.findall(reference_program)}
    if bound:
        return [v for v in once if Fraction(v) in bound], True
    literals = set(program_literals(reference_program))
    return [v for v in once if Fraction(v) in literals], False


def _redrawable(value: Fraction) -> bool:
    return value not in ALLOWED_CONSTANTS or 3 <= value <= 12  # small counts do move


def _redraw(old: str, rng: random.Random) -> str:
    """A new number of the same kind as `old`: as many digits (at least 3 for a one-digit
    number, so a count stays a count) and as many decimals."""
    whole, _, decimals = old.partition(".")
    digits = len(whole)
    lo = 3 if digits == 1 else 10 ** (digits - 1)
    number = str(rng.randint(lo, 10**digits - 1))
    if decimals:
        number += (
            "." + "".join(str(rng.randint(0, 9)) for _ in decimals[:-1]) + str(rng.randint(1, 9))
        )
    return number


def _binds(program: str, new: dict[str, str]) -> bool:
    """Whether `program` binds the numbers to names (``n1 = 26``, a plain assignment of the
    literal): then only those assignments change, not other uses of the same value."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError):
        return False
    olds = {Fraction(v) for v in new}
    bound = {
        Fraction(node.value.value).limit_denominator(10**9)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        and type(node.value.value) in (int, float)
    }  # fmt: skip
    return olds <= bound


class _Substitute(ast.NodeTransformer):
    def __init__(self, new: dict[Fraction, str], bindings_only: bool) -> None:
        self.new = new
        self.bindings_only = bindings_only

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        if self.bindings_only and isinstance(node.value, ast.Constant):
            node.value = self._replace(node.value)
            return node
        return self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return node if self.bindings_only else self._replace(node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        return node  # f-string format specs stay

    def _replace(self, node: ast.Constant) -> ast.expr:
        if type(node.value) not in (int, float):
            return node
        key = Fraction(node.value).limit_denominator(10**9)
        if key not in self.new:
            return node
        text = self.new[key]
        value = float(text) if "." in text or isinstance(node.value, float) else int(text)
        return ast.copy_location(ast.Constant(value), node)


def _substitute(program: str, new: dict[str, str], *, bindings_only: bool) -> str:
    """`program` with each literal equal to a key of `new` replaced by its value (only in
    plain assignments ``name = literal`` when `bindings_only`); unchanged if it won't parse."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError):
        return program
    mapping = {Fraction(old): number for old, number in new.items()}
    return ast.unparse(_Substitute(mapping, bindings_only).visit(tree))


def _run_counterfactuals(trials: list[_Trial], sandbox: SandboxParams) -> dict[int, Check]:
    """Per judged item with trials: the counterfactual check."""
    if not trials:
        return {}
    programs = [p for t in trials for p in (t.reference_program, t.path_program)]
    results = run_sandboxed(programs, sandbox)
    expected = [last_line(r.stdout) if r.ok else None for r in results[0::2]]
    got = [last_line(r.stdout) if r.ok else None for r in results[1::2]]
    counted = [i for i, e in enumerate(expected) if e is not None]
    verdicts = _match([(got[i], expected[i]) for i in counted])
    checks: dict[int, Check] = {}
    for k, verdict in zip(counted, verdicts, strict=True):
        item = trials[k].item
        if checks.get(item, Check("counterfactual", "pass")).verdict == "fail":
            continue
        if verdict:
            checks[item] = Check("counterfactual", "pass")
        else:
            shown = ", ".join(f"{o}->{n}" for o, n in trials[k].numbers.items())
            checks[item] = Check(
                "counterfactual", "fail",
                f"with {_short(shown, 30)}: printed {_short(got[k], 20)}, expected "
                f"{_short(expected[k], 20)}",
            )  # fmt: skip
    for trial in trials:  # every draw broke the reference itself: nothing to compare
        checks.setdefault(trial.item, Check("counterfactual", "skip", "reference failed"))
    return checks
