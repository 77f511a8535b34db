"""The shared engine's parts: whose request runs next (pure), the socket's folder, key and
framing, and the engine itself with two clients in this process (real host, real llama.cpp)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from lsp_server.engines import EngineError
from lsp_server.engines.local.runner import WorkerConfig
from lsp_server.engines.shared import SharedEngine
from lsp_server.engines.shared.fairness import Item, Pending
from lsp_server.engines.shared.wire import Channel, engine_key, runtime_dir
from lsp_server.keystroke.completion import payload
from lsp_server.settings import DEFAULTS
from tests.tiny_model import DEFAULT_INFILL


def item(seq: int, background: bool = False) -> Item:
    return Item(seq, "complete", {"background": True} if background else {})


def order(pending: Pending) -> list[tuple[int, int]]:
    out = []
    while (picked := pending.pop()) is not None:
        out.append((picked[0], picked[1].seq))
    return out


def test_the_most_recent_keystroke_runs_first_each_client_in_order() -> None:
    pending = Pending()
    pending.add(1, item(10))
    pending.add(2, item(20))
    pending.add(1, item(11))  # client 1 typed last: its queue goes first, in its order
    pending.add(3, item(30))  # ...until client 3 types
    # Then turns: client 2 waited while client 1 ran, so it goes before 1's second request.
    assert order(pending) == [(3, 30), (1, 10), (2, 20), (1, 11)]


def test_windows_typing_at_once_take_turns() -> None:
    """Window 3 always types last; without turns it would run every time."""
    pending = Pending()
    ran = []
    for _ in range(3):
        for client in (1, 2, 3):
            queue = pending.queues.get(client)
            if queue:  # a new key supersedes the window's waiting request (client cancel)
                pending.remove(client, queue[0].seq)
            pending.add(client, item(client))
        picked = pending.pop()
        assert picked is not None
        ran.append(picked[0])
    assert ran == [3, 2, 1]  # the most recent keystroke, then turns: never 3, 3, 3
    assert order(pending) == [(3, 3), (2, 2)]


def test_background_work_waits_for_every_keystroke() -> None:
    pending = Pending()
    pending.add(1, item(10, background=True))
    pending.add(2, item(20, background=True))
    pending.add(3, item(30))
    assert order(pending) == [(3, 30), (1, 10), (2, 20)]  # then the oldest background first


def test_cancelled_and_departed_requests_leave_the_queue() -> None:
    pending = Pending()
    pending.add(1, item(10))
    pending.add(1, item(11))
    pending.add(2, item(20))
    assert pending.remove(1, 11) is not None and pending.remove(1, 11) is None
    assert [i.seq for i in pending.drop(2)] == [20]
    assert order(pending) == [(1, 10)]


@pytest.fixture
def run_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="sc-"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(base))
    monkeypatch.setenv("SEED_CODER_LSP_ENGINE_GRACE", "1")
    yield base / "seed-coder-lsp"
    shutil.rmtree(base, ignore_errors=True)


def test_a_folder_others_can_enter_is_refused(run_dir: Path) -> None:
    assert runtime_dir() == run_dir and (run_dir.stat().st_mode & 0o777) == 0o700
    run_dir.chmod(0o755)
    with pytest.raises(EngineError, match="not a folder only this user can enter"):
        runtime_dir()


def test_one_engine_per_model_file_and_engine_settings(tiny_model: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.gguf"
    shutil.copy(tiny_model, copy)
    config = WorkerConfig(model_path=str(copy))
    key = engine_key(config)
    assert engine_key(replace(config, log_level="debug")) == key  # logging changes nothing
    assert engine_key(replace(config, n_ctx=2048)) != key
    assert engine_key(replace(config, threads=1)) != key
    os.utime(copy, ns=(time.time_ns(), time.time_ns() + 10**9))  # the file was replaced
    assert engine_key(config) != key
    with pytest.raises(EngineError, match="model file"):
        engine_key(WorkerConfig(model_path=str(tmp_path / "missing.gguf")))


def test_messages_are_framed_json_and_bounded() -> None:
    a, b = socket.socketpair(socket.AF_UNIX)
    left, right = Channel(a), Channel(b)
    left.send({"type": "submit", "payload": {"prefix": "é\u2028\U0001f600", "hint": [1, 2]}})
    assert right.recv() == {
        "type": "submit",
        "payload": {"prefix": "é\u2028\U0001f600", "hint": [1, 2]},
    }
    a.sendall(struct.pack("!I", 1 << 30))
    with pytest.raises(ValueError, match="bytes"):
        right.recv()
    left.close()
    with pytest.raises(EOFError):
        right.recv()
    right.close()


def request(**extra: object) -> dict[str, object]:
    return {**payload("def f(x):\n    return x", "\n\nprint(f(2))\n", DEFAULTS), **extra}


def test_two_clients_one_engine_exact_infills(tiny_model: Path, run_dir: Path) -> None:
    config = WorkerConfig(model_path=str(tiny_model))
    first, second = SharedEngine(config), SharedEngine(config)
    try:
        first.wait_ready(30)
        second.wait_ready(30)
        assert first.engine_pid == second.engine_pid and first.pid == second.pid
        assert (first.session, second.session) == (0, 1)
        for engine in (first, second):
            result = engine.submit(**request()).future.result(10)
            assert result["text"] == DEFAULT_INFILL and not result["cancelled"]
            assert engine.decode_steps == result["steps"] > 0
    finally:
        first.close()
        second.close()


def test_a_keystroke_preempts_another_clients_background_work(
    loop_model: Path, run_dir: Path
) -> None:
    """The loop model never stops: client A's background generation runs until client B's
    keystroke arrives, then stops inside its decode; B's request runs next."""
    config = WorkerConfig(model_path=str(loop_model))
    a, b = SharedEngine(config), SharedEngine(config)
    try:
        a.wait_ready(30)
        b.wait_ready(30)
        long = {"max_tokens": 2000, "max_time_ms": 60_000}
        background = a.submit(**request(background=True, **long))
        deadline = time.monotonic() + 10
        while not background.partial and time.monotonic() < deadline:
            time.sleep(0.01)
        assert background.partial  # it is generating
        queued = a.submit(**request(**long))
        a.cancel(queued)  # cancelled while queued behind it: never runs
        keystroke = b.submit(**request(max_tokens=8))
        result = background.future.result(10)
        assert result["cancelled"] and result["stats"]["stop_reason"] == "cancelled"
        assert result["background"] is True
        assert len(keystroke.future.result(10)["text"]) > 0
        unrun = queued.future.result(10)
        assert unrun["cancelled"] and unrun["steps"] == 0
    finally:
        a.close()
        b.close()


