"""The mixed chain-of-thought + program-of-thought (CoT+PoT) solution format.

A solution is natural-language reasoning, then one or more fenced ```python
blocks (a later block may use an earlier block's variables; run together, the
blocks print the answer on their last stdout line), then a final-answer line::

    We need the total cost: 3 notebooks at $4 each plus a $2 pen.

    ```python
    total = 3 * 4 + 2
    print(total)
    ```

    Final answer: 14
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mathforge.verify import extract

FINAL_ANSWER_PREFIX = "Final answer:"

_FENCE = re.compile(r"```python[ \t]*\n(.*?)```", re.DOTALL)


def render_solution(text: str, programs: list[str], answer: str | None = None) -> str:
    """Render reasoning text, programs and an optional final answer as one solution."""
    parts = [text.strip()]
    parts += [f"```python\n{program.strip()}\n```" for program in programs]
    if answer is not None:
        parts.append(f"{FINAL_ANSWER_PREFIX} {answer}")
    return "\n\n".join(parts)


def extract_programs(solution: str) -> list[str]:
    """The fenced python blocks of a solution, in order (empty list if none)."""
    return [block.strip("\n") for block in _FENCE.findall(solution)]


# ------------------------------------------------------------------------------ parsing
PROGRAM_LANGUAGES = frozenset({"", "python", "py", "python3", "py3"})  # fences read as programs
TEMPLATE = "solve_mixed.jinja"

_OPEN_FENCE = re.compile(r"^[ \t]*(`{3,})[ \t]*([A-Za-z0-9_+-]*)[ \t]*(.*)$")
_NUMBER = r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?%?"
_CLAIM = re.compile(
    r"(?:=|≈|\\approx|\bis\b|\bare\b|\bequals?\b|\bgives?\b|\bgets?\b|\bmakes?\b|\byields?\b|"
    r"\bresults?\s+in\b|\bcomes?\s+to\b|\bleaves?\b|\btotal\s+of\b|\bto\s+get\b|->|→)"
    r"\s*(?:about\s+|exactly\s+|only\s+|just\s+)?(?:\\?\$\s*)?"
    rf"(\\frac\{{-?\d+\}}\{{\d+\}}|{_NUMBER})"
    r"(?!\s*(?:[-+*/×^·]|\\times|\\cdot|x)\s*[\d(])(?!\d)(?![.,]\d)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ParsedSolution:
    """A model's (or a reference) CoT+PoT solution, split into its parts.

    `missing` names what was absent: a subset of ("text", "program", "final_answer"), plus
    flags for damaged layout: "unclosed_fence" (a block ran to the end of the text) and
    "empty_program" (a fenced python block with nothing in it, dropped from `programs`).
    """

    text: str  # the reasoning text: outside code blocks, without the final-answer line
    programs: list[str]  # fenced python blocks, in order
    final_answer: str | None  # mathforge.verify.extract.final_answer of the text outside code
    claimed_numbers: list[str]  # numbers the text states as results ("= 42", "is 3.5", "gives 7")
    missing: tuple[str, ...]


def _split_blocks(text: str) -> tuple[list[str], list[str], list[str]]:
    """(text segments, python programs, flags) by a line scanner over ``` fences.

    A fence opens at the start of a line with 3+ backticks and an optional language; it
    closes at a line of at least as many backticks alone, or at backticks ending a code line
    (``print(x)```), the usual model slip. Backticks inside a code line (a string holding
    "```") do not close it. Blocks in other languages (```text, ```output) stay in the text.
    """
    segments: list[str] = []
    programs: list[str] = []
    flags: list[str] = []
    lines = text.split("\n")
    current: list[str] = []
    i = 0
    while i < len(lines):
        m = _OPEN_FENCE.match(lines[i])
        if not m:
            current.append(lines[i])
            i += 1
            continue
        ticks, language, rest = m.group(1), m.group(2).lower(), m.group(3)
        if rest.endswith(ticks) and rest[: -len(ticks)].strip():  # ```print(1)``` on one line
            code_lines, closed, i = [rest[: -len(ticks)]], True, i + 1
        else:
            code_lines = [rest] if rest.strip() else []
            triple_quotes = rest.count('"""') + rest.count("'''")  # odd: inside a string
            closed = False
            i += 1
            while i < len(lines):
                line = lines[i]
                stripped = line.strip()
                if triple_quotes % 2:  # a fence inside a triple-quoted string is code
                    triple_quotes += line.count('"""') + line.count("'''")
                    code_lines.append(line)
                    i += 1
                    continue
                if stripped.startswith(ticks) and stripped.strip("`") == "":
                    closed, i = True, i + 1
                    break
                if stripped.endswith(ticks) and not stripped.endswith("`" * (len(ticks) + 1)):
                    before = line.rstrip()[: -len(ticks)]
                    if before.count('"') % 2 == 0 and before.count("'") % 2 == 0:
                        code_lines.append(before)
                        closed, i = True, i + 1
                        break
                triple_quotes += line.count('"""') + line.count("'''")
                code_lines.append(line)
                i += 1
        if not closed:
            flags.append("unclosed_fence")
        if language in PROGRAM_LANGUAGES:
            segments.append("\n".join(current))
            current = []
            program = "\n".join(code_lines).strip("\n")
            if program.strip():
                programs.append(program)
            else:
                flags.append("empty_program")
        else:  # not a program: keep the block as text
            current.append(f"{ticks}{language}")
            current.extend(code_lines)
            if closed:
                current.append(ticks)
    segments.append("\n".join(current))
    return segments, programs, flags


