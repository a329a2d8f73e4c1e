"""Self-Instruct synthesis: the prompt, the parser, and a run against a real local server."""

from __future__ import annotations

import json
import random
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jinja2
import pytest
from openai_server import OpenAIServer

from mathforge.config import SelfInstructParams, load_params
from mathforge.generation import Chat, SamplingParams, build_generator
from mathforge.solution import render_solution
from mathforge.synthesis.self_instruct import (
    REASONS,
    Candidate,
    ParsedProblem,
    ParseFailure,
    parse_response,
    render_prompt,
    synthesize_subject,
)

SKILLS = ["addition", "multiplication"]

ROOT = Path(__file__).resolve().parents[1]


def seed(i: int, a: int, op: str, b: int, with_solution: bool) -> dict[str, Any]:
    value = a + b if op == "plus" else a * b
    symbol = "+" if op == "plus" else "*"
    solution = None
    if with_solution:
        solution = render_solution(
            f"We {'add' if op == 'plus' else 'multiply'} the two numbers.",
            [f"print({a} {symbol} {b})"],
            str(value),
        )
    return {
        "id": f"seed-{i}",
        "subject": "arithmetic",
        "skill": "addition" if op == "plus" else "multiplication",
        "question": f"What is {a} {op} {b}?",
        "answer": str(value),
        "solution": solution,
    }


SEEDS = [
    seed(0, 2, "plus", 3, True),
    seed(1, 4, "times", 5, False),
    seed(2, 6, "plus", 7, True),
    seed(3, 8, "times", 9, True),
    seed(4, 10, "plus", 11, False),
]


# ------------------------------------------------------------------- template
EXPECTED_PROMPT = """\
You are writing new math problems for a training set. Subject: arithmetic.
Skills of this subject: addition, multiplication.

Here are 2 example problems of this subject.

### Example 1
Skill: addition
Problem:
What is 2 plus 3?
Solution:
We add the two numbers.

```python
print(2 + 3)
```

Final answer: 5
Answer: 5

### Example 2
Skill: multiplication
Problem:
What is 4 times 5?
Answer: 20

Write 3 NEW problems of the subject "arithmetic".
- Each new problem differs from the examples and from the other new problems: \
new situations, new numbers, new combinations of steps.
- Label each with exactly one skill from this list: addition, multiplication.
- A problem is self-contained and has exactly one correct answer.
- Its solution reasons in sentences, then computes in a ```python block that prints the answer, \
then ends with the line "Final answer: <answer>".
- The Answer line repeats the final answer alone.

Use exactly this layout, numbered from 1 to 3, and write nothing else:

### Problem 1
Skill: <one skill from the list>
Problem:
<the problem statement>
Solution:
<reasoning>
```python
<a program that prints the answer>
```
Final answer: <the answer>
Answer: <the answer>"""


def test_the_prompt_renders_as_expected() -> None:
    chat = render_prompt("arithmetic", SKILLS, SEEDS[:2], num_problems=3)
    assert chat == [{"role": "user", "content": EXPECTED_PROMPT}]


def test_a_missing_template_variable_is_an_error() -> None:
    broken = [{k: v for k, v in SEEDS[0].items() if k != "answer"}]
    with pytest.raises(jinja2.UndefinedError, match="has no attribute 'answer'"):
        render_prompt("arithmetic", SKILLS, broken, num_problems=1)


# -------------------------------------------------------------------- parsing
WELL_FORMED = """\
Sure! Here are two new problems.

### Problem 1
Skill: addition
Problem:
A shop sells 12 pens on Monday and 30 on Tuesday. How many pens in total?
Solution:
We add the two days.

```python
# Answer: this comment line is code, not a field
print(12 + 30)
```

Final answer: 42
Answer: 42

### Problem 2
Skill: Multiplication
Problem:
What is 7 times 8?
Solution:
Multiply.
```python
print(7 * 8)
```
Final answer: 56
Answer: 56
"""


