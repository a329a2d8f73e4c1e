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
