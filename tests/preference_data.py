"""Hand-made inputs of the dpo and grpo stages: teacher problems (split rows with gold answers
and reference solutions) and DPO pairs over them in the `pairs` contract (chosen: the
reference solution; rejected: the same text whose program prints a wrong answer)."""

from __future__ import annotations

import hashlib
import json
import random
import re

import polars as pl

from mathforge.contracts.pairs import PAIRS
from mathforge.teacher import SUBJECTS, VARIANTS, generate


def teacher_problems(per_skill: int = 1, seed: int = 0) -> pl.DataFrame:
    """Split rows (question_id, subject, question, answer, solution, generator, ood) of real
    teacher problems, `per_skill` per (subject, skill)."""
    rng = random.Random(seed)
    rows = []
    for subject, skills in SUBJECTS.items():
        for skill in skills:
            for k in range(per_skill):
                p = generate(subject, skill, rng, VARIANTS[k % 2])
                rows.append(
                    {"question_id": f"q_{len(rows):016x}", "subject": subject,
                     "question": p.question, "answer": str(p.answer), "solution": p.solution,
                     "generator": "programmatic", "ood": False}
                )  # fmt: skip
    return pl.DataFrame(rows)


def wrong_solution(solution: str) -> str:
    """`solution` with its printed answer off by one and its final-answer line dropped."""
    wrong = re.sub(r"print\((.*)\)", r"print((\1) + 1)", solution)
    return "\n".join(line for line in wrong.splitlines() if not line.startswith("Final answer"))


def _hex(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def pairs_frame(problems: pl.DataFrame, strategy: str = "hard") -> pl.DataFrame:
    """One pair per problem, in the `pairs` contract."""
    rows = []
    for row in problems.iter_rows(named=True):
        chosen_id = f"p_{_hex('c', row['question_id'])}"
        rejected_id = f"p_{_hex('r', row['question_id'])}"
        rows.append(
            {"pair_id": f"d_{_hex(chosen_id, rejected_id)}", "question_id": row["question_id"],
             "subject": row["subject"], "strategy": strategy,
             "pair_type": "hard_problem" if strategy == "hard" else strategy,
             "prompt": row["question"], "chosen": row["solution"],
             "rejected": wrong_solution(row["solution"]), "chosen_path_id": chosen_id,
             "rejected_path_id": rejected_id, "chosen_model": "tiny", "rejected_model": "tiny",
             "chosen_critique_score": 10, "rejected_critique_score": 1, "chosen_reward": 1.0,
             "rejected_reward": -1.0, "hard": True, "detail": json.dumps({})}
        )  # fmt: skip
    return PAIRS.frame(rows)