def problems(items: list[ParsedProblem | ParseFailure]) -> list[ParsedProblem]:
    assert all(isinstance(item, ParsedProblem) for item in items), items
    return [item for item in items if isinstance(item, ParsedProblem)]


def reasons(items: list[ParsedProblem | ParseFailure]) -> list[str | None]:
    return [item.reason if isinstance(item, ParseFailure) else None for item in items]


def test_a_well_formed_response_parses_into_its_problems() -> None:
    first, second = problems(parse_response(WELL_FORMED))

    assert first.skill_label == "addition"
    assert first.question == (
        "A shop sells 12 pens on Monday and 30 on Tuesday. How many pens in total?"
    )
    assert first.answer == "42"
    assert first.solution is not None and first.solution.startswith("We add the two days.")
    assert "# Answer: this comment line is code" in first.solution
    assert first.solution.endswith("Final answer: 42")
    assert first.solution_issue is None
    assert (second.skill_label, second.question, second.answer) == (
        "Multiplication",
        "What is 7 times 8?",
        "56",
    )


def test_loose_layouts_still_parse() -> None:
    text = """\
**Problem 1:**
**Skill:** addition
**Problem:** What is 1 plus 1?
**Answer:** 2

Skill: addition
Problem: What is 2 plus 2?
Answer: 4
"""
    first, second = problems(parse_response(text))  # the second has no header: split on Skill
    assert (first.question, first.answer) == ("What is 1 plus 1?", "2")
    assert (second.question, second.answer) == ("What is 2 plus 2?", "4")
    assert first.solution is None and first.solution_issue == "missing"


def test_the_answer_falls_back_to_the_final_answer_line() -> None:
    text = "### Problem 1\nProblem:\nWhat is 3 plus 4?\nSolution:\n```python\nprint(7)\n```\n"
    text += "Final answer: 7\n"
    (problem,) = problems(parse_response(text))
    assert problem.answer == "7"


def test_the_final_answer_is_read_by_the_one_extractor() -> None:
    # parse_solution's rule (mathforge.verify.extract.final_answer): a boxed answer counts
    text = "### Problem 1\nProblem:\nWhat is 3 plus 4?\nSolution:\nSo $\\boxed{7}$.\n"
    text += "```python\nprint(7)\n```\n"
    (problem,) = problems(parse_response(text))
    assert problem.answer == "7"
    (failure,) = parse_response(text + "Answer: 8\n")
    assert isinstance(failure, ParseFailure) and failure.reason == "answer_mismatch"


def test_a_solution_without_a_program_is_kept_answer_only() -> None:
    text = "### Problem 1\nProblem:\nWhat is 3 plus 4?\nSolution:\nIt is 7.\nAnswer: 7\n"
    (problem,) = problems(parse_response(text))
    assert (problem.solution, problem.solution_issue, problem.answer) == (
        None,
        "no_python_block",
        "7",
    )


def test_numerically_equal_answers_in_other_forms_are_not_a_mismatch() -> None:
    text = "### Problem 1\nProblem:\nHalf of 1?\nSolution:\n```python\nprint(1/2)\n```\n"
    text += "Final answer: 0.5\nAnswer: 1/2\n"
    (problem,) = problems(parse_response(text))
    assert problem.answer == "1/2"


PARTLY_BROKEN = f"""\
### Problem 1
Skill: addition
Problem:
What is 20 plus 22?
Answer: 42

### Problem 2
Skill: addition
Problem:

Answer: 3

### Problem 3
Skill: addition
Problem:
What is 5 plus 5?
Solution:
```python
print(5 + 5)
```

### Problem 4
Skill: addition
Answer: 9

### Problem 5
Skill: addition
Problem:
{"How many apples? " * 200}
Answer: 1

### Problem 6
Skill: multiplication
Problem:
What is 6 times 6?
Solution:
```python
print(6 * 7)
```
Final answer: 42
Answer: 36

### Problem 7
Skill: addition
Problem:
what is 20   plus 22?
Answer: 42

### Problem 8
"""


