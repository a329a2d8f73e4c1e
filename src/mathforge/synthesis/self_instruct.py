"""Self-Instruct per subject: new problems from a model shown a few examples.

For one subject, :func:`synthesize_subject` renders ``prompts_per_subject``
prompts (``prompts/self_instruct.jinja``), each showing ``examples_per_prompt``
examples drawn with the caller's ``random.Random``: seeds of the subject and,
``machine_examples_per_prompt`` of them, problems synthesized and kept earlier.
It works in rounds so that kept problems can be shown: render a round of
prompts, generate, parse, ask the caller's ``accept`` (the novelty filter), feed
the kept ones back as examples of the next rounds.

Every problem the model wrote ends as a :class:`Candidate` (kept, in order) or a
:class:`Rejection` with its reason (parse, ``copies_example``, ``not_novel``);
nothing is dropped silently. Parsing never raises on model garbage.

Seeds are plain dicts with keys ``id, subject, skill, question, answer,
solution`` (``solution`` may be None).
"""

from __future__ import annotations

import logging
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from mathforge.config import SelfInstructParams
from mathforge.generation import Chat, SamplingParams, TextGenerator
from mathforge.lineage import normalize_question
from mathforge.prompts import render
from mathforge.solution import extract_programs, parse_solution

log = logging.getLogger(__name__)

TEMPLATE = "self_instruct.jinja"
MAX_QUESTION_CHARS = 2000  # a longer "problem" is the model rambling, not a problem
RAW_MAX_CHARS = 500  # how much offending text a rejection keeps

# Every reason a problem can be rejected for, in the order the checks run.
REASONS = (
    "no_problems_found",  # the response holds no field of the layout at all
    "missing_question",  # a block without a Problem: field
    "empty_question",  # a Problem: field with no text
    "question_too_long",  # longer than MAX_QUESTION_CHARS
    "missing_answer",  # neither an Answer: field nor a "Final answer:" line
    "answer_mismatch",  # Answer: and the solution's final answer are different numbers
    "duplicate_in_response",  # the same question earlier in the same response
    "copies_example",  # the same question as one of the prompt's examples
    "duplicate_question",  # refused by the caller's accept: an exact repeat of a kept problem
    "not_novel",  # refused by the caller's accept: too similar to a kept problem (novelty)
)


@dataclass
class Candidate:
    id: str  # "{subject}/si/{prompt_index}.{sample_index}.{block_index}", stable for a given rng
    subject: str
    skill: str  # the model's label if it is a skill of the subject, else the examples' commonest
    question: str
    answer: str
    solution: str | None  # None: answer-only (missing, or without a ```python block)
    seed_ids: list[str]  # seeds shown in the prompt, plus the lineage of machine examples shown
    prompt_index: int
    sample_index: int
    params: dict[str, Any]  # JSON-serialisable: model, sampling, round, example ids, raw label


@dataclass
class Rejection:
    subject: str
    reason: str  # one of REASONS
    raw: str  # the offending text, truncated to RAW_MAX_CHARS
    prompt_index: int
    sample_index: int


# ---------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class ParsedProblem:
    """One well-formed problem of a response, before subject/lineage are attached."""

    block_index: int
    skill_label: str | None
    question: str
    answer: str
    solution: str | None
    solution_issue: str | None  # None, "missing" or "no_python_block"


@dataclass(frozen=True)
class ParseFailure:
    block_index: int
    reason: str
    raw: str


# "### Problem 3", "Problem 3:", "**Example 2**" on a line of its own.
_HEADER = re.compile(r"^\s*(?:#+\s*)?\**\s*(?:problem|example)\s*#?\s*\d+\s*[:.)]?\s*\**\s*$", re.I)
# "Skill: ...", "**Problem:**", "Answer: 14" (the value may follow on the same line).
_FIELD = re.compile(
    r"^\s*\**\s*(skill|problem|question|solution|answer)\s*\**\s*:\s*\**\s*(.*)$", re.I
)


def parse_response(
    text: str, max_question_chars: int = MAX_QUESTION_CHARS
) -> list[ParsedProblem | ParseFailure]:
    """Split one model response into problems or failures with a reason; never raises.

    Blocks start at numbered headers; inside a block, a field that repeats starts
    a new problem (a model that forgot a header). Lines inside ``` fences are
    never headers or fields. Text before the first field (chatter) is ignored.
    """
    records = _split_records(text)
    if not records:
        return [ParseFailure(0, "no_problems_found", _truncate(text))]
    results: list[ParsedProblem | ParseFailure] = []
    seen: set[str] = set()
    for block_index, (fields, raw) in enumerate(records):
        result = _to_problem(block_index, fields, raw, max_question_chars)
        if isinstance(result, ParsedProblem):
            key = normalize_question(result.question)
            if key in seen:
                result = ParseFailure(block_index, "duplicate_in_response", _truncate(raw))
            seen.add(key)
        results.append(result)
    return results