def _claimed_numbers(text: str) -> list[str]:
    numbers: list[str] = []
    for m in _CLAIM.finditer(text):
        value = m.group(1)
        if value.startswith("\\frac"):
            num, den = re.findall(r"-?\d+", value)
            value = f"{num}/{den}"
        value = re.sub(r"\s+", "", value)
        if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?", value):
            value = value.replace(",", "")
        numbers.append(value)
    return numbers


def parse_solution(text: str) -> ParsedSolution:
    """Split a CoT+PoT solution into reasoning text, programs and final answer.

    Never raises on model output: anything that is not a string, or is empty, parses to an
    empty solution whose `missing` says so.
    """
    if not isinstance(text, str):
        text = ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    segments, programs, flags = _split_blocks(text)

    outside_code = "\n".join(segments)
    final_answer = extract.final_answer(outside_code)  # the project's one final-answer rule
    for index, segment in enumerate(segments):  # "Final answer:" lines leave the text
        lines = segment.split("\n")
        segments[index] = "\n".join(x for x in lines if not extract.FINAL_LINE_RE.match(x))
    reasoning = "\n\n".join(seg.strip() for seg in segments if seg.strip())

    missing = [name for name, absent in (("text", not reasoning), ("program", not programs),
               ("final_answer", final_answer is None)) if absent]  # fmt: skip
    missing += [flag for flag in dict.fromkeys(flags)]
    return ParsedSolution(
        text=reasoning,
        programs=programs,
        final_answer=final_answer,
        claimed_numbers=_claimed_numbers(reasoning),
        missing=tuple(missing),
    )


def program_of(parsed: ParsedSolution | str) -> str:
    """The solution's blocks joined into one program, in order, for one execution (a later
    block sees an earlier block's variables). Takes a ParsedSolution or solution text."""
    if isinstance(parsed, str):
        parsed = parse_solution(parsed)
    return "\n\n".join(program.rstrip() for program in parsed.programs) + (
        "\n" if parsed.programs else ""
    )


def solve_prompt(
    question: str, examples: Sequence[Mapping[str, str]] = (), *, system: bool = True
) -> list[dict[str, str]]:
    """The chat asking a model to solve `question` in the mixed format (system + user message).

    `examples`: optional worked examples, mappings with "question" and "solution".
    `system=False` leaves out the system message that explains the format (for models
    that learned it in SFT; see `base.models.<name>.system_prompt`).
    """
    from mathforge.prompts import render

    common = {"final_answer_prefix": FINAL_ANSWER_PREFIX}
    head = [{"role": "system", "content": render(TEMPLATE, role="system", **common).strip()}]
    return head[: int(system)] + [
        {
            "role": "user",
            "content": render(
                TEMPLATE, role="user", question=question, examples=list(examples), **common
            ),
        },
    ]
