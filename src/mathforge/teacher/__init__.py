"""The programmatic teacher: per-subject problem generators with exact reference solutions.

In the CPU demo these stand in for annotators and a strong teacher: every
problem comes with its exact answer and a mixed CoT+PoT reference solution
(`mathforge.solution`) whose programs print that answer.

    SUBJECTS["percentages"]["successive_discounts"](random.Random(7), "hard")
    generate("percentages", "successive_discounts", random.Random(7), "hard")

`SUBJECTS` maps subject -> skill name -> generator, in a stable order. Each
generator draws everything from the `random.Random` it is given, so a seed
reproduces a problem exactly. Variants: see `mathforge.teacher.base`; the
lead-ins and reorderings that vary the questions' surface: `framing`.
"""

from __future__ import annotations

import random

from mathforge.teacher import (
    arithmetic,
    calculus,
    counting_probability,
    linear_equations,
    matrices,
    number_theory,
    percentages,
)
from mathforge.teacher.base import VARIANTS, Problem, Skill
from mathforge.teacher.framing import framed

__all__ = ["SUBJECTS", "VARIANTS", "Problem", "Skill", "domain_skills", "generate"]

_MODULES = {
    "arithmetic": arithmetic,
    "linear_equations": linear_equations,
    "matrices": matrices,
    "calculus": calculus,
    "percentages": percentages,
    "number_theory": number_theory,
    "counting_probability": counting_probability,
}

# every skill's question gets a lead-in / reordering for surface variety (see `framing`)
SUBJECTS: dict[str, dict[str, Skill]] = {
    subject: {name: framed(subject, skill) for name, skill in module.SKILLS.items()}
    for subject, module in _MODULES.items()
}


def generate(subject: str, skill: str, rng: random.Random, variant: str) -> Problem:
    """One problem of `subject`/`skill` in `variant` ("base" | "hard" | "ood"), drawn from `rng`."""
    if subject not in SUBJECTS:
        raise KeyError(f"unknown subject {subject!r}; known: {', '.join(SUBJECTS)}")
    skills = SUBJECTS[subject]
    if skill not in skills:
        raise KeyError(f"unknown skill {skill!r} for {subject!r}; known: {', '.join(skills)}")
    return skills[skill](rng, variant)


def domain_skills(subjects: dict[str, list[str] | None] | None) -> dict[str, list[str]]:
    """The teacher's subject -> skills restricted to a domain (`domain.subjects` in params:
    null = everything, a subject's null = all its skills); unknown names are a ParamsError."""
    from mathforge.config import ParamsError, closest

    if subjects is None:
        return {subject: list(skills) for subject, skills in SUBJECTS.items()}
    out = {}
    for subject, skills in subjects.items():
        if subject not in SUBJECTS:
            raise ParamsError(
                f"domain.subjects: unknown subject '{subject}'; known: {', '.join(SUBJECTS)}"
                + closest(subject, SUBJECTS)
            )
        known = list(SUBJECTS[subject])
        for skill in skills or []:
            if skill not in known:
                raise ParamsError(
                    f"domain.subjects.{subject}: unknown skill '{skill}'; known: "
                    f"{', '.join(known)}" + closest(skill, known)
                )
        out[subject] = list(skills) if skills else known
    if not out:
        raise ParamsError("domain.subjects: names no subject (null means every subject)")
    return out
