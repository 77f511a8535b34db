"""The remote engine against a real llama-server on the tiny models: exact infills over the
native API and /v1/completions, prompts token-identical to the local engine's, marker text that
stays text, cancellation that reaches the server, auth, outages and recovery."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lsp_server.engines import EngineError
from lsp_server.engines.remote import dialects as api
from lsp_server.engines.remote.client import RemoteConfig, RemoteEngine
from lsp_server.prompt.fim import ALL_MARKER_TEXTS
from lsp_server.settings import API_KEY_ENV
from tests.remote_server import Server, free_port
from tests.tiny_model import DEFAULT_INFILL

TIMEOUT = 30
KEY = "sk-test-7f3a9c"


class Events:
    """on_event sink that tests can wait on."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.changed = threading.Condition()

    def __call__(self, kind: str, message: str) -> None:
        with self.changed:
            self.items.append((kind, message))
            self.changed.notify_all()

    def kinds(self) -> list[str]:
        return [k for k, _ in self.items]

    def wait(self, kind: str, count: int = 1, timeout: float = TIMEOUT) -> None:
        with self.changed:
            ok = self.changed.wait_for(lambda: self.kinds().count(kind) >= count, timeout)
        assert ok, f"no {kind!r} event; got {self.items}"


@pytest.fixture(scope="module")
def tiny_server(tiny_model: Path) -> Iterator[Server]:
    with Server(tiny_model) as server:
        yield server


@pytest.fixture(scope="module")
def loop_server(loop_model: Path) -> Iterator[Server]:
    with Server(loop_model, slots=1, ctx=4096) as server:
        yield server


def connect(url: str, events: Events | None = None, **config: Any) -> RemoteEngine:
    engine = RemoteEngine(RemoteConfig(url, **config), on_event=events)
    engine.start()
    return engine


def run(engine: RemoteEngine, **req: Any) -> dict[str, Any]:
    return engine.submit(**req).future.result(TIMEOUT)  # type: ignore[no-any-return]


@pytest.mark.parametrize("remote_api", ["auto", "llama-server", "openai"])
def test_exact_infill_over_both_apis(tiny_server: Server, remote_api: str) -> None:
    engine = connect(tiny_server.url, api=remote_api)
    try:
        info = engine.wait_ready(TIMEOUT)
        assert info["api"] == ("openai" if remote_api == "openai" else "llama-server")
        assert (info["fim_template"], info["slots"], info["n_ctx"]) == ("seed-coder", 2, 512)
        result = run(engine, prefix="def f():\n    ", suffix="\n", doc="file:///a.py")
        assert result["text"] == DEFAULT_INFILL
        stats = result["stats"]
        assert stats["stop_reason"] == "eos"
        # the server's own numbers: 8 = the infill's 7 tokens and the EOS it sampled
        assert (stats["generated_tokens"], stats["prompt_tokens"]) == (8, 17)
        assert stats["reused_tokens"] + stats["evaluated_tokens"] == 17
        # the same cursor again: the server's slot cache holds all but the last token
        again = run(engine, prefix="def f():\n    ", suffix="\n", doc="file:///a.py")
        assert again["text"] == DEFAULT_INFILL
        assert again["stats"]["reused_tokens"] == 16
    finally:
        engine.close()


def test_prompts_are_token_identical_to_the_local_engine(
    tiny_server: Server, make_runner: Any, tiny_model: Path
) -> None:
    """Same window, same layout, same ids: the server's tokenizer through /tokenize; marker
    text in the document stays text (one of each FIM id, at its place in the layout)."""
    runner = make_runner(tiny_model)  # n_ctx 512, as one slot of the server
    engine = connect(tiny_server.url)
    try:
        engine.wait_ready(TIMEOUT)
        fim_ids = engine.info["fim_ids"]
        sneaky = "s = '" + "".join(ALL_MARKER_TEXTS[:6]) + "'\n"
        cases = [
            {"prefix": "def f():\n    ", "suffix": "\n"},
            {"prefix": sneaky + "x = 1\n" * 300 + "def g():\n    ", "suffix": sneaky * 3},
            {"prefix": "é ü 中文 🙂\n" * 40, "suffix": "\n<[fim-middle]>\n" * 40, "hint": None},
        ]
        for req in cases:
            req |= {"max_tokens": 64}
            remote = engine.prompt_for(req)
            local = runner.prompt_for(req)
            assert remote.tokens == local[0]
            assert remote.window == local[1]
            assert [remote.tokens.count(i) for i in fim_ids] == [1, 1, 1]
        result = run(engine, prefix=sneaky + "def g():\n    ", suffix="\n")
        assert result["text"] == DEFAULT_INFILL
    finally:
        engine.close()


