"""The judge of the GPU profile: a strong model behind any OpenAI-compatible endpoint.

It gets the rubric of the programmatic judge (`mathforge.critique.format.CHECKS`) as a
system message and writes the same critique format; its output is parsed by the same
`parse_critique`. Output that does not parse is a reject with its reason, never a zero.
"""

from __future__ import annotations

from collections.abc import Sequence

from mathforge.critique.format import ACCEPT, critique_prompt, parse_critique
from mathforge.critique.judge import JudgeItem, Judgement
from mathforge.generation.base import SamplingParams, TextGenerator


def judge_with_endpoint(
    items: Sequence[JudgeItem],
    generator: TextGenerator,
    *,
    max_tokens: int = 512,
    threshold: int = ACCEPT,
) -> list[Judgement]:
    """One greedy critique per item from `generator` (an endpoint backend), parsed."""
    chats = [critique_prompt(i.question, i.reference, i.solution, output=i.output) for i in items]
    texts = generator.generate(chats, SamplingParams(n=1, temperature=0.0, max_tokens=max_tokens))
    judgements = []
    for (text,) in texts:
        parsed = parse_critique(text)
        judgements.append(
            Judgement(
                score=parsed.score,
                critique=text,
                checks=parsed.checks,
                error=parsed.error,
                threshold=threshold,
            )
        )
    return judgements
