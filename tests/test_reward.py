"""The reward model: preference pairs of one problem without leakage between the problems it
learns from, is measured on and scores; the accuracy and separation measures on known cases;
TRL's own preparation of a pair; and a real tiny run of stages reward_train and reward_score."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

import polars as pl  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from profiles import question_ids_by_role, write_tiny_params  # noqa: E402
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification  # noqa: E402

from mathforge.contracts.scores import JUDGED, REWARD_MODEL, REWARD_PAIRS  # noqa: E402
from mathforge.errors import UserError  # noqa: E402
from mathforge.reward import (  # noqa: E402
    LeakageError,
    auc,
    encode,
    histogram_csv,
    pairwise_accuracy,
    path_chat,
    preference_pairs,
    separation,
)
from mathforge.teacher import generate  # noqa: E402
from stages import reward_score, reward_train  # noqa: E402

torch.set_num_threads(1)
# The tiny tokenizer spends ~390 tokens on the system message: pairs need the model's length.
REWARD = {"max_length": 1024}


def judged(rows: list[tuple[str, str, str, bool | None, bool]], errors=()) -> pl.DataFrame:
    """A `judged` table from (path_id, question_id, role, correct, accepted) rows; the paths
    in `errors` have a judge output that did not parse."""
    return JUDGED.frame(
        [
            {"path_id": p, "question_id": q, "subject": "arithmetic", "model": "m", "role": role,
             "correct": correct, "judge_score": None if p in errors else (9 if accepted else 2),
             "accepted": accepted and p not in errors, "critique": "c", "checks": "{}",
             "judge_error": "no score" if p in errors else None}
            for p, q, role, correct, accepted in rows
        ]
    )  # fmt: skip


def pid(i: int) -> str:
    return f"p_{i:016x}"


# Problem A (train): 3 correct (2 accepted, 1 right answer with rejected reasoning), 2 incorrect.
# Problem B (train): 1 correct accepted, 1 incorrect, 1 ungraded. Problem H (heldout).
PROBLEM_A = [
    (pid(1), "q_a", "train", True, True),
    (pid(2), "q_a", "train", True, True),
    (pid(3), "q_a", "train", True, False),
    (pid(4), "q_a", "train", False, False),
    (pid(5), "q_a", "train", False, False),
]
PROBLEM_B = [
    (pid(6), "q_b", "train", True, True),
    (pid(7), "q_b", "train", False, False),
    (pid(8), "q_b", "train", None, False),
]
PROBLEM_H = [
    (pid(9), "q_h", "heldout", True, True),
    (pid(10), "q_h", "heldout", False, False),
]


# ------------------------------------------------------------------------- pairs
def test_pairs_are_of_one_problem_and_of_both_kinds():
    table = judged(PROBLEM_A + PROBLEM_B + PROBLEM_H)
    pairs = preference_pairs(table, "train", max_per_problem=100, seed=0)
    problem = dict(zip(table["path_id"], table["question_id"], strict=True))
    correct = dict(zip(table["path_id"], table["correct"], strict=True))
    accepted = dict(zip(table["path_id"], table["accepted"], strict=True))
    for row in pairs.iter_rows(named=True):
        assert (
            problem[row["chosen_path_id"]] == problem[row["rejected_path_id"]] == row["question_id"]
        )
        chosen, rejected = row["chosen_path_id"], row["rejected_path_id"]
        if row["kind"] == "correct_over_incorrect":
            assert correct[chosen] is True and correct[rejected] is False
        else:
            assert accepted[chosen] and correct[rejected] and not accepted[rejected]
    counts = dict(pairs.group_by("question_id", "kind").len().select(
        pl.concat_str("question_id", "kind", separator="/"), "len").iter_rows())  # fmt: skip
    # A: 3 correct x 2 incorrect, 2 accepted x 1 wrong reasoning; B: 1 x 1 (the ungraded: none)
    assert counts == {"q_a/correct_over_incorrect": 6, "q_a/accepted_over_wrong_reasoning": 2,
                      "q_b/correct_over_incorrect": 1}  # fmt: skip
    assert set(pairs["role"]) == {"train"}


def test_the_cap_keeps_both_kinds_and_the_draw_is_seeded_per_problem():
    table = judged(PROBLEM_A + PROBLEM_B)
    capped = preference_pairs(table, "train", max_per_problem=3, seed=0)
    a = capped.filter(pl.col("question_id") == "q_a")
    assert a.height == 3 and set(a["kind"]) == {
        "correct_over_incorrect",
        "accepted_over_wrong_reasoning",
    }
    assert capped.group_by("question_id").len()["len"].max() <= 3
    assert capped.equals(preference_pairs(table, "train", max_per_problem=3, seed=0))
    alone = preference_pairs(judged(PROBLEM_A), "train", max_per_problem=3, seed=0)
    assert alone.equals(a)  # the same pairs whatever the other problems
    draws = {
        tuple(preference_pairs(table, "train", 3, seed)["chosen_path_id"]) for seed in range(8)
    }
    assert len(draws) > 1  # the seed changes the draw


def test_an_unparsed_judge_output_is_no_evidence_of_wrong_reasoning():
    pairs = preference_pairs(judged(PROBLEM_A, errors={pid(3)}), "train", 100, seed=0)
    assert (pairs["kind"] == "accepted_over_wrong_reasoning").sum() == 0
    assert (pairs["kind"] == "correct_over_incorrect").sum() == 6  # still graded correct


def test_train_and_heldout_pairs_are_disjoint_and_a_score_problem_never_gives_one():
    table = judged(PROBLEM_A + PROBLEM_B + PROBLEM_H)
    train = preference_pairs(table, "train", 100, seed=0)
    heldout = preference_pairs(table, "heldout", 100, seed=0)
    assert set(heldout["question_id"]) == {"q_h"}
    assert not set(train["question_id"]) & set(heldout["question_id"])
    leaked = judged([*PROBLEM_A, (pid(11), "q_s", "score", True, True)])
    with pytest.raises(LeakageError, match="must not learn from a problem it scores"):
        preference_pairs(leaked, "train", 100, seed=0)
    with pytest.raises(ValueError, match="train or heldout"):
        preference_pairs(table, "score", 100, seed=0)


# ---------------------------------------------------------------------- measures
def test_auc_and_pairwise_accuracy_on_known_cases():
    assert auc([3, 2], [1, 2]) == pytest.approx(3.5 / 4)
    assert auc([1], []) is None
    pairs = preference_pairs(judged(PROBLEM_A), "train", 100, seed=0)
    rewards = pl.DataFrame(
        {"path_id": [pid(i) for i in range(1, 6)], "reward": [5.0, 4.0, 4.0, 1.0, 4.0]}
    )
    result = pairwise_accuracy(pairs, rewards)
    # correct {5, 4, 4} over incorrect {1, 4}: wins 1+1+1+1 + ties 0.5+0.5 (p5 at 4) = 5 of 6
    assert result["accuracy_by_kind"]["correct_over_incorrect"] == pytest.approx(5 / 6, abs=1e-4)
    # accepted {5, 4} over wrong reasoning {4}: 1 + 0.5
    assert result["accuracy_by_kind"]["accepted_over_wrong_reasoning"] == 0.75
    assert result["accuracy"] == pytest.approx(6.5 / 8, abs=1e-4)


def test_separation_within_and_across_problems():
    # The recipe's case: every problem ranks its correct path first, but an easy problem's
    # wrong path outscores a hard problem's right one.
    scored = pl.DataFrame(
        {
            "question_id": ["easy", "easy", "hard", "hard", "hard"],
            "reward": [10.0, 9.0, 1.0, 0.0, 5.0],
            "correct": [True, False, True, False, None],
        }
    )
    result = separation(scored)
    assert result["auc_within_mean"] == 1.0 and result["within_pair_accuracy"] == 1.0
    assert result["auc_across"] == 0.75  # 10 > 9, 10 > 0, 1 > 0; 1 < 9
    assert result["top1_correct"] == 1.0  # among graded paths: the ungraded 5.0 is left out
    assert result["random_correct"] == 0.5
    assert result["ungraded_paths"] == 1 and result["problems_with_both"] == 2
    lines = histogram_csv(scored, bins=4).splitlines()
    assert lines[0] == "reward,correct,incorrect" and len(lines) == 5
    shares = [list(map(float, line.split(",")[1:])) for line in lines[1:]]
    assert sum(s[0] for s in shares) == pytest.approx(1) and sum(s[1] for s in shares) == 1
    within = histogram_csv(scored, bins=4, within=True).splitlines()
    assert within[0] == "reward_minus_problem_mean,correct,incorrect"


def test_encode_gives_the_ids_trl_prepares_from_a_conversational_pair(tiny_policy):
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_policy)
    problem = generate("arithmetic", "sharing", random.Random(0), "base")
    prompt = path_chat(problem.question, problem.solution, system=True)[:-1]
    row = {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": problem.solution}],
        "rejected": [{"role": "assistant", "content": "no idea"}],
    }
    args = RewardConfig(output_dir="unused", use_cpu=True, bf16=False, report_to="none",
                        activation_checkpointing=False)  # fmt: skip
    prepared = RewardTrainer._prepare_dataset(None, Dataset.from_list([row]), tokenizer, args, "t")
    ids = encode(tokenizer, [path_chat(problem.question, problem.solution, True),
                             path_chat(problem.question, "no idea", True)])  # fmt: skip
    assert prepared[0]["chosen_ids"] == ids[0] and prepared[0]["rejected_ids"] == ids[1]


# ---------------------------------------------------------------- the two stages
@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """A train split, sampled paths (4 per problem: 2 right, 2 wrong) of 3 problems of each
    role, and the judge's labels of the train and heldout ones (one right answer rejected)."""
    root = tmp_path_factory.mktemp("reward-inputs")
    rng = random.Random(0)
    problems, paths, labels = [], [], []
    for role, ids in question_ids_by_role(3).items():
        for q in ids:
            p = generate("arithmetic", "sharing", rng, "base")
            problems.append({"question_id": q, "question": p.question})
            for k in range(4):
                path_id = f"p_{len(paths):016x}"
                right = k < 2
                text = p.solution if right else p.solution.replace(str(p.answer), "7")
                paths.append({"path_id": path_id, "question_id": q, "text": text,
                              "correct": right})  # fmt: skip
                if role != "score":
                    labels.append((path_id, q, role, right, right and k == 0))
    pl.DataFrame(problems).write_parquet(root / "train.parquet")
    (root / "paths" / "m").mkdir(parents=True)
    pl.DataFrame(paths).write_parquet(root / "paths" / "m" / "shard-00000.parquet")
    judged(labels).write_parquet(root / "judged.parquet")
    return {"root": root, "judged": root / "judged.parquet", "paths": root / "paths",
            "train": root / "train.parquet"}  # fmt: skip