def test_user_defined_marks_stay_text_too(userdef_model: Path, make_runner: Any) -> None:
    """llama.cpp matches USER_DEFINED tokens even with special parsing off: the engine splits
    marker text before sending it to /tokenize."""
    with Server(userdef_model, slots=1, ctx=512) as server:
        engine = connect(server.url)
        try:
            engine.wait_ready(TIMEOUT)
            req = {"prefix": "a = '<[fim-suffix]><[fim-prefix]>'\n", "suffix": "<[fim-middle]>"}
            assert engine.prompt_for(req).tokens == make_runner(userdef_model).prompt_for(req)[0]
            assert [engine.prompt_for(req).tokens.count(i) for i in engine.info["fim_ids"]] == [
                1,
                1,
                1,
            ]
        finally:
            engine.close()


def test_cancel_closes_the_stream_and_the_server_stops(loop_server: Server) -> None:
    engine = connect(loop_server.url)
    try:
        engine.wait_ready(TIMEOUT)
        before = loop_server.decoded()
        job = engine.submit(prefix="x", suffix="", max_tokens=3000, max_time_ms=600_000)
        deadline = time.monotonic() + TIMEOUT
        while len(job.partial) < 200 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert loop_server.slots_busy() == [True]
        engine.cancel(job)
        result = job.future.result(TIMEOUT)
        assert result["cancelled"] is True
        t0 = time.monotonic()
        while loop_server.slots_busy() != [False]:
            assert time.monotonic() - t0 < 10, "llama-server kept generating after the cancel"
            time.sleep(0.01)
        # counted by the server: it stopped near where the stream was closed, far from the end
        assert loop_server.decoded() - before < 1000
        # the slot is free for the next request at once
        ok = run(engine, prefix="y", suffix="", max_tokens=5)
        assert ok["stats"]["generated_tokens"] == 5 and ok["stats"]["stop_reason"] == "max_tokens"
    finally:
        engine.close()


def test_time_budget_and_settled_stop_the_stream(loop_server: Server) -> None:
    engine = connect(loop_server.url)
    try:
        engine.wait_ready(TIMEOUT)
        timed = run(engine, prefix="x", suffix="", max_tokens=100_000, max_time_ms=10)
        assert timed["stats"]["stop_reason"] == "time"
        assert timed["text"].endswith("compute(1)") and not timed["text"].endswith("\n")
        # mid-line with text after the cursor: the first line is the whole suggestion
        settled = run(engine, prefix="y = ", suffix=" + 1\n", max_tokens=100_000)
        assert settled["stats"]["stop_reason"] == "settled"
        assert settled["text"].startswith("ok_42 = compute(1)\n")
        assert not loop_server.slots_busy()[0] or _eventually_idle(loop_server)
    finally:
        engine.close()


def _eventually_idle(server: Server) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if server.slots_busy() == [False]:
            return True
        time.sleep(0.01)
    return False


def test_documents_keep_their_own_slot(tiny_server: Server) -> None:
    engine = connect(tiny_server.url)
    try:
        engine.wait_ready(TIMEOUT)
        a = {"prefix": "# a\n" * 50 + "def f():\n    ", "suffix": "\n", "doc": "file:///a"}
        b = {"prefix": "# b\n" * 50 + "def g():\n    ", "suffix": "\n", "doc": "file:///b"}
        run(engine, **a)
        run(engine, **b)
        again = run(engine, **a)  # a's slot still holds a's prompt: nearly all reused
        assert again["stats"]["reused_tokens"] == again["stats"]["prompt_tokens"] - 1
    finally:
        engine.close()


