"""The remote engine against a real OpenAI-compatible server without a tokenizer endpoint:
llama-cpp-python's own (`python -m llama_cpp.server`) on the tiny models. Prompts travel as
text: exact infills, marker text refused (in the document) or dropped (in another file's
snippet), a cancel that closes the stream, 401, an outage, a 404 that names the endpoint, and
an over-long prompt's empty answer taken for what it is."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lsp_server.engines import EngineError
from lsp_server.engines.remote import text_prompt
from lsp_server.engines.remote.client import RemoteConfig, RemoteEngine
from lsp_server.settings import API_KEY_ENV
from tests.remote_server import free_port
from tests.tiny_model import DEFAULT_INFILL

pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python's [server] extra")
TIMEOUT = 30
KEY = "sk-text-5d1e"


class LlamaCppPythonServer:
    """`python -m llama_cpp.server` on a loopback port, waited for."""

    def __init__(self, model: Path, *, n_ctx: int = 512, api_key: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(n_ctx)]
        cmd += ["--n_threads", "1"] + (["--api_key", api_key] if api_key else [])
        self.log = Path(tempfile.mkstemp(prefix="llama-cpp-server-", suffix=".log")[1])
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/v1/models", headers=headers).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, self.log.read_text(errors="replace")[-2000:]
            assert time.monotonic() < deadline, "llama_cpp.server did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def text_server(tiny_model: Path) -> Iterator[LlamaCppPythonServer]:
    server = LlamaCppPythonServer(tiny_model)
    yield server
    server.stop()


def connect(url: str, **config: Any) -> RemoteEngine:
    engine = RemoteEngine(RemoteConfig(url, **config))
    engine.start()
    return engine


def run(engine: RemoteEngine, **req: Any) -> dict[str, Any]:
    return engine.submit(**req).future.result(TIMEOUT)  # type: ignore[no-any-return]


@pytest.mark.parametrize("remote_api", ["auto", "openai"])
def test_exact_infill_with_text_prompts(text_server: LlamaCppPythonServer, remote_api: str) -> None:
    engine = connect(text_server.url, api=remote_api, context_length=512)
    try:
        info = engine.wait_ready(TIMEOUT)
        assert (info["api"], info["tokenizer"]) == ("openai", "none: text prompts")
        assert (info["fim_template"], info["n_ctx"]) == ("seed-coder", 512)
        prompt = engine.prompt_for({"prefix": "def f():\n    ", "suffix": "\n"})
        assert text_prompt.decode(prompt.tokens, engine.fim) == (  # type: ignore[arg-type]
            "<[fim-suffix]>\n<[fim-prefix]>def f():\n    <[fim-middle]>"
        )
        result = run(engine, prefix="def f():\n    ", suffix="\n", doc="file:///a.py")
        assert result["text"] == DEFAULT_INFILL and result["stats"]["stop_reason"] == "eos"
    finally:
        engine.close()


def test_marker_text_is_never_sent(text_server: LlamaCppPythonServer) -> None:
    engine = connect(text_server.url, context_length=512)
    try:
        engine.wait_ready(TIMEOUT)
        doc = 'MARK = "<[fim-middle]>"\ndef f():\n    '
        with pytest.raises(EngineError, match=r"contains '<\[fim-middle\]>'.*no completion"):
            run(engine, prefix=doc, suffix="\n")
        bos = "x = '<[begin▁of▁sentence]>'\n"  # the model's BOS text: refused as well
        with pytest.raises(EngineError, match="contains"):
            run(engine, prefix="def f():\n    ", suffix=bos)
        # another open file's snippet holding a mark is dropped; a clean one is sent
        bad = "# Compare this snippet from t.py:\n# s = '<[fim-prefix]>'\n"
        good = "# Compare this snippet from g.py:\n# def g(): pass\n"
        req = {"prefix": "def f():\n    ", "suffix": "\n", "extra": [bad, good]}
        sent = text_prompt.decode(engine.prompt_for({**req, "extra_tokens": 512}).tokens,
                                  engine.fim)  # type: ignore[arg-type]  # fmt: skip
        assert sent == "<[fim-suffix]>\n<[fim-prefix]>" + good + "def f():\n    <[fim-middle]>"
        assert run(engine, **req, extra_tokens=512)["text"] == DEFAULT_INFILL
        assert engine.ready  # the server kept serving
    finally:
        engine.close()


def test_cancel_closes_the_stream(loop_model: Path) -> None:
    server = LlamaCppPythonServer(loop_model, n_ctx=4096)
    engine = connect(server.url, context_length=4096)
    try:
        engine.wait_ready(TIMEOUT)
        job = engine.submit(prefix="x", suffix="", max_tokens=3000, max_time_ms=600_000)
        deadline = time.monotonic() + TIMEOUT
        while len(job.partial) < 50 and time.monotonic() < deadline:
            time.sleep(0.005)
        engine.cancel(job)
        assert job.future.result(TIMEOUT)["cancelled"] is True
        ok = run(engine, prefix="y", suffix="", max_tokens=5)  # the server serves the next one
        assert ok["stats"]["stop_reason"] == "max_tokens" and len(ok["text"]) > 0
    finally:
        engine.close()
        server.stop()


def test_an_over_long_prompt_is_an_error_and_the_window_shrinks(
    text_server: LlamaCppPythonServer,
) -> None:
    """The server's context (512) is not reported and the setting says 4096: its empty answer
    is an error naming the cause (never "no suggestion"), and the window shrinks until the
    prompt fits (the tiny vocabulary is a byte a token, twice the estimate: a few rounds)."""
    engine = connect(text_server.url, context_length=4096)
    try:
        engine.wait_ready(TIMEOUT)
        long = "".join(f"value_{i} = {i}\n" for i in range(300))
        errors, result = [], None
        for _ in range(6):
            try:
                result = run(engine, prefix=long, suffix="\n", max_tokens=16)
                break
            except EngineError as exc:
                errors.append(str(exc))
        assert errors and all("probably longer than its context" in e for e in errors), errors
        assert result is not None and result["text"] == DEFAULT_INFILL
        assert engine.info["n_ctx"] < 512 and engine.ready  # never taken for an outage
    finally:
        engine.close()


def test_401_a_404_that_names_the_endpoint_and_an_outage(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = LlamaCppPythonServer(tiny_model, api_key=KEY)
    try:
        monkeypatch.delenv(API_KEY_ENV, raising=False)
        engine = connect(server.url)
        with pytest.raises(EngineError, match="answered 401: an API key is needed"):
            engine.wait_ready(TIMEOUT)
        engine.close()
        monkeypatch.setenv(API_KEY_ENV, KEY)
        wrong = connect(server.url + "/api")
        with pytest.raises(EngineError, match=r"has no /api/v1/models \(404 Not Found\)"):
            wrong.wait_ready(TIMEOUT)
        wrong.close()
        engine = connect(server.url, context_length=512)
        engine.wait_ready(TIMEOUT)
        assert run(engine, prefix="def f():\n    ", suffix="\n")["text"] == DEFAULT_INFILL
    finally:
        server.stop()
    with pytest.raises(EngineError, match=server.url):
        run(engine, prefix="def f():\n    ", suffix="\n")  # the server is gone
    assert not engine.ready
    engine.close()


def test_pseudo_tokens_round_trip_and_the_template_by_name() -> None:
    fim = text_prompt.template_for("auto", "/models/seed-coder-8b-base.gguf")
    text = "naïve = '😀'\n\tx"  # odd byte counts, 4-byte characters
    tokens = [fim.suffix, *text_prompt.tokenize(text), fim.prefix, fim.middle]
    assert text_prompt.decode(tokens, fim) == f"<[fim-suffix]>{text}<[fim-prefix]><[fim-middle]>"
    assert len(text_prompt.tokenize(text)) == -(-len(text.encode()) // 2)  # two bytes each
    assert text_prompt.template_for("auto", "Qwen2.5-Coder-7B").template.name == "qwen"
    assert text_prompt.template_for("codellama", "whatever").template.name == "codellama"
    assert text_prompt.unsafe_in("a <|endoftext|> b <[fim-prefix]>") == [
        "<[fim-prefix]>",
        "<|endoftext|>",
    ]


def test_doctor_and_complete_from_the_command_line(
    text_server: LlamaCppPythonServer, tmp_path: Path
) -> None:
    src = tmp_path / "t.py"
    src.write_text("def f():\n    \n", encoding="utf-8")
    flags = ["--engine", "remote", "--remote-url", text_server.url, "--context-length", "512"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEED_CODER_LSP_")}
    run_cli = [sys.executable, "-m", "lsp_server"]
    done = subprocess.run([*run_cli, "complete", f"{src}:2:5", *flags], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0 and done.stdout == DEFAULT_INFILL + "\n", done.stderr
    doctor = subprocess.run([*run_cli, "doctor", *flags], env=env, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert doctor.returncode == 0, doctor.stderr
    for line in ("api: openai", "tokenizer: none: text prompts", "fim_template: seed-coder",
                 "n_ctx: 512", "smoke infill"):  # fmt: skip
        assert line in doctor.stdout, doctor.stdout
