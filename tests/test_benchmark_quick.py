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
        [sys.executable, "-m", "benchmarks.keystrokes", "--quick", "--remote", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, json.loads((out / "results.json").read_text(encoding="utf-8"))


def test_outputs_exist(quick: tuple[Path, dict]) -> None:
    out, res = quick
    assert (out / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "results.md").read_text(encoding="utf-8")
    assert "| seed-coder-lsp, VS Code policy | 10 | 44 |" in md
    assert "| seed-coder-lsp, Neovim 0.12 policy | 10 | 44 |" in md
    assert res["peer_skipped"] == "--no-peer" and "Peer skipped" in md
    assert res["commit"]


def sessions_of(res: dict, policy: str) -> dict[str, dict]:
    return {s["session"]: s for s in res["runs"][policy]["sessions"]}


def test_every_request_is_answered(quick: tuple[Path, dict]) -> None:
    _, res = quick
    for policy in ("vscode", "nvim", "remote"):
        row = res["table"][policy]["10"]
        assert row["answered"] == row["requests"] > 0
    # VS Code asks on every key (38 typed, then accept + 5); Neovim only after a 200 ms pause,
    # which 10 chars/s never leaves before the last key of a session.
    assert res["table"]["vscode"]["10"]["requests"] == 44
    assert res["table"]["nvim"]["10"]["requests"] >= 2


def test_typing_evaluates_only_new_tokens(quick: tuple[Path, dict]) -> None:
    """A line typed in a file larger than the context: no window re-evaluation (v1 evaluated
    2,847 tokens here); each key costs its byte and <[fim-middle]>, plus a few speculations."""
    _, res = quick
    for policy in ("vscode", "nvim", "remote"):
        typed = sessions_of(res, policy)["type"]
        assert len(typed["keys"]) == 38
        assert typed["evaluated_tokens"] <= 4 * 38 + 100
    cold = res["cold"]["vscode"]
    assert cold["prompt_tokens"] > 3000 and cold["shown"]  # the file is cut to the window


def test_accepting_then_typing_on_shows_suggestions(quick: tuple[Path, dict]) -> None:
    _, res = quick
    accept = sessions_of(res, "vscode")["accept"]
    assert accept["keys"][0]["shown_at"] is not None  # after the accept: the speculation
    assert accept["generations"] <= 6


def test_remote_engine_evaluates_what_the_local_engine_does(quick: tuple[Path, dict]) -> None:
    """The same sessions through llama-server: token-exact prompts in a slot of its own, so
    the server evaluates only the new tokens too (its own counters). How many keys show a
    suggestion before the next key depends on the machine's speed at that moment: only the
    last key of each session (the user stops there) must show one, on any machine."""
    out, res = quick
    md = (out / "results.md").read_text(encoding="utf-8")
    assert "| seed-coder-lsp, engine remote (llama-server), VS Code policy | 10 | 44 |" in md
    remote, local = res["table"]["remote"]["10"], res["table"]["vscode"]["10"]
    sessions = len(res["runs"]["remote"]["sessions"])
    assert remote["keys"] == local["keys"] == 44
    assert remote["answered"] == remote["requests"] == local["requests"] == 44
    assert min(remote["shown"], local["shown"]) >= sessions == 2
    for run in ("remote", "vscode"):
        for session in res["runs"][run]["sessions"]:
            assert session["keys"][-1]["shown_at"] is not None, (run, session["session"])
    assert remote["evaluated_tokens"] <= local["evaluated_tokens"] + 40
    cold = res["cold"]["remote"]
    assert cold["prompt_tokens"] > 3000 and cold["shown"]
