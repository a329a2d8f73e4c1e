"""DPO pair mining (stage pairs): (prompt, chosen, rejected) pairs from the paths of the `score`
problems and the filter's verdict on each (table `scores`), by the strategy `pairs.strategy`.

A path is **good** when it passed every check of the filter (`drop_reason` null, or
`below_top_m`: a good path that lost to better ones). Every chosen path is a good one, and its
text is `trainset.restate_final_answer(text, predicted)`: the policies' written final-answer
lines disagree with what their programs printed on most right answers, and a path is graded by
what it printed. A rejected path's text is kept as generated. Pairs are only ever two paths of
one problem; a rejected text is used once per problem (the small policies often sample one text
several times: those paths are one rejection, not several copies of one pair), and a pair whose
chosen text equals its rejected text is not made (it would teach nothing).

**hard** (the default): the cases SFT fails to separate, each a `pair_type`:

- ``cot_wrong_pot_right``: rejected, a path whose program printed the right answer (`correct`,
  no error) but whose written final answer is present and does not match what it printed
  (`answers_match` is False; None, ungradable, is not a disagreement); chosen, another good
  path. The rejected path may itself be good (its text restated is a fine chosen text
  elsewhere); as written, it states a wrong answer.
- ``rounding``: rejected, a `wrong_answer` path whose printed number is within
  `pairs.rounding_tolerance` relative error of the reference but not equal to it (a float for
  an exact value, a rounded result); two integers are never a rounding pair (they differ by at
  least one: an arithmetic slip, not precision). Numbers as the grader reads them
  (`verify.fast.read`); answers that are not one plain number (sqrt, pi, tuples, percent) are
  not candidates. Chosen, a good path.
- ``one_step_wrong``: rejected, a `wrong_answer` path whose program has at least
  `pairs.min_steps` statements (prints, imports, pass and bare constants not counted; a
  program that does not parse has none) and whose normalized program
  (`diversity.normalize_program`) is within `pairs.max_step_distance` (`program_distance`,
  normalized token edit distance) of a good path's; chosen, that nearest good path (ties: the
  better keep_rank). The nearest first.
- ``wrong_reasoning``: rejected, a right answer (`correct`) the critique model, the judge's
  stand-in on `score` problems, scored below the threshold (`below_critique_threshold`);
  chosen, a kept path.
- ``hard_problem``: in a problem the filter flagged hard, rejected, a `wrong_answer` or
  `execution_failed` path; chosen, a good path (the first pair: the best one).

Within a type, rejected candidates come by reward, highest first (the ones the reward model
confuses most; ties by path_id), except ``one_step_wrong`` (by distance). Chosen paths rotate
through the good paths by keep_rank, per type (the first pair of a type gets keep_rank 1;
``wrong_reasoning`` through the kept ones), skipping the rejected path itself. The types take
turns, one pair each per round in the order above, until `pairs.max_per_problem` pairs, each
type stopping at `pairs.max_per_type` or when it has no candidate left; so a common type
(``cot_wrong_pot_right`` is most right answers) cannot crowd out the rare ones.

**best_worst** (the recipe's baseline): a path's score is its critique score (null lowest),
reward breaking ties; chosen, the best good path; rejected, the lowest-scored path of the
problem (ties: the smaller path_id), even a good one. No pair without a good path or without a
path scored strictly below the chosen one.

**margin**: chosen as in best_worst; rejected, the path that failed a check whose *reward* is
nearest `mean - pairs.margin_sigmas x std` of the problem's rewards (all its paths, population
std; ties: the smaller path_id). Reward, not critique score: the study this follows placed the
rejected response by reward-model score, and the critique scores take a handful of values (on
the CPU demo's data mostly 0, 1 and 9: mean - 2 std of them lay below every score in 16 of the
25 problems with a good and a failed path), so margin would mostly be best_worst again; by
reward, its rejected path differs from best_worst's in 14 of those 25. No pair without a good
path or a failed one.

Every pair gets `pair_id` = `d_` + 16 hex of SHA-256 of "pair_type|chosen|rejected" and a JSON
`detail` of what it was picked on. Deterministic: every order ends in path_id.

**Cost.** Problems are mined in batches of `pairs.batch_problems`: each batch scans the path
shards (polars, streaming, the batch's rows only) and holds its paths' narrow columns, programs
and text; memory is bounded by the batch, and a batch rescans the shards. The rows of one
problem at a time become Python dicts (one per scored path); the costly work is per candidate
and lazy, stopping at the caps: `answers_match` (its fast path ~47 µs a pair in bench_verify)
on right answers until a type has its pairs; `normalize_program` on the multi-step wrong paths
and the good paths of problems that have both (bench_diversity: 9,736 paths/s with selection),
and one token distance matrix (rapidfuzz, C++) per such problem; `restate_final_answer` per
chosen path. At the seed scale (10M paths, 100k problems) the normalization is the largest
term, at most what the diversity benchmark needs for as many paths (10M in about 17 minutes on
one core) if every path were a candidate. Measured only on the CPU demo's data: 976 paths of 61
problems mined in 0.1 s (2.5 s with imports and validation), 2 shared cores.
"""

