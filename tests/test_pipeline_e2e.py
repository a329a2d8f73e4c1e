"""The real `dvc repro` on a tiny profile, in a copy of the repository.

Checks what a user relies on: the stages run and write valid, traceable
outputs; a second repro does nothing; `dvc exp run -S` reruns only the stages a
param touches; `mathforge query` answers; a bad seed file fails with file:line;
a killed repro resumes sampling.

One `dvc repro` for the module (`pipeline`): the tests that only read its
results share it; a test that changes the repository (an experiment, a broken
seed file, a killed repro) works on its own copy of the finished run, git
history and DVC cache included (`repo`), so no test sees another's changes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import yaml
from profiles import TINY, write_tiny_params

from mathforge.lineage import question_id

ROOT = Path(__file__).resolve().parents[1]
SFT = {"sft@policy_small", "sft@policy_tiny"}
PRETRAIN = {"pretrain@policy_small", "pretrain@policy_tiny"}
PATHS = TINY["sample"]["max_problems"] * TINY["sample"]["n"] * 2  # two policy models
CRITIQUE = {"critique_label", "critique_train", "critique_score"}
# The graph up to the critique model. The tiny profile's policies (2 SFT steps) solve nothing,
# so reward_train finds no preference pair and stops with that error, by design; reward_train,
# reward_score and filter run on hand-made inputs in test_reward.py and test_filter.py.
TARGET = "critique_score"

pytestmark = pytest.mark.slow


IDENTITY = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def run(
    cmd: list[str], cwd: Path, check: bool = True, identity: bool = True
) -> subprocess.CompletedProcess:
    """`cmd` in `cwd` with this venv's tools first; `identity=False`: as CI runs, with no git
    identity anywhere (none in the environment, an empty home without a ~/.gitconfig)."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "OMP_NUM_THREADS": "1",
        **IDENTITY,
    }
    if not identity:
        home = cwd.parent / "home-without-git-identity"
        home.mkdir(exist_ok=True)
        env = {k: v for k, v in env.items() if k not in IDENTITY}
        env |= {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                "GIT_CONFIG_NOSYSTEM": "1"}  # fmt: skip
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def stages_run(proc: subprocess.CompletedProcess) -> set[str]:
    out = proc.stdout + proc.stderr
    return set(re.findall(r"Running stage '([^']+)'", out))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Path:
    """A fresh git+DVC copy of the working tree with the tiny profile, after one repro and a
    commit of its results. Shared: read it; to change it, take the `repo` fixture."""
    repo = tmp_path_factory.mktemp("e2e") / "repo"
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, files):
        src = ROOT / rel
        if (
            src.is_file()
            and not rel.startswith(("data/", "models/", "metrics/"))
            or rel.startswith("data/seeds/")
        ):
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, repo / rel)
    # 12 sampled problems: a larger heldout share so that every scoring role has some
    write_tiny_params(repo / "params.yaml", scoring={"heldout_fraction": 0.5})
    run(["git", "init", "-q"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "tiny profile"], repo)
    first = run(["dvc", "repro", TARGET], repo)
    assert stages_run(first) == {
        "taxonomy", "synthesize", "split", "corpus", "base", *PRETRAIN, *SFT, "sample", *CRITIQUE
    }  # fmt: skip
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "repro"], repo)
    return repo


@pytest.fixture
def repo(pipeline: Path, tmp_path: Path) -> Path:
    """This test's own copy of the finished shared run: working tree, git, DVC cache."""
    copy = tmp_path / "repo"
    shutil.copytree(pipeline, copy, symlinks=True)
    return copy


