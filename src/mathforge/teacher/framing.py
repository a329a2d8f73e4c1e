"""Surface variety for generated questions: a lead-in sentence and the order of the ask.

The synthesize stage keeps a problem only if its ROUGE-L F-measure against
every kept problem is <= 0.7, so problems that differ only in their numbers
are mostly dropped. Besides the per-skill phrasings, every generated question
is framed here, with the problem's own rng:

- with probability `LEAD_IN_P`, a lead-in sentence (general or subject-specific)
  is put in front: "A teacher writes the following on the board.";
- with probability `ASK_FIRST_P`, a multi-sentence question is reordered so the
  question sentence comes first and the facts follow (LCS is order-sensitive,
  so this alone lowers the overlap with the facts-first version a lot).

The math is untouched: only `question` changes, and `params["frame"]` records
what was applied.
"""

from __future__ import annotations

import dataclasses
import functools
import random
import re

from mathforge.teacher.base import Problem, Skill
from mathforge.teacher.vocab import NAMES

LEAD_IN_P = 0.75
ASK_FIRST_P = 0.35

GENERAL_LEAD_INS = [
    "{name} is revising for an exam and gets stuck on this one.",
    "Here is a question from last year's competition paper.",
    "A teacher writes the following on the board.",
    "This appeared as a bonus question on a weekly quiz.",
    "{name} found this exercise at the back of a textbook.",
    "Try this one by hand first, then check it carefully.",
    "Question 4 of the homework sheet reads as follows.",
    "During a study group, {name} proposes a problem.",
    "An online tutoring site lists this practice item.",
    "The puzzle corner of a weekend magazine asks:",
    "{name} and a friend disagree about the answer to this problem.",
    "From a placement test:",
    "Someone asked this on a maths help forum last night.",
    "Here is a typical exam-style task.",
    "{name} is preparing a worksheet and includes this question.",
    "A short exercise to practise the method:",
    "This was set as an end-of-term challenge.",
    "Candidates at a job interview were given the following.",
    "Read carefully; the details matter here.",
    "Solve the following.",
    "{name}'s younger brother needs help with his homework.",
    "Warm-up problem:",
    "A revision card in {name}'s pocket says:",
    "The last question on the mock exam was this one.",
    "Before the lesson ends, the class gets one more task.",
]

SUBJECT_LEAD_INS = {
    "arithmetic": [
        "{name} is keeping track of the household budget this month.",
        "While planning a weekend away, {name} works through some numbers.",
        "The school newsletter printed this everyday-maths puzzle for parents.",
        "{name} helps out at the family shop on Saturdays.",
        "A real situation from a busy afternoon:",
        "Mental arithmetic practice, but with several steps.",
        "{name} double-checks a bill before paying.",
        "A logistics trainee is given this exercise on day one.",
    ],
    "linear_equations": [
        "Algebra practice: set up and solve.",
        "{name} is learning to solve equations by balancing both sides.",
        "From the algebra chapter of a first-year course:",
        "An equation problem that a spreadsheet could check, but do it exactly.",
        "The tutor asks {name} to isolate the unknown.",
        "Form an equation from the information given.",
        "A linear model appears in an economics class.",
        "Unknowns first, numbers later: that is {name}'s method.",
    ],
    "matrices": [
        "Linear algebra homework, part (a):",
        "{name} is checking a graphics transform by hand.",
        "In a numerical methods lab, the students verify the following.",
        "A robotics team needs this matrix computation done exactly.",
        "{name} is studying for a linear algebra midterm.",
        "From a problem set on matrix arithmetic:",
        "An economist's input-output model needs the following step.",
        "Exact arithmetic only; no floating point.",
    ],
    "calculus": [
        "Calculus drill:",
        "{name} is practising the power rule before a test.",
        "A physics student needs the following calculus result.",
        "From the differentiation and integration review sheet:",
        "{name} checks a result from a graphing app by hand.",
        "An engineering course starts with this calculus refresher.",
        "Polynomials only, but be careful with the signs.",
        "The lecturer leaves this on the slide as an exercise.",
    ],
    "percentages": [
        "{name} is comparing offers before a big purchase.",
        "A news article quotes some percentages; check them.",
        "The finance club's weekly problem:",
        "Percent problems often hide a trap; watch the base.",
        "{name} works part-time in a shop and handles the discounts.",
        "A business studies student meets this question.",
        "Checking a receipt can be surprisingly tricky.",
        "From a consumer maths unit:",
    ],
    "number_theory": [
        "Number theory warm-up:",
        "{name} enjoys puzzles about divisibility.",
        "From a maths olympiad training session:",
        "A programming contest includes this number puzzle.",
        "{name} is learning about factors and multiples.",
        "A classic kind of question about whole numbers:",
        "The maths club's divisibility challenge:",
        "Integers only in this one.",
    ],
    "counting_probability": [
        "{name} is studying combinatorics for an exam.",
        "From a probability and statistics course:",
        "A board-game designer wants to know the following.",
        "Counting carefully is the whole game here.",
        "{name} likes to check probability puzzles by listing cases.",
        "A classic counting question:",
        "The statistics teacher poses this at the start of class.",
        "Games of chance make good exercises.",
    ],
}

_SENTENCE_END = re.compile(r"(?<=[.?!:])\s+(?=[A-Z(])")
# an ask that points back at the facts ("What is it now?") must stay after them
_BACK_REFERENCE = re.compile(
    r"\b(it|its|they|them|their|that|those|these|this|each|both|he|she)\b", re.I
)


def frame_question(rng: random.Random, subject: str, question: str) -> tuple[str, dict]:
    """The question with an optional lead-in and ask-first reordering; and what was done."""
    applied: dict = {}
    sentences = _SENTENCE_END.split(question)
    asks = [i for i, s in enumerate(sentences) if s.endswith("?")]
    if len(sentences) > 1 and asks and rng.random() < ASK_FIRST_P:
        i = asks[-1]
        if i > 0 and not _BACK_REFERENCE.search(sentences[i]):
            sentences = [sentences[i]] + sentences[:i] + sentences[i + 1 :]
            applied["ask_first"] = 1
    if rng.random() < LEAD_IN_P:
        pool = GENERAL_LEAD_INS + SUBJECT_LEAD_INS.get(subject, [])
        k = rng.randrange(len(pool))
        sentences = [pool[k].format(name=rng.choice(NAMES))] + sentences
        applied["lead_in"] = k
    return " ".join(sentences), applied


def framed(subject: str, skill: Skill) -> Skill:
    """`skill`, with its question framed by `frame_question` using the same rng."""

    @functools.wraps(skill)
    def generate(rng: random.Random, variant: str) -> Problem:
        problem = skill(rng, variant)
        question, applied = frame_question(rng, subject, problem.question)
        return dataclasses.replace(
            problem, question=question, params={**problem.params, "frame": applied}
        )

    return generate
