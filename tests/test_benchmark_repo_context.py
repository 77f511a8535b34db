"""The repository-context benchmarks: retrieval recall on real installed code (no model), the
call-binding check of the quality benchmark's repository mode, and that mode's pipeline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.quality_repo import binds
from benchmarks.repo_context import Case, cases, package_root, run_package

REPO = Path(__file__).resolve().parent.parent


def test_the_callee_is_in_the_prompt_at_nine_calls_in_ten() -> None:
    for name in ("httpx", "click"):
        row = run_package(name, budget=512, limit=60)
        assert row["cases"] == 60, row
        assert row["recall"] >= 0.9, row
        assert 0 < row["context_tokens_mean"] <= 512, row
        assert row["files"] > 10 and row["definitions"] > 100, row


def test_call_sites_are_calls_of_another_module() -> None:
    root = package_root("httpx")
    found = cases(root)
    assert len(found) > 100
    for case in found[:50]:
        text = case.file.read_text(encoding="utf-8")
        assert text[case.offset - 1] == "(" and case.defined_in != case.file
        assert case.signature.startswith(("def ", "class ", "async def "))
        assert case.callee in case.signature


def test_a_call_binds_to_the_callee_signature(tmp_path: Path) -> None:
    mod = tmp_path / "m.py"
    mod.write_text(
        "def area(width, height, *, scale=1):\n    pass\n\n\n"
        "class Box:\n    def __init__(self, w, h=0):\n        pass\n",
        encoding="utf-8",
    )
    area = Case(tmp_path / "use.py", 0, "area", "def area(width, height, *, scale=1):", mod)
    assert binds("2, 3)", area)
    assert binds("w, height=h, scale=2)", area)
    assert not binds("2)", area)  # height missing
    assert not binds("2, 3, 4)", area)  # too many
    assert not binds("2, 3, depth=4)", area)  # no such keyword
    assert binds("2, 3", area)  # a line that leaves the call open is closed for the check
    assert not binds("2 3)", area)  # does not parse
    box = Case(tmp_path / "use.py", 0, "Box", "class Box:", mod)
    assert binds("5)", box) and not binds("h=1)", box)


def test_the_quality_repository_mode_runs_through_the_engine(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.quality", "--repository", "--quick",
         "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((tmp_path / "quality_repo.json").read_text(encoding="utf-8"))["rows"]
    assert [(r["package"], r["context"], r["calls"]) for r in rows] == [
        ("httpx", "open files only", 6),
        ("httpx", "repository", 6),
    ]
    # the tiny model answers the same text everywhere: never the call's own arguments
    assert all(r["exact"] == 0.0 for r in rows)