from __future__ import annotations

import ast
import hashlib
import json
import statistics
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import groupby
from pathlib import Path
from typing import Any

import polars as pl

from mathforge.config import PairsParams
from mathforge.contracts.filtering import SCORED_PROBLEMS, SCORES
from mathforge.contracts.pairs import HARD_PAIR_TYPES, PAIR_TYPES, PAIRS
from mathforge.contracts.paths import PATHS
from mathforge.contracts.splits import TRAIN
from mathforge.diversity import distance_matrix, normalize_program
from mathforge.diversity.rft import program_text
from mathforge.errors import UserError
from mathforge.filtering import PROBLEMS_FILE, SCORES_FILE
from mathforge.trainset import restate_final_answer
from mathforge.verify import answers_match
from mathforge.verify.fast import read

# What the stage reads of each input.
SCORE_COLUMNS = (
    "path_id", "question_id", "subject", "model", "error_kind", "correct", "reward",
    "critique_score", "keep_rank", "kept", "drop_reason",
)  # fmt: skip
PATH_COLUMNS = (
    "path_id", "question_id", "text", "programs", "final_answer", "predicted", "reference",
)  # fmt: skip
PROBLEM_COLUMNS = ("question_id", "passed", "hard")
TRAIN_COLUMNS = ("question_id", "question")

# The pairs file, named once by its contract (the filter's: mathforge.filtering).
PAIRS_FILE = Path(PAIRS.glob).name  # type: ignore[arg-type]

GOOD_REASONS = (None, "below_top_m")  # drop_reason of a path that passed every check
FAILED_ANSWER = ("wrong_answer", "execution_failed")  # hard_problem's rejected paths

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Pair:
    """One mined pair: two rows of one problem (SCORE_COLUMNS + PATH_COLUMNS + hard) and the
    chosen one's text as trained on (`chosen_text`)."""

    pair_type: str
    chosen: Row
    rejected: Row
    chosen_text: str
    detail: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------ the path tests
def is_good(row: Row) -> bool:
    """Passed every check of the filter (kept, or a good path below top M)."""
    return row["drop_reason"] in GOOD_REASONS


def written_answer_disagrees(final_answer: str | None, predicted: str | None) -> bool:
    """The written final answer is present and does not state what the program printed
    (`answers_match` False; ungradable is not a disagreement)."""
    if final_answer is None or predicted is None:
        return False
    return answers_match(final_answer, predicted) is False


def number(answer: str | None) -> Fraction | None:
    """The answer's value when it is one plain number as the grader reads it (an integer,
    decimal or fraction; not a percent), else None."""
    if answer is None:
        return None
    parsed = read(answer)[1]
    value = getattr(parsed, "value", None)
    if not isinstance(value, Fraction) or getattr(parsed, "pct", False):
        return None
    return value


def rounding_error(predicted: str | None, reference: str | None, tolerance: float) -> float | None:
    """The relative error of `predicted` against `reference` when it is a rounding or
    precision error: both plain numbers, not equal, not both integers, within `tolerance`
    (relative to the reference; absolute when the reference is 0). None otherwise."""
    p, r = number(predicted), number(reference)
    if p is None or r is None or p == r:
        return None
    if p.denominator == 1 and r.denominator == 1:
        return None  # two integers: an arithmetic slip, not precision
    error = abs(p - r) / abs(r) if r else abs(p)
    return float(error) if error <= Fraction(tolerance) else None


