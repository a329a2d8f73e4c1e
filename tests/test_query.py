"""`mathforge query`: DuckDB over the stage outputs, as named views."""

import json
from pathlib import Path

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from mathforge.cli import app
from mathforge.views import VIEWED, MissingViewError, connect, contracts_markdown

ROOT = Path(__file__).resolve().parents[1]

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


def test_every_view_names_a_stage_whose_outputs_hold_its_files():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, table in VIEWED.items():
        if table.stage is None:  # written by several stages (rejects, models)
            continue
        stage = stages[table.stage].get("do", stages[table.stage])  # foreach/matrix: the template
        outs = [next(iter(o)) if isinstance(o, dict) else o for o in stage["outs"]]
        outs = [o.split("${")[0].rstrip("/") for o in outs]  # a templated out: its fixed part
        fixed = table.glob.split("*")[0].rstrip("/")
        assert any(fixed == o or fixed.startswith(o + "/") for o in outs), name


def test_architecture_shows_every_contract():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    block = text.split("<!-- contracts:begin -->\n")[1].split("<!-- contracts:end -->")[0]
    assert block == contracts_markdown(), "regenerate it: mathforge contracts"
