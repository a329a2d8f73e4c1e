"""`mathforge query`: DuckDB over the stage outputs, as named views."""

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from mathforge.cli import app
from mathforge.views import MissingViewError, connect, producing_stage

runner = CliRunner()

DVC_YAML = """
stages:
  synthesize:
    cmd: python -m stages.synthesize
    outs:
      - data/questions
  split:
    cmd: python -m stages.split
    outs:
      - data/splits
  sample:
    cmd: python -m stages.sample
    outs:
      - data/paths
"""


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    (tmp_path / "data/questions").mkdir(parents=True)
    pl.DataFrame({"question_id": ["q1", "q2", "q3"], "subject": ["a", "a", "b"]}).write_parquet(
        tmp_path / "data/questions/questions.parquet"
    )
    return tmp_path


def test_query_prints_a_table(repo):
    result = runner.invoke(
        app,
        [
            "query",
            "select subject, count(*) as n from questions group by 1 order by 1",
            "--root",
            str(repo),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "subject" in result.output and "│ a " in result.output.replace("┃", "│")


def test_query_formats(repo, tmp_path):
    sql = "select subject, count(*) as n from questions group by 1 order by 1"
    result = runner.invoke(app, ["query", sql, "--root", str(repo), "--format", "csv"])
    assert result.stdout.splitlines() == ["subject,n", "a,2", "b,1"]
    result = runner.invoke(app, ["query", sql, "--root", str(repo), "--format", "json"])
    assert json.loads(result.stdout) == [{"subject": "a", "n": 2}, {"subject": "b", "n": 1}]
    out = tmp_path / "out.parquet"
    result = runner.invoke(
        app, ["query", sql, "--root", str(repo), "--format", "parquet", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(out).rows() == [("a", 2), ("b", 1)]
    out_json = tmp_path / "out.json"
    runner.invoke(app, ["query", sql, "--root", str(repo), "--format", "json", "-o", str(out_json)])
    assert json.loads(out_json.read_text()) == [{"subject": "a", "n": 2}, {"subject": "b", "n": 1}]


def test_missing_view_names_the_stage_to_run(repo):
    result = runner.invoke(app, ["query", "select count(*) from train", "--root", str(repo)])
    assert result.exit_code == 2
    assert "view 'train' has no data yet" in result.output
    assert "dvc repro split" in result.output
    with pytest.raises(MissingViewError, match="dvc repro split"):
        connect(repo, {"train"})


def test_bad_sql_is_a_clean_error(repo):
    result = runner.invoke(app, ["query", "select nope from questions", "--root", str(repo)])
    assert result.exit_code == 1
    assert "query failed" in result.output


def test_producing_stage_reads_dvc_yaml(repo):
    assert producing_stage("data/splits/eval.parquet", repo) == "split"
    assert producing_stage("data/questions/questions.parquet", repo) == "synthesize"
    assert producing_stage("data/elsewhere/x.parquet", repo) is None
    # a glob view: the stage owning its fixed leading directories
    assert producing_stage("data/paths/*/shard-*.parquet", repo) == "sample"
    assert producing_stage("data/*/rejects.parquet", repo) is None  # many stages
