"""The evaluate stage (stages/evaluate.py, mathforge.stage_evaluation): every model stage on the
same eval-split problems, greedy and majority vote; win/loss of consecutive stages counted by
hand; the report and plot tables from the metrics; the stage end to end on tiny models built
here; that it never opens the test split; and its errors."""

from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path

import polars as pl
import pytest
import yaml
from profiles import tiny_params
from test_evaluate import PROBLEMS, scripted
from tiny_models import save_tiny_model

from mathforge.comparison import paired_difference
from mathforge.config import ParamsError, load_params
from mathforge.contracts.evaluation import EVAL_PATHS
from mathforge.errors import UserError
from mathforge.evaluation import bootstrap_ci
from mathforge.generation.openai_backend import OpenAIChatGenerator
from mathforge.stage import Stage
from mathforge.stage_evaluation import (
    accuracy_table,
    evaluate_stage_model,
    markdown_report,
    subjects_table,
    win_loss,
)
from stages import evaluate as evaluate_stage

ROOT = Path(__file__).resolve().parents[1]
IDS = [f"q_{i:016x}" for i in range(6)]
OOD = pl.DataFrame({"question_id": IDS, "ood": [False, False, True, False, False, True]})


def greedy(correct: list[bool | None]) -> pl.DataFrame:
    """Hand-made greedy paths: one per problem of IDS, graded `correct`."""
    return pl.DataFrame({"question_id": IDS, "correct": correct}, schema_overrides={
        "correct": pl.Boolean})  # fmt: skip


# ------------------------------------------------------------------------------- win/loss
def test_win_loss_counts_each_problem_by_hand():
    baseline = greedy([True, False, True, False, None, False])
    candidate = greedy([True, True, False, False, True, True])
    # per problem: tie (both), win, loss, tie (neither), win (ungradable = unsolved), win
    table = win_loss(baseline, candidate, OOD, seed=3)
    assert (table["wins"], table["losses"], table["ties"]) == (3, 1, 2)
    assert table["wins"] + table["losses"] + table["ties"] == table["problems"] == 6
    assert (table["win_share"], table["loss_share"]) == (0.5, pytest.approx(1 / 6, abs=1e-4))
    assert table["baseline_accuracy"] == pytest.approx(2 / 6, abs=1e-4)
    assert table["candidate_accuracy"] == pytest.approx(4 / 6, abs=1e-4)
    assert table["difference"] == pytest.approx(2 / 6, abs=1e-4)
    # the interval is paired_difference's: the bootstrap of the per-problem differences
    assert table["ci95"] == paired_difference(baseline, candidate, OOD, 3)["overall"]["ci95"]
    assert table["ci95"] == bootstrap_ci([0.0, 1.0, -1.0, 0.0, 1.0, 1.0], 3)
    # in distribution: problems 0, 1, 3, 4 (tie, win, tie, win); OOD: 2, 5 (loss, win)
    assert table["in_distribution"]["difference"] == 0.5
    assert table["in_distribution"]["problems"] == 4 and table["ood"]["difference"] == 0.0


def test_a_candidate_solving_a_superset_never_loses():
    baseline = greedy([True, False, False, True, False, False])
    candidate = greedy([True, True, False, True, True, False])
    table = win_loss(baseline, candidate, OOD)
    assert (table["wins"], table["losses"], table["ties"]) == (2, 0, 4)
    lo, hi = table["ci95"]
    assert 0 <= lo <= table["difference"] <= hi
    reverse = win_loss(candidate, baseline, OOD)
    assert (reverse["wins"], reverse["losses"], reverse["difference"]) == (0, 2, -table[
        "difference"])  # fmt: skip


def test_win_loss_needs_the_same_problems():
    with pytest.raises(UserError, match="same problems; 1 problem"):
        win_loss(greedy([True] * 6), greedy([True] * 6).head(5), OOD)