def _is_noise(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Import | ast.ImportFrom | ast.Pass):
        return True
    if isinstance(stmt, ast.Expr):
        value = stmt.value
        if isinstance(value, ast.Constant):
            return True  # a docstring or bare constant
        return (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "print"
        )
    return False


def program_steps(program: str) -> int:
    """Statements of `program` (nested ones too), prints, imports, pass and bare constants not
    counted; 0 when it does not parse."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return 0
    return sum(1 for node in ast.walk(tree) if isinstance(node, ast.stmt) and not _is_noise(node))


def chosen_text(row: Row) -> str:
    """A chosen path's text: its printed answer stated as its final answer."""
    return restate_final_answer(row["text"], row["predicted"])


def pair_id(pair_type: str, chosen_path_id: str, rejected_path_id: str) -> str:
    digest = hashlib.sha256(f"{pair_type}|{chosen_path_id}|{rejected_path_id}".encode())
    return "d_" + digest.hexdigest()[:16]


# ------------------------------------------------------------------- the hard pair types
Candidates = Iterator[tuple[Row, dict[str, Any], Row | None]]  # rejected, detail, fixed chosen


def _by_reward(rows: Sequence[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: (-r["reward"], r["path_id"]))


def cot_wrong_pot_right(rows: Sequence[Row]) -> Candidates:
    for r in _by_reward(rows):
        if (
            r["correct"] is True
            and r["error_kind"] is None
            and written_answer_disagrees(r["final_answer"], r["predicted"])
        ):
            yield r, {"written": r["final_answer"], "printed": r["predicted"]}, None


def rounding(rows: Sequence[Row], tolerance: float) -> Candidates:
    for r in _by_reward(rows):
        if r["drop_reason"] == "wrong_answer":
            error = rounding_error(r["predicted"], r["reference"], tolerance)
            if error is not None:
                detail = {"printed": r["predicted"], "reference": r["reference"],
                          "relative_error": error}  # fmt: skip
                yield r, detail, None


def one_step_wrong(
    rows: Sequence[Row], good: Sequence[Row], min_steps: int, max_distance: float
) -> Candidates:
    """Computed when first asked (normalization is the costly part), nearest first."""
    wrong = [
        r
        for r in rows
        if r["drop_reason"] == "wrong_answer"
        and program_steps(program_text(r["programs"])) >= min_steps
    ]
    if not wrong or not good:
        return
    forms = [normalize_program(program_text(r["programs"])) for r in [*wrong, *good]]
    distances = distance_matrix(forms)[: len(wrong), len(wrong) :]
    found = []
    for i, r in enumerate(wrong):
        j = int(distances[i].argmin())  # the first minimum: the better keep_rank
        d = float(distances[i, j])
        if d <= max_distance:
            found.append((d, -r["reward"], r["path_id"], r, good[j]))
    for d, _, _, r, chosen in sorted(found, key=lambda f: f[:3]):
        yield r, {"distance": round(d, 4)}, chosen


def wrong_reasoning(rows: Sequence[Row]) -> Candidates:
    for r in _by_reward(rows):
        if r["correct"] is True and r["drop_reason"] == "below_critique_threshold":
            yield r, {"critique_score": r["critique_score"]}, None


def hard_problem(rows: Sequence[Row]) -> Candidates:
    if not rows or not rows[0]["hard"]:
        return
    for r in _by_reward(rows):
        if r["drop_reason"] in FAILED_ANSWER:
            yield r, {"drop_reason": r["drop_reason"]}, None


def _rotate(pool: Sequence[Row], turn: int, exclude: str) -> tuple[Row | None, int]:
    """The next path of `pool` from position `turn` (cyclic) that is not `exclude`, and the
    turn after it."""
    for k in range(len(pool)):
        candidate = pool[(turn + k) % len(pool)]
        if candidate["path_id"] != exclude:
            return candidate, turn + k + 1
    return None, turn


def mine_hard(rows: Sequence[Row], cfg: PairsParams) -> list[Pair]:
    """The `hard` pairs of one problem's rows (module docstring)."""
    good = sorted((r for r in rows if is_good(r)), key=lambda r: (r["keep_rank"], r["path_id"]))
    if not good:
        return []
    kept = [r for r in good if r["kept"]]
    sources: dict[str, tuple[Candidates, Sequence[Row]]] = {
        "cot_wrong_pot_right": (cot_wrong_pot_right(rows), good),
        "rounding": (rounding(rows, cfg.rounding_tolerance), good),
        "one_step_wrong": (one_step_wrong(rows, good, cfg.min_steps, cfg.max_step_distance), good),
        "wrong_reasoning": (wrong_reasoning(rows), kept),
        "hard_problem": (hard_problem(rows), good),
    }
    restated: dict[str, str] = {}  # path_id -> chosen_text, made once
    turns = dict.fromkeys(HARD_PAIR_TYPES, 0)
    taken: Counter[str] = Counter()
    used: set[str] = set()  # rejected texts: paths sampled to the same text are one rejection
    pairs: list[Pair] = []
    active = list(HARD_PAIR_TYPES)
    while active:
        for pair_type in list(active):  # one round: one pair of each type still active
            if len(pairs) >= cfg.max_per_problem:
                return pairs
            candidates, pool = sources[pair_type]
            pair = None
            for rejected, detail, fixed in candidates:
                if rejected["text"] in used:
                    continue
                chosen = fixed
                if chosen is None:
                    chosen, turns[pair_type] = _rotate(pool, turns[pair_type], rejected["path_id"])
                if chosen is None:
                    continue
                if chosen["path_id"] not in restated:
                    restated[chosen["path_id"]] = chosen_text(chosen)
                if restated[chosen["path_id"]] != rejected["text"]:  # else it teaches nothing
                    pair = Pair(pair_type, chosen, rejected, restated[chosen["path_id"]], detail)
                    break
            if pair is None:
                active.remove(pair_type)
                continue
            used.add(pair.rejected["text"])
            pairs.append(pair)
            taken[pair_type] += 1
            if taken[pair_type] >= cfg.max_per_type:
                active.remove(pair_type)
    return pairs


# ------------------------------------------------------------- best_worst and margin
def score(row: Row) -> tuple[int, float]:
    """best_worst's order: critique score (null lowest), then reward."""
    critique = row["critique_score"]
    return (-1 if critique is None else critique, row["reward"])


def best_good(rows: Sequence[Row]) -> Row | None:
    good = [r for r in rows if is_good(r)]
    if not good:
        return None
    return min(good, key=lambda r: (-score(r)[0], -score(r)[1], r["path_id"]))


def _single(pair_type: str, chosen: Row, rejected: Row, detail: dict) -> list[Pair]:
    """[the pair], or [] when the chosen text equals the rejected one (it teaches nothing)."""
    text = chosen_text(chosen)
    return [] if text == rejected["text"] else [Pair(pair_type, chosen, rejected, text, detail)]


def mine_best_worst(rows: Sequence[Row]) -> list[Pair]:
    chosen = best_good(rows)
    if chosen is None:
        return []
    rejected = min(rows, key=lambda r: (score(r), r["path_id"]))
    if score(rejected) >= score(chosen):
        return []
    detail = {"chosen_score": list(score(chosen)), "rejected_score": list(score(rejected))}
    return _single("best_worst", chosen, rejected, detail)


def mine_margin(rows: Sequence[Row], sigmas: float) -> list[Pair]:
    chosen = best_good(rows)
    failed = [r for r in rows if not is_good(r)]
    if chosen is None or not failed:
        return []
    rewards = [r["reward"] for r in rows]
    mean, std = statistics.fmean(rewards), statistics.pstdev(rewards)
    target = mean - sigmas * std
    rejected = min(failed, key=lambda r: (abs(r["reward"] - target), r["path_id"]))
    detail = {"mean": mean, "std": std, "target": target}
    return _single("margin", chosen, rejected, detail)


def mine_problem(rows: Sequence[Row], cfg: PairsParams) -> list[Pair]:
    """One problem's pairs by `cfg.strategy`; `rows` are all its scored paths."""
    if cfg.strategy == "hard":
        return mine_hard(rows, cfg)
    if cfg.strategy == "best_worst":
        return mine_best_worst(rows)
    return mine_margin(rows, cfg.margin_sigmas)


def mine(rows: pl.DataFrame, cfg: PairsParams) -> list[Pair]:
    """The pairs of every problem in `rows` (SCORE_COLUMNS + PATH_COLUMNS + hard), problem by
    problem in question_id order."""
    pairs: list[Pair] = []
    ordered = rows.sort("question_id", "path_id").iter_rows(named=True)
    for _, group in groupby(ordered, key=lambda r: r["question_id"]):
        pairs += mine_problem(list(group), cfg)
    return pairs


def pair_rows(pairs: Sequence[Pair], strategy: str, prompts: Mapping[str, str]) -> pl.DataFrame:
    """The pairs as `pairs` table rows; `prompts` by question_id."""
    rows = []
    for p in pairs:
        c, r = p.chosen, p.rejected
        rows.append(
            {
                "pair_id": pair_id(p.pair_type, c["path_id"], r["path_id"]),
                "question_id": c["question_id"],
                "subject": c["subject"],
                "strategy": strategy,
                "pair_type": p.pair_type,
                "prompt": prompts[c["question_id"]],
                "chosen": p.chosen_text,
                "rejected": r["text"],
                "chosen_path_id": c["path_id"],
                "rejected_path_id": r["path_id"],
                "chosen_model": c["model"],
                "rejected_model": r["model"],
                "chosen_critique_score": c["critique_score"],
                "rejected_critique_score": r["critique_score"],
                "chosen_reward": c["reward"],
                "rejected_reward": r["reward"],
                "hard": c["hard"],
                "detail": json.dumps(p.detail, sort_keys=True),
            }
        )
    return PAIRS.frame(rows)


# ---------------------------------------------------------------------------- the files
def check_inputs(paths: Sequence[Path], filter_dir: Path, train: Path) -> None:
    """Each input exists and has the columns read here with its contract's dtypes, and rows;
    a UserError names the file and the stage to run otherwise. Reads one row of each."""
    inputs = [(PATHS, Path(p), PATH_COLUMNS) for p in paths] + [
        (SCORES, Path(filter_dir) / SCORES_FILE, SCORE_COLUMNS),
        (SCORED_PROBLEMS, Path(filter_dir) / PROBLEMS_FILE, PROBLEM_COLUMNS),
        (TRAIN, Path(train), TRAIN_COLUMNS),
    ]
    for table, path, needed in inputs:
        if not path.is_file():
            raise UserError(f"{path} not found (run `dvc repro {table.stage}`)")
        table.check_input(pl.read_parquet(path, n_rows=1), path, needed)


def _examples(ids: pl.Series) -> str:
    shown = ids.head(3).to_list()
    return ", ".join(shown) + (", ..." if ids.len() > 3 else "")


def problem_batches(filter_dir: Path, batch_problems: int) -> list[list[str]]:
    """The scored problems (question_id order) in batches of `batch_problems`; every problem
    of `scores` must have its `scored_problems` row."""
    scores, problems = Path(filter_dir) / SCORES_FILE, Path(filter_dir) / PROBLEMS_FILE
    ids = pl.scan_parquet(scores).select("question_id").unique().sort("question_id").collect()
    flagged = pl.read_parquet(problems, columns=["question_id"])
    lacking = ids.join(flagged, on="question_id", how="anti")["question_id"]
    if lacking.len():
        raise UserError(
            f"{problems}: {lacking.len()} problem(s) of {scores} have no row (e.g. "
            f"{_examples(lacking)}): the two are one run's; run `dvc repro filter`"
        )
    qids = ids["question_id"].to_list()
    return [qids[i : i + batch_problems] for i in range(0, len(qids), batch_problems)]


def read_batch(paths: Sequence[Path], filter_dir: Path, qids: Sequence[str]) -> pl.DataFrame:
    """The scored rows of the problems `qids` with their paths' columns and hard flag
    (SCORE_COLUMNS + PATH_COLUMNS + hard). A scored path the shards lack, or hold twice or
    under another problem, is a UserError."""
    scores, problems = Path(filter_dir) / SCORES_FILE, Path(filter_dir) / PROBLEMS_FILE
    wanted = pl.col("question_id").is_in(list(qids))
    scored = pl.scan_parquet(scores).filter(wanted).select(SCORE_COLUMNS)
    shards = (
        pl.scan_parquet(list(paths))
        .filter(wanted)
        .select(PATH_COLUMNS)
        .rename({"question_id": "path_question_id"})
    )
    hard = pl.scan_parquet(problems).filter(wanted).select("question_id", "hard")
    rows = (
        scored.join(shards, on="path_id", how="left")
        .join(hard, on="question_id", how="left")
        .collect(engine="streaming")
    )
    lacking = rows.filter(pl.col("path_question_id").is_null())["path_id"]
    if lacking.len():
        raise UserError(
            f"{scores}: {lacking.len()} scored path(s) are not in the path shards under "
            f"{Path(paths[0]).parent.parent} (e.g. {_examples(lacking)}): the filter ran on "
            "other paths; run `dvc repro filter`"
        )
    moved = rows.filter(pl.col("path_question_id") != pl.col("question_id"))["path_id"]
    repeated = rows.filter(pl.col("path_id").is_duplicated())["path_id"].unique(maintain_order=True)
    if moved.len() or repeated.len():
        raise UserError(
            f"{scores} and the path shards disagree: {moved.len()} path(s) under another "
            f"question_id, {repeated.len()} path_id(s) in more than one shard row (e.g. "
            f"{_examples(pl.concat([moved, repeated]))}); run `dvc repro filter`"
        )
    return rows.drop("path_question_id")


def read_prompts(train: Path, qids: Sequence[str]) -> dict[str, str]:
    """question_id -> question of the problems `qids` (train split); one missing is an error."""
    found = (
        pl.scan_parquet(train)
        .filter(pl.col("question_id").is_in(list(qids)))
        .select(TRAIN_COLUMNS)
        .unique("question_id", keep="first")
        .collect()
    )
    prompts = dict(found.iter_rows())
    lacking = [q for q in qids if q not in prompts]
    if lacking:
        raise UserError(
            f"{train}: {len(lacking)} scored problem(s) are not in the train split (e.g. "
            f"{', '.join(lacking[:3])}): the paths were sampled from another split; run "
            "`dvc repro sample` and the stages after it"
        )
    return prompts


def mine_batch(
    paths: Sequence[Path], filter_dir: Path, train: Path, qids: Sequence[str], cfg: PairsParams
) -> pl.DataFrame:
    """The `pairs` rows of the problems `qids`."""
    pairs = mine(read_batch(paths, filter_dir, qids), cfg)
    return pair_rows(pairs, cfg.strategy, read_prompts(train, qids))


def summary(pairs: pl.DataFrame, problems: int, without_good: int, hard: int) -> dict:
    """What metrics/pairs.json reports of the written pairs (no timings: they would change
    dvc.lock on every run)."""
    by_type = dict(pairs.group_by("pair_type").len().iter_rows())
    used = pl.concat([pairs["chosen_path_id"], pairs["rejected_path_id"]]).n_unique()
    return {
        "pairs": pairs.height,
        "by_type": {t: by_type.get(t, 0) for t in PAIR_TYPES},
        "problems": problems,
        "problems_hard": hard,
        "problems_without_good_path": without_good,
        "problems_with_pair": pairs["question_id"].n_unique(),
        "hard_problems_with_pair": pairs.filter(pl.col("hard"))["question_id"].n_unique(),
        "paths_used": used,
        "chosen_paths": pairs["chosen_path_id"].n_unique(),
    }


def problem_counts(filter_dir: Path) -> tuple[int, int, int]:
    """(problems, of them without a good path, of them hard) from `scored_problems`."""
    problems = pl.read_parquet(Path(filter_dir) / PROBLEMS_FILE, columns=["passed", "hard"])
    return (
        problems.height,
        problems.filter(pl.col("passed") == 0).height,
        problems.filter(pl.col("hard")).height,
    )
