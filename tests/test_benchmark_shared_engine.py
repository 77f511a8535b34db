"""The multi-window benchmark runs (tiny model, two windows) and reports what it promises: one
llama.cpp worker when shared, one per window otherwise, every window's keys and answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import shared_engine


def test_two_windows_shared_and_one_worker_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("XDG_RUNTIME_DIR", "SEED_CODER_LSP_ENGINE_GRACE"):  # the benchmark sets them
        monkeypatch.setenv(name, "")
    out = tmp_path / "out"
    assert (
        shared_engine.main(["--model", "tiny", "--windows", "2", "--cps", "8", "--out", str(out)])
        == 0
    )
    rows = json.loads((out / "shared_engine.json").read_text())
    assert [(r["windows"], r["shared"], r["workers"]) for r in rows] == [
        (2, True, 1),
        (2, False, 2),
    ]
    for row in rows:
        assert row["keys"] == [38, 38]
        assert all(n > 0 for n in row["shown"])  # every window saw suggestions
        assert row["pss_mb"] > row["servers_pss_mb"] > 0
        assert row["evaluated_tokens"] > 0
    table = (out / "shared_engine.md").read_text()
    assert "| 2 | shared |" in table and "| 2 | one per window |" in table