def _split_records(text: str) -> list[tuple[dict[str, str], str]]:
    """(fields, raw text) per problem; a header-only block is a record without fields."""
    records: list[tuple[dict[str, list[str]], list[str]]] = []
    current: list[str] | None = None  # lines of the field being read
    in_fence = False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence and _HEADER.match(line):
            records.append(({}, [line]))
            current = None
            continue
        elif not in_fence and (match := _FIELD.match(line)):
            name = match.group(1).lower()
            name = "problem" if name == "question" else name
            if not records or name in records[-1][0]:
                records.append(({}, []))
            fields, raw = records[-1]
            current = fields[name] = [match.group(2)]
            raw.append(line)
            continue
        if records:  # text before the first header or field is chatter
            records[-1][1].append(line)
            if current is not None:
                current.append(line)
    joined = [
        ({name: "\n".join(lines).strip() for name, lines in f.items()}, "\n".join(r).strip())
        for f, r in records
    ]
    # A response with headers but no field anywhere is garbage as a whole.
    return joined if any(f for f, _ in joined) else []


def _to_problem(
    block_index: int, fields: dict[str, str], raw: str, max_question_chars: int
) -> ParsedProblem | ParseFailure:
    def fail(reason: str) -> ParseFailure:
        return ParseFailure(block_index, reason, _truncate(raw))

    if "problem" not in fields:
        return fail("missing_question")
    question = fields["problem"]
    if not question:
        return fail("empty_question")
    if len(question) > max_question_chars:
        return fail("question_too_long")

    solution = fields.get("solution") or None
    final = _final_answer(solution) if solution else None
    answer = _clean_answer(fields.get("answer", "").split("\n", 1)[0]) or final
    if not answer:
        return fail("missing_answer")
    if final is not None and _numbers_differ(answer, final):
        return fail("answer_mismatch")

    issue = None
    if solution is None:
        issue = "missing"
    elif not extract_programs(solution):
        solution, issue = None, "no_python_block"
    label = fields.get("skill", "").split("\n", 1)[0].strip().strip("`*\"'") or None
    return ParsedProblem(block_index, label, question, answer, solution, issue)


def _final_answer(solution: str) -> str | None:
    """The solution's final answer by the project's one rule (`parse_solution`)."""
    final = parse_solution(solution).final_answer
    return _clean_answer(final) if final else None


def _clean_answer(answer: str) -> str:
    return answer.strip().strip("*").strip()


def _as_number(text: str) -> Fraction | None:
    text = text.strip().strip("$").replace(",", "").rstrip(".")
    boxed = re.fullmatch(r"\\boxed\{(.*)\}", text)
    text = boxed.group(1) if boxed else text
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def _numbers_differ(a: str, b: str) -> bool:
    """True only when both are plain numbers and differ (formatting never counts)."""
    x, y = _as_number(a), _as_number(b)
    return x is not None and y is not None and x != y


def _truncate(text: str) -> str:
    return text if len(text) <= RAW_MAX_CHARS else text[: RAW_MAX_CHARS - 1] + "…"


# -------------------------------------------------------------------- prompting
def render_prompt(
    subject: str, skills: Sequence[str], examples: Sequence[dict[str, Any]], num_problems: int
) -> Chat:
    """The chat for one Self-Instruct request (a single user message)."""
    content = render(
        TEMPLATE, subject=subject, skills=list(skills), examples=examples, num_problems=num_problems
    )
    return [{"role": "user", "content": content}]


def _resolve_skill(
    label: str | None, skills: Sequence[str], examples: Sequence[dict[str, Any]]
) -> str:
    by_lower = {skill.lower(): skill for skill in skills}
    if label is not None and label.lower() in by_lower:
        return by_lower[label.lower()]
    # Counter.most_common keeps first-seen order among ties: deterministic.
    return Counter(example["skill"] for example in examples).most_common(1)[0][0]


