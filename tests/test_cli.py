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
    out["HF_HOME"] = str(tmp_path / "hf")  # an empty Hugging Face cache
    out.pop("HF_HUB_CACHE", None)
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
    assert proc.stdout == DEFAULT_INFILL + "\n" == "ok_42 = compute(1)\n    return ok_42\n"
    assert re.search(r"prompt 17 tok \(reused 0, evaluated 17\) generated 7 tok", proc.stderr)


def test_complete_keeps_crlf(env, tmp_path: Path, tiny_model: Path) -> None:
    src = write(tmp_path / "crlf.py", "def f():\r\n    \r\n")
    proc = cli(env, "complete", f"{src}:2:5", "--model", tiny_model)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == DEFAULT_INFILL.replace("\n", "\r\n") + "\n"
    assert "prompt 19 tok" in proc.stderr  # 17 as with LF, plus one "\r" on each side


def test_complete_flags_reach_the_engine(env, tmp_path: Path, tiny_model: Path) -> None:
    src = write(tmp_path / "t.py", "x = \n")
    proc = cli(env, "complete", f"{src}:1:5", "--model", tiny_model, "--max-tokens", "2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok_42 =\n"
    assert "[max_tokens]" in proc.stderr


def test_model_from_environment(env, tmp_path: Path, tiny_model: Path) -> None:
    src = write(tmp_path / "t.py", "def f():\n    \n")
    env["SEED_CODER_LSP_MODEL"] = str(tiny_model)
    proc = cli(env, "complete", f"{src}:2:5")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == DEFAULT_INFILL + "\n"


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
    assert proc.stdout == DEFAULT_INFILL + "\n"


def test_invalid_flag_values_warn_and_go_on(env, tmp_path: Path, tiny_model: Path) -> None:
    src = tmp_path / "src.py"
    src.write_text("def f():\n    \n", encoding="utf-8")
    args = ["complete", f"{src}:2:5", "--model", tiny_model]
    proc = cli(env, *args, "--max-tokens", "0", "--log-level", "verbose")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == DEFAULT_INFILL + "\n"
    assert (
        "seed-coder-lsp: warning: invalid seedCoder.maxTokens = 0 (must be between 1 and 4096); "
        "using 128" in proc.stderr
    )
    assert (
        "invalid seedCoder.logLevel = 'verbose'" in proc.stderr and "Traceback" not in proc.stderr
    )


def test_binary_file_is_not_a_text_file(env, tmp_path: Path, tiny_model: Path) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\xff\xfe\x00binary\x00")
    proc = cli(env, "complete", f"{blob}:1:1", "--model", tiny_model)
    assert_error(proc, f"cannot complete in {blob}: not a UTF-8 text file")


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


def test_doctor_reports_the_next_edit_model(env, tiny_model: Path, tmp_path: Path) -> None:
    from tests.tiny_model import write_zeta_model

    zeta = write_zeta_model(tmp_path / "zeta.gguf")
    proc = cli(env, "doctor", "--model", tiny_model, "--next-edit-model", zeta)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert f"next edits: model {zeta}" in lines
    assert "next edits: zeta-2.1-tiny on CPU, context 8192" in lines
    assert any(re.fullmatch(r"next edits: smoke prediction in \d+ ms: an edit", x) for x in lines)
    plain = cli(env, "doctor", "--model", tiny_model)
    assert "next edits: off (no --next-edit-model)" in plain.stdout.splitlines()


def test_doctor_cold_window_follows_the_latency_target() -> None:
    from lsp_server.cli import _cold_window_line
    from lsp_server.settings import DEFAULTS, Settings

    slow = {"prompt_tps": 100.0, "gen_tps": 10.0}  # an 8B model on a laptop CPU
    line = _cold_window_line(slow, DEFAULTS)
    # 500 ms less 16 generated tokens (1.6 s) leaves nothing: the smallest window, 512 tokens
    assert line.startswith("cold-start window: 512 of 3960 prompt tokens")
    line = _cold_window_line(slow, Settings(latency_target_ms=4000))
    assert line.startswith("cold-start window: 512 of 3960")  # 2.4 s at 100 tokens/s = 240
    fast = {"prompt_tps": 2000.0, "gen_tps": 50.0}  # no length term: 0.5 ms a token
    assert _cold_window_line(fast, Settings(latency_target_ms=1000)).startswith(
        "cold-start window: 1360 of 3960"  # (1000 - 320) ms / 0.5
    )
    # with the length term (attention): n * (0.25 + 0.00006 n) <= 680 ms
    curved = {**fast, "prompt_ms_per_token": 0.25, "prompt_ms_per_token2": 0.00006}
    line = _cold_window_line(curved, Settings(latency_target_ms=1000))
    assert line.startswith("cold-start window: 1875 of 3960"), line
    assert _cold_window_line(fast, Settings(latency_target_ms=0)).endswith("(latencyTargetMs off)")


def test_models_lists_what_is_on_disk_and_what_is_not(env, tmp_path: Path) -> None:
    proc = cli(env, "models")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["model", "size", "on", "disk", "where"]  # a header
    default = [line for line in lines[1:-1] if line.startswith("*")]
    assert len(default) == 1
    assert default[0].split()[:2] == ["*", "seed-coder-8b-base-q4_k_m"]
    assert "mradermacher/Seed-Coder-8B-Base-GGUF/Seed-Coder-8B-Base.Q4_K_M.gguf" in default[0]
    assert "  no  " in default[0] and "seed-coder-lsp download" in default[0]
    # a file downloaded by an earlier version, and a GGUF already in the Hugging Face cache
    models = tmp_path / "cache" / "models"
    models.mkdir(parents=True)
    (models / "Seed-Coder-8B-Base.Q4_K_M.gguf").write_bytes(b"GGUF")
    snap = tmp_path / "hf" / "hub" / "models--someone--coder-GGUF" / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    (snap / "coder.Q8_0.gguf").write_bytes(b"GGUF" * 10)
    (tmp_path / "hf" / "hub" / "models--someone--coder-GGUF" / "refs").mkdir()
    (tmp_path / "hf" / "hub" / "models--someone--coder-GGUF" / "refs" / "main").write_text("a" * 40)
    again = cli(env, "models").stdout.splitlines()
    mine = [line for line in again if line.startswith("*")][0]
    assert "  yes  " in mine and str(models) in mine
    other = [line for line in again if "someone/coder-GGUF:coder.Q8_0.gguf" in line]
    assert len(other) == 1 and "  yes  " in other[0]
    # and it can be used by its hub spec, found without the network
    from lsp_server.model_files.registry import resolve_model

    os_env = {k: os.environ.get(k) for k in ("HF_HOME", "HF_HUB_CACHE")}
    try:
        os.environ["HF_HOME"] = str(tmp_path / "hf")
        os.environ.pop("HF_HUB_CACHE", None)
        assert resolve_model("someone/coder-GGUF:Q8_0").path.name == "coder.Q8_0.gguf"
    finally:
        for k, v in os_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


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
    """The real download path against a stand-in hub: stdout is the file's path (in the Hugging
    Face cache), the bar on stderr, and no request but the file's own (no telemetry)."""
    import json

    from tests.hub_standin import COMMIT, Hub, running

    data = tiny_model.read_bytes()
    registry = tmp_path / "registry.json"
    entry = {"repo": "test/tiny", "file": "tiny.gguf", "size": len(data), "size_exact": True}
    registry.write_text(json.dumps({"models": {"tiny": entry}}))
    with running(Hub(files={"test/tiny/tiny.gguf": data})) as hub:
        env.update(SEED_CODER_LSP_REGISTRY=str(registry), HF_ENDPOINT=hub.url)
        env.pop("HF_HUB_OFFLINE", None)
        proc = cli(env, "download", "tiny")
    assert proc.returncode == 0, proc.stderr
    target = tmp_path / "hf" / "hub" / "models--test--tiny" / "snapshots" / COMMIT / "tiny.gguf"
    assert proc.stdout == f"{target}\n"
    assert target.read_bytes() == data
    assert "100.0%" in proc.stderr and "HTTP Request" not in proc.stderr
    assert {path for _, path in hub.requests} == {"/test/tiny/resolve/main/tiny.gguf"}


def test_lines_are_counted_as_editors_count_them(env, tmp_path: Path, tiny_model: Path) -> None:
    """A form feed or U+2028 is not a line break (str.splitlines says it is)."""
    src = tmp_path / "ff.py"
    src.write_text("import os\f\nx = '\u2028'\ndef f():\n    \n", encoding="utf-8")
    proc = cli(env, "complete", f"{src}:4:5", "--model", tiny_model)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == DEFAULT_INFILL + "\n"
    assert_error(cli(env, "complete", f"{src}:6:1", "--model", tiny_model), "line 6 is past")


def test_every_setting_is_a_flag_generated_from_the_schema() -> None:
    """Flags follow the schema: kebab-case names, --x/--no-x for booleans, lists by comma."""
    from lsp_server.cli import _parser, settings_from_args
    from lsp_server.settings import WIRE

    parser = _parser()
    help_text = parser.format_help()
    for f in WIRE.values():
        assert "--" + f.name.replace("_", "-") in help_text, f.name
    args = parser.parse_args(
        ["--no-speculative", "--auto-download", "--languages", "python, go", "--engine",
         "remote", "--remote-url", "http://h:1", "--remote-api", "openai", "--temperature",
         "0.5", "--max-time-ms", "20"]
    )  # fmt: skip
    settings = settings_from_args(args)
    assert (settings.speculative, settings.auto_download) == (False, True)
    assert settings.languages == ("python", "go")
    assert (settings.engine, settings.remote_url, settings.remote_api) == (
        "remote",
        "http://h:1",
        "openai",
    )
    assert (settings.temperature, settings.max_time_ms) == (0.5, 20)


def test_flag_limits_are_the_schema_limits(capsys) -> None:
    """The same bound an editor's value meets: maxTimeMs 5 warns and keeps the default."""
    from lsp_server.cli import _parser, settings_from_args

    settings = settings_from_args(_parser().parse_args(["--max-time-ms", "5", "--threads", "x"]))
    assert (settings.max_time_ms, settings.threads) == (1500, 0)
    err = capsys.readouterr().err
    assert "invalid seedCoder.maxTimeMs = 5 (must be between 10 and 600000); using 1500" in err
    assert "invalid seedCoder.threads = 'x' (expected an integer); using 0" in err


def test_remote_complete_and_doctor(env, tmp_path: Path, tiny_model: Path) -> None:
    """--engine remote against a real llama-server: the infill, the server's facts, and the
    API key (from the environment) never printed, even at debug level."""
    from tests.remote_server import Server

    src = tmp_path / "r.py"
    src.write_text("def f():\n    \n", encoding="utf-8")
    key = "sk-cli-secret-0042"
    with Server(tiny_model, slots=1, api_key=key) as server:
        flags = ["--engine", "remote", "--remote-url", server.url, "--log-level", "debug"]
        proc = cli({**env, "SEED_CODER_LSP_API_KEY": key}, "complete", f"{src}:2:5", *flags)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == DEFAULT_INFILL + "\n"
        assert key not in proc.stdout + proc.stderr
        doctor = cli({**env, "SEED_CODER_LSP_API_KEY": key}, "doctor", *flags)
        assert doctor.returncode == 0, doctor.stderr
        out = doctor.stdout
        assert "engine: remote; API key ($SEED_CODER_LSP_API_KEY): set" in out
        for line in (f"server: {server.url}", "api: llama-server", "fim_template: seed-coder",
                     "slots: 1", "smoke infill"):  # fmt: skip
            assert line in out, out
        assert key not in out + doctor.stderr
        refused = cli(env, "complete", f"{src}:2:5", *flags)
        assert refused.returncode == 1
        assert refused.stderr.strip().endswith(
            f"error: {server.url} answered 401: an API key is needed; set "
            "$SEED_CODER_LSP_API_KEY in the environment the language server starts in"
        )
    down = cli(env, "complete", f"{src}:2:5", "--engine", "remote", "--remote-url", server.url)
    assert down.returncode == 1 and f"cannot reach {server.url}" in down.stderr
    no_url = cli(env, "complete", f"{src}:2:5", "--engine", "remote")
    assert no_url.returncode == 1 and "--engine remote needs --remote-url" in no_url.stderr


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=cwd, check=True, capture_output=True,
    )  # fmt: skip


