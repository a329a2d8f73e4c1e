"""The quality filter: which sampled paths of the `score` problems are kept, and why the others
are not. DuckDB SQL over the Parquet files, written back with COPY: no row passes through Python,
so it holds at the recipe's 10M paths (benchmarks/bench_filter.py).

Every path of a `score` problem (mathforge.scoring) is joined with its reward (table
`reward_scores`) and its critique score (table `critique_scores`) and gets one verdict.

The checks, in the order a dropped path's one `drop_reason` is chosen (the first that applies):

1. ``execution_failed``: no program, or it crashed, timed out or printed nothing (`error_kind`);
2. ``wrong_answer``: a reference exists and the printed answer does not match it (an ungradable
   answer, `correct` null, is not wrong: the critique decides);
3. ``critique_unparseable``: the critique model's output gave no score;
4. ``below_critique_threshold``: its critique score is under `filter.critique_threshold`;
5. ``below_top_m``: it passed 1-4, but `filter.top_m` paths of its problem with a higher
   reward did too.

What a path *is* comes first (it did not run; its answer is wrong: objective, and free of any
model's error), then what the critique model says, then the relative verdict. So a path dropped
`below_top_m` is always a good path that lost to better ones, never a broken one.

Top M ranks among the paths that passed checks 1-4 (`keep_rank`), not among all paths of the
problem (`reward_rank`, also recorded). The recipe reads "top M by reward, then the critique
threshold", but the reward model was trained on pairwise preferences to order paths of one
problem, not to judge them; ranking all paths lets a crashed or wrong path with a high reward
take one of the M places and be dropped anyway, so a problem with many good paths could keep
none. Ranking the survivors keeps min(M, good paths) per problem: every problem keeps the M
best acceptable paths the reward model can name, which is what "top M" promises. Ties in
reward are broken by `path_id`, so the verdicts do not depend on file or thread order.

A problem is **hard** when fewer than `filter.hard_max_share` of its first
`filter.hard_first_paths` paths are judged correct, judged correct meaning it passed checks 1-4
(it ran, its answer is not wrong, the critique model, the judge's stand-in on these problems,
scores it at or above the threshold). The first paths are ordered by `sample_index`, then
`model`: the pool's first samples of every model, not the first model's alone (each model's
samples are drawn independently, so any of them is a fair sample of that model).
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from mathforge.contracts.filtering import DROP_REASONS
from mathforge.contracts.paths import PATHS
from mathforge.contracts.scores import CRITIQUE_SCORES, REWARD_SCORES
from mathforge.errors import UserError
from mathforge.scoring import scoring_role
from mathforge.sqlchecks import one, quote, source

# What the filter reads of each input.
PATH_COLUMNS = (
    "path_id", "question_id", "subject", "model", "sample_index", "text", "programs",
    "error_kind", "predicted", "reference", "reference_source", "correct",
)  # fmt: skip
REWARD_COLUMNS = ("path_id", "question_id", "reward")
CRITIQUE_COLUMNS = ("path_id", "question_id", "critique_score", "critique_error")

# The output files, in the output directory.
SCORES_FILE = "scores.parquet"
FILTERED_FILE = "filtered.parquet"
PROBLEMS_FILE = "problems.parquet"


@dataclass(frozen=True)
class FilterSettings:
    """What decides the verdicts (from params.yaml's filter and scoring sections)."""

    top_m: int
    critique_threshold: int
    hard_first_paths: int
    hard_max_share: float
    seed: int  # the scoring roles'
    fit_fraction: float
    heldout_fraction: float


def connect(threads: int, memory_limit: str, spill_dir: Path | None = None):
    """A DuckDB connection with these limits; joins and sorts over `memory_limit` spill to
    `spill_dir`."""
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    con.execute(f"SET memory_limit = {quote(memory_limit)}")
    if spill_dir is not None:
        con.execute(f"SET temp_directory = {quote(str(spill_dir))}")
    return con


def path_files(paths_dir: Path) -> list[str]:
    """The `paths` shards under `paths_dir` (`<model>/shard-*.parquet`, stage sample)."""
    files = sorted(glob.glob(str(Path(paths_dir) / "*" / "shard-*.parquet")))
    if not files:
        raise UserError(
            f"{paths_dir}: no path shards (<model>/shard-*.parquet) found (run `dvc repro sample`)"
        )
    return files


def check_inputs(paths: Sequence[str], reward: Path, critique: Path) -> None:
    """Each input exists and has the columns the filter reads, with its contract's dtypes, and
    rows; a UserError names the file otherwise. Reads one row of each file."""
    inputs = [(PATHS, Path(path), PATH_COLUMNS) for path in paths] + [
        (REWARD_SCORES, Path(reward), REWARD_COLUMNS),
        (CRITIQUE_SCORES, Path(critique), CRITIQUE_COLUMNS),
    ]
    for table, path, needed in inputs:
        if not path.is_file():
            raise UserError(f"{path} not found (run `dvc repro {table.stage}`)")
        table.check_input(pl.read_parquet(path, n_rows=1), path, needed)


def _paths_source(paths: Sequence[str]) -> str:
    return "read_parquet([" + ", ".join(quote(p) for p in paths) + "])"


def register_score_problems(
    con: duckdb.DuckDBPyConnection, paths: Sequence[str], settings: FilterSettings
) -> int:
    """Register the `score` problems among the paths' problems as table `score_problems`
    (one id per problem: 100k at the recipe's scale, cheap in Python); returns how many."""
    ids = [
        qid
        for (qid,) in con.execute(
            f"SELECT DISTINCT question_id FROM {_paths_source(paths)} ORDER BY 1"
        ).fetchall()
    ]
    scored = [
        qid
        for qid in ids
        if scoring_role(qid, settings.fit_fraction, settings.heldout_fraction, settings.seed)
        == "score"
    ]
    if not scored:
        raise UserError(
            f"none of the {len(ids)} sampled problems has the role `score` (scoring.fit_fraction "
            f"= {settings.fit_fraction}, scoring.seed = {settings.seed}): nothing to filter"
        )
    con.register("score_problems", pl.DataFrame({"question_id": scored}).to_arrow())
    return len(scored)


def count_score_paths(con: duckdb.DuckDBPyConnection, paths: Sequence[str]) -> int:
    """The paths of the registered `score` problems: the rows `scores` must have."""
    (count,) = one(
        con,
        f"SELECT count(*) FROM {_paths_source(paths)} SEMI JOIN score_problems USING (question_id)",
    )
    return count


def input_problems(
    con: duckdb.DuckDBPyConnection, paths: Sequence[str], reward: Path, critique: Path
) -> list[str]:
    """How the inputs disagree with each other: every path of a `score` problem has exactly one
    reward row and one critique row for the same problem, no other path has one, and rewards
    are finite. Each problem in words with a count and an example path_id. One join of the
    paths with each scores file."""
    scored = (
        f"(SELECT path_id, question_id FROM {_paths_source(paths)} "
        "SEMI JOIN score_problems USING (question_id))"
    )
    problems = []
    for name, path in (("reward", reward), ("critique", critique)):
        checks = {
            f"paths of `score` problems without a {name} row": "s.path_id IS NULL",
            f"{name} rows of paths that are not a `score` problem's (do the scoring params "
            "match those of the stage that wrote it?)": "p.path_id IS NULL",
            "question_id differs from the path's": "s.question_id <> p.question_id",
        }
        if name == "reward":
            checks["reward is not finite"] = "NOT isfinite(s.reward)"
        found = one(
            con,
            "SELECT count(s.path_id) - count(DISTINCT s.path_id), "
            + ", ".join(
                f"count_if({cond}), min(coalesce(p.path_id, s.path_id)) FILTER ({cond})"
                for cond in checks.values()
            )
            + f" FROM {scored} p FULL JOIN {source(path)} s ON s.path_id = p.path_id",
        )
        repeats, *counts = found
        if repeats:
            problems.append(f"{path}: path_id repeats: {repeats}")
        for what, count, example in zip(checks, counts[::2], counts[1::2], strict=True):
            if count:
                problems.append(f"{path}: {what}: {count} (e.g. {example})")
    return problems


def scores_sql(paths: Sequence[str], reward: Path, critique: Path, s: FilterSettings) -> str:
    """Every path of a `score` problem with its scores, ranks and verdict (table `scores`)."""
    return f"""
    WITH checked AS (
        SELECT p.path_id, p.question_id, p.subject, p.model, p.sample_index, p.error_kind,
               p.reference_source, p.correct, r.reward, c.critique_score, c.critique_error,
               CASE  -- the first check a path fails (the precedence: see the module docstring)
                   WHEN p.error_kind IS NOT NULL THEN 'execution_failed'
                   WHEN p.reference_source <> 'none' AND p.correct = false THEN 'wrong_answer'
                   WHEN c.critique_score IS NULL THEN 'critique_unparseable'
                   WHEN c.critique_score < {int(s.critique_threshold)}
                       THEN 'below_critique_threshold'
               END AS failed_check
        FROM {_paths_source(paths)} p
        SEMI JOIN score_problems USING (question_id)
        JOIN {source(reward)} r ON r.path_id = p.path_id
        JOIN {source(critique)} c ON c.path_id = p.path_id
    ), ranked AS (
        SELECT *,
            row_number() OVER (PARTITION BY question_id ORDER BY reward DESC, path_id)
                AS reward_rank,
            CASE WHEN failed_check IS NULL THEN row_number() OVER (
                PARTITION BY question_id, failed_check IS NULL ORDER BY reward DESC, path_id
            ) END AS keep_rank
        FROM checked
    )
    SELECT path_id, question_id, subject, model, sample_index, error_kind, reference_source,
           correct, reward, reward_rank, critique_score, critique_error, keep_rank,
           coalesce(keep_rank <= {int(s.top_m)}, false) AS kept,
           coalesce(failed_check, CASE WHEN keep_rank > {int(s.top_m)} THEN 'below_top_m' END)
               AS drop_reason
    FROM ranked
    ORDER BY question_id, reward_rank
    """


def problems_sql(scores: Path, s: FilterSettings) -> str:
    """One row per `score` problem: paths, passed, kept, the hard flag (table
    `scored_problems`), from the written `scores` table."""
    return f"""
    WITH flagged AS (
        SELECT question_id, subject, reference_source, kept,
               drop_reason IS NULL OR drop_reason = 'below_top_m' AS passed,
               row_number() OVER (PARTITION BY question_id ORDER BY sample_index, model)
                   <= {int(s.hard_first_paths)} AS first
        FROM {source(scores)}
    )
    SELECT question_id, any_value(subject) AS subject,
           any_value(reference_source) AS reference_source,
           count(*) AS paths,
           count_if(passed)::BIGINT AS passed,
           count_if(kept)::BIGINT AS kept,
           count_if(first)::BIGINT AS first_paths,
           count_if(first AND passed)::BIGINT AS judged_correct_first,
           count_if(first AND passed) < {float(s.hard_max_share)} * count_if(first) AS hard
    FROM flagged
    GROUP BY question_id
    ORDER BY question_id
    """


def filtered_sql(paths: Sequence[str], scores: Path, problems: Path) -> str:
    """The kept paths with their text and programs and their problem's hard flag (table
    `filtered`): only the kept ids are held; the paths' text is streamed past them."""
    return f"""
    SELECT s.path_id, s.question_id, s.subject, s.model, s.sample_index, p.text, p.programs,
           p.predicted, p.reference, s.reward, s.keep_rank, s.critique_score, q.hard
    FROM {source(scores)} s
    JOIN {_paths_source(paths)} p ON p.path_id = s.path_id
    JOIN {source(problems)} q ON q.question_id = s.question_id
    WHERE s.kept
    ORDER BY s.question_id, s.keep_rank
    """


def copy_to(con: duckdb.DuckDBPyConnection, sql: str, path: Path) -> None:
    """Write a query's rows to `path` (zstd Parquet), streamed by DuckDB."""
    con.execute(f"COPY ({sql}) TO {quote(str(path))} (FORMAT parquet, COMPRESSION zstd)")


def run_filter(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[str],
    reward: Path,
    critique: Path,
    out_dir: Path,
    settings: FilterSettings,
) -> dict:
    """Write `scores`, `problems` and `filtered` Parquet files to `out_dir`; return the counts
    the stage reports. `score_problems` must be registered (register_score_problems)."""
    out_dir = Path(out_dir)
    scores, problems, filtered = (out_dir / f for f in (SCORES_FILE, PROBLEMS_FILE, FILTERED_FILE))
    copy_to(con, scores_sql(paths, reward, critique, settings), scores)
    copy_to(con, problems_sql(scores, settings), problems)
    copy_to(con, filtered_sql(paths, scores, problems), filtered)
    return summary(con, paths, out_dir)


def summary(con: duckdb.DuckDBPyConnection, paths: Sequence[str], out_dir: Path) -> dict:
    """Counts over the written tables: paths in, scored, kept, dropped by reason, problems."""
    (paths_in,) = one(con, f"SELECT count(*) FROM {_paths_source(paths)}")
    scored, kept = one(
        con, f"SELECT count(*), count_if(kept)::BIGINT FROM {source(out_dir / SCORES_FILE)}"
    )
    reasons = dict(
        con.execute(
            f"SELECT drop_reason, count(*) FROM {source(out_dir / SCORES_FILE)} "
            "WHERE drop_reason IS NOT NULL GROUP BY 1"
        ).fetchall()
    )
    problems, hard, without_kept = one(
        con,
        "SELECT count(*), count_if(hard)::BIGINT, count_if(kept = 0)::BIGINT "
        f"FROM {source(out_dir / PROBLEMS_FILE)}",
    )
    return {
        "paths_in": paths_in,
        "paths_scored": scored,
        "paths_not_scored": paths_in - scored,  # train / heldout problems' paths
        "kept": kept,
        "dropped": {reason: reasons.get(reason, 0) for reason in DROP_REASONS},
        "problems_scored": problems,
        "problems_hard": hard,
        "problems_without_kept_path": without_kept,
    }


def relation_checks(out_dir: Path, paths_scored: int, top_m: int) -> dict[str, str]:
    """How the three outputs relate, each a SQL count of the rows that break it (0 = holds)."""
    scores, problems, filtered = (
        source(Path(out_dir) / f) for f in (SCORES_FILE, PROBLEMS_FILE, FILTERED_FILE)
    )
    return {
        f"scores rows = the {paths_scored} paths of score problems":
            f"SELECT abs(count(*) - {int(paths_scored)}) FROM {scores}",
        "drop_reason is null iff kept":
            f"SELECT count(*) FROM {scores} WHERE kept = (drop_reason IS NOT NULL)",
        f"kept iff keep_rank <= {top_m}":
            f"SELECT count(*) FROM {scores} WHERE kept <> coalesce(keep_rank <= {top_m}, false)",
        "keep_rank is set iff the path passed every check":
            f"SELECT count(*) FROM {scores} WHERE (keep_rank IS NULL) <> "
            "(drop_reason IS NOT NULL AND drop_reason <> 'below_top_m')",
        "reward_rank is 1..paths within each problem":
            f"SELECT count(*) FROM (SELECT question_id FROM {scores} GROUP BY question_id "
            "HAVING max(reward_rank) <> count(*) OR count(DISTINCT reward_rank) <> count(*))",
        "filtered = the kept scores rows":
            f"SELECT count(*) FROM ((SELECT path_id FROM {scores} WHERE kept "
            f"EXCEPT ALL SELECT path_id FROM {filtered}) UNION ALL (SELECT path_id "
            f"FROM {filtered} EXCEPT ALL SELECT path_id FROM {scores} WHERE kept))",
        "problems = the scores' problems, their path and kept counts":
            f"SELECT count(*) FROM (SELECT question_id, count(*) AS paths, "
            f"count_if(kept)::BIGINT AS kept FROM {scores} GROUP BY 1) s "
            f"FULL JOIN {problems} q USING (question_id) "
            "WHERE s.paths IS DISTINCT FROM q.paths OR s.kept IS DISTINCT FROM q.kept",
    }  # fmt: skip
