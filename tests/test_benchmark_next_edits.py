"""The next-edit benchmark's quick mode runs end to end against a real llama-server; its counts
(never its timings) hold: every key asked, the last state answered by both, and fewer decode
steps and fewer thrown-away answers than the Zed-style peer (stale work is stopped)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_quick_next_edit_benchmark(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.next_edits", "--quick", "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads((tmp_path / "next_edits.json").read_text(encoding="utf-8"))
    ours, peer = result["rows"]
    assert ours["keys"] == peer["keys"] == ours["requests"] == 33
    assert ours["shown"] >= 1 and peer["shown"] >= 1  # at least the state after the last key
    assert ours["decode_steps"] < peer["decode_steps"]
    assert ours["never_seen"] <= peer["never_seen"]
    md = (tmp_path / "next_edits.md").read_text(encoding="utf-8")
    assert "| seed-coder-lsp (next edits) | 33 | 33 |" in md