def test_outputs_are_written_and_traceable(pipeline):
    repo = pipeline
    seeds = pl.read_parquet(repo / "data/taxonomy/seeds.parquet")
    questions = pl.read_parquet(repo / "data/questions/questions.parquet")
    splits = {
        s: pl.read_parquet(repo / f"data/splits/{s}.parquet") for s in ("train", "eval", "test")
    }
    assert len(set(seeds["subject"])) >= 7  # every shipped seed file
    domain = yaml.safe_load((repo / "params.yaml").read_text())["domain"]["subjects"]
    subjects = set(questions["subject"])
    assert subjects == set(domain)  # the default domain's subjects only
    programmatic = questions.filter(pl.col("generator") == "programmatic")
    assert set(zip(programmatic["subject"], programmatic["skill"], strict=True)) <= {
        (subject, skill) for subject, skills in domain.items() for skill in skills
    }
    # Every subject reached its tiny quota, in and out of distribution.
    per = programmatic.group_by("subject", pl.col("variant") == "ood").len()
    assert per.height == 2 * len(subjects) and per["len"].min() >= 4
    # Lineage: content-hash ids, and every seed id resolves to a real seed of the same subject.
    assert all(
        question_id(q) == i for q, i in questions.select("question", "question_id").iter_rows()
    )
    seed_subject = dict(seeds.select("seed_id", "subject").iter_rows())
    for row in questions.select("subject", "seed_ids").iter_rows(named=True):
        assert row["seed_ids"] and all(seed_subject[s] == row["subject"] for s in row["seed_ids"])
    # Splits: OOD only in eval/test, nothing lost beyond counted contamination.
    assert splits["train"]["ood"].sum() == 0
    assert splits["eval"]["ood"].sum() > 0 and splits["test"]["ood"].sum() > 0
    metrics = json.loads((repo / "metrics/split.json").read_text())
    assert (
        sum(p.height for p in splits.values()) + metrics.get("dropped_contaminated", 0)
        == questions.height
    )
    # Dropped problems: each row in rejects with its reason, counted in the metrics. The tiny
    # profile's 12 draws a subject repeat templates closely enough for some to be not novel.
    synth = json.loads((repo / "metrics/synthesize.json").read_text())
    rejects = pl.read_parquet(repo / "data/questions/rejects.parquet")
    by_reason = dict(rejects.group_by("reason").len().iter_rows())
    assert by_reason.get("not_novel", 0) > 0
    outside = [
        s for s in seeds.iter_rows(named=True) if s["skill"] not in domain.get(s["subject"], [])
    ]
    assert by_reason["outside_domain"] == len(outside) > 0
    assert set(by_reason) <= {"not_novel", "duplicate_question", "outside_domain"}
    assert synth["rejects"] == rejects.height
    assert {f"dropped_{r}": n for r, n in by_reason.items()} == {
        k: v for k, v in synth.items() if k.startswith("dropped_")
    }
    for subject, reason, n in rejects.group_by("subject", "reason").len().rows():
        assert synth["per_subject"][subject][f"dropped_{reason}"] == n
    assert set(rejects["stage"]) == {"synthesize"}
    assert not set(rejects["question_id"]) & set(questions["question_id"])


def test_second_repro_does_nothing(pipeline):
    proc = run(["dvc", "repro", TARGET], pipeline)
    assert stages_run(proc) == set()
    assert "up to date" in (proc.stdout + proc.stderr)


def test_query_answers_from_the_views(pipeline):
    repo = pipeline
    proc = run(
        [
            "mathforge",
            "query",
            "select subject, count(*) as n from questions group by 1 order by 1",
            "-f",
            "json",
        ],
        repo,
    )
    answer = {row["subject"]: row["n"] for row in json.loads(proc.stdout)}
    questions = pl.read_parquet(repo / "data/questions/questions.parquet")
    assert answer == dict(questions.group_by("subject").len().iter_rows())
    # One query from a training row back to its seed.
    proc = run(
        [
            "mathforge",
            "query",
            "-f",
            "json",
            "select t.question_id, s.seed_id, s.file from train t, unnest(t.seed_ids) u(sid) "
            "join seeds s on s.seed_id = u.sid limit 3",
        ],
        repo,
    )
    assert len(json.loads(proc.stdout)) == 3
    # Every path of a problem the scorers learn from is judged; every other one critiqued.
    sql = ("select (select count(*) from judged) + (select count(*) from critique_scores) as n, "
           "(select count(*) from paths) as paths")  # fmt: skip
    (row,) = json.loads(run(["mathforge", "query", "-f", "json", sql], repo).stdout)
    assert row["n"] == row["paths"] == PATHS


def test_exp_run_reruns_only_what_a_param_touches(repo):
    # One model's size: base reruns (it builds every model) and writes policy_small and the
    # tokenizer byte for byte as before, so only policy_tiny's pretraining, SFT and sampling
    # rerun after it.
    params = yaml.safe_load((repo / "params.yaml").read_text())
    size = params["base"]["models"]["policy_tiny"]["intermediate_size"] // 2
    proc = run(
        ["dvc", "exp", "run", "sample", "-S", f"base.models.policy_tiny.intermediate_size={size}"],
        repo,
        identity=False,  # as CI runs: `dvc exp run` needs no git identity (`--queue` does)
    )
    assert stages_run(proc) == {"base", "pretrain@policy_tiny", "sft@policy_tiny", "sample"}
    assert "Stage 'pretrain@policy_small' didn't change" in proc.stdout + proc.stderr
    # A sampling param: the last stage alone.
    temperature = round(params["sample"]["temperature"] + 0.1, 3)
    proc = run(["dvc", "exp", "run", "sample", "-S", f"sample.temperature={temperature}"], repo)
    assert stages_run(proc) == {"sample"}
    # The experiments' results are the workspace's now: the resized model, nothing stale up to
    # sample (the scorers after it wait for the next repro, as after any change to sampling).
    config = json.loads((repo / "models/base/policy_tiny/config.json").read_text())
    assert config["intermediate_size"] == size
    assert "up to date" in run(["dvc", "status", "--with-deps", "sample"], repo).stdout