# ------------------------------------------------------------------- synthesis
def synthesize_subject(
    subject: str,
    skills: list[str],
    seeds: list[dict[str, Any]],
    generator: TextGenerator,
    cfg: SelfInstructParams,
    rng: random.Random,
    accept: Callable[[list[Candidate]], list[str | None]],
) -> tuple[list[Candidate], list[Rejection]]:
    """Self-Instruct for one subject; returns kept candidates (in order) and all rejections.

    `accept(candidates)` is called once per round with that round's parsed
    candidates and answers, for each, None to keep it or the reason to drop it
    (e.g. `duplicate_question`, `not_novel`); it must judge each
    against everything kept before *and* the earlier candidates of the same
    call (the stage's novelty filter). Kept ones become machine examples of the
    next rounds. `cfg.prompts_per_round` prompts go out together: fewer rounds
    generate faster, more rounds show more machine examples.
    """
    if not seeds:
        raise ValueError(f"subject {subject!r} has no seeds to show as examples")
    if not skills:
        raise ValueError(f"subject {subject!r} has no skills")
    per_round = cfg.prompts_per_round
    kept: list[Candidate] = []
    rejections: list[Rejection] = []

    for round_index, first in enumerate(range(0, cfg.prompts_per_subject, per_round)):
        prompt_indices = range(first, min(first + per_round, cfg.prompts_per_subject))
        shown = [_draw_examples(seeds, kept, cfg, rng) for _ in prompt_indices]
        chats = [
            render_prompt(subject, skills, examples, cfg.problems_per_response)
            for examples in shown
        ]
        sampling = SamplingParams(
            n=cfg.samples_per_prompt,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            max_tokens=cfg.max_tokens,
            seed=rng.randrange(2**31),
        )
        responses = generator.generate(chats, sampling)

        candidates: list[Candidate] = []
        for prompt_index, examples, samples in zip(prompt_indices, shown, responses, strict=True):
            params = {
                "model": getattr(cfg.endpoint, "model", None)  # openai; local: model_path
                or getattr(cfg.endpoint, "model_path", None),
                "temperature": cfg.temperature,
                "top_p": cfg.top_p,
                "max_tokens": cfg.max_tokens,
                "seed": sampling.seed,
                "round": round_index,
                "example_ids": [example["id"] for example in examples],
                "machine_example_ids": [e["id"] for e in examples if e["machine"]],
            }
            found, rejected = _read_responses(
                subject, skills, prompt_index, examples, samples, params
            )
            candidates += found
            rejections += rejected

        verdicts = accept(candidates) if candidates else []
        if len(verdicts) != len(candidates):
            raise ValueError(
                f"accept() answered {len(verdicts)} verdicts for {len(candidates)} candidates"
            )
        for candidate, reason in zip(candidates, verdicts, strict=True):
            if reason is None:
                kept.append(candidate)
            else:
                rejections.append(
                    Rejection(
                        subject,
                        reason,
                        _truncate(candidate.question),
                        candidate.prompt_index,
                        candidate.sample_index,
                    )
                )
        log.info(
            "%s round %d: %d prompts, %d candidates, %d kept (total %d), %d rejections so far",
            subject,
            round_index,
            len(prompt_indices),
            len(candidates),
            verdicts.count(None),
            len(kept),
            len(rejections),
        )
    return kept, rejections


def _draw_examples(
    seeds: list[dict[str, Any]], kept: list[Candidate], cfg: SelfInstructParams, rng: random.Random
) -> list[dict[str, Any]]:
    """k examples: up to `machine_examples_per_prompt` kept candidates, seeds for the rest."""
    k = cfg.examples_per_prompt
    n_machine = min(cfg.machine_examples_per_prompt, len(kept), k)
    examples = [
        {
            "id": seed["id"],
            "skill": seed["skill"],
            "question": seed["question"],
            "answer": seed["answer"],
            "solution": seed.get("solution"),
            "seed_ids": [seed["id"]],
            "machine": False,
        }
        for seed in rng.sample(seeds, min(k - n_machine, len(seeds)))
    ]
    examples += [
        {
            "id": c.id,
            "skill": c.skill,
            "question": c.question,
            "answer": c.answer,
            "solution": c.solution,
            "seed_ids": c.seed_ids,
            "machine": True,
        }
        for c in rng.sample(kept, n_machine)
    ]
    rng.shuffle(examples)
    return examples


def _read_responses(
    subject: str,
    skills: Sequence[str],
    prompt_index: int,
    examples: list[dict[str, Any]],
    samples: list[str],
    params: dict[str, Any],
) -> tuple[list[Candidate], list[Rejection]]:
    """Candidates and rejections from the sampled responses to one prompt."""
    seed_ids = _lineage(examples)
    shown_questions = {normalize_question(example["question"]) for example in examples}
    candidates: list[Candidate] = []
    rejections: list[Rejection] = []
    for sample_index, text in enumerate(samples):
        for item in parse_response(text):
            if isinstance(item, ParsedProblem) and (
                normalize_question(item.question) in shown_questions
            ):
                item = ParseFailure(item.block_index, "copies_example", _truncate(item.question))
            if isinstance(item, ParseFailure):
                rejections.append(
                    Rejection(subject, item.reason, item.raw, prompt_index, sample_index)
                )
                continue
            candidates.append(
                Candidate(
                    id=f"{subject}/si/{prompt_index}.{sample_index}.{item.block_index}",
                    subject=subject,
                    skill=_resolve_skill(item.skill_label, skills, examples),
                    question=item.question,
                    answer=item.answer,
                    solution=item.solution,
                    seed_ids=list(seed_ids),
                    prompt_index=prompt_index,
                    sample_index=sample_index,
                    params={
                        **params,
                        "skill_label": item.skill_label,
                        "solution_issue": item.solution_issue,
                    },
                )
            )
    return candidates, rejections


def _lineage(examples: list[dict[str, Any]]) -> list[str]:
    """Seed ids behind the examples, first-seen order, each once."""
    return list(dict.fromkeys(seed_id for example in examples for seed_id in example["seed_ids"]))
