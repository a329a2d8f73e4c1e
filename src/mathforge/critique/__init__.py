"""Critiques of sampled paths: the judge, the critique format, and the critique model's prompt.

- `mathforge.critique.format`: the step-check-then-score text every judge and the critique
  model write, and its one parser (`parse_critique`);
- `mathforge.critique.judge`: the programmatic judge of the CPU profile (`judge`, `judge_many`);
"""

from mathforge.critique.format import ACCEPT, CHECKS, ParsedCritique, parse_critique
from mathforge.critique.judge import JudgeItem, Judgement, judge, judge_many

__all__ = [
    "ACCEPT", "CHECKS", "JudgeItem", "Judgement", "ParsedCritique", "judge", "judge_many",
    "parse_critique",
]  # fmt: skip
