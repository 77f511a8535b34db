"""The quality benchmark's pipeline: HumanEval infilling tasks through the engine and the
post-processing (tiny model, --quick), and a harness check with the oracle (the true text)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.quality import passes, tasks
from tests.tiny_model import DEFAULT_INFILL

REPO = Path(__file__).resolve().parent.parent


def run(out: Path, *args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.quality", "--raw", "--out", str(out), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "quality.json").read_text(encoding="utf-8"))


def test_quick_runs_every_task_through_the_model(tmp_path: Path) -> None:
    res = run(tmp_path, "--quick")
    assert {k: v["tasks"] for k, v in res["table"].items()} == {"single": 8, "multi": 8}
    # the tiny model writes the same infill whatever the task: its lines, post-processed
    first = DEFAULT_INFILL.split("\n")[0]
    assert {t["suggestion"] for t in res["tasks"]} <= {first, DEFAULT_INFILL}
    assert res["table"]["single"]["exact"] == res["table"]["single"]["pass@1"] == 0.0
    md = (tmp_path / "quality.md").read_text(encoding="utf-8")
    assert "| single-line | 8 | 0.0% | 0.0% | 0.0% | 0.0% |" in md


def test_the_oracle_scores_what_the_post_processing_keeps(tmp_path: Path) -> None:
    res = run(tmp_path, "--oracle", "--limit", "40")
    single, multi = res["table"]["single"], res["table"]["multi"]
    assert single["exact"] == single["pass@1"] == 1.0
    assert multi["exact"] >= 0.95 and multi["pass@1"] >= 0.95
    assert single["raw_exact"] == multi["raw_exact"] == 1.0


@pytest.mark.parametrize("kind", ["single", "multi"])
def test_pass_at_1_really_runs_the_tests(kind: str) -> None:
    """The true span passes and a wrong one fails: the tests are not vacuous."""
    task = next(t for t in tasks(5) if t.kind == kind)
    assert passes(task, task.middle)
    assert not passes(task, "raise SystemExit(3)")
