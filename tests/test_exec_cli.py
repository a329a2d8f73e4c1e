"""`mathforge exec` and the grading helpers on the real sandbox."""

import json
from pathlib import Path

from typer.testing import CliRunner

from mathforge.cli import app
from mathforge.config import load_params
from mathforge.grading import grade_solutions, last_line
from mathforge.solution import render_solution

runner = CliRunner()

ROOT = Path(__file__).resolve().parents[1]


def test_last_line():
    assert last_line("1\n 42 \n\n") == "42"
    assert last_line("  \n") is None


def test_grade_solutions_executes_and_compares():
    cfg = load_params("sandbox", ROOT / "params.yaml", {"timeout_s": 2.0})
    solutions = [
        render_solution("Half of one.", ["x = 1 / 2", "print(x)"], "1/2"),
        render_solution("Wrong sum.", ["print(2 + 2)"], "5"),
        render_solution("Loops.", ["while True:\n    pass"], "1"),
        "No program here. Final answer: 3",
    ]
    graded = grade_solutions(solutions, ["1/2", "5", "1", "3"], cfg)
    # with a gold answer, a path that timed out or had no program is wrong, not ungraded
    assert [g.correct for g in graded] == [True, False, False, False]
    ungraded = grade_solutions(solutions[2:], [None, None], cfg)
    assert [g.correct for g in ungraded] == [None, None]  # no gold: nothing to grade against
    assert graded[0].predicted == "0.5"
    assert [g.error_kind for g in graded] == [None, None, "timeout", "no_program"]


def test_exec_command_writes_results(tmp_path, monkeypatch):
    monkeypatch.setenv("MATHFORGE_TEST_SECRET", "hunter2")
    lines = [
        {"id": "a", "program": "print(6 * 7)", "answer": "42"},
        {"id": "b", "solution": render_solution("Halve.", ["print(1/4)"], "1/4"), "answer": "1/4"},
        {"id": "c", "program": "while True: pass"},
        {"id": "d", "program": "import os\nprint(os.environ.get('MATHFORGE_TEST_SECRET'))"},
    ]
    src = tmp_path / "programs.jsonl"
    src.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = tmp_path / "results.jsonl"
    result = runner.invoke(app, ["exec", str(src), "-o", str(out), "--timeout-s", "1"])
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["a"]["correct"] is True and rows["a"]["stdout"] == "42\n"
    assert rows["b"]["correct"] is True
    assert rows["c"]["error_kind"] == "timeout" and rows["c"]["correct"] is None
    assert rows["d"]["stdout"] == "None\n"  # the caller's environment is not visible


def test_exec_rejects_bad_lines_with_file_and_line(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"program": "print(1)"}\n{"program": \n')
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["exec", str(src), "-o", str(out)])
    assert result.exit_code == 2
    assert "bad.jsonl:2: malformed JSON" in result.output
    assert not out.exists()