def test_a_partly_broken_response_keeps_the_good_and_names_the_bad() -> None:
    items = parse_response(PARTLY_BROKEN)
    assert reasons(items) == [
        None,
        "empty_question",
        "missing_answer",
        "missing_question",
        "question_too_long",
        "answer_mismatch",
        "duplicate_in_response",
        "missing_question",
    ]
    failures = [item for item in items if isinstance(item, ParseFailure)]
    assert all(len(f.raw) <= 500 for f in failures)
    assert failures[0].raw.startswith("### Problem 2")
    assert [item.block_index for item in items] == list(range(8))


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   \n\n",
        "I'm sorry, I cannot help with that.",
        "### Problem 1\n### Problem 2\nlorem ipsum",
        "```python\nProblem: inside a fence\nAnswer: 3\n```",
        "\x00\x01 ### \ufffd Problem: ? ``` Answer",
    ],
)
def test_garbage_is_one_no_problems_found_rejection(garbage: str) -> None:
    (item,) = parse_response(garbage)
    assert isinstance(item, ParseFailure) and item.reason == "no_problems_found"


def test_a_long_garbage_response_is_truncated_in_the_rejection() -> None:
    (item,) = parse_response("blah " * 1000)
    assert isinstance(item, ParseFailure) and len(item.raw) == 500


