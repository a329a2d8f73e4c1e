"""The judge and the critique format: hand-written paths, none drawn by the teacher.

Each wrong-reasoning case reaches the reference answer, so answer-only grading would keep it;
the judge must reject it, name the check that failed, and accept the honest solutions.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import jinja2
import pytest
from openai_server import OpenAIServer

from mathforge.config import OpenAIBackendParams
from mathforge.critique import ACCEPT, JudgeItem, judge, judge_many, parse_critique
from mathforge.critique.endpoint import judge_with_endpoint
from mathforge.critique.format import (
    CHECKS,
    TEMPLATE,
    Check,
    _templates,
    critique_prompt,
    render_critique,
)
from mathforge.critique.judge import instrument, program_literals, question_numbers
from mathforge.generation import build_generator

TANK = "A tank holds 48 litres of water and 6 litres drain out each hour. After how many hours is it empty?"  # noqa: E501


def solution(text: str, program: str, final: str | None) -> str:
    tail = f"\n\nFinal answer: {final}" if final is not None else ""
    return f"{text}\n\n```python\n{program}\n```{tail}"


HONEST = solution(
    "Key information: 48 litres, 6 litres each hour.\nHours: 48 / 6 = 8.",
    "n1 = 48\nn2 = 6\nprint(n1 // n2)",
    "8",
)
REFERENCE_SOLUTION = solution("48 / 6 = 8.", "n1 = 48\nn2 = 6\nprint(n1 // n2)", "8")

BAD = {  # kind -> (solution, the check that must fail)
    # 40 and 5 miscopied from 48 and 6; they compensate: 40 // 5 = 8 all the same
    "miscopied_numbers": (
        solution(
            "The tank drains 40 litres at 5 an hour.", "n1 = 40\nn2 = 5\nprint(n1 // n2)", "8"
        ),  # fmt: skip
        "numbers",
    ),
    "hard_coded_literal": (solution("It is 8 hours.", "print(8)", "8"), "computed"),
    # a coincidence: 6 + 2 is 8 too; only other numbers show it
    "wrong_method": (
        solution("Add the hours.", "n1 = 48\nn2 = 6\nprint(n2 + 2)", "8"),
        "counterfactual",
    ),
    "claims_contradict_program": (
        solution("Hours: 48 / 6 = 9.", "n1 = 48\nn2 = 6\nprint(n1 // n2)", "8"),
        "claims",
    ),
}

SHOP = (
    "A shop sells 137 pens on Monday and 254 pens on Tuesday. How many pens does it sell in "
    "the two days?"
)


def test_honest_solutions_are_accepted_with_and_without_a_reference_solution():
    with_reference = judge(TANK, "8", HONEST, reference_solution=REFERENCE_SOLUTION)
    assert with_reference.score == 10 and with_reference.accepted
    assert set(with_reference.checks.values()) == {"pass"}, with_reference.critique
    plain = judge(SHOP, "391", solution("137 + 254 = 391.", "print(137 + 254)", "391"))
    assert plain.accepted and plain.checks["counterfactual"] == "skip"
    # a solution without a reference answer is judged on its reasoning alone
    assert judge(SHOP, None, solution("Add.", "a = 137\nb = 254\nprint(a + b)", None)).accepted


@pytest.mark.parametrize("kind", sorted(BAD))
def test_right_answer_wrong_reasoning_is_rejected_by_the_check_that_sees_it(kind):
    text, check = BAD[kind]
    verdict = judge(TANK, "8", text, reference_solution=REFERENCE_SOLUTION)
    assert verdict.checks["answer"] == "pass", "every case reaches the reference answer"
    assert verdict.checks[check] == "fail", verdict.critique
    assert not verdict.accepted and 3 <= verdict.score < ACCEPT


def test_a_final_line_that_disagrees_with_the_program_costs_a_point_and_does_not_reject():
    text = solution("Hours: 48 / 6.", "n1 = 48\nn2 = 6\nprint(n1 // n2)", "9")
    verdict = judge(TANK, "8", text, reference_solution=REFERENCE_SOLUTION)
    assert verdict.checks["final_answer"] == "fail" and verdict.score == 9 and verdict.accepted
    both = solution("Hours: 48 / 6 = 9.", "n1 = 48\nn2 = 6\nprint(n1 // n2)", "9")
    assert judge(TANK, "8", both).score == 5  # a failed claim (6), less the point


def test_a_question_number_that_is_also_a_unit_is_not_redrawn():
    # the 100 here is also the percent factor of the program: redrawing it would break an
    # honest program whose 100 is the constant (the reference binds both to one name)
    question = "What percentage of 100 is 35?"
    reference = solution("35 / 100 x 100.", "n1 = 100\nn2 = 35\nprint(n2 * n1 // n1)", "35")
    honest = solution("Part over whole.", "n1 = 100\nn2 = 35\nprint(n2 * 100 // n1)", "35")
    verdict = judge(question, "35", honest, reference_solution=reference)
    assert verdict.checks["counterfactual"] == "pass" and verdict.accepted


def test_a_hard_coded_answer_behind_a_name_is_caught_without_a_reference_solution():
    verdict = judge(SHOP, "391", solution("Total.", "total = 391\nprint(total)", "391"))
    assert verdict.checks["computed"] == "fail" and verdict.checks["numbers"] == "fail"
    assert not verdict.accepted


def test_a_crash_scores_zero_and_a_wrong_answer_one():
    crash = judge(TANK, "8", solution("Divide.", "n1 = 48\nprint(n1 / 0)", "8"))
    assert crash.score == 0 and crash.checks == {"runs": "fail"}
    assert "exception" in crash.critique
    nothing = judge(TANK, "8", "Divide 48 by 6.\n\nFinal answer: 8")
    assert nothing.score == 0 and "no program" in nothing.critique
    wrong = judge(TANK, "8", solution("48 - 6 = 42.", "print(48 - 6)", "42"))
    assert wrong.score == 1 and wrong.checks["answer"] == "fail"


def test_counterfactual_substitutes_only_the_bindings_of_a_program_that_binds():
    # n2 = 6 is bound; the 6 of `range(6)` is another use of the value and must not move
    text = solution("Count down.", "n1 = 48\nn2 = 6\nprint(n1 // n2 + len(range(6)) - 6)", "8")
    assert judge(TANK, "8", text, reference_solution=REFERENCE_SOLUTION).accepted


def test_counterfactual_works_from_a_reference_solution_without_bindings():
    reference = solution("48 / 6.", "print(48 // 6)", "8")
    good = judge(TANK, "8", HONEST, reference_solution=reference)
    assert good.checks["counterfactual"] == "pass"
    wrong = judge(TANK, "8", BAD["wrong_method"][0], reference_solution=reference)
    assert wrong.checks["counterfactual"] == "fail"


def test_judge_many_keeps_the_order_and_agrees_with_judge():
    items = [JudgeItem(TANK, "8", text, REFERENCE_SOLUTION) for text, _ in BAD.values()]
    items.insert(2, JudgeItem(TANK, "8", HONEST, REFERENCE_SOLUTION))
    many = judge_many(items)
    one = [judge(i.question, i.reference, i.solution, reference_solution=i.reference_solution)
           for i in items]  # fmt: skip
    assert [j.score for j in many] == [j.score for j in one]
    assert [j.accepted for j in many] == [False, False, True, False, False]


def test_numbers_rule_reads_signs_decimals_and_percentages():
    numbers = question_numbers("Prices fall 12% from $4.50; f(x) = -3x + 1,250.")
    for value in ("12", "0.12", "4.5", "-3", "3", "1250"):
        assert Fraction(value) in numbers
    assert program_literals("x = 2.5\nprint(x * 4, True, 'n7')") == [Fraction(5, 2), 4]


def test_instrumented_program_prints_the_same_answer_and_records_values():
    from mathforge.critique.judge import DEFAULT_SANDBOX
    from mathforge.grading import last_line, run_sandboxed

    program = "def f(a):\n    return a * 3\nx = f(7) + 1\nprint(x)"
    plain, recorded = run_sandboxed([program, instrument(program)], DEFAULT_SANDBOX)
    assert last_line(plain.stdout) == "22"
    lines = recorded.stdout.splitlines()
    assert last_line("\n".join(lines[:-1])) == "22"  # the answer, then the values line
    assert lines[-1].startswith("MATHFORGE_VALUES ")
    assert {"21", "22"} <= set(lines[-1].split(" ", 1)[1].split("\t"))
    assert instrument("print(") is None  # does not parse: runs as it is


# ------------------------------------------------------------------------------ format
def test_critique_round_trips_through_the_parser():
    checks = [Check("runs", "pass", "printed 8"), Check("numbers", "fail", "40 (not given)")]
    text = render_critique(checks, 6)
    assert text.splitlines()[-1] == "Score: 6"
    parsed = parse_critique(text)
    assert parsed.score == 6 and parsed.error is None
    assert parsed.checks == {"runs": "pass", "numbers": "fail"}
    with pytest.raises(ValueError):
        render_critique(checks, 11)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "empty critique"),
        ("Runs: pass\nAnswer: pass", "no score line at the end"),
        ("Runs: pass\nScore: 12", "score 12 outside 0-10"),
        ("Score: 9\nRuns: pass", "no score line at the end"),
        ("Score: nine", "no score line at the end"),
    ],
)
def test_unparseable_critiques_say_why_and_have_no_score(text, error):
    parsed = parse_critique(text)
    assert parsed.score is None and parsed.error == error


def test_parser_ignores_prose_and_unknown_checks():
    parsed = parse_critique(
        "Let me look.\nRuns: pass\nStyle: fail\nFinal answer: skip (none)\nScore: 10"
    )
    assert parsed.score == 10 and parsed.checks == {"runs": "pass", "final_answer": "skip"}


def test_every_judgement_parses_back_to_its_own_score_and_checks():
    items = [JudgeItem(TANK, "8", text, REFERENCE_SOLUTION) for text, _ in BAD.values()]
    for verdict in judge_many(items):
        parsed = parse_critique(verdict.critique)
        assert parsed.score == verdict.score and parsed.checks == verdict.checks


def test_critique_prompt_names_every_check_and_needs_its_variables():
    system, user = critique_prompt(TANK, "8", HONEST)
    for name in CHECKS:
        assert name.replace("_", " ") in system["content"].lower()
    assert "Reference answer: 8" in user["content"] and user["content"].endswith("Critique:")
    assert "Program output" not in user["content"]
    (only,) = critique_prompt(TANK, None, HONEST, output="nothing (syntax)", system=False)
    assert "Reference answer: none" in only["content"]
    assert "Program output: nothing (syntax)\n\nCritique:" in only["content"]
    template = _templates().get_template(TEMPLATE)
    with pytest.raises(jinja2.UndefinedError):  # strict, as every prompt template
        template.render(role="user", question=TANK)


# ---------------------------------------------------------------------------- endpoint
def test_endpoint_judge_parses_a_real_server_and_rejects_what_does_not_parse():
    replies = iter(["Runs: pass\nAnswer: pass\nScore: 9", "It looks fine to me!", "Score: 4"])

    with OpenAIServer(lambda request: [next(replies)]) as server:
        cfg = OpenAIBackendParams(
            backend="openai", base_url=server.base_url, model="judge", api_key_env="NO_KEY_ENV",
            concurrency=1, max_retries=0, timeout_s=10.0,
        )  # fmt: skip
        items = [JudgeItem(TANK, "8", HONEST)] * 3
        verdicts = judge_with_endpoint(items, build_generator(cfg))
        system = server.requests[0].body["messages"][0]
    assert [v.score for v in verdicts] == [9, None, 4]
    assert [v.accepted for v in verdicts] == [True, False, False]
    assert verdicts[1].error == "no score line at the end"
    assert verdicts[1].critique == "It looks fine to me!"
    assert system["role"] == "system" and "Score: <0-10>" in system["content"]


# ------------------------------------------------------------------- stage critique_label
def _write_inputs(root: Path) -> tuple[Path, Path]:
    """A train split of two hand-written problems (TANK by a stand-in teacher, SHOP without a
    trusted solution) and one policy's shard of paths for them."""
    from mathforge.contracts.paths import PATHS
    from mathforge.contracts.splits import TRAIN
    from mathforge.io import write_parquet
    from mathforge.lineage import question_id

    problems = [(TANK, "8", REFERENCE_SOLUTION, "programmatic"), (SHOP, "391", None, "llm")]
    train = TRAIN.frame(
        {"question_id": question_id(q), "subject": "arithmetic", "skill": "s", "variant": "base",
         "question": q, "answer": a, "solution": s, "generator": g, "seed_ids": [],
         "params": "{}", "synth_index": i, "split": "train", "ood": False}
        for i, (q, a, s, g) in enumerate(problems)
    )  # fmt: skip
    texts = {
        TANK: [HONEST, *(text for text, _ in BAD.values()), "no program here"],
        SHOP: [solution("Add.", "print(137 + 254)", "391"), solution("Oops.", "print(1)", "1")],
    }
    rows = []
    for q, answer, *_ in problems:
        for k, text in enumerate(texts[q]):
            predicted = {0: answer}.get(k)
            rows.append(
                {"path_id": f"p_{k:02d}{question_id(q)[2:16]}", "question_id": question_id(q),
                 "subject": "arithmetic", "model": "tiny", "sample_index": k, "text": text,
                 "programs": [], "reference": answer, "reference_source": "gold",
                 "correct": "Oops" not in text and "no program" not in text,
                 "predicted": predicted}
            )  # fmt: skip
    write_parquet(train, root / "train.parquet")
    write_parquet(PATHS.frame(rows), root / "paths" / "tiny" / "shard-00000.parquet")
    return root / "train.parquet", root / "paths"


