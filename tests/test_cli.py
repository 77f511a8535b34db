"""The command line as a user runs it: `python -m lsp_server complete|doctor|models`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny_model import DEFAULT_INFILL

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The user's environment without a model setting, and an empty model cache."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("SEED_CODER_LSP_")}
    out["SEED_CODER_LSP_CACHE"] = str(tmp_path / "cache")
    return out


def cli(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI; output decoded without newline translation (CRLF must stay visible)."""
    proc = subprocess.run(
        [sys.executable, "-m", "lsp_server", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")
    )


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def assert_error(proc: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit code 1, nothing on stdout, exactly one line on stderr: the error."""
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("seed-coder-lsp: error: ")
    assert message in lines[0]


def test_complete_prints_exactly_the_infill(env, tmp_path: Path, tiny_model: Path) -> None:
    src = write(tmp_path / "t.py", "def f():\n    \n")
    proc = cli(env, "complete", f"{src}:2:5", "--model", tiny_model)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == DEFAULT_INFILL == "ok_42 = compute(1)\n    return ok_42"
    assert re.search(r"prompt 17 tok \(reused 0, evaluated 17\) generated 7 tok", proc.stderr)


def test_complete_keeps_crlf(env, tmp_path: Path, tiny_model: Path) -> None:
    src = write(tmp_path / "crlf.py", "def f():\r\n    \r\n")
    proc = cli(env, "complete", f"{src}:2:5", "--model", tiny_model)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == DEFAULT_INFILL.replace("\n", "\r\n")
    assert "prompt 19 tok" in proc.stderr  # 17 as with LF, plus one "\r" on each side


def test_complete_flags_reach_the_engine(env, tmp_path: Path, tiny_model: Path) -> None:
    src = write(tmp_path / "t.py", "x = \n")
    proc = cli(env, "complete", f"{src}:1:5", "--model", tiny_model, "--max-tokens", "2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok_42 ="
    assert "[max_tokens]" in proc.stderr


def test_model_from_environment(env, tmp_path: Path, tiny_model: Path) -> None:
    src = write(tmp_path / "t.py", "def f():\n    \n")
    env["SEED_CODER_LSP_MODEL"] = str(tiny_model)
    proc = cli(env, "complete", f"{src}:2:5")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == DEFAULT_INFILL


def test_missing_default_model(env, tmp_path: Path) -> None:
    src = write(tmp_path / "t.py", "x\n")
    proc = cli(env, "complete", f"{src}:1:1")
    assert_error(
        proc,
        "Seed-Coder-8B-Base.Q4_K_M.gguf not found: run "
        "`seed-coder-lsp download seed-coder-8b-base-q4_k_m`",
    )


def test_missing_model_path(env, tmp_path: Path) -> None:
    src = write(tmp_path / "t.py", "x\n")
    proc = cli(env, "complete", f"{src}:1:1", "--model", tmp_path / "none.gguf")
    assert_error(proc, f"model file {tmp_path / 'none.gguf'} not found: check the path")


def test_not_a_gguf_model(env, tmp_path: Path) -> None:
    src = write(tmp_path / "t.py", "x\n")
    fake = write(tmp_path / "fake.gguf", "<html>not a model</html>\n")
    proc = cli(env, "complete", f"{src}:1:1", "--model", fake)
    assert_error(proc, f"{fake} is not a GGUF file (starts with b'<htm')")


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("{src}:1", "expected FILE:LINE:COL (1-based), got"),
        ("{src}:a:1", "expected FILE:LINE:COL (1-based), got"),
        ("{src}:0:1", "LINE and COL are 1-based"),
        ("{src}:4:1", "line 4 is past the end of the file (3 lines)"),
        ("{src}:2:7", "column 7 is past the end of line 2 (5 chars)"),
        # columns count characters: line 1 is 8 characters but 12 UTF-8 bytes
        ("{src}:1:10", "column 10 is past the end of line 1 (8 chars)"),
        ("{src}.missing:1:1", "cannot read"),
    ],
)
def test_location_errors(
    env, tmp_path: Path, tiny_model: Path, location: str, message: str
) -> None:
    src = write(tmp_path / "m.py", 'x = "é😀"\ny = 1\n')
    proc = cli(env, "complete", location.format(src=src), "--model", tiny_model)
    assert_error(proc, message)


def test_last_valid_column(env, tmp_path: Path, tiny_model: Path) -> None:
    src = write(tmp_path / "m.py", 'x = "é😀"\ny = 1\n')
    proc = cli(env, "complete", f"{src}:1:9", "--model", tiny_model)  # end of line 1
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == DEFAULT_INFILL


def test_invalid_flag_value(env, tmp_path: Path, tiny_model: Path) -> None:
    src = write(tmp_path / "t.py", "x\n")
    proc = cli(env, "complete", f"{src}:1:1", "--model", tiny_model, "--max-tokens", "0")
    assert_error(proc, "invalid seedCoder.maxTokens = 0 (must be between 1 and 4096)")


def test_doctor(env, tiny_model: Path) -> None:
    proc = cli(env, "doctor", "--model", tiny_model)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for expected in (
        "backend: CPU",
        "fim_template: seed-coder",
        "add_bos: False",
        "n_vocab: 269",
        "name: tiny-seed-coder-base",
        "n_gpu_layers: 0",
    ):
        assert expected in lines
    assert lines[0].startswith("llama-cpp-python ")
    assert lines[1] == f"model: {tiny_model} (0.00 GB)"
    smoke = [line for line in lines if line.startswith("smoke infill")]
    assert len(smoke) == 1
    assert re.fullmatch(r"smoke infill \(\d+ ms\): " + re.escape(repr(DEFAULT_INFILL)), smoke[0])
    assert re.search(r"^stats: prompt \d+ tok .* \[eos\]$", proc.stdout, re.M)
    assert "can_shift: True" in lines
    assert re.search(
        r"^measured speed: [\d.]+ prompt tokens/s, [\d.]+ generated tokens/s$", proc.stdout, re.M
    )
    assert re.search(r"^cold-start window: \d+ of 3960 prompt tokens, to answer", proc.stdout, re.M)


def test_doctor_cold_window_follows_the_latency_target() -> None:
    from lsp_server.cli import _cold_window_line
    from lsp_server.settings import DEFAULTS, Settings

    slow = {"prompt_tps": 100.0, "gen_tps": 10.0}  # an 8B model on a laptop CPU
    line = _cold_window_line(slow, DEFAULTS)
    # 500 ms less 16 generated tokens (1.6 s) leaves nothing: the smallest window, 256 tokens
    assert line.startswith("cold-start window: 256 of 3960 prompt tokens")
    line = _cold_window_line(slow, Settings(latencyTargetMs=4000))
    assert line.startswith("cold-start window: 256 of 3960")  # 2.4 s at 100 tokens/s = 240
    fast = {"prompt_tps": 2000.0, "gen_tps": 50.0}  # no length term: 0.5 ms a token
    assert _cold_window_line(fast, Settings(latencyTargetMs=1000)).startswith(
        "cold-start window: 1360 of 3960"  # (1000 - 320) ms / 0.5
    )
    # with the length term (attention): n * (0.25 + 0.00006 n) <= 680 ms
    curved = {**fast, "prompt_ms_per_token": 0.25, "prompt_ms_per_token2": 0.00006}
    line = _cold_window_line(curved, Settings(latencyTargetMs=1000))
    assert line.startswith("cold-start window: 1875 of 3960"), line
    assert _cold_window_line(fast, Settings(latencyTargetMs=0)).endswith("(latencyTargetMs off)")


def test_models_lists_default(env, tmp_path: Path) -> None:
    proc = cli(env, "models")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    default = [line for line in lines if line.startswith("*")]
    assert len(default) == 1
    assert default[0].split()[:2] == ["*", "seed-coder-8b-base-q4_k_m"]
    assert "mradermacher/Seed-Coder-8B-Base-GGUF/Seed-Coder-8B-Base.Q4_K_M.gguf" in default[0]
    assert default[0].split()[4] == "-"  # not in the (empty) cache
    assert len(lines) >= 3 and all(line[:2] in ("* ", "  ") for line in lines)
    # once the file is in the cache it shows as cached
    models = tmp_path / "cache" / "models"
    models.mkdir(parents=True)
    (models / "Seed-Coder-8B-Base.Q4_K_M.gguf").write_bytes(b"GGUF")
    again = cli(env, "models").stdout.splitlines()
    assert [line for line in again if line.startswith("*")][0].split()[4] == "cached"


def test_download_offline_is_one_actionable_line(env, tmp_path: Path) -> None:
    env["HF_HUB_OFFLINE"] = "1"
    proc = cli(env, "download")
    assert_error(proc, "Seed-Coder-8B-Base.Q4_K_M.gguf")
    assert "by hand" in proc.stderr
    assert not (tmp_path / "cache" / "models").exists() or not any(
        (tmp_path / "cache" / "models").iterdir()
    )


def test_download_unknown_name(env) -> None:
    assert_error(cli(env, "download", "no-such-model"), "unknown model 'no-such-model'")


def test_download_from_local_hub_prints_the_path(env, tmp_path: Path, tiny_model: Path) -> None:
    """The real download path against a stand-in hub: stdout is the file's path, bar on stderr."""
    import json
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    root = tmp_path / "hub"
    (root / "test" / "tiny" / "resolve" / "main").mkdir(parents=True)
    data = tiny_model.read_bytes()
    (root / "test" / "tiny" / "resolve" / "main" / "tiny.gguf").write_bytes(data)
    handler = type("Quiet", (SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    hub = ThreadingHTTPServer(
        ("127.0.0.1", 0),
        lambda *a: handler(*a, directory=str(root)),  # type: ignore[misc]
    )
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    registry = tmp_path / "registry.json"
    entry = {"repo": "test/tiny", "file": "tiny.gguf", "size": len(data), "size_exact": True}
    registry.write_text(json.dumps({"models": {"tiny": entry}}))
    env.update(
        SEED_CODER_LSP_REGISTRY=str(registry),
        HF_ENDPOINT=f"http://127.0.0.1:{hub.server_address[1]}",
    )
    env.pop("HF_HUB_OFFLINE", None)
    try:
        proc = cli(env, "download", "tiny")
    finally:
        hub.shutdown()
    assert proc.returncode == 0, proc.stderr
    target = tmp_path / "cache" / "models" / "tiny.gguf"
    assert proc.stdout == f"{target}\n"
    assert target.read_bytes() == data
