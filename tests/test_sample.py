"""Rejection sampling: grading paths, majority references, pass@k, resumable shards, the stage.

Killing `dvc repro` mid-sampling and rerunning it is tested end to end in
tests/test_pipeline_e2e.py; here the shard store's resume rules are unit-tested.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from profiles import write_tiny_params
from tiny_models import save_tiny_model

import mathforge
from mathforge.config import ParamsError, load_params
from mathforge.contracts.models import EXAMPLES_FILE, SFT_EXAMPLES
from mathforge.contracts.paths import PATHS
from mathforge.errors import UserError
from mathforge.generation import Completion
from mathforge.sampling import (
    answer_groups,
    grade_paths,
    majority_reference,
    model_metrics,
    pass_at_k,
    path_id,
    pool_metrics,
    regrade,
    vote,
)
from mathforge.shards import ShardStore, fingerprint
from mathforge.views import connect
from stages import sample as sample_stage

ROOT = Path(__file__).resolve().parents[1]
SANDBOX = load_params("sandbox", ROOT / "params.yaml", {"timeout_s": 2.0})


def solution(program: str, claim: str = "") -> str:
    return f"Compute it.\n\n```python\n{program}\n```\n\nFinal answer: {claim}"


def completion(text: str) -> Completion:
    return Completion(
        text, prompt_tokens=10, completion_tokens=len(text.split()), finish_reason="stop"
    )


# ---------------------------------------------------------------- pass@k
@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [(4, 1, 1, 0.25), (4, 1, 4, 1.0), (4, 0, 2, 0.0), (5, 2, 2, 0.7), (10, 3, 1, 0.3)],
)
def test_pass_at_k_is_the_unbiased_estimator(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)
    # the same as 1 - C(n-c, k) / C(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(1 - math.comb(n - c, k) / math.comb(n, k))


def test_pass_at_k_needs_k_samples():
    with pytest.raises(ValueError, match="pass@5"):
        pass_at_k(4, 1, 5)


# -------------------------------------------------------------- majority
def test_equivalent_spellings_vote_together():
    groups = answer_groups(["1/2", "0.5", "3", "\\frac{1}{2}", "3"])
    assert groups[0] == [0, 1, 3] and groups[1] == [2, 4]


def test_majority_needs_its_share_and_votes_and_no_tie():
    found = majority_reference(["1/2", "0.5", "7", None], min_share=0.5, min_votes=2)
    assert found.answer in {"1/2", "0.5"} and found.share == 0.5 and found.votes == 2
    # paths without an answer still count in the share
    assert majority_reference(["4", "4", None, None, None], 0.5, 2).answer is None
    assert majority_reference(["4", "5"], 0.5, 1).answer is None  # a tie is no majority
    assert majority_reference(["4"], 0.5, 2).answer is None  # too few votes
    assert majority_reference([None, None], 0.5, 1) == majority_reference([], 0.5, 1)


# ------------------------------------------------------------ grade_paths
@pytest.fixture(scope="module")
def graded() -> pl.DataFrame:
    """Six paths of one model whose programs fail (or not) in known ways."""
    problems = pl.DataFrame(
        {
            "question_id": ["q_a", "q_b"],
            "subject": ["arithmetic", "algebra"],
            "question": ["2+3?", "?"],
            "answer": ["5", None],
        }
    )
    completions = [
        [
            completion(solution("print(2 + 3)", "5")),
            completion(solution("print(2 * 3)", "5")),  # claims 5, prints 6: the program counts
            completion("It is five.\n\nFinal answer: 5"),
            completion(solution("print(1 +")),
        ],
        [completion(solution("while True:\n    pass")), completion(solution("x = 1"))],
    ]
    return grade_paths(problems, completions, "policy", SANDBOX)


def test_each_path_is_executed_and_graded_against_its_reference(graded):
    paths = graded
    assert paths.schema == pl.Schema(PATHS.schema)
    a = paths.filter(pl.col("question_id") == "q_a").sort("sample_index")
    assert a["predicted"].to_list() == ["5", "6", None, None]
    # With a gold answer a path that prints no answer (no program, a syntax error) is wrong.
    assert a["correct"].to_list() == [True, False, False, False]
    assert a["error_kind"].to_list() == [None, None, "no_program", "syntax"]
    assert a["final_answer"].to_list() == ["5", "5", "5", None]
    assert a["exec_ok"].to_list() == [True, True, None, False]
    assert a["programs"][0].to_list() == ["print(2 + 3)"]
    assert "SyntaxError" in a["exec_stderr"][3]
    b = paths.filter(pl.col("question_id") == "q_b").sort("sample_index")
    assert b["error_kind"].to_list() == ["timeout", "no_output"]
    assert b["reference_source"].to_list() == ["none", "none"]
    assert b["correct"].to_list() == [None, None]
    assert paths["path_id"].n_unique() == 6
    assert paths["path_id"][0] == path_id("q_a", "policy", 0)
    assert path_id("q_a", "policy", 0) != path_id("q_a", "other", 0)


def test_model_metrics_count_each_paths_outcome(graded):
    other = graded.head(2).with_columns(model=pl.lit("other"), correct=pl.lit(False))
    metrics = model_metrics(pl.concat([graded, other]).lazy(), [1, 2])
    assert list(metrics) == ["policy", "other"]
    policy = metrics["policy"]
    # q_b has no reference: its paths count, but are not graded
    assert (policy["paths"], policy["graded_paths"]) == (6, 4)
    assert policy["error_kinds"] == {
        "no_output": 1, "no_program": 1, "ok": 2, "syntax": 1, "timeout": 1
    }  # fmt: skip
    # q_a: 1 of 4 paths right; the 3 others printed a wrong answer or none: wrong
    assert (policy["accuracy"], policy["pass@1"], policy["pass@2"]) == (0.25, 0.25, 0.5)
    assert (policy["correct_paths"], policy["wrong_paths"], policy["ungradable_paths"]) == (1, 3, 0)
    assert policy["problems_with_a_correct_path"] == 1
    assert policy["accuracy_by_subject"] == {"arithmetic": 0.25}
    assert policy["finish_reasons"] == {"stop": 6}
    assert policy["distinct_answers_per_problem"] == 1.0  # q_a: "5" and "6"; q_b: none
    assert metrics["other"]["error_kinds"] == {"ok": 2}
    assert metrics["other"]["accuracy"] == metrics["other"]["pass@2"] == 0.0


def test_pool_metrics_count_a_problem_any_model_solved_once(graded):
    other = graded.with_columns(model=pl.lit("other"), path_id=pl.col("path_id") + "-o")
    pool = pool_metrics(pl.concat([graded, other]).lazy())
    # both models solved q_a; q_b has no reference: 1 of the 2 problems, counted once
    assert pool["problems_with_a_correct_path"] == 1
    assert pool["problems_with_a_correct_path_share"] == 0.5
    assert pool["error_kinds"] == {
        "no_output": 2, "no_program": 2, "ok": 4, "syntax": 2, "timeout": 2
    }  # fmt: skip
    assert pool["syntax_error_share"] == round(2 / 12, 4)


# ------------------------------------------------------------ shard store
def test_shards_survive_under_one_fingerprint_and_are_dropped_when_it_changes(tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("a")
    first = fingerprint({"n": 4}, [data])
    assert fingerprint({"n": 4}, [data]) == first
    assert fingerprint({"n": 5}, [data]) != first
    store = ShardStore.open(tmp_path / "out", first)
    store.write("m--shard-00001", pl.DataFrame({"x": [1]}), stats={"seconds": 2.0})
    store.write("m--shard-00000", pl.DataFrame({"x": [0]}))
    again = ShardStore.open(tmp_path / "out", first)
    assert again.finished() == ["m--shard-00000", "m--shard-00001"]
    assert again.stats("m--shard-00001") == {"seconds": 2.0}
    assert [p.name for p in again.root.iterdir() if p.name.startswith(".")] == []

    data.write_text("b")  # an input changed: a new fingerprint, the old shards go
    changed = ShardStore.open(tmp_path / "out", fingerprint({"n": 4}, [data]))
    assert changed.finished() == [] and not store.root.exists()
    changed.discard()
    assert not (tmp_path / "out.partial").exists()


def test_unreferenced_problems_are_graded_against_their_paths_majority(tmp_path):
    """Paths of two models for a problem without an answer: "1/2" and "0.5" outvote "3"."""
    problems = pl.DataFrame(
        {"question_id": ["q_gold", "q_vote", "q_split"], "subject": ["a", "a", "a"],
         "question": ["?", "?", "?"], "answer": ["7", None, None]}
    )  # fmt: skip
    answers = {"q_gold": ["7", "8"], "q_vote": ["1/2", "0.5", "3", None], "q_split": ["1", "2"]}
    store = ShardStore.open(tmp_path / "paths", "f")
    for model in ("m1", "m2"):
        rows = [
            {"question_id": q, "sample_index": k, "predicted": a}
            for q, preds in answers.items()
            for k, a in enumerate(preds[:2] if model == "m1" else preds[2:])
        ]
        texts = [
            completion(solution(f"print({r['predicted']!r})" if r["predicted"] else "x = 1"))
            for r in rows
        ]
        graded = grade_paths(
            pl.DataFrame(rows).join(problems, on="question_id", maintain_order="left"),
            [[t] for t in texts],
            model,
            SANDBOX,
        ).with_columns(sample_index=pl.Series([r["sample_index"] for r in rows]))
        store.write(f"{model}--shard-00000", graded)
    overrides = {"majority_min_share": 0.5, "majority_min_votes": 2}
    cfg = load_params("sample", ROOT / "params.yaml", overrides)
    references = vote(pl.scan_parquet([store.path(k) for k in store.finished()]), problems, cfg)
    by_id = {r["question_id"]: r for r in references.iter_rows(named=True)}
    assert by_id["q_gold"]["reference_source"] == "gold"
    assert by_id["q_vote"]["reference_source"] == "majority"
    assert by_id["q_vote"]["reference"] in {"1/2", "0.5"}
    assert by_id["q_vote"]["majority_share"] == 0.5
    assert by_id["q_split"]["reference_source"] == "none"  # "1" against "2": a tie
    paths = pl.concat([regrade(store.read(k), references) for k in store.finished()])
    voted = paths.filter(pl.col("question_id") == "q_vote").sort("model", "sample_index")
    # Once a majority is the reference, the path that printed nothing is wrong, not ungraded.
    assert voted["correct"].to_list() == [True, True, False, False]
    assert set(voted["reference_source"]) == {"majority"}
    split = paths.filter(pl.col("question_id") == "q_split")
    assert split["correct"].to_list() == [None, None]  # no majority: nothing to grade against
    gold = paths.filter(pl.col("question_id") == "q_gold").sort("model")
    assert gold["correct"].to_list() == [True, False]  # gold rows are left as graded


# ------------------------------------------------------------------ stage
TRAIN = [
    ("arithmetic", "What is 12 + 30?", "42"),
    ("arithmetic", "What is 7 times 6?", "42"),
    ("number_theory", "What is the gcd of 12 and 18?", "6"),
    ("number_theory", "What is 2 to the power 10?", "1024"),
    ("percentages", "What is 50% of 80?", "40"),
    ("percentages", "A price of 20 rises by 10%. New price?", "22"),
    ("algebra", "Solve x + 1 = 3 for x.", None),  # llm-style: no reference answer
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_policy, tiny_tokenizer) -> Path:
    """A train split and two tiny policy models (different sizes, one prompted without the
    system message), laid out as the repo."""
    root = tmp_path_factory.mktemp("sample")
    rows = [
        {"question_id": f"q_{i:016x}", "subject": s, "question": q, "answer": a}
        for i, (s, q, a) in enumerate(TRAIN)
    ]
    (root / "data/splits").mkdir(parents=True)
    pl.DataFrame(rows, schema={"question_id": pl.String, "subject": pl.String,
                               "question": pl.String, "answer": pl.String}).write_parquet(
        root / "data/splits/train.parquet"
    )  # fmt: skip
    shutil.copytree(tiny_policy, root / "models/sft/small")
    save_tiny_model(
        root / "models/sft/tiny", tiny_tokenizer, seed=1, hidden_size=16, num_heads=2,
        num_kv_heads=1, intermediate_size=32, system_prompt=False,
    )  # fmt: skip
    return root


def write_params(root: Path, **changes) -> Path:
    """The tiny profile (2 paths a problem, shards of 2 problems), shorter still, with the
    sample section's `changes`."""
    path = root / f"params-{len(list(root.glob('params-*.yaml')))}.yaml"
    sample = {
        "max_tokens": 24, "engine": {"batch_size": 4}, "skip_sft_examples": False,
        "temperature_by_model": {"tiny": 1.5}, **changes,
    }  # fmt: skip
    return write_tiny_params(path, sample=sample, sandbox={"timeout_s": 2.0})