def test_a_model_that_does_not_load_fails_every_client(tmp_path: Path, run_dir: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file" * 100)
    config = WorkerConfig(model_path=str(bad))
    first, second = SharedEngine(config), SharedEngine(config)
    try:
        for engine in (first, second):
            with pytest.raises(EngineError):
                engine.wait_ready(30)
            assert engine.load_error and not engine.ready and not engine.restartable
    finally:
        first.close()
        second.close()


def test_a_session_is_a_new_context_over_the_same_weights(tiny_model: Path) -> None:
    """Each client's context shares the loaded model (not a second load) and its own cache."""
    from lsp_server.engines.local.runner import Runner
    from lsp_server.engines.local.sessions import Sessions

    never = lambda: False  # noqa: E731
    req = {"prefix": "def f(x):\n    return x", "suffix": "\n\nprint(f(2))\n", "max_tokens": 16}
    sessions = Sessions(Runner(WorkerConfig(model_path=str(tiny_model), n_ctx=512)))
    first, second = sessions.get(0), sessions.get(1)
    assert second.llm._model is first.llm._model and second.llm._ctx is not first.llm._ctx
    for runner in (first, second):
        out = runner.generate(req, never, lambda: None, lambda t: None)
        assert out.text == DEFAULT_INFILL and out.stats.reused_tokens == 0
    # A keystroke in each: its own cache holds its prompt (a shared one would not).
    typed = {**req, "prefix": req["prefix"] + " "}
    for runner in (first, second):
        assert (
            runner.generate(typed, never, lambda: None, lambda t: None).stats.evaluated_tokens == 2
        )
    sessions.drop(1)  # freed
    sessions.drop(0)  # emptied: the next client of context 0 starts cold
    assert list(sessions.runners) == [0]
    out = sessions.get(0).generate(typed, never, lambda: None, lambda t: None)
    assert out.stats.reused_tokens == 0
    sessions.get(0).llm.close()


def test_a_window_attaching_after_a_crash_gets_a_loaded_engine(
    tiny_model: Path, run_dir: Path
) -> None:
    config = WorkerConfig(model_path=str(tiny_model))
    first = SharedEngine(config)
    try:
        first.wait_ready(30)
        worker = first.pid
        assert worker is not None
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while first.crashes == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert first.restartable and not first.ready
        second = SharedEngine(config)  # the engine starts the worker again for it
        try:
            second.wait_ready(30)
            assert second.ready and second.pid not in (None, worker)
            assert second.submit(**request()).future.result(10)["text"] == DEFAULT_INFILL
        finally:
            second.close()
        assert first.submit(**request()).future.result(10)["text"] == DEFAULT_INFILL
    finally:
        first.close()


def test_a_request_too_large_fails_alone_and_reserved_keys_are_ignored(
    tiny_model: Path, run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lsp_server.engines.shared import wire

    monkeypatch.setattr(wire, "MAX_MESSAGE", 50_000)
    engine = SharedEngine(WorkerConfig(model_path=str(tiny_model)))
    try:
        engine.wait_ready(30)
        big = engine.submit(**request(prefix="x = 1\n" * 20_000))
        with pytest.raises(EngineError, match="more than the engine takes"):
            big.future.result(10)
        # The engine's own fields in a payload change nothing (a worker request of its own).
        odd = engine.submit(**request(seq=5, session=3))
        assert odd.future.result(10)["text"] == DEFAULT_INFILL
        assert engine.crashes == 0 and engine.ready
    finally:
        engine.close()