# ------------------------------------------------------------------ synthesis
class RecordingGenerator:
    """An in-process TextGenerator: returns canned text and keeps the prompts it saw."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.prompts: list[Chat] = []

    def generate(self, prompts: Sequence[Chat], params: SamplingParams) -> list[list[str]]:
        self.prompts += prompts
        return [[self.text] * params.n for _ in prompts]


def cfg_for(base_url: str | None = None, **kwargs: Any) -> SelfInstructParams:
    endpoint = {"base_url": base_url, "model": "toy-teacher", "concurrency": 2, "timeout_s": 10}
    defaults: dict[str, Any] = {
        "prompts_per_subject": 6,
        "examples_per_prompt": 3,
        "machine_examples_per_prompt": 1,
        "problems_per_response": 3,
        "samples_per_prompt": 3,
        "temperature": 0.8,
        "top_p": 0.9,
        "max_tokens": 400,
        "prompts_per_round": 2,
    }
    overrides = {"self_instruct": {**defaults, **kwargs, "endpoint": endpoint}}
    return load_params("synthesize", ROOT / "params.yaml", overrides).self_instruct


def accept_all(candidates: list[Candidate]) -> list[str | None]:
    return [None] * len(candidates)


def test_the_same_rng_seed_gives_the_same_prompts() -> None:
    runs = []
    for _ in range(2):
        gen = RecordingGenerator("garbage")
        synthesize_subject(
            "arithmetic", SKILLS, SEEDS, gen, cfg_for(), random.Random(7), accept_all
        )
        runs.append(gen.prompts)
    assert runs[0] == runs[1] and len(runs[0]) == 6


def test_accept_must_answer_once_per_candidate() -> None:
    gen = RecordingGenerator("Problem: What is 90 plus 1?\nAnswer: 91")
    with pytest.raises(ValueError, match="accept"):
        synthesize_subject(
            "arithmetic", SKILLS, SEEDS, gen, cfg_for(), random.Random(0), lambda c: [None]
        )


def test_a_subject_without_seeds_is_an_error() -> None:
    with pytest.raises(ValueError, match="no seeds"):
        synthesize_subject(
            "arithmetic",
            SKILLS,
            [],
            RecordingGenerator(""),
            cfg_for(),
            random.Random(0),
            accept_all,
        )


_EXAMPLE = re.compile(r"### Example \d+\nSkill: (.*)\nProblem:\n(.*)\n(?:Solution|Answer):")
_ARITH = re.compile(r"What is (\d+) (plus|times) (\d+)\?")


class ToyTeacher:
    """`respond` for the server: reads the prompt's examples, writes new problems from them.

    Per request, choice 0 is good (fresh numbers; one problem with a label that is
    no skill, one without a program), choice 1 is flawed in every way a response
    can be, choice 2 is garbage. `shown[q]` keeps the example questions the prompt
    that produced question `q` showed.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counter = 100
        self.shown: dict[str, list[str]] = {}
        self.written = {s["question"] for s in SEEDS}

    def problem(self, index: int, example: tuple[str, str], label: str, program: bool) -> str:
        skill, question = example
        a, op, b = _ARITH.fullmatch(question).groups()  # type: ignore[union-attr]
        with self.lock:  # shift the numbers until the question is one never written or seen
            while True:
                self.counter += 1
                a2, b2 = int(a) + self.counter, int(b) + self.counter
                if f"What is {a2} {op} {b2}?" not in self.written:
                    self.written.add(f"What is {a2} {op} {b2}?")
                    break
        value = a2 + b2 if op == "plus" else a2 * b2
        symbol = "+" if op == "plus" else "*"
        code = f"```python\nprint({a2} {symbol} {b2})\n```\n" if program else ""
        return (
            f"### Problem {index}\nSkill: {label or skill}\nProblem:\nWhat is {a2} {op} {b2}?\n"
            f"Solution:\nCompute it.\n{code}Final answer: {value}\nAnswer: {value}\n"
        )

    def __call__(self, request: dict[str, Any]) -> list[str]:
        prompt = request["messages"][-1]["content"]
        examples = _EXAMPLE.findall(prompt)
        wanted = int(re.search(r"Write (\d+) NEW problem", prompt).group(1))  # type: ignore[union-attr]
        blocks = [
            self.problem(i + 1, examples[i % len(examples)], "geometry" if i == 1 else "", i != 2)
            for i in range(wanted)
        ]
        good = "Here you go.\n\n" + "\n".join(blocks)
        first_question = re.search(r"Problem:\n(.*)\n", blocks[0]).group(1)  # type: ignore[union-attr]
        repeat = f"Skill: addition\nProblem:\n{first_question}\nAnswer: 1\n"
        flawed = (
            f"### Problem 1\n{repeat}\n### Problem 2\n{repeat}\n"  # not novel, then a duplicate
            f"### Problem 3\nSkill: addition\nProblem:\n{examples[0][1]}\nAnswer: 5\n\n"
            "### Problem 4\nSkill: addition\nProblem:\nWhat is 1 plus 1?\n\n"  # no answer
            "### Problem 5\nSkill: addition\n"  # no problem
        )
        with self.lock:
            for block in blocks:
                question = re.search(r"Problem:\n(.*)\n", block).group(1)  # type: ignore[union-attr]
                self.shown[question] = [q for _, q in examples]
        return [good, flawed, "As an AI, I love arithmetic!"][: request["n"]]