def stage_cmd(root: Path, out: str, params: Path) -> list[str]:
    return [
        sys.executable, "-m", "stages.sample", str(root / "data/splits/train.parquet"),
        str(root / out), str(root / f"{out}.json"), str(root / "models/sft"),
        "--params", str(params),
    ]  # fmt: skip


def run_stage(cmd: list[str]) -> subprocess.CompletedProcess:
    # the stage imports the mathforge under test, wherever this process found it
    path = [str(Path(mathforge.__file__).parents[1]), str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def read_paths(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "*" / "*.parquet").sort("path_id")


@pytest.fixture(scope="module")
def uninterrupted(workdir) -> Path:
    run_stage(stage_cmd(workdir, "data/paths", write_params(workdir, workers=2)))
    return workdir / "data/paths"


@pytest.mark.slow  # the stage in a subprocess: ~30 s on 2 loaded cores
def test_stage_writes_one_graded_row_per_path(workdir, uninterrupted):
    paths = read_paths(uninterrupted)
    assert paths.height == len(TRAIN) * 2 * 2
    assert paths["path_id"].n_unique() == paths.height
    assert set(paths["model"]) == {"small", "tiny"}
    shards = (len(TRAIN) + 1) // 2
    assert sorted(p.name for p in (uninterrupted / "small").iterdir()) == [
        f"shard-{i:05d}.parquet" for i in range(shards)
    ]
    assert (paths["completion_tokens"] <= 24).all() and (paths["prompt_tokens"] > 0).all()
    gold = paths.filter(pl.col("reference_source") == "gold")
    assert gold.height == (len(TRAIN) - 1) * 4
    metrics = json.loads((workdir / "data/paths.json").read_text())
    assert metrics["paths"] == paths.height and metrics["shards"] == 2 * shards
    assert set(metrics["models"]) == {"small", "tiny"}
    # the rates are this run's, in the untracked run log beside the metrics, not in them
    run_log = json.loads((workdir / "data/paths.run.json").read_text())
    assert run_log["stage"] == "sample" and run_log["wall_seconds_this_run"] > 0
    for model, entry in metrics["models"].items():
        assert {"accuracy", "pass@1", "pass@2", "error_kinds"} <= set(entry)
        assert not {"tokens_per_s", "paths_per_s"} & set(entry)
        rows = paths.filter(pl.col("model") == model)
        assert entry["error_kinds"] == Counter(k or "ok" for k in rows["error_kind"])
        assert entry["paths"] == rows.height and run_log["models"][model]["tokens_per_s"] > 0
    cfg = load_params("sample", workdir / "params-0.yaml")
    assert metrics["models"]["tiny"]["temperature"] == 1.5 != cfg.temperature
    assert metrics["models"]["small"]["temperature"] == cfg.temperature
    assert metrics["pool"]["error_kinds"] == Counter(k or "ok" for k in paths["error_kind"])
    solved = paths.filter(pl.col("correct"))["question_id"].n_unique()
    assert metrics["pool"]["problems_with_a_correct_path"] == solved
    # a random model finds no majority for the problem without an answer: dropped, with why
    problems = pl.read_parquet(uninterrupted / "problems.parquet")
    assert problems.height == len(TRAIN)
    counted = paths.group_by("question_id").agg(n=pl.len(), c=pl.col("correct").sum())
    joined = problems.join(counted, on="question_id")
    assert joined.height == len(TRAIN)
    assert (joined["paths"] == joined["n"]).all() and (joined["correct_paths"] == joined["c"]).all()
    rejects = pl.read_parquet(uninterrupted / "rejects.parquet")
    unreferenced = problems.filter(pl.col("reference_source") == "none")["question_id"]
    assert unreferenced.to_list() == [f"q_{len(TRAIN) - 1:016x}"]  # the algebra one
    assert rejects.select("stage", "reason", "question_id").rows() == [
        ("sample", "no_majority", unreferenced[0])
    ]
    assert metrics["dropped_no_majority"] == 1
    assert not (workdir / "data/paths.partial").exists()  # the scratch shards are gone


@pytest.mark.slow  # the stage again in a subprocess: ~30 s on 2 loaded cores
def test_shards_generated_side_by_side_are_the_rows_of_one_process(workdir, uninterrupted):
    """sample.workers spreads the shards over processes; each shard is seeded by itself, so
    the uninterrupted run's two workers wrote what one process writes, byte for byte: every
    shard, the problems, the rejects and the metrics (the timings are in the run log)."""
    assert load_params("sample", workdir / "params-0.yaml").workers == 2
    run_stage(stage_cmd(workdir, "data/paths-one", write_params(workdir, workers=1)))
    one, two = workdir / "data/paths-one", uninterrupted
    files = sorted(p.relative_to(two) for p in two.rglob("*.parquet"))
    assert len(files) == 2 * ((len(TRAIN) + 1) // 2) + 2  # the shards, problems, rejects
    assert sorted(p.relative_to(one) for p in one.rglob("*.parquet")) == files
    for rel in files:
        assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel
    metrics = [(workdir / f"data/{name}.json").read_bytes() for name in ("paths", "paths-one")]
    assert metrics[0] == metrics[1]


def test_problems_some_model_learned_in_sft_are_not_sampled(workdir, tmp_path):
    models = {name: tmp_path / name for name in ("small", "tiny")}
    train = pl.read_parquet(workdir / "data/splits/train.parquet")
    ids = train["question_id"].to_list()
    for (name, path), learned in zip(models.items(), (ids[:2], ids[1:3]), strict=True):
        path.mkdir()
        rows = pl.DataFrame({"question_id": learned, "subject": "arithmetic"})
        SFT_EXAMPLES.frame(
            rows.with_columns(generator=pl.lit("programmatic"), model=pl.lit(name))
        ).write_parquet(path / EXAMPLES_FILE)
    cfg = load_params("sample", write_params(workdir), {"skip_sft_examples": True})
    problems, skipped = sample_stage.problems_to_sample(train, models, cfg)
    assert skipped == 3 and sorted(problems["question_id"]) == sorted(ids[3:])
    cfg = load_params("sample", write_params(workdir), {"skip_sft_examples": False})
    problems, skipped = sample_stage.problems_to_sample(train, models, cfg)
    assert skipped == 0 and problems.height == train.height
    (models["tiny"] / EXAMPLES_FILE).unlink()
    skipping = load_params("sample", write_params(workdir), {"skip_sft_examples": True})
    with pytest.raises(UserError, match="sft_examples.parquet not found: tiny was not trained"):
        sample_stage.problems_to_sample(train, models, skipping)


@pytest.mark.slow  # the stage in a subprocess: ~30 s on 2 loaded cores
def test_paths_are_queryable(workdir, uninterrupted):
    con = connect(workdir, {"paths", "sampled"})
    n, models = con.execute("SELECT count(*), count(DISTINCT model) FROM paths").fetchone()
    assert (n, models) == (len(TRAIN) * 4, 2)
    joined = con.execute("SELECT count(*) FROM paths JOIN sampled USING (question_id)").fetchone()[
        0
    ]
    assert joined == n


def test_missing_model_is_a_clear_error(workdir):
    cmd = stage_cmd(workdir, "data/none", write_params(workdir))
    models = cmd.index(str(workdir / "models/sft"))
    (workdir / "broken/absent").mkdir(parents=True)  # a model directory sft never finished
    cmd[models] = str(workdir / "broken")
    with pytest.raises(UserError, match=r"broken/absent not found \(run `dvc repro sft@absent`\)"):
        sample_stage.main(cmd[3:])
    cmd[models] = str(workdir / "nowhere")
    with pytest.raises(UserError, match=r"no policy model in .*nowhere \(run `dvc repro sft`\)"):
        sample_stage.main(cmd[3:])
    assert not (workdir / "data/none").exists()


# ------------------------------------------------------------- params / dvc.yaml
def test_pass_k_must_not_exceed_n():
    with pytest.raises(ParamsError, match="pass_k"):
        load_params("sample", ROOT / "params.yaml", {"n": 2, "pass_k": [1, 4]})
