"""The reward model's data and measures: preference pairs within one problem, pairwise
accuracy, and how well its scores separate correct from incorrect paths.

A reward model trained on pairwise preferences learns to compare paths *of one problem*
(DESIGN.md, "Scoring"): the recipe saw its scores separate correct from incorrect paths
within a problem but not across problems. So every pair here holds two paths of the same
problem, and the measures report both views:

- ``preference_pairs``: from the judge's labels (table `judged`), for the problems of one
  role. Two kinds: ``correct_over_incorrect`` (a correct path over an incorrect one) and
  ``accepted_over_wrong_reasoning`` (a judge-accepted path over one with the right answer
  that the judge rejected). `train` problems give the training pairs, `heldout` problems
  the measuring ones; a `score` problem never gives a pair (the scorer scores it).
- ``pairwise_accuracy``: the share of pairs whose chosen path scores higher.
- ``separation``: AUC of correct vs incorrect paths across all problems, and within each.
- ``encode`` / ``score_chats``: the token ids the reward model reads (the chat of the
  solving prompt and the path) and its batched scores, the same for training and scoring.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from mathforge.errors import UserError
from mathforge.solution import solve_prompt

KINDS = ("correct_over_incorrect", "accepted_over_wrong_reasoning")
PAIR_ROLES = ("train", "heldout")  # problems that give pairs; `score` problems never do
JUDGED_COLUMNS = ("path_id", "question_id", "role", "correct", "accepted", "judge_error")
PAIR_SCHEMA = {
    "question_id": pl.String,
    "role": pl.String,
    "kind": pl.String,
    "chosen_path_id": pl.String,
    "rejected_path_id": pl.String,
}

PAIRS_FILE = "pairs.parquet"  # a reward model directory's pairs (contract `reward_pairs`)


class LeakageError(UserError):
    """A problem the reward model scores would give it a preference pair, or a problem it
    trained on would be scored or measured."""


def preference_pairs(
    judged: pl.DataFrame, role: str, max_per_problem: int, seed: int
) -> pl.DataFrame:
    """The preference pairs of the problems whose role is `role` (train or heldout), at most
    `max_per_problem` per problem, as a frame of PAIR_SCHEMA sorted by problem.

    `judged` has JUDGED_COLUMNS (table `judged`, one row per path of a train or heldout
    problem). Within a problem, the candidates of each kind are:

    - correct_over_incorrect: every (correct, incorrect) pair of its paths (a path without a
      grade, `correct` null, is in none);
    - accepted_over_wrong_reasoning: every (accepted, correct but not accepted) pair, among
      the paths whose judge output parsed (an unparsed one says nothing of its reasoning).

    Each kind's candidates are shuffled with a generator seeded by `seed` and the problem's
    id (the same pairs whatever the other problems), then taken one kind after the other
    until the cap: the rarer kind keeps its pairs when the cap bites.
    """
    if role not in PAIR_ROLES:
        raise ValueError(f"pairs come from train or heldout problems, not {role!r}")
    leaked = judged.filter(~pl.col("role").is_in(PAIR_ROLES))
    if leaked.height:
        ids = leaked["question_id"].unique().sort()
        raise LeakageError(
            f"{ids.len()} problem(s) of role {sorted(set(leaked['role']))} have judged paths "
            f"(e.g. {ids[0]}): a scorer must not learn from a problem it scores"
        )
    rows: list[dict[str, Any]] = []
    mine = judged.filter(pl.col("role") == role).sort("question_id", "path_id")
    for (question_id,), paths in mine.group_by("question_id", maintain_order=True):
        candidates = _candidates(paths)
        rng = random.Random(f"{seed}:{question_id}")
        for pairs in candidates.values():
            rng.shuffle(pairs)
        for kind, chosen, rejected in _take_in_turn(candidates, max_per_problem):
            rows.append(
                {
                    "question_id": question_id,
                    "role": role,
                    "kind": kind,
                    "chosen_path_id": chosen,
                    "rejected_path_id": rejected,
                }
            )
    return pl.DataFrame(rows, schema=PAIR_SCHEMA)


def _candidates(paths: pl.DataFrame) -> dict[str, list[tuple[str, str]]]:
    """Every candidate pair of one problem's paths, by kind (in path_id order)."""
    ids = paths["path_id"].to_list()
    correct = paths["correct"].to_list()
    parsed = paths["judge_error"].is_null().to_list()
    accepted = [bool(a) and p for a, p in zip(paths["accepted"], parsed, strict=True)]
    wrong_reasoning = [
        c is True and p and not a for c, p, a in zip(correct, parsed, accepted, strict=True)
    ]
    right = [i for i, c in zip(ids, correct, strict=True) if c is True]
    wrong = [i for i, c in zip(ids, correct, strict=True) if c is False]
    good = [i for i, a in zip(ids, accepted, strict=True) if a]
    flawed = [i for i, w in zip(ids, wrong_reasoning, strict=True) if w]
    return {
        "correct_over_incorrect": [(c, r) for c in right for r in wrong],
        "accepted_over_wrong_reasoning": [(c, r) for c in good for r in flawed],
    }