# The stages before any training: their outputs are bit-identical across clones and machines.
DATA_STAGES = {"taxonomy", "synthesize", "split", "corpus", "base"}


def test_a_clean_clone_reproduces_the_data_stages_hashes(pipeline, tmp_path):
    """Two clean clones of one commit: `dvc repro` in the second (no DVC cache, no run cache,
    so every stage runs) writes the outputs, hashes and metrics the first wrote: dvc.lock and
    every tracked file come out as committed, and git has nothing to add."""
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(pipeline), str(clone)], tmp_path)
    assert not (clone / ".dvc/cache").exists()
    proc = run(["dvc", "repro", *sorted(DATA_STAGES)], clone)
    assert stages_run(proc) == DATA_STAGES
    assert run(["git", "status", "--porcelain"], clone).stdout == ""
    lock = yaml.safe_load((clone / "dvc.lock").read_text())["stages"]
    assert lock == yaml.safe_load((pipeline / "dvc.lock").read_text())["stages"]
    ours, theirs = tracked_outputs(clone), tracked_outputs(pipeline)
    assert {"data/splits/train.parquet", "models/base/policy_small/model.safetensors"} <= set(ours)
    assert all(theirs[path] == data for path, data in ours.items())


def tracked_outputs(repo: Path) -> dict[str, bytes]:
    """Every file DVC or git tracks under data/, models/ and metrics/, by relative path (not
    the scratch shards, nor the run logs: one run's timings, git-ignored)."""
    return {
        str(p.relative_to(repo)): p.read_bytes()
        for top in ("data", "models", "metrics")
        for p in sorted((repo / top).rglob("*"))
        if p.is_file()
        and not any(part.endswith((".partial", ".tmp")) for part in p.parts)
        and not p.name.endswith(".run.json")
    }


@pytest.fixture
def s3_server(tmp_path, monkeypatch) -> Iterator[str]:
    """A real S3-compatible server (moto's, from the test extra) on a loopback port, with a
    bucket `team-cache`; the credentials are in the environment, as DVC reads them. Yields
    the endpoint URL."""
    import boto3

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, "moto's server exited"
                assert time.monotonic() < deadline, "moto's server did not start"
                time.sleep(0.1)
        for key, value in {"AWS_ACCESS_KEY_ID": "team-a", "AWS_SECRET_ACCESS_KEY": "secret",
                           "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
            monkeypatch.setenv(key, value)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="team-cache")
        yield endpoint
    finally:
        server.terminate()
        server.wait()


