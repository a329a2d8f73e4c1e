"""From a solution's text to a graded answer: parse, execute in the sandbox, compare.

A mixed CoT+PoT solution's programs (`mathforge.solution`) run together as one
program in the sandbox (`mathforge.sandbox`); the last non-empty line it prints
is the predicted answer, compared with the reference by `mathforge.verify`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mathforge.config import SandboxParams
from mathforge.sandbox import ExecResult, isolation_level, run_programs
from mathforge.solution import parse_solution, program_of
from mathforge.verify import answers_match_batch


@dataclass(frozen=True)
class Graded:
    predicted: str | None  # last non-empty stdout line of the executed program
    # True: the printed answer matches gold. False: there is a gold answer and the solution did
    # not print a matching one (no program, a crash, a timeout, no output, a wrong answer).
    # None only when there is no gold answer or answers_match calls the answer ungradable.
    correct: bool | None
    error_kind: str | None  # the sandbox's error kind, or "no_program" / "no_output"
    exec: ExecResult | None  # None when there was no program to run


def last_line(stdout: str) -> str | None:
    """The printed answer: the last non-empty stdout line, stripped."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    return lines[-1] if lines else None


def sandbox_isolation(cfg: SandboxParams) -> str:
    """The isolation the sandbox gives here ("bubblewrap" | "none"), for stage metrics."""
    level = isolation_level()
    return level if level == "bubblewrap" or cfg.allow_unsandboxed else "refused"


def run_sandboxed(programs: list[str], cfg: SandboxParams) -> list[ExecResult]:
    """`run_programs` with the stage's sandbox params."""
    return run_programs(
        programs,
        timeout_s=cfg.timeout_s,
        wall_timeout_s=cfg.wall_timeout_s,
        memory_mb=cfg.memory_mb,
        workers=cfg.workers,
        allow_unsandboxed=cfg.allow_unsandboxed,
    )


def grade_solutions(
    solutions: list[str], golds: list[str | None], cfg: SandboxParams
) -> list[Graded]:
    """Execute each mixed solution's programs and grade the printed answer against its gold."""
    return grade_programs([program_of(parse_solution(text)) for text in solutions], golds, cfg)


def grade_programs(
    programs: list[str], golds: list[str | None], cfg: SandboxParams
) -> list[Graded]:
    """Execute each program and grade the last line it prints against its gold (if any);
    `Graded.correct` follows the rule above."""
    if len(programs) != len(golds):
        raise ValueError(f"{len(programs)} programs but {len(golds)} gold answers")
    to_run = [i for i, program in enumerate(programs) if program.strip()]
    results = dict(zip(to_run, run_sandboxed([programs[i] for i in to_run], cfg), strict=True))
    predicted = {i: last_line(r.stdout) if r.ok else None for i, r in results.items()}
    comparable = [i for i in to_run if predicted[i] is not None and golds[i] is not None]
    matches = answers_match_batch(
        [predicted[i] for i in comparable], [golds[i] for i in comparable]
    )
    verdicts = dict(zip(comparable, matches, strict=True))
    graded = []
    for i, gold in enumerate(golds):
        failed = None if gold is None else False  # what a path without an answer earns
        if i not in results:
            graded.append(Graded(None, failed, "no_program", None))
            continue
        result = results[i]
        kind = result.error_kind
        if result.ok and predicted[i] is None:
            kind = "no_output"
        verdict = verdicts.get(i, failed)
        graded.append(Graded(predicted[i], verdict, kind, result))
    return graded