# ------------------------------------------------------------------ one model's entry
def test_greedy_and_majority_entries_and_paths(openai_server):
    # answers 2i; greedy takes the first path, the majority of k=3 the first three
    openai_server.respond = scripted({
        0: [0, 1, 1],     # greedy right, majority wrong
        1: [3, 2, 2],     # greedy wrong, majority right
        2: [4, 4, 4],     # ood: both right
        3: [6, 6, 6],     # both right
        4: [1, 8, 8],     # greedy wrong, majority right
        5: [0, 10, 12],   # ood: greedy wrong, a three-way tie (no majority), pass@3 right
    })  # fmt: skip
    generator = OpenAIChatGenerator(openai_server.base_url, "toy", concurrency=2, timeout_s=10)
    cfg = load_params("evaluate", ROOT / "params.yaml", {"k": 3, "temperature": 0.8})
    entry, paths = evaluate_stage_model(
        generator, PROBLEMS, name="sft", model_dir="models/sft/x", system=False, cfg=cfg
    )
    assert entry["model"] == "models/sft/x"
    greedy_, majority = entry["greedy"], entry["majority"]
    assert greedy_["in_distribution"]["accuracy"] == 0.5  # 0, 3 of 0, 1, 3, 4
    assert greedy_["ood"] == {**greedy_["ood"], "accuracy": 0.5, "problems": 2}
    assert majority["in_distribution"]["accuracy"] == 0.75  # 1, 3, 4
    assert majority["ood"]["accuracy"] == 0.5  # 2
    assert entry["pass_at_k"]["ood"]["accuracy"] == 1.0 and set(greedy_["by_subject"]) == {
        "arithmetic", "algebra"}  # fmt: skip
    assert paths.height == 6 * (1 + 3) and paths.columns == EVAL_PATHS.names
    assert paths.group_by("mode").len().sort("mode").rows() == [("greedy", 6), ("sampled", 18)]
    assert set(paths["stage"]) == {"sft"}
    Stage("t").validate(paths, EVAL_PATHS, row_count=24)  # the contract holds
    assert paths.filter(pl.col("ood"))["question_id"].unique().sort().to_list() == [
        PROBLEMS["question_id"][2], PROBLEMS["question_id"][5]]  # fmt: skip


# ------------------------------------------------------------------- tables and report
def entry(greedy_in: float, majority_in: float) -> dict:
    def value(accuracy: float, problems: int = 4) -> dict:
        return {"accuracy": accuracy, "ci95": [accuracy / 2, min(1.0, accuracy * 1.5)],
                "problems": problems}  # fmt: skip

    groups = {
        "overall": value(greedy_in, 6), "in_distribution": value(greedy_in), "ood": value(0.0, 2),
        "by_subject": {"b_subject": value(greedy_in, 3), "a_subject": value(0.5, 3)},
    }  # fmt: skip
    majority = {**groups, "in_distribution": value(majority_in)}
    return {"model": "models/x", "greedy": groups, "majority": majority,
            "pass_at_k": {"overall": value(0.9), "in_distribution": value(0.9),
                          "ood": value(0.5)}}  # fmt: skip


METRICS = {
    "order": ["pretrained", "sft", "rft"], "comparisons": ["pretrained->sft", "sft->rft"],
    "problems": 6, "in_distribution_problems": 4, "ood_problems": 2, "seed": 0, "k": 4,
    "temperature": 1.0, "max_tokens": 16,
    "stages": {"pretrained": entry(0.0, 0.0), "sft": entry(0.5, 0.75), "rft": entry(0.75, 0.75)},
    "win_loss": {
        "pretrained->sft": {"problems": 6, "wins": 3, "losses": 0, "ties": 3, "win_share": 0.5,
                            "loss_share": 0.0, "difference": 0.5, "ci95": [0.1667, 0.8333]},
        "sft->rft": {"problems": 6, "wins": 2, "losses": 1, "ties": 3, "win_share": 0.3333,
                     "loss_share": 0.1667, "difference": 0.1667, "ci95": [-0.1667, 0.5]},
    },
}  # fmt: skip


def test_the_report_is_built_from_the_metrics():
    shuffled = {**METRICS, "stages": dict(reversed(METRICS["stages"].items())),
                "win_loss": dict(reversed(METRICS["win_loss"].items()))}  # fmt: skip
    lines = markdown_report(shuffled).splitlines()  # rows in `order`, as sorted JSON reads back
    assert [line.split(" |")[0] for line in lines if line.startswith("| ")][1:4] == [
        "| pretrained", "| sft", "| rft"]  # fmt: skip
    assert lines[0] == "# Every stage on the eval split"
    assert "6 eval-split problems (4 in distribution, 2 out of distribution" in lines[2]
    assert "The test split is not used." in lines[2]
    assert (
        "| sft | `models/x` | 50.0% [25.0%, 75.0%] | 0.0% [0.0%, 0.0%] | "
        "75.0% [37.5%, 100.0%] | 0.0% [0.0%, 0.0%] | 90.0% [45.0%, 100.0%] |"
    ) in lines
    assert "| stage | a_subject | b_subject |" in lines  # subjects sorted
    assert "| pretrained → sft | 6 | 3 (50.0%) | 0 (0.0%) | 3 | +50.0 | [+16.7, +83.3] |" in lines
    assert "| sft → rft | 6 | 2 (33.3%) | 1 (16.7%) | 3 | +16.7 | [-16.7, +50.0] |" in lines
    assert lines[-1] == ("The interval includes 0 (no clear difference on these problems) "
                         "for: sft → rft.")  # fmt: skip
    clear = {**METRICS, "comparisons": ["pretrained->sft"]}
    assert markdown_report(clear).splitlines()[-1] == "Every difference's interval excludes 0."