def train_argv(inputs, init: Path, out: Path, judged_file: Path | None = None) -> list[str]:
    return [str(judged_file or inputs["judged"]), str(inputs["paths"]), str(inputs["train"]),
            str(init), str(out / "models/reward"), str(out / "metrics/reward_train.json"),
            str(out / "plots/reward/train.csv"), "--params", str(out / "params.yaml")]  # fmt: skip


def score_argv(inputs, model: Path, out: Path) -> list[str]:
    return [str(inputs["paths"]), str(inputs["train"]), str(model),
            str(out / "data/scores/reward.parquet"), str(out / "metrics/reward_score.json"),
            str(out / "plots/reward/scores.csv"), str(out / "plots/reward/within.csv"),
            "--params", str(out / "params.yaml")]  # fmt: skip


@pytest.fixture(scope="module")
def trained(inputs, tiny_policy, tmp_path_factory) -> Path:
    """One real reward_train run on the session's tiny Llama (the tiny profile's 2 steps)."""
    out = tmp_path_factory.mktemp("reward-run")
    write_tiny_params(out / "params.yaml", reward=REWARD)
    reward_train.main(train_argv(inputs, tiny_policy, out))
    return out


def test_reward_train_writes_a_reward_model_its_pairs_and_metrics(trained, inputs, tiny_policy):
    model_dir = trained / "models/reward"
    pairs = pl.read_parquet(model_dir / "pairs.parquet")
    assert pairs.columns == REWARD_PAIRS.names
    roles = dict(pl.read_parquet(inputs["judged"]).select("question_id", "role").iter_rows())
    assert set(pairs["role"]) == {"train", "heldout"}
    assert all(roles[q] == r for q, r in pairs.select("question_id", "role").iter_rows())
    manifest = pl.read_parquet(model_dir / "manifest.parquet").row(0, named=True)
    assert manifest.keys() == set(REWARD_MODEL.names)
    assert manifest["kind"] == "built" and manifest["pairs"] == (pairs["role"] == "train").sum()

    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    assert model.config.num_labels == 1
    start = AutoModelForCausalLM.from_pretrained(tiny_policy)
    name = "model.layers.0.mlp.up_proj.weight"
    assert not torch.equal(model.state_dict()[name], start.state_dict()[name])  # it trained

    metrics = json.loads((trained / "metrics/reward_train.json").read_text())
    # 3 train problems: 2 right x 2 wrong, and 1 accepted x 1 rejected right answer, capped at 4
    assert metrics["train_pairs"] == 12 and metrics["steps"] == 2
    assert metrics["train_pairs_by_kind"] == {"correct_over_incorrect": 9,
                                              "accepted_over_wrong_reasoning": 3}  # fmt: skip
    assert metrics["heldout_pairs"] == 12 and 0 <= metrics["heldout_pairwise_accuracy"] <= 1
    assert metrics["heldout_separation"]["problems_with_both"] == 3
    curve = (trained / "plots/reward/train.csv").read_text().splitlines()
    assert curve[0] == "step,loss,accuracy,learning_rate" and len(curve) == 3


