"""The grpo stage: the verifiable reward on hand-written completions (right, wrong, crashing,
hostile: run in the sandbox), the problem set, a tiny real GRPOTrainer run, the stage end to
end and its errors."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

import polars as pl  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from preference_data import pairs_frame, teacher_problems  # noqa: E402
from profiles import write_tiny_params  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

from mathforge.config import ParamsError, load_params  # noqa: E402
from mathforge.contracts.pairs import PAIRS  # noqa: E402
from mathforge.errors import UserError  # noqa: E402
from mathforge.solution import solve_prompt  # noqa: E402
from mathforge.training.grpo import (  # noqa: E402
    CURVE,
    VerifiedAnswerReward,
    grpo_config,
    prompt_rows,
    select_problems,
    train_grpo,
)
from stages import grpo as grpo_stage  # noqa: E402

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
TINY_RUN = {  # two steps of one problem x 2 generations of 16 tokens
    "max_steps": 2, "batch_size": 2, "num_generations": 2, "max_completion_length": 16,
    "logging_steps": 1, "threads": 1,
}  # fmt: skip

QUESTION = "Ana has 6 boxes of 7 pens. How many pens does she have?"


def solution(program: str, final: str = "42") -> list[dict[str, str]]:
    """A completion as TRL hands conversational ones to a reward function."""
    text = f"n1 = 6 boxes, n2 = 7 pens.\n\n```python\n{program}\n```\n\nFinal answer: {final}"
    return [{"role": "assistant", "content": text}]


@pytest.fixture(scope="module")
def sandbox():
    """The shipped sandbox with a 1 s CPU limit (the endless program's wait)."""
    return load_params("sandbox", ROOT / "params.yaml", {"timeout_s": 1.0})


@pytest.fixture(scope="module")
def problems() -> pl.DataFrame:
    return teacher_problems()


# ----------------------------------------------------------------------- reward
def test_reward_is_one_for_a_right_printed_answer_and_zero_otherwise(sandbox, tmp_path):
    marker = tmp_path / "escaped"
    completions = [
        solution("n1 = 6\nn2 = 7\nprint(n1 * n2)"),  # right
        solution("n1 = 6\nn2 = 7\nprint(n1 + n2)", final="42"),  # wrong, whatever it claims
        solution("n1 = 6\nprint(n1 * n2)"),  # crashes: NameError
        solution("print(6 *"),  # does not parse
        [{"role": "assistant", "content": "6 times 7 is 42.\n\nFinal answer: 42"}],  # no program
        solution("import time\nwhile True:\n    pass"),  # never ends: the CPU limit stops it
        # hostile: writes outside the sandbox, then prints the right answer
        solution(f"open({str(marker)!r}, 'w').write('x')\nprint(6 * 7)"),
        "```python\nprint(42.0)\n```",  # a plain string completion, answer in another form
    ]
    reward = VerifiedAnswerReward(sandbox)
    n = len(completions)
    scores = reward(prompts=[solve_prompt(QUESTION)] * n, completions=completions,
                    answer=["42"] * n, question=[QUESTION] * n)  # fmt: skip
    assert scores == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    assert not marker.exists()  # the program ran in the sandbox: the host file is untouched
    assert sum(reward.outcomes.values()) == n and reward.outcomes["correct"] == 2
    assert reward.outcomes["wrong_answer"] == 1 and reward.outcomes["no_program"] == 1
    assert {"exception", "syntax", "timeout"} <= set(reward.outcomes)


def test_the_judge_also_has_to_accept_a_right_answer(sandbox):
    computed = solution("n1 = 6\nn2 = 7\nprint(n1 * n2)")
    literal = solution("print(42)")  # right answer, not computed from the question's numbers
    kwargs = {"prompts": [solve_prompt(QUESTION)] * 2, "completions": [computed, literal],
              "answer": ["42", "42"], "question": [QUESTION] * 2}  # fmt: skip
    assert VerifiedAnswerReward(sandbox)(**kwargs) == [1.0, 1.0]
    judged = VerifiedAnswerReward(sandbox, judge=True, trials=0)
    assert judged(**kwargs) == [1.0, 0.0]
    assert judged.outcomes == {"correct": 1, "judge_rejected": 1}


# --------------------------------------------------------------------- problems
def test_problems_are_the_pairs_problems_or_a_seeded_draw(problems):
    with_gaps = problems.with_columns(
        answer=pl.when(pl.int_range(pl.len()) == 1).then(None).otherwise(pl.col("answer"))
    )
    ids = with_gaps["question_id"].to_list()
    chosen, dropped = select_problems(with_gaps, [ids[3], ids[1], ids[0]], None, 0)
    assert chosen["question_id"].to_list() == [ids[0], ids[3]] and dropped == {"no_answer": 1}
    drawn, dropped = select_problems(with_gaps, [], 7, 0)
    assert drawn.height == 7 and ids[1] not in drawn["question_id"].to_list()
    assert dropped == {"no_answer": 1, "over_problems": with_gaps.height - 1 - 7}
    assert drawn.equals(select_problems(with_gaps.reverse(), [], 7, 0)[0])  # order-free
    assert drawn["subject"].n_unique() == problems["subject"].n_unique() == 7  # stratified
    rows = prompt_rows(chosen, system=False)
    assert rows[0]["prompt"] == solve_prompt(chosen["question"][0], system=False)
    assert rows[0]["answer"] == chosen["answer"][0] and rows[0]["solution"] == chosen["solution"][0]


def test_config_and_params_keep_whole_groups_in_a_batch(tmp_path):
    cfg = load_params("grpo", ROOT / "params.yaml", TINY_RUN)
    args = grpo_config(cfg, tmp_path)
    assert (args.num_generations, args.max_completion_length, args.generation_batch_size) == (
        2,
        16,
        2,
    )
    assert args.save_strategy == "no" and args.report_to == [] and args.use_cpu and not args.bf16
    with pytest.raises(ParamsError, match=r"batch_size x gradient_accumulation_steps \(6\) must"):
        load_params("grpo", ROOT / "params.yaml", {"batch_size": 6, "num_generations": 4})


# ------------------------------------------------------------------------ train
def test_a_tiny_grpo_run_samples_and_rewards_every_completion_and_saves(
    tiny_policy, problems, tmp_path
):
    cfg = load_params("grpo", ROOT / "params.yaml", TINY_RUN)
    metrics, curve = train_grpo(str(tiny_policy), problems.head(3), cfg, tmp_path / "out")
    assert metrics["steps"] == 2 and metrics["problems"] == 3 and metrics["dropped_too_long"] == 0
    # each step: one problem's group of 2 completions, each executed and graded
    assert metrics["rollouts"] == 4 == sum(metrics["rollout_outcomes"].values())
    assert metrics["problems_per_step"] == 1 and metrics["epochs"] == round(2 / 3, 3)
    assert [p["step"] for p in curve] == [1, 2] and set(curve[0]) == {"step", *CURVE}
    assert all(0.0 <= p["reward"] <= 1.0 and p["completion_length"] <= 16 for p in curve)
    saved = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    assert (
        saved.config.vocab_size
        == AutoModelForCausalLM.from_pretrained(tiny_policy).config.vocab_size
    )


def test_problems_whose_prompt_leaves_no_room_are_left_out(tiny_policy, problems, tmp_path):
    from mathforge.training.grpo import NoProblemFits

    cfg = load_params("grpo", ROOT / "params.yaml", {**TINY_RUN, "max_length": 40})
    with pytest.raises(NoProblemFits, match=r"max_completion_length \(16\) fits max_length \(40\)"):
        train_grpo(str(tiny_policy), problems.head(2), cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------ stage
def stage_inputs(tmp_path: Path, tiny_policy: Path, problems: pl.DataFrame, **grpo):
    problems.write_parquet(tmp_path / "train.parquet")
    pairs_frame(problems.head(2)).write_parquet(tmp_path / "pairs.parquet")
    problems.with_columns(ood=pl.int_range(pl.len()) % 3 == 0).write_parquet(
        tmp_path / "eval.parquet"
    )
    init = tmp_path / "models" / "rft" / "tiny"
    if not init.exists():
        shutil.copytree(tiny_policy, init)
    params = write_tiny_params(tmp_path / "params.yaml", grpo=grpo)
    out = tmp_path / "models" / "grpo" / "tiny"
    metrics, plot = tmp_path / "metrics" / "grpo.json", tmp_path / "plots" / "grpo" / "train.csv"
    argv = [tmp_path / "train.parquet", tmp_path / "pairs.parquet", tmp_path / "eval.parquet",
            init, out, metrics, plot]  # fmt: skip
    return [*map(str, argv), "--params", str(params)], init, out


def test_stage_trains_on_the_pairs_problems_and_writes_model_metrics_curve(
    tmp_path, tiny_policy, problems
):
    argv, init, out = stage_inputs(tmp_path, tiny_policy, problems)
    grpo_stage.main(argv)

    report = json.loads((tmp_path / "metrics" / "grpo.json").read_text())
    assert report["problems"] == 2 and report["problem_source"] == "pairs"
    assert report["steps"] == 2 and report["rollouts"] == 4 and report["judge"] is False
    assert report["heldout_accuracy_problems"] + report["heldout_ood_accuracy_problems"] == 4
    assert report["sandbox_isolation"] == "bubblewrap"
    assert not [k for k in report if "second" in k or "time" in k]  # no wall-clock in metrics
    manifest = pl.read_parquet(out / "manifest.parquet").row(0, named=True)
    assert (manifest["stage"], manifest["model"], manifest["examples"]) == ("grpo", "tiny", 2)
    assert manifest["parent"] == str(init) and manifest["load_check"] == "generate"
    curve = pl.read_csv(tmp_path / "plots" / "grpo" / "train.csv")
    assert curve.columns == ["step", *CURVE] and curve["step"].to_list() == [1, 2]
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny"]


def test_stage_errors_name_the_cause_and_write_nothing(tmp_path, tiny_policy, problems):
    argv, init, out = stage_inputs(tmp_path, tiny_policy, problems)
    missing = [*argv[:3], str(tmp_path / "absent"), *argv[4:]]
    with pytest.raises(UserError, match=r"init model .*absent not found \(run `dvc repro rft`\)"):
        grpo_stage.main(missing)
    problems.tail(-1).write_parquet(tmp_path / "train.parquet")  # a pair's problem is gone
    with pytest.raises(UserError, match=r"1 pair problem\(s\) not in .*train\.parquet"):
        grpo_stage.main(argv)
    problems.write_parquet(tmp_path / "train.parquet")
    PAIRS.empty().write_parquet(tmp_path / "pairs.parquet")
    with pytest.raises(UserError, match=r"pairs\.parquet has no pairs.*`dvc repro pairs`"):
        grpo_stage.main(argv)
    argv, _, _ = stage_inputs(tmp_path, tiny_policy, problems, max_length=40)
    with pytest.raises(UserError, match=r"fits max_length \(40\): raise grpo.max_length"):
        grpo_stage.main(argv)
    assert not out.exists() and not (tmp_path / "metrics").exists()