def test_prefill_warms_the_slot(tiny_server: Server) -> None:
    engine = connect(tiny_server.url)
    try:
        engine.wait_ready(TIMEOUT)
        req = {"prefix": "# c\n" * 60 + "def h():\n    ", "suffix": "\n", "doc": "file:///c"}
        warm = engine.submit("prefill", **req).future.result(TIMEOUT)
        assert warm["stats"]["stop_reason"] == "prefilled"
        done = run(engine, **req)
        assert done["text"] == DEFAULT_INFILL
        # only the cursor's line (and the marks after it) was evaluated
        assert done["stats"]["evaluated_tokens"] <= 12 < done["stats"]["prompt_tokens"]
    finally:
        engine.close()


def test_api_key_from_the_environment_only_and_never_logged(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    with Server(tiny_model, api_key=KEY, slots=1) as server:
        monkeypatch.delenv(API_KEY_ENV, raising=False)
        events = Events()
        engine = connect(server.url, events)
        with pytest.raises(EngineError, match=f"{server.url} answered 401: an API key is needed"):
            engine.wait_ready(TIMEOUT)
        assert engine.submit(prefix="a", suffix="").future.exception(0) is not None
        engine.close()
        monkeypatch.setenv(API_KEY_ENV, "wrong-key")
        engine = connect(server.url)
        with pytest.raises(EngineError, match="answered 401: an API key was refused"):
            engine.wait_ready(TIMEOUT)
        engine.close()
        monkeypatch.setenv(API_KEY_ENV, KEY)
        engine = connect(server.url, events)
        try:
            engine.wait_ready(TIMEOUT)
            assert run(engine, prefix="def f():\n    ", suffix="\n")["text"] == DEFAULT_INFILL
        finally:
            engine.close()
    said = [r.getMessage() for r in caplog.records] + [m for _, m in events.items]
    assert said and not [line for line in said if KEY in line or "wrong-key" in line]


def test_down_then_back_then_down(tiny_model: Path) -> None:
    """Requests fail at once while nothing answers; the probe reconnects by itself; an outage
    while serving is reported once."""
    port = free_port()
    events = Events()
    engine = connect(f"http://127.0.0.1:{port}", events)
    try:
        with pytest.raises(EngineError, match=f"cannot reach http://127.0.0.1:{port}"):
            engine.wait_ready(TIMEOUT)
        job = engine.submit(prefix="a", suffix="")
        assert job.done and isinstance(job.future.exception(), EngineError)
        server = Server(tiny_model, port=port, slots=1).start()
        try:
            events.wait("ready")
            assert engine.ready
            assert run(engine, prefix="def f():\n    ", suffix="\n")["text"] == DEFAULT_INFILL
        finally:
            server.stop()
        with pytest.raises(EngineError, match="cannot reach"):
            run(engine, prefix="def f():\n    ", suffix="\n")
        assert not engine.ready and engine.crashes == 1
        assert engine.submit(prefix="b", suffix="").done  # failed at once, no network wait
        assert engine.submit(prefix="c", suffix="").done
        assert events.kinds().count("crashed") == 1
        server = Server(tiny_model, port=port, slots=1).start()
        try:
            events.wait("ready", count=2)
            assert run(engine, prefix="def f():\n    ", suffix="\n")["text"] == DEFAULT_INFILL
        finally:
            server.stop()
    finally:
        engine.close()


def test_a_model_without_fim_tokens_is_one_warning(nofim_model: Path) -> None:
    with Server(nofim_model, slots=1, ctx=512) as server:
        events = Events()
        engine = connect(server.url, events)
        try:
            info = engine.wait_ready(TIMEOUT)
            assert info["fim_template"] is None
            warnings = [m for k, m in events.items if k == "warning"]
            assert len(warnings) == 1
            assert server.url in warnings[0] and "no fill-in-the-middle tokens" in warnings[0]
            # prefix-only prompts: the suffix is left out, no marks (one token per byte here)
            prompt = engine.prompt_for({"prefix": "ab", "suffix": "zzz"})
            assert len(prompt.tokens) == 2
            done = run(engine, prefix="ab", suffix="zzz", max_tokens=4)
            assert done["stats"]["prompt_tokens"] == 2
        finally:
            engine.close()


def test_errors_name_the_url_and_the_cause() -> None:
    url = "http://gpu:8080"

    def status(code: int, body: Any = None) -> str:
        content = b"" if body is None else __import__("json").dumps(body).encode()
        return str(api.status_error(url, httpx.Response(code, content=content)))

    assert status(500, {"error": {"message": "out of memory"}}) == (
        "http://gpu:8080 failed (500 Internal Server Error): out of memory"
    )
    assert status(503) == "http://gpu:8080 failed (503 Service Unavailable)"
    assert api.status_error(url, httpx.Response(400)).server_down is False
    assert api.status_error(url, httpx.Response(502)).server_down is True
    assert str(api.explain(url, httpx.RemoteProtocolError("x"))) == (
        "lost the connection to http://gpu:8080 (server stopped or restarted?)"
    )
    assert str(api.explain(url, httpx.ConnectError("x"))) == (
        "cannot reach http://gpu:8080: connection refused or no such host"
    )
    assert str(api.explain(url, httpx.ReadTimeout("x"))) == (
        "http://gpu:8080 did not answer in time (ReadTimeout)"
    )


def test_stats_from_both_dialects() -> None:
    native = {
        "content": "",
        "stop": True,
        "stop_type": "eos",
        "timings": {"cache_n": 10, "prompt_n": 5, "predicted_n": 3, "prompt_ms": 1.5},
    }
    text, final = api.parse_chunk(api.LLAMA_SERVER, native)
    assert text == "" and final is not None
    assert (final["prompt_tokens"], final["reused_tokens"], final["evaluated_tokens"]) == (
        15,
        10,
        5,
    )
    vllm_usage = {
        "choices": [],
        "usage": {
            "prompt_tokens": 40,
            "completion_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 32},
        },
    }
    _, final = api.parse_chunk(api.OPENAI, vllm_usage)
    assert final is not None
    assert (final["prompt_tokens"], final["reused_tokens"], final["evaluated_tokens"]) == (
        40,
        32,
        8,
    )
    assert final["generated_tokens"] == 7
    piece, final = api.parse_chunk(api.OPENAI, {"choices": [{"text": "ab"}]})
    assert (piece, final) == ("ab", None)


def test_cold_windows_are_capped_by_the_speed_the_server_showed() -> None:
    """Like the local engine: a document whose slot holds little of its prompt gets a window
    sized to the latency target, from the speed in the server's timings; the next request in
    that slot is not capped. Pure prompt logic: the tokenizer is one id per byte here."""
    import asyncio

    from lsp_server.engines.remote.prompt import RemotePrompts
    from lsp_server.prompt.fim import TEMPLATES_BY_NAME, bind

    marks = {m: 100_000 + i for i, m in enumerate(ALL_MARKER_TEXTS)}
    fim = bind(TEMPLATES_BY_NAME["seed-coder"], marks.get)

    async def bytes_as_ids(text: str) -> list[int]:
        return list(text.encode("utf-8"))

    prompts = RemotePrompts(fim, None, 4096)
    req = {"prefix": "x = 1\n" * 2000, "suffix": "\n", "latency_target_ms": 500}
    full = asyncio.run(prompts.build(req, 0, bytes_as_ids))
    assert not full.capped and len(full.tokens) > 3000  # speed unknown yet: never capped
    # 1,000 prompt tokens took 2,000 ms on this server: 0.5 tokens/ms
    prompts.learn({"evaluated_tokens": 1000, "prompt_ms": 2000.0, "generated_tokens": 10,
                   "generate_ms": 100.0})  # fmt: skip
    cold = asyncio.run(prompts.build(req, 0, bytes_as_ids))
    # the 512-token floor, as local, less what whole 16-line blocks and typing room leave
    assert cold.capped and 300 < len(cold.tokens) <= 512
    prompts.sending(0, full.tokens)  # the grow evaluated the full window in that slot
    assert not asyncio.run(prompts.build(req, 0, bytes_as_ids)).capped
    assert asyncio.run(prompts.build({**req, "uncapped": True}, 1, bytes_as_ids)).capped is False


def test_a_large_file_tokenizes_only_blocks_near_the_cursor(tiny_server: Server) -> None:
    """20,000 lines above and below the cursor: the server tokenizes about a window's worth
    of 16-line blocks, not the file (each block is a /tokenize request)."""
    engine = connect(tiny_server.url)
    try:
        engine.wait_ready(TIMEOUT)
        body = "".join(f"v{i} = {i}\n" for i in range(20_000))
        req = {"prefix": body + "def f():\n    ", "suffix": "\n" + body, "doc": "file:///big"}
        assert run(engine, **req)["text"] == DEFAULT_INFILL
        assert engine.prompts is not None
        # a 512-token context at one token per byte holds about 4 blocks; fetched: a few more
        assert len(engine.prompts.blocks) < 40
    finally:
        engine.close()


def test_key_and_url_hygiene(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key file's line ending is not part of the key; a key HTTP cannot carry is refused
    without being shown; an OpenAI-style base URL ending in /v1 works as the server's root."""
    monkeypatch.setenv(API_KEY_ENV, "sk-abc123\n")
    assert api.headers() == {"Authorization": "Bearer sk-abc123"}
    monkeypatch.setenv(API_KEY_ENV, "sk-a\tbc-ü")
    with pytest.raises(api.RemoteError) as err:
        api.headers()
    assert "sk-a" not in str(err.value) and API_KEY_ENV in str(err.value)
    monkeypatch.setenv(API_KEY_ENV, "sk-quoted")
    quoted = api.explain("http://h", httpx.LocalProtocolError("bad header b'Bearer sk-quoted'"))
    assert "sk-quoted" not in str(quoted) and "***" in str(quoted)
    assert api.base_url(" http://h:8000/v1/ ") == "http://h:8000"
    assert api.base_url("https://h/") == "https://h"


def test_a_key_that_cannot_be_sent_is_a_load_error_not_a_hang(
    tiny_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(API_KEY_ENV, "bad key")
    engine = connect(tiny_server.url)
    try:
        with pytest.raises(EngineError, match="holds spaces, control or non-ASCII characters"):
            engine.wait_ready(TIMEOUT)
    finally:
        engine.close()


def test_another_engines_cancel_leaves_a_job_alone(loop_server: Server) -> None:
    """After a settings change replaces the engine, the scheduler may cancel old jobs through
    the new engine: job numbers overlap between engines, so a cancel checks the owner."""
    first, second = connect(loop_server.url), connect(loop_server.url)
    try:
        first.wait_ready(TIMEOUT)
        second.wait_ready(TIMEOUT)
        own = second.submit(prefix="y", suffix="", max_tokens=40, max_time_ms=600_000)
        job = first.submit(prefix="x", suffix="", max_tokens=40, max_time_ms=600_000)
        assert job.seq == own.seq  # each engine numbers its own jobs
        second.cancel(job)  # must touch neither its own job #1 nor the other engine's
        for result in (job.future.result(TIMEOUT), own.future.result(TIMEOUT)):
            assert not result["cancelled"] and result["stats"]["stop_reason"] == "max_tokens"
    finally:
        first.close()
        second.close()


def test_closing_while_connections_open_abandons_no_coroutine(tiny_server: Server) -> None:
    """close() cancels only the engine's own tasks: cancelling anyio's connection attempts
    directly (started, not yet run) printed "coroutine 'connect_tcp.<locals>.try_connect' was
    never awaited" at the end of remote sessions. Checked in a fresh interpreter with warnings
    on, closing at several moments of the connections' setup."""
    import subprocess
    import sys

    script = f"""
import gc, time, warnings
warnings.simplefilter("always")
from lsp_server.engines.remote.client import RemoteConfig, RemoteEngine
for host in ("127.0.0.1", "localhost"):
    for delay in (0, 0.0005, 0.001, 0.002, 0.005, 0.01):
        engine = RemoteEngine(RemoteConfig({tiny_server.url!r}.replace("127.0.0.1", host)))
        engine.wait_ready(30)
        for k in range(6):
            engine.submit(prefix="def f():\\n    ", suffix="\\n", max_tokens=20, doc=f"d{{k}}")
        time.sleep(delay)
        engine.close()
        gc.collect()
print("closed", flush=True)
"""
    ran = subprocess.run(
        [sys.executable, "-X", "dev", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert ran.returncode == 0 and "closed" in ran.stdout, ran.stderr[-3000:]
    assert "never awaited" not in ran.stderr, ran.stderr[-3000:]