def test_reward_score_scores_every_path_of_the_score_problems_only(trained, inputs):
    reward_score.main(score_argv(inputs, trained / "models/reward", trained))
    scores = pl.read_parquet(trained / "data/scores/reward.parquet")
    score_ids = set(question_ids_by_role(3)["score"])
    assert set(scores["question_id"]) == score_ids and scores.height == 12
    assert scores["reward"].is_finite().all() and scores["reward"].n_unique() > 1
    trained_on = set(pl.read_parquet(trained / "models/reward/pairs.parquet")["question_id"])
    assert not trained_on & set(scores["question_id"])
    metrics = json.loads((trained / "metrics/reward_score.json").read_text())
    assert metrics["paths"] == 12 and metrics["problems_with_both"] == 3
    assert metrics["auc_across"] is not None and "paths_per_second" not in metrics
    run_log = json.loads((trained / "metrics/reward_score.run.json").read_text())
    assert run_log["paths_per_second"] > 0 and run_log["score_seconds"] > 0
    histogram = (trained / "plots/reward/scores.csv").read_text().splitlines()
    assert histogram[0] == "reward,correct,incorrect" and len(histogram) == 1 + 4


def test_a_pretrained_reward_model_is_recorded_and_measured_not_trained(trained, inputs, tmp_path):
    existing = tmp_path / "existing-rm"
    shutil.copytree(trained / "models/reward", existing)
    write_tiny_params(tmp_path / "params.yaml", reward={**REWARD, "pretrained": str(existing)})
    reward_train.main(train_argv(inputs, existing, tmp_path))
    model_dir = tmp_path / "models/reward"
    assert json.loads((model_dir / "pretrained.json").read_text()) == {"pretrained": str(existing)}
    assert not (model_dir / "model.safetensors").exists()
    manifest = pl.read_parquet(model_dir / "manifest.parquet").row(0, named=True)
    assert manifest["kind"] == "pretrained" and manifest["pairs"] == 0
    metrics = json.loads((tmp_path / "metrics/reward_train.json").read_text())
    before = json.loads((trained / "metrics/reward_train.json").read_text())
    assert metrics["steps"] == 0
    assert metrics["heldout_pairwise_accuracy"] == before["heldout_pairwise_accuracy"]
    reward_score.main(score_argv(inputs, model_dir, tmp_path))  # scores through the pointer
    assert pl.read_parquet(tmp_path / "data/scores/reward.parquet").height == 12