def test_next_edit_prints_the_predicted_edit_as_a_diff(env, tmp_path: Path) -> None:
    """The working tree's git diff is the history; the edit comes out as a unified diff."""
    from tests.tiny_model import ZETA_DOCUMENT, write_zeta_model

    zeta = write_zeta_model(tmp_path / "zeta.gguf")
    repo = tmp_path / "proj"
    repo.mkdir()
    src = write(repo / "area.py", ZETA_DOCUMENT.replace("width, height", "width"))
    git(repo, "init", "-q")
    git(repo, "add", "area.py")
    git(repo, "commit", "-q", "-m", "v1")
    write(src, ZETA_DOCUMENT)  # the user added a parameter
    proc = cli(env, "next-edit", f"{src}:5:13", "--next-edit-model", zeta)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "--- a/area.py\n+++ b/area.py\n@@ -2,4 +2,4 @@\n     return width * height\n \n \n"
        "-print(area(2))\n+print(area(2, 3))\n"
    )
    history = write(tmp_path / "h.diff", "--- a/x.py\n+++ b/x.py\n@@ -1,1 +1,1 @@\n-a\n+b\n")
    again = cli(env, "next-edit", f"{src}:5:13", "--next-edit-model", zeta, "--history", history)
    assert again.returncode == 0 and again.stdout == proc.stdout


def test_next_edit_without_a_model_or_an_edit(env, tmp_path: Path) -> None:
    from tests.tiny_model import ZETA_DOCUMENT, write_zeta_model

    src = write(tmp_path / "area.py", ZETA_DOCUMENT)
    proc = cli(env, "next-edit", f"{src}:5:13")
    assert proc.returncode == 1 and proc.stdout == ""
    assert "no next-edit model: pass --next-edit-model" in proc.stderr
    none = write_zeta_model(tmp_path / "none.gguf", "<|marker_1|><|marker_1|>")
    quiet = cli(env, "next-edit", f"{src}:5:13", "--next-edit-model", none)
    assert quiet.returncode == 0 and quiet.stdout == ""
    assert "no next edit predicted" in quiet.stderr
    assert_error(cli(env, "next-edit", f"{src}:99:1", "--next-edit-model", none), "line 99")