def _take_in_turn(
    candidates: dict[str, list[tuple[str, str]]], cap: int
) -> list[tuple[str, str, str]]:
    """Up to `cap` pairs, one of each kind in turn while a kind has some left."""
    taken: list[tuple[str, str, str]] = []
    queues = {kind: list(pairs) for kind, pairs in candidates.items()}
    while len(taken) < cap and any(queues.values()):
        for kind in KINDS:
            if queues.get(kind) and len(taken) < cap:
                chosen, rejected = queues[kind].pop(0)
                taken.append((kind, chosen, rejected))
    return taken


def check_disjoint(train_pairs: pl.DataFrame, other: pl.DataFrame, what: str) -> None:
    """Raise LeakageError when a problem of `other` (pairs or paths) is a training problem."""
    shared = set(train_pairs["question_id"]) & set(other["question_id"])
    if shared:
        raise LeakageError(
            f"{len(shared)} problem(s) of the {what} are training problems of the reward model "
            f"(e.g. {min(shared)})"
        )


# ------------------------------------------------------------------------ measures
def pairwise_accuracy(pairs: pl.DataFrame, rewards: pl.DataFrame) -> dict[str, Any]:
    """The share of `pairs` (PAIR_SCHEMA) whose chosen path scores above the rejected one
    (a tie counts half), overall and by kind; `rewards` has path_id and reward. None where
    there is no pair."""
    scored = (
        pairs.join(rewards.select(chosen_path_id="path_id", chosen="reward"), on="chosen_path_id")
        .join(rewards.select(rejected_path_id="path_id", rejected="reward"), on="rejected_path_id")
        .with_columns(
            win=pl.when(pl.col("chosen") > pl.col("rejected"))
            .then(1.0)
            .when(pl.col("chosen") == pl.col("rejected"))
            .then(0.5)
            .otherwise(0.0)
        )
    )
    if scored.height != pairs.height:
        raise ValueError(f"{pairs.height - scored.height} pair(s) have a path without a reward")
    by_kind = {kind: _round(scored.filter(pl.col("kind") == kind)["win"].mean()) for kind in KINDS}
    return {
        "pairs": scored.height,
        "accuracy": _round(scored["win"].mean()),
        "accuracy_by_kind": by_kind,
        "pairs_by_kind": {kind: int((scored["kind"] == kind).sum()) for kind in KINDS},
    }


def auc(positive: Sequence[float], negative: Sequence[float]) -> float | None:
    """P(a positive scores above a negative), ties counted half (the Mann-Whitney AUC); None
    when either side is empty."""
    pos = np.asarray(positive, dtype=float)
    neg = np.sort(np.asarray(negative, dtype=float))
    if pos.size == 0 or neg.size == 0:
        return None
    below = np.searchsorted(neg, pos, side="left")
    tied = np.searchsorted(neg, pos, side="right") - below
    return float((below + 0.5 * tied).sum() / (pos.size * neg.size))