def add_remote(repo: Path, kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The team's default remote, `shared`: a directory, or a bucket of the S3 server."""
    if kind == "directory":
        run(["dvc", "remote", "add", "-d", "shared", str(tmp_path / "shared-cache")], repo)
    else:
        endpoint = request.getfixturevalue("s3_server")
        run(["dvc", "remote", "add", "-d", "shared", "s3://team-cache/mathforge"], repo)
        run(["dvc", "remote", "modify", "shared", "endpointurl", endpoint], repo)
    run(["git", "commit", "-qam", "the team's remote"], repo)


@pytest.mark.parametrize("kind", ["directory", "s3"])
def test_a_pushed_cache_is_pulled_by_another_clone_with_nothing_to_rerun(
    repo, tmp_path, kind, request
):
    """Team A pushes its run to a shared remote; team B clones the repository, pulls, and
    has A's outputs byte for byte, with nothing left to run."""
    add_remote(repo, kind, tmp_path, request)
    run(["dvc", "push", "--with-deps", TARGET], repo)
    clone = tmp_path / "team-b"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    assert not (clone / "models/sft/policy_small").exists()  # git has the pointers only
    run(["dvc", "pull", "--with-deps", TARGET], clone)
    assert "up to date" in run(["dvc", "status", "--with-deps", TARGET], clone).stdout
    assert stages_run(run(["dvc", "repro", TARGET], clone)) == set()
    assert tracked_outputs(clone) == tracked_outputs(repo)
    assert run(["git", "status", "--porcelain"], clone).stdout == ""


def test_a_partial_push_pulls_what_it_has_and_repro_runs_the_rest(repo, tmp_path, request):
    """A remote with every output but the last stage's: the pull fails naming what it lacks,
    `dvc status` names the stage that will run, and `dvc repro` runs exactly that one and
    writes what the other team had."""
    add_remote(repo, "directory", tmp_path, request)
    run(["dvc", "push", "--with-deps", "critique_train"], repo)
    clone = tmp_path / "team-b"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    pulled = run(["dvc", "pull", "--with-deps", TARGET], clone, check=False)
    assert pulled.returncode != 0  # DVC fails a pull that misses files, and names them
    assert "Missing cache files" in pulled.stderr and "data/scores/critique" in pulled.stderr
    status = run(["dvc", "status", "--with-deps", TARGET], clone).stdout
    assert set(re.findall(r"^(\S+):$", status, flags=re.M)) == {TARGET}, status
    assert stages_run(run(["dvc", "repro", TARGET], clone)) == {TARGET}
    # the same data and models (the metrics' timings differ: issue of tracked timings)
    rerun, original = tracked_outputs(clone), tracked_outputs(repo)
    assert rerun.keys() == original.keys()
    assert {k: v for k, v in rerun.items() if not k.startswith("metrics/")} == {
        k: v for k, v in original.items() if not k.startswith("metrics/")
    }


def test_bad_seed_file_fails_with_file_and_line_and_writes_nothing(repo):
    seed_file = sorted((repo / "data/seeds").glob("*.jsonl"))[0]
    original = seed_file.read_text()
    n_lines = len(original.splitlines())
    seed_file.write_text(original + '{"id": "broken", "subject": \n')
    before = {p.name: p.read_bytes() for p in (repo / "data/taxonomy").iterdir()}
    # The stage alone: fails, says where, leaves existing outputs untouched.
    proc = run(
        [sys.executable, "-m", "stages.taxonomy", "data/seeds", "data/taxonomy",
         "metrics/taxonomy.json"],
        repo,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert f"{seed_file.relative_to(repo)}:{n_lines + 1}: malformed JSON" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert {p.name: p.read_bytes() for p in (repo / "data/taxonomy").iterdir()} == before
    # Through DVC: the repro fails in taxonomy and no stage after it runs.
    proc = run(["dvc", "repro"], repo, check=False)
    assert proc.returncode != 0
    assert f"{n_lines + 1}: malformed JSON" in proc.stdout + proc.stderr
    assert stages_run(proc) == {"taxonomy"}


def read_paths(repo: Path) -> pl.DataFrame:
    return pl.read_parquet(repo / "data/paths/*/*.parquet").sort("path_id")


def test_killed_repro_resumes_sampling_to_the_same_rows(pipeline, repo):
    """SIGKILL `dvc repro` while it samples, rerun it: the rows equal the shared run's, which
    sampled uninterrupted with the same params, inputs and code. Both runs are forced: DVC
    would otherwise restore those params' output from its cache instead of sampling (a user's
    first run of new params, killed, resumes from a plain `dvc repro`)."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    proc = subprocess.Popen(
        ["dvc", "repro", "--force", "--single-item", "sample"], cwd=repo, env=env,
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        partial = repo / "data/paths.partial"
        deadline = time.monotonic() + 300
        while not list(partial.glob("*/*.parquet")):
            assert proc.poll() is None, "dvc repro ended before a shard was written"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (repo / "data/paths").exists()  # DVC removed the old output first
    shards_left = len(list(partial.glob("*/*.parquet")))

    resumed_run = run(["dvc", "repro", "--force", "--single-item", "sample"], repo)
    assert stages_run(resumed_run) == {"sample"}
    metrics = json.loads((repo / "metrics/sample.json").read_text())
    run_log = json.loads((repo / "metrics/sample.run.json").read_text())  # this run's facts
    assert 1 <= run_log["shards_resumed"] == shards_left < metrics["shards"]
    resumed = read_paths(repo)
    assert resumed.height == PATHS
    assert resumed.equals(read_paths(pipeline))
    assert not partial.exists()  # the scratch shards are gone once the output is assembled
    # A rerun writes the same hashes and metrics: dvc.lock and git are as they were.
    assert run(["git", "status", "--porcelain"], repo).stdout == ""