def test_synthesize_subject_against_a_real_server(openai_server: OpenAIServer) -> None:
    teacher = ToyTeacher()
    openai_server.respond = teacher
    cfg = cfg_for(openai_server.base_url)
    seen: list[list[Candidate]] = []
    accepted_questions: set[str] = set()

    def accept(candidates: list[Candidate]) -> list[str | None]:
        """An exact-duplicate filter that also refuses every "geometry" label as not novel:
        the reason it answers is the reason the rejection carries."""
        seen.append(candidates)
        verdicts: list[str | None] = []
        for c in candidates:
            if c.question in accepted_questions:
                verdicts.append("duplicate_question")
            elif c.params["skill_label"] == "geometry":
                verdicts.append("not_novel")
            else:
                verdicts.append(None)
            accepted_questions.add(c.question)
        return verdicts

    kept, rejections = synthesize_subject(
        "arithmetic", SKILLS, SEEDS, build_generator(cfg.endpoint), cfg, random.Random(0), accept
    )

    requests = openai_server.completion_requests
    prompts = [(r.body or {})["messages"][-1]["content"] for r in requests]
    assert len(requests) == 6  # 3 rounds of 2 prompts (the endpoint's concurrency)
    assert all((r.body or {})["n"] == 3 for r in requests)
    assert len(seen) == 3  # accept is asked once per round

    # accept is respected: kept = what it accepted, in its order; the rest are not_novel.
    offered = [c for call in seen for c in call]
    kept_ids = {c.id for c in kept}
    assert [c.id for c in kept] == [c.id for c in offered if c.id in kept_ids]
    refused = [r for r in rejections if r.reason in ("not_novel", "duplicate_question")]
    assert len(kept) == 6 * 2  # per prompt: 3 good problems, one of them labelled geometry
    assert len(refused) == 6 * 2  # the geometry one and the repeat of a kept one
    assert all(c.params["skill_label"] != "geometry" for c in kept)
    assert len({c.question for c in kept}) == len(kept)

    # Every reason the toy teacher provokes, once per flawed or garbage response.
    counts = Counter(r.reason for r in rejections)
    assert counts == {
        "not_novel": 6,
        "duplicate_question": 6,
        "duplicate_in_response": 6,
        "copies_example": 6,
        "missing_answer": 6,
        "missing_question": 6,
        "no_problems_found": 6,
    }
    assert set(counts) <= set(REASONS)
    parse_rejected = {
        (r.prompt_index, r.sample_index) for r in rejections if r.reason != "not_novel"
    }
    assert parse_rejected == {(p, s) for p in range(6) for s in (1, 2)}
    assert all(r.subject == "arithmetic" and r.raw for r in rejections)

    # Candidates: fields, answers, skill resolution, answer-only ones, params, lineage.
    skill_of = {s["question"]: s["skill"] for s in SEEDS} | {c.question: c.skill for c in kept}
    kept_by_question = {c.question: c for c in kept}
    for c in offered:
        if c.sample_index == 1:  # the repeat in a flawed response
            continue
        assert c.subject == "arithmetic" and c.sample_index == 0 and 0 <= c.prompt_index < 6
        a, op, b = _ARITH.fullmatch(c.question).groups()  # type: ignore[union-attr]
        assert c.answer == str(int(a) + int(b) if op == "plus" else int(a) * int(b))
        assert c.params["model"] == "toy-teacher"
        assert (c.params["temperature"], c.params["top_p"]) == (0.8, 0.9)
        assert c.params["round"] == c.prompt_index // 2
        assert len(c.params["example_ids"]) == 3
        assert json.loads(json.dumps(asdict(c))) == asdict(c)  # a row, as is
        shown = teacher.shown[c.question]
        if c.params["skill_label"] == "geometry":  # no skill: the examples' commonest
            assert c.skill == Counter(skill_of[q] for q in shown).most_common(1)[0][0]
        else:
            assert c.skill == c.params["skill_label"]
        if c.params["solution_issue"] == "no_python_block":
            assert c.solution is None
        else:
            assert c.solution is not None and c.solution.endswith(f"Final answer: {c.answer}")

        # Lineage: the seeds shown, plus the lineage of the machine examples shown.
        expected: set[str] = set()
        for q in shown:
            if q in kept_by_question:
                expected |= set(kept_by_question[q].seed_ids)
            else:
                expected |= {s["id"] for s in SEEDS if s["question"] == q}
        assert set(c.seed_ids) == expected
        assert set(c.seed_ids) <= {s["id"] for s in SEEDS}

    # Machine examples: none in round 0, one per prompt later, always an accepted problem.
    for c in kept:
        machine = c.params["machine_example_ids"]
        assert len(machine) == (0 if c.params["round"] == 0 else 1)
        for mid in machine:
            source = next(k for k in kept if k.id == mid)
            assert source.params["round"] < c.params["round"]
            assert source.question in teacher.shown[c.question]
    assert sum(not any(k.question in p for k in kept) for p in prompts) == 2  # round 0
    never_kept = {c.question for c in offered} - set(kept_by_question)
    assert never_kept and not any(q in p for q in never_kept for p in prompts)