def test_critique_label_stage_labels_the_fit_problems_and_counts_wrong_reasoning(tmp_path):
    import json

    import polars as pl
    from profiles import write_tiny_params

    from stages import critique_label

    train, paths = _write_inputs(tmp_path)
    params = write_tiny_params(
        tmp_path / "params.yaml", scoring={"fit_fraction": 1.0, "heldout_fraction": 0.0}
    )
    out, metrics, plot = tmp_path / "judged.parquet", tmp_path / "m.json", tmp_path / "p.csv"
    critique_label.main([str(train), str(paths), str(out), str(metrics), str(plot),
                         "--params", str(params)])  # fmt: skip
    judged = pl.read_parquet(out).sort("path_id")
    assert judged.height == 8 and set(judged["role"]) == {"train"}
    by_text = dict(zip(judged["path_id"], judged["accepted"], strict=True))
    assert sum(by_text.values()) == 2  # the honest TANK path and the honest SHOP path
    m = json.loads(metrics.read_text())
    assert m["correct"] == 6 and m["right_answer_wrong_reasoning"] == 4
    assert m["failed_checks_of_correct_paths"]["counterfactual"] >= 1
    assert m["reference_solutions"] == 1 and m["reference_solutions_accepted_share"] == 1.0
    assert plot.read_text().splitlines()[0] == "score,correct"


def test_critique_label_stage_fails_clearly_and_writes_nothing(tmp_path):
    from profiles import write_tiny_params

    from mathforge.errors import UserError
    from stages import critique_label

    train, paths = _write_inputs(tmp_path)
    out = tmp_path / "judged.parquet"
    args = [str(out), str(tmp_path / "m.json"), str(tmp_path / "p.csv")]
    none_fit = write_tiny_params(tmp_path / "none.yaml", scoring={"fit_fraction": 0.0})
    with pytest.raises(UserError, match="no sampled problem has the role train or heldout"):
        critique_label.main([str(train), str(paths), *args, "--params", str(none_fit)])
    with pytest.raises(UserError, match=r"nowhere: no sampled paths \(run `dvc repro sample`\)"):
        critique_label.main([str(train), str(tmp_path / "nowhere"), *args])
    assert not out.exists()
