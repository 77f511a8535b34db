"""The keystroke benchmark's quick mode runs end to end; its counts (never its timings) hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.keystrokes", "--quick", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, json.loads((out / "results.json").read_text(encoding="utf-8"))


def test_outputs_exist(quick: tuple[Path, dict]) -> None:
    out, res = quick
    assert (out / "results.md").stat().st_size > 0
    assert (out / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "results.md").read_text(encoding="utf-8")
    for session in ("steady", "pauses", "accept", "jump"):
        assert f"| {session} |" in md
    assert "## Targets" in md


def test_counts(quick: tuple[Path, dict]) -> None:
    _, res = quick
    o = res["overall"]
    rows = res["rows"]  # empty fields are left out of each row
    assert o["requests"] == len(rows) == o["counters"]["requests"]
    assert o["errors"] == 0 and o["counters"]["errors"] == 0
    assert o["counters"]["not_ready"] == 0
    # Every request got an answer.
    assert all(r.get("latency_ms") is not None for r in rows)
    assert 0 < o["generations"] < o["requests"]
    # The client-side classification agrees with the server's counters.
    assert o["cache_hits"] == o["counters"]["cache_hits"] > 0
    assert o["attached"] == o["counters"]["attached"]
    assert o["superseded"] == o["counters"]["superseded"]
    # Every model answer has its log line numbers; a warm keystroke reuses the KV cache.
    logged = [r for r in rows if r.get("log")]
    assert len(logged) == o["model"] + o["attached"] + o["empty"]
    assert any(r["log"]["reused_tokens"] > 0 for r in logged)


def test_typed_through_costs_no_decode_steps(quick: tuple[Path, dict]) -> None:
    _, res = quick
    accept = next(s for s in res["sessions"] if s["name"] == "accept")
    through = accept["through"]
    assert through and through["chars"] > 0
    assert through["decode_steps"] == 0 and through["generations"] == 0
    assert through["cache_hits"] == through["chars"]
    hits = [r for r in res["rows"] if r["source"] == "cache" and r["action"] == "type-through"]
    assert len(hits) == through["chars"]
    assert all(r.get("decode_delta") == 0 for r in hits)


def test_supersession_wastes_at_most_one_step(quick: tuple[Path, dict]) -> None:
    _, res = quick
    o = res["overall"]
    # How many generations get superseded depends on the machine's speed; the bound does not.
    assert o["wasted_steps"] <= o["superseded_generations"]
    if o["superseded_generations"]:
        assert o["wasted_per_superseded"] <= 1.0


def test_baseline_rebuilt_the_same_prompts(quick: tuple[Path, dict]) -> None:
    _, res = quick
    base = res["baseline"]
    assert base["rows"] > 0
    assert base["exact_token_matches"] >= 0.8 * base["rows"]