def test_bad_inputs_fail_clearly_and_write_nothing(trained, inputs, tiny_policy, tmp_path):
    write_tiny_params(tmp_path / "params.yaml", reward={"max_length": 64})
    with pytest.raises(UserError, match=r"every train pair is longer than reward.max_length=64"):
        reward_train.main(train_argv(inputs, tiny_policy, tmp_path))
    write_tiny_params(tmp_path / "params.yaml", reward=REWARD)
    out = tmp_path / "models/reward"
    with pytest.raises(UserError, match="judged.parquet not found"):
        reward_train.main(train_argv(inputs, tiny_policy, tmp_path, tmp_path / "judged.parquet"))

    table = pl.read_parquet(inputs["judged"])
    # a problem scored by reward_score, among the judged ones: leakage
    score_q = question_ids_by_role(3)["score"][0]
    leak = table.head(1).with_columns(question_id=pl.lit(score_q), role=pl.lit("train"),
                                      path_id=pl.lit("p_ffffffffffffffff"))  # fmt: skip
    pl.concat([table, leak]).write_parquet(tmp_path / "leak.parquet")
    with pytest.raises(UserError, match="role other than scoring"):
        reward_train.main(train_argv(inputs, tiny_policy, tmp_path, tmp_path / "leak.parquet"))
    # every path right: no pair to learn from
    table.with_columns(correct=pl.lit(True), accepted=pl.lit(True)).write_parquet(
        tmp_path / "none.parquet"
    )
    with pytest.raises(UserError, match="no preference pair"):
        reward_train.main(train_argv(inputs, tiny_policy, tmp_path, tmp_path / "none.parquet"))
    assert not out.exists() and not (tmp_path / "models/.reward.tmp").exists()

    with pytest.raises(UserError, match="not a reward model directory"):
        reward_score.main(score_argv(inputs, tiny_policy, tmp_path))
    # a reward model that learned from a problem it would score
    tampered = tmp_path / "tampered"
    shutil.copytree(trained / "models/reward", tampered)
    pairs = pl.read_parquet(tampered / "pairs.parquet")
    pairs.with_columns(question_id=pl.lit(score_q)).write_parquet(tampered / "pairs.parquet")
    with pytest.raises(LeakageError, match="training problems of the reward model"):
        reward_score.main(score_argv(inputs, tampered, tmp_path))
    assert not (tmp_path / "data/scores/reward.parquet").exists()
