"""dvc.yaml lists each stage's code exactly: a change to a module a stage imports reruns it.

For each stage, the static import closure of its `stages.<name>` module within `mathforge`
(mathforge.dvcdeps; plumbing excluded, see dvcdeps.PLUMBING) must be covered by the stage's
code deps (a directory dep covers every module under it), and every code dep must cover an
imported file (no stale deps that rerun the stage for nothing).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pytest
import yaml

from mathforge.dvcdeps import PLUMBING, closure_files, import_closure
from mathforge.shards import stage_code_deps

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def stage_module(name: str) -> str:
    definition = STAGES[name].get("do", STAGES[name])
    found = re.search(r"(?:python|accelerate launch .*?) -m (stages\.\w+)", definition["cmd"])
    assert found, f"dvc.yaml stage {name}: cmd does not run `python -m stages.<name>`"
    return found.group(1)


def covers(dep: PurePosixPath, file: PurePosixPath) -> bool:
    return dep == file or dep in file.parents


def missing_and_stale(name: str) -> tuple[list[str], list[str]]:
    module = stage_module(name)
    entry = ROOT / Path(*module.split(".")).with_suffix(".py")
    needed = {PurePosixPath(p.as_posix()) for p in closure_files(module, SRC, entry)}
    needed.add(PurePosixPath(entry.relative_to(ROOT).as_posix()))
    deps = [PurePosixPath(p.relative_to(ROOT).as_posix()) for p in stage_code_deps(name, ROOT)]
    uncovered = [f for f in needed if not any(covers(d, f) for d in deps)]
    # Suggest what dvc.yaml lists elsewhere: a top-level module's file, a subpackage's directory,
    # except a table contract, listed by its file (a stage depends on the tables it touches).
    missing = sorted(
        {str(f if "contracts" in f.parts else PurePosixPath(*f.parts[:3])) for f in uncovered}
    )
    stale = sorted(str(d) for d in deps if not any(covers(d, f) for f in needed))
    return missing, stale


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_are_its_import_closure(name: str) -> None:
    missing, stale = missing_and_stale(name)
    lines = [f"dvc.yaml stage {name}: deps do not match what stages/{name}.py imports."]
    if missing:
        lines.append("  add (imported, not covered by any dep; a directory covers all under it):")
        lines += [f"    - {f}" for f in missing]
    if stale:
        lines.append("  remove (listed, nothing under it is imported):")
        lines += [f"    - {d}" for d in stale]
    lines.append(f"  (plumbing, never a dep: {', '.join(sorted(PLUMBING))})")
    assert not missing and not stale, "\n".join(lines)


def test_closure_follows_lazy_imports_and_package_inits(tmp_path: Path) -> None:
    pkg = tmp_path / "mathforge"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "config.py").write_text("import mathforge.never\n")  # plumbing: not followed
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "leaf.py").write_text("from . import sibling\n")
    (pkg / "sub" / "sibling.py").write_text("x = 1\n")
    (pkg / "lazy.py").write_text("def f():\n    from mathforge.sub.leaf import thing\n")
    (pkg / "never.py").write_text("")
    entry = tmp_path / "stage.py"
    entry.write_text("from mathforge.config import load_params\nimport mathforge.lazy\n")
    assert import_closure("stages.x", tmp_path, entry) == {
        "mathforge.lazy",
        "mathforge.sub",
        "mathforge.sub.leaf",
        "mathforge.sub.sibling",
    }


def test_stage_code_deps_reads_a_template_stage_by_its_entry_name() -> None:
    assert ROOT / "stages/sft.py" in stage_code_deps("sft@policy_small", ROOT)
    assert all(p.is_relative_to(ROOT / "stages") or p.is_relative_to(SRC) for p in
               stage_code_deps("sample", ROOT))  # fmt: skip