def separation(scored: pl.DataFrame) -> dict[str, Any]:
    """How well rewards tell correct from incorrect paths; `scored` has question_id, reward and
    correct (null: ungraded, left out).

    - ``auc_across``: AUC over all graded paths, whatever their problem (what a global
      threshold on the reward would see);
    - ``auc_within_mean``: the mean over problems with both kinds of paths of the AUC within
      the problem (what ranking one problem's paths sees);
    - ``within_pair_accuracy``: the share of all (correct, incorrect) pairs of one problem
      ordered right, pooled over problems;
    - ``top1_correct`` vs ``random_correct``: over problems with both kinds, how often the
      best-scored graded path is correct, and the share of correct paths (what a random pick gets);
    - the mean and standard deviation of the reward of correct and of incorrect paths.
    """
    graded = scored.filter(pl.col("correct").is_not_null())
    right = graded.filter(pl.col("correct"))["reward"]
    wrong = graded.filter(~pl.col("correct"))["reward"]
    within, wins, pairs, top1, chance = [], 0.0, 0, [], []
    for _, paths in graded.sort("question_id").group_by("question_id", maintain_order=True):
        good = paths.filter(pl.col("correct"))["reward"].to_numpy()
        bad = paths.filter(~pl.col("correct"))["reward"].to_numpy()
        if good.size == 0 or bad.size == 0:
            continue
        value = auc(good, bad)
        assert value is not None
        within.append(value)
        wins += value * good.size * bad.size
        pairs += good.size * bad.size
        top1.append(float(paths.sort("reward", descending=True)["correct"][0]))
        chance.append(good.size / paths.height)
    return {
        "graded_paths": graded.height,
        "ungraded_paths": scored.height - graded.height,
        "auc_across": _round(auc(right.to_numpy(), wrong.to_numpy())),
        "auc_within_mean": _round(float(np.mean(within)) if within else None),
        "within_pair_accuracy": _round(wins / pairs if pairs else None),
        "problems_with_both": len(within),
        "top1_correct": _round(float(np.mean(top1)) if top1 else None),
        "random_correct": _round(float(np.mean(chance)) if chance else None),
        "reward_correct_mean": _round(right.mean()),
        "reward_correct_std": _round(right.std()),
        "reward_incorrect_mean": _round(wrong.mean()),
        "reward_incorrect_std": _round(wrong.std()),
    }


def histogram_csv(scored: pl.DataFrame, bins: int, within: bool = False) -> str:
    """The distributions of the reward of correct and of incorrect paths (`scored`: question_id,
    reward, correct) as a plot file: one row per bin, its center and the share of each kind's
    paths in it. `within`: the reward minus its problem's mean reward (what separates within
    a problem, whatever the problem's level)."""
    graded = scored.filter(pl.col("correct").is_not_null())
    if within:
        graded = graded.with_columns(
            reward=pl.col("reward") - pl.col("reward").mean().over("question_id")
        )
    column = "reward_minus_problem_mean" if within else "reward"
    lines = [f"{column},correct,incorrect"]
    if graded.height == 0:
        return "\n".join(lines) + "\n"
    values = graded["reward"].to_numpy()
    edges = np.linspace(values.min(), values.max(), bins + 1)
    if edges[0] == edges[-1]:
        edges = np.linspace(values.min() - 0.5, values.max() + 0.5, bins + 1)
    shares = {}
    for name, mask in (("correct", graded["correct"]), ("incorrect", ~graded["correct"])):
        kind = graded.filter(mask)["reward"].to_numpy()
        counts, _ = np.histogram(kind, bins=edges)
        shares[name] = counts / max(kind.size, 1)
    centers = (edges[:-1] + edges[1:]) / 2
    for center, good, bad in zip(centers, shares["correct"], shares["incorrect"], strict=True):
        lines.append(f"{center:.6g},{good:.6f},{bad:.6f}")
    return "\n".join(lines) + "\n"


def _round(value: float | None, digits: int = 4) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


# --------------------------------------------------------------- model inputs, scores
def path_chat(question: str, text: str, system: bool) -> list[dict[str, str]]:
    """What the reward model reads for one path: the solving prompt and the path as the
    assistant's turn (the conversation the policy had)."""
    return [*solve_prompt(question, system=system), {"role": "assistant", "content": text}]


def encode(tokenizer, chats: Sequence[list[dict[str, str]]]) -> list[list[int]]:
    """The token ids of each chat through the tokenizer's chat template (the ids TRL's
    RewardTrainer prepares from a conversational pair; tests/test_reward.py checks it)."""
    ids: list[list[int]] = []
    for start in range(0, len(chats), 4096):  # bounded memory whatever the number of paths
        ids += tokenizer.apply_chat_template(
            list(chats[start : start + 4096]), tokenize=True, return_dict=True
        )["input_ids"]
    return ids


def score_ids(model, ids: Sequence[list[int]], pad_token_id: int, batch_size: int) -> np.ndarray:
    """The reward of each token sequence: batched forward passes without gradients, the
    sequences sorted by length so a batch pads little; returned in the input order."""
    import torch

    scores = np.empty(len(ids), dtype=np.float64)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            width = max(len(ids[i]) for i in batch)
            input_ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):  # right padding, as TRL's preference collator
                input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
            scores[batch] = logits[:, 0].float().cpu().numpy()
    return scores


def load_reward_model(path: str, use_cpu: bool):
    """A reward model (sequence classifier, one label) and its tokenizer, ready to score."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32)
    if model.config.num_labels != 1:
        raise ValueError(
            f"{path}: a reward model has one output, this one {model.config.num_labels}"
        )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    if not use_cpu and torch.cuda.is_available():
        model = model.to("cuda")
    return model, tokenizer