def test_plot_tables_keep_the_methods_order():
    accuracy = accuracy_table(METRICS["stages"], k=4)
    assert accuracy.height == 3 * 2 * 2
    assert accuracy["label"].to_list()[:4] == [
        "01 pretrained · greedy · in distribution",
        "01 pretrained · greedy · out of distribution",
        "01 pretrained · maj@4 · in distribution",
        "01 pretrained · maj@4 · out of distribution",
    ]
    assert accuracy["label"].to_list() == sorted(accuracy["label"])  # DVC sorts the labels
    sft = accuracy.filter(pl.col("stage") == "sft", pl.col("group") == "in_distribution")
    assert sft.select("mode", "accuracy", "lo", "hi").rows() == [
        ("greedy", 0.5, 0.25, 0.75), ("majority", 0.75, 0.375, 1.0)]  # fmt: skip
    subjects = subjects_table(METRICS["stages"])
    assert subjects.height == 3 * 2 and subjects["label"][0] == "a_subject · 01 pretrained"
    assert subjects["label"].to_list() == sorted(subjects["label"])


# ---------------------------------------------------------------------- the stage
class OpenWatch:
    """A FIFO standing in for a file: opening it to read blocks until a writer comes, so a
    thread that keeps trying a non-blocking open for writing (ENXIO while no reader has it
    open) sees any open, whoever opens it (Python, polars' Rust reader, DuckDB); `opened`
    counts the writes it served (one reader may take several)."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path, self.opened, self._stop = path, 0, threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as err:
                if err.errno != errno.ENXIO:
                    raise
                self._stop.wait(0.005)
                continue
            self.opened += 1
            try:
                os.write(fd, b"not a parquet file")
            except BrokenPipeError:  # the reader closed between our open and our write
                pass
            finally:
                os.close(fd)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def repo(tmp_path, tiny_tokenizer):
    """A tmp repository: the eval split, a test split that must stay shut, three tiny models
    (different weights; one without the system prompt) and params naming them."""
    splits = tmp_path / "data" / "splits"
    splits.mkdir(parents=True)
    PROBLEMS.write_parquet(splits / "eval.parquet")
    models = {
        "pretrained": tmp_path / "models/pretrained/policy_small",
        "sft": tmp_path / "models/sft/policy_small",
        "rft": tmp_path / "models/rft/policy_small",
    }
    for seed, (name, path) in enumerate(models.items()):
        save_tiny_model(path, tiny_tokenizer, seed=seed, system_prompt=name != "rft")
    write_params(tmp_path, {n: str(p) for n, p in models.items()},
                 [["pretrained", "sft"], ["sft", "rft"]])  # fmt: skip
    return tmp_path


def write_params(root: Path, models: dict[str, str], comparisons: list[list[str]]) -> None:
    params = tiny_params()
    params["evaluate"]["models"] = models  # replaced, not merged with the shipped models
    params["evaluate"]["comparisons"] = comparisons
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def run(root: Path) -> None:
    evaluate_stage.main([
        str(root / "data/splits/eval.parquet"), str(root / "data/eval"),
        str(root / "metrics/eval.json"), str(root / "plots/eval"), str(root / "reports/eval.md"),
        "--params", str(root / "params.yaml"),
    ])  # fmt: skip


def test_stage_end_to_end_without_opening_the_test_split(repo):
    control = OpenWatch(repo / "control.parquet")  # a watch sees an open: the check can fail
    try:
        with open(control.path, "rb") as f:
            assert f.read().startswith(b"not a parquet file")
    finally:
        control.stop()
    assert control.opened >= 1
    watch = OpenWatch(repo / "data/splits/test.parquet")
    try:
        run(repo)
    finally:
        watch.stop()
    assert watch.opened == 0, "the evaluate stage opened data/splits/test.parquet"

    metrics = json.loads((repo / "metrics/eval.json").read_text())
    assert metrics["order"] == ["pretrained", "sft", "rft"]  # the method's order
    assert (metrics["problems"], metrics["in_distribution_problems"], metrics["k"]) == (6, 4, 2)
    for e in metrics["stages"].values():
        assert set(e) == {"model", "greedy", "majority", "pass_at_k", "sampled_path_accuracy",
                          "error_kinds"}  # fmt: skip
        for mode in ("greedy", "majority"):
            assert e[mode]["in_distribution"]["problems"] == 4 and e[mode]["ood"]["problems"] == 2
            assert set(e[mode]["by_subject"]) == {"arithmetic", "algebra"}
    assert metrics["comparisons"] == ["pretrained->sft", "sft->rft"] == sorted(metrics["win_loss"])
    for w in metrics["win_loss"].values():
        assert w["wins"] + w["losses"] + w["ties"] == w["problems"] == 6
    assert metrics["sandbox_isolation"] and not any("seconds" in k for k in metrics)

    paths = pl.read_parquet(repo / "data/eval/paths.parquet")
    assert paths.height == metrics["paths"] == 3 * 6 * (1 + 2)
    assert paths.group_by("stage", "mode").len().sort("stage", "mode").rows() == [
        ("pretrained", "greedy", 6), ("pretrained", "sampled", 12), ("rft", "greedy", 6),
        ("rft", "sampled", 12), ("sft", "greedy", 6), ("sft", "sampled", 12)]  # fmt: skip
    # each stage's greedy paths are the win/loss table's: counted again from the Parquet
    solved = {s: greedy_of(paths, s) for s in ("pretrained", "sft", "rft")}
    for key, w in metrics["win_loss"].items():
        a, b = key.split("->")
        assert w["wins"] == len(solved[b] - solved[a]) and w["losses"] == len(solved[a] - solved[b])
    accuracy = pl.read_csv(repo / "plots/eval/accuracy.csv")
    assert accuracy.height == 3 * 4 and accuracy["accuracy"].is_between(0, 1).all()
    assert pl.read_csv(repo / "plots/eval/subjects.csv").height == 3 * 2
    assert (repo / "reports/eval.md").read_text() == markdown_report(metrics)
    assert not list(repo.rglob(".*.tmp"))  # no scratch directory left


def test_models_evaluated_side_by_side_give_the_rows_of_one_process(repo):
    """evaluate.workers spreads the models over processes; each sample is seeded by its
    problems and the seed alone, so two workers write what one does, byte for byte."""
    outputs = {}
    for workers in (1, 2):
        params = yaml.safe_load((repo / "params.yaml").read_text())
        params["evaluate"]["workers"] = workers
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        run(repo)
        outputs[workers] = [
            (repo / out).read_bytes() for out in ("data/eval/paths.parquet", "metrics/eval.json")
        ]
    assert pl.read_parquet(repo / "data/eval/paths.parquet").height == 3 * 6 * (1 + 2)
    assert outputs[1] == outputs[2]


def test_workers_on_a_gpu_are_a_params_error():
    with pytest.raises(ParamsError, match="with use_cpu: false .one GPU. set workers to 1"):
        load_params("evaluate", ROOT / "params.yaml", {"workers": 2, "use_cpu": False})


def greedy_of(paths: pl.DataFrame, stage: str) -> set[str]:
    rows = paths.filter(pl.col("stage") == stage, pl.col("mode") == "greedy", pl.col("correct"))
    return set(rows["question_id"])


def test_a_missing_model_names_the_stage_to_run_and_writes_nothing(repo):
    models = {"rft": str(repo / "models/rft/policy_small"),
              "dpo": str(repo / "models/dpo/policy_small")}  # fmt: skip
    write_params(repo, models, [["rft", "dpo"]])
    with pytest.raises(UserError, match=r"dpo/policy_small \(evaluate.models.dpo\) not found: "
                       r"run `dvc repro dpo`"):  # fmt: skip
        run(repo)
    assert evaluate_stage.writer_of(Path("models/sft/policy_tiny")) == "sft@policy_tiny"
    assert evaluate_stage.writer_of(Path("models/pretrained/p")) == "pretrain@p"
    (repo / "models/dpo/policy_small").mkdir(parents=True)  # there, but not a model
    with pytest.raises(UserError, match="dpo/policy_small is not a model directory"):
        run(repo)
    assert not (repo / "metrics").exists() and not (repo / "data/eval").exists()
    assert not (repo / "reports").exists() and not (repo / "plots").exists()


def test_an_unknown_compared_name_is_a_params_error(repo):
    write_params(repo, {"sft": "models/sft/p", "rft": "models/rft/p"}, [["sft", "rtf"]])
    with pytest.raises(ParamsError) as err:
        run(repo)
    message = str(err.value)
    assert "'evaluate.comparisons'" in message
    assert "'rtf' is not a name of evaluate.models" in message
    assert "did you mean 'rft'?" in message
    write_params(repo, {"sft": "models/sft/p"}, [["sft", "sft"]])
    with pytest.raises(ParamsError, match="compares a model with itself"):
        run(repo)


def test_dvc_yaml_runs_the_stage_on_the_models_of_params_and_never_on_test():
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["evaluate"]
    models = load_params("evaluate", ROOT / "params.yaml").models
    deps = stage["deps"]
    assert {d for d in deps if d.startswith("models/")} == set(models.values())
    assert "data/splits/eval.parquet" in deps
    assert not any("test" in d or d.rstrip("/") == "data/splits" for d in deps)
    assert "test" not in stage["cmd"] and "data/splits/eval.parquet" in stage["cmd"]
