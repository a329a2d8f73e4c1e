"""The synthesize stage's own logic: path planning, and the llm path against a real server."""

import json
import threading
from pathlib import Path

import polars as pl
import pytest
from profiles import write_tiny_params

from mathforge.config import load_params
from mathforge.errors import UserError
from mathforge.seeds import read_seed_files
from stages import synthesize

TOPOLOGY = [
    "How many holes does a torus have?",
    "What is the Euler characteristic of a sphere?",
    "How many connected components does the union of two disjoint closed disks have?",
    "What is the genus of a double torus?",
    "How many boundary components does a Mobius strip have?",
    "What is the Euler characteristic of a torus?",
    "How many vertices does a tetrahedron have, counted as a simplicial complex?",
    "What is the fundamental group rank of a wedge of three circles?",
]

ROOT = Path(__file__).resolve().parents[1]


class Teacher:
    """Writes two fresh topology problems per request, one with a program; then a duplicate."""

    def __init__(self):
        self.lock = threading.Lock()
        self.next = 0

    def __call__(self, request):
        with self.lock:
            picks = [TOPOLOGY[(self.next + i) % len(TOPOLOGY)] for i in range(2)]
            self.next += 2
        blocks = [
            f"### Problem 1\nSkill: surfaces\nProblem:\n{picks[0]}\nSolution:\nCount them.\n"
            "```python\nprint(1)\n```\nFinal answer: 1\nAnswer: 1\n",
            f"### Problem 2\nSkill: invariants\nProblem:\n{picks[1]}\nAnswer: 2\n",
            f"### Problem 3\nSkill: invariants\nProblem:\n{picks[1]}\nAnswer: 2\n",
        ]
        return ["\n".join(blocks)] * request["n"]


@pytest.fixture
def seeds(tmp_path):
    path = tmp_path / "seeds.jsonl"
    rows = [
        {
            "id": "top-1",
            "subject": "topology",
            "skill": "surfaces",
            "question": "How many faces does a cube have?",
            "answer": "6",
        },
        {
            "id": "top-2",
            "subject": "topology",
            "skill": "invariants",
            "question": "What is the Euler characteristic of a cube's surface?",
            "answer": "2",
        },
        {"id": "ar-1", "subject": "arithmetic", "question": "What is 17 + 25?", "answer": "42"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "seeds.parquet"
    read_seed_files([path]).write_parquet(out)
    return out


def test_unknown_subject_needs_the_llm_path():
    cfg = load_params("synthesize", ROOT / "params.yaml", {"generator": "programmatic"})
    with pytest.raises(UserError, match="subject 'topology'.*generator=auto"):
        synthesize.plan_paths(["arithmetic", "topology"], cfg)
    cfg = load_params("synthesize", ROOT / "params.yaml", {"generator": "auto"})
    with pytest.raises(UserError, match="topology need the llm path.*base_url"):
        synthesize.plan_paths(["arithmetic", "topology"], cfg)


def test_auto_serves_unknown_subjects_with_self_instruct(tmp_path, seeds, openai_server):
    openai_server.respond = Teacher()
    params = {
        "synthesize": {
            "generator": "auto",
            "per_subject": 5,
            "ood_per_subject": 2,
            "self_instruct": {
                "prompts_per_subject": 4,
                "examples_per_prompt": 2,
                "prompts_per_round": 2,
                "problems_per_response": 3,
                "endpoint": {"base_url": openai_server.base_url, "model": "toy", "max_retries": 0},
            },
        },
        "domain": {"subjects": None},  # every subject: topology has no teacher, llm serves it
    }
    write_tiny_params(tmp_path / "params.yaml", **params)
    out = tmp_path / "questions"
    synthesize.main(
        [str(seeds), str(out), str(tmp_path / "m.json"), "--params", str(tmp_path / "params.yaml")]
    )

    questions = pl.read_parquet(out / "questions.parquet")
    llm = questions.filter(pl.col("generator") == "llm")
    assert set(llm["subject"]) == {"topology"}
    assert set(questions.filter(pl.col("generator") == "programmatic")["subject"]) == {"arithmetic"}
    assert 0 < llm.height <= len(TOPOLOGY)
    assert set(llm["question"]) <= set(TOPOLOGY)
    assert all(ids and set(ids) <= {"top-1", "top-2"} for ids in llm["seed_ids"].to_list())
    assert set(llm["skill"]) <= {"surfaces", "invariants"}
    # The problem with a program keeps it; answer-only problems have no solution.
    with_program = llm.filter(pl.col("solution").is_not_null())
    assert with_program.height > 0 and all("```python" in s for s in with_program["solution"])
    rejects = pl.read_parquet(out / "rejects.parquet")
    reasons = set(rejects.filter(pl.col("subject") == "topology")["reason"])
    assert "duplicate_in_response" in reasons and "not_novel" in reasons
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["paths"] == {"arithmetic": "programmatic", "topology": "llm"}
    assert metrics["per_subject"]["topology"]["kept_llm"] == llm.height
    assert len(openai_server.completion_requests) == 4
