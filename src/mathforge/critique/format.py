"""The critique format: the step checks a judge writes about one path, then its score.

The judge (programmatic or an endpoint) writes it, the critique model learns to write it, and
both are read back by the one parser here, so a score is always parsed the same way::

    Runs: pass (printed 24)
    Answer: pass (24 = reference 24)
    Numbers: fail (17 is not a number of the question)
    Computed: pass
    Claims: pass
    Final answer: pass
    Counterfactual: fail (other numbers: printed 24, expected 30)
    Score: 3

One line per check, ``<Check>: pass|fail|skip``, an optional reason in parentheses; the last
non-empty line is ``Score: <0-10>``. A score of `ACCEPT` or more accepts the path's reasoning.
Output that does not end in a valid score line does not parse: `parse_critique` says why,
and the path is a recorded reject, never a zero.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import jinja2

ACCEPT = 7  # scores at or above accept the path (scoring.accept_threshold by default)
VERDICTS = ("pass", "fail", "skip")
# The checks in the order a critique lists them, with what each one asks.
CHECKS = {
    "runs": "the solution has a program, it runs without error and prints an answer",
    "answer": "the printed answer matches the reference answer (skip: no reference)",
    "numbers": "every number in the program is a number of the question or a constant a "
    "solution brings by itself (0-12, units such as 24, 60, 365, powers of ten)",
    "computed": "the program computes its answer instead of printing it as a literal",
    "claims": "every result the reasoning text states is a value the program computes (or a "
    "number of the question)",
    "final_answer": "the text's final-answer line agrees with the printed answer (skip: none)",
    "counterfactual": "with other numbers in the question the program would still agree with "
    "the reference solution: it reaches the answer by the right method, not by coincidence "
    "(skip: no reference solution)",
}
LABELS = {name: name.replace("_", " ").capitalize() for name in CHECKS}  # "Final answer"

TEMPLATE = "critique.jinja"  # beside this file

_CHECK_LINE = re.compile(r"^([A-Za-z][A-Za-z ]*?):\s*(pass|fail|skip)\b\s*(?:\((.*)\))?\s*$")
_SCORE_LINE = re.compile(r"^Score:\s*(-?\d+)\s*$")
_BY_LABEL = {label.lower(): name for name, label in LABELS.items()}


@dataclass(frozen=True)
class Check:
    name: str  # a key of CHECKS
    verdict: str  # pass | fail | skip
    reason: str = ""


@dataclass(frozen=True)
class ParsedCritique:
    score: int | None  # 0-10; None: did not parse (`error` says why)
    checks: dict[str, str]  # check name -> verdict, the lines that parsed
    error: str | None


def score_counts(scores) -> dict[str, int]:
    """How many paths got each score, in score order ("None": did not parse, last)."""
    counts = Counter(scores)
    return {str(k): counts[k] for k in sorted(counts, key=lambda k: (k is None, k or 0))}


def render_critique(checks: list[Check], score: int) -> str:
    """The critique text of `checks` (in CHECKS order) and `score`."""
    if not 0 <= score <= 10:
        raise ValueError(f"score {score} is not 0-10")
    order = list(CHECKS)
    lines = []
    for check in sorted(checks, key=lambda c: order.index(c.name)):
        reason = f" ({check.reason})" if check.reason else ""
        lines.append(f"{LABELS[check.name]}: {check.verdict}{reason}")
    return "\n".join([*lines, f"Score: {score}"])


def parse_critique(text: str) -> ParsedCritique:
    """The score and checks of a critique; never raises on model output.

    Parses when the last non-empty line is ``Score: N`` with N in 0-10. Check lines with an
    unknown name, or other lines before the score, are ignored (a model may add prose); a
    check named twice keeps its first verdict.
    """
    lines = [line.strip() for line in (text if isinstance(text, str) else "").splitlines()]
    lines = [line for line in lines if line]
    checks: dict[str, str] = {}
    for line in lines[:-1]:
        m = _CHECK_LINE.match(line)
        if m and (name := _BY_LABEL.get(m.group(1).strip().lower())):
            checks.setdefault(name, m.group(2))
    if not lines:
        return ParsedCritique(None, checks, "empty critique")
    m = _SCORE_LINE.match(lines[-1])
    if not m:
        return ParsedCritique(None, checks, "no score line at the end")
    score = int(m.group(1))
    if not 0 <= score <= 10:
        return ParsedCritique(None, checks, f"score {score} outside 0-10")
    return ParsedCritique(score, checks, None)


@functools.cache
def _templates() -> jinja2.Environment:
    """The prompts' strict Jinja settings (`mathforge.prompts`), loading from this package:
    the critique template lives beside the code that parses what it asks for, and out of
    src/mathforge/prompts, on which the policy stages depend."""
    from mathforge import prompts

    return prompts._ENV.overlay(loader=jinja2.FileSystemLoader(Path(__file__).parent))


def critique_prompt(
    question: str,
    reference: str | None,
    solution: str,
    *,
    output: str | None = None,
    system: bool = True,
) -> list[dict[str, str]]:
    """The chat asking for a critique of `solution`: the rubric as a system message (for an
    endpoint judge; `system=False` leaves it out, for the critique model that learned it),
    then the problem, the reference answer, the solution and, where given, what its program
    printed when sampling ran it (`program_output`): a language model cannot run the program
    itself, and the recorded run costs nothing."""
    template = _templates().get_template(TEMPLATE)
    common = {"checks": CHECKS, "labels": LABELS, "accept": ACCEPT}
    head = [{"role": "system", "content": template.render(role="system", **common).strip()}]
    user = template.render(role="user", question=question, reference=reference,
                           solution=solution, output=output, **common)  # fmt: skip
    return head[: int(system)] + [{"role": "user", "content": user.strip()}]


def program_output(predicted: str | None, error_kind: str | None) -> str:
    """What a path's program printed, for a critique prompt: its answer line, or "nothing"
    with why (a row of table `paths`)."""
    if predicted is not None:
        return predicted
    return f"nothing ({error_kind})" if error_kind else "nothing"
