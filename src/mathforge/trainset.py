"""What the training sets built from sampled paths (the RFT set, the DPO pairs' chosen side)
hold: a path's text with the answer its program printed stated as its final answer.

Kept apart from `mathforge.solution` on purpose: that module is a dependency of every stage
from taxonomy on, and this rule belongs to the stages after sampling only.
"""

from __future__ import annotations

from mathforge.solution import parse_solution, render_solution


def restate_final_answer(text: str, answer: str) -> str:
    """The solution `text` in the canonical layout (reasoning, programs, final-answer line)
    with `answer` as its final answer.

    The policies write their final-answer line before (and without) running the program, and
    it often disagrees with what the program printed (330 of 363 right answers in the CPU
    demo's judge run); a path is graded by what it printed, so the line states that.
    Reasoning written after a program moves before it, as `render_solution` lays out every
    solution; a "Final answer" inside code is code and stays.
    """
    parsed = parse_solution(text)
    return render_solution(parsed.text, parsed.programs, answer)
