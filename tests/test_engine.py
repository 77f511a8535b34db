"""The Engine with a real worker subprocess on tiny models: stats, KV reuse, cancel, crashes."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lsp_server.engines import EngineCrashed, EngineError, Job
from lsp_server.engines.local.runner import WorkerConfig
from lsp_server.engines.local.supervisor import LocalEngine as Engine
from lsp_server.model_files.model_check import ModelError
from lsp_server.model_files.model_setup import locate_model
from lsp_server.settings import Settings
from tests.tiny_model import DEFAULT_INFILL, split_infill

TIMEOUT = 20.0
CHUNKS = split_infill(DEFAULT_INFILL)
LOOP_TEXT = DEFAULT_INFILL * 50  # what the loop model writes, far enough ahead


def test_infill_chunks() -> None:
    assert CHUNKS == ["ok_42", " =", " compute", "(1", ")\n", "    return", " ok_42"]
    assert "".join(CHUNKS) == DEFAULT_INFILL


EngineFactory = Callable[..., Engine]


@pytest.fixture
def make_engine() -> Iterator[EngineFactory]:
    """Engines started for one test and closed after it."""
    engines: list[Engine] = []

    def build(model: Path | str, on_event: Any = None, **config: Any) -> Engine:
        config.setdefault("n_ctx", 512)
        config.setdefault("gpu_layers", 0)
        engine = Engine(WorkerConfig(model_path=str(model), **config), on_event=on_event)
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        engine.close()


@pytest.fixture(scope="module")
def loop_engine(loop_model: Path) -> Iterator[Engine]:
    """One worker on the looping model, shared by the tests that do not care about its cache."""
    engine = Engine(WorkerConfig(model_path=str(loop_model), n_ctx=4096, gpu_layers=0))
    engine.wait_ready(TIMEOUT)
    yield engine
    engine.close()


def run(engine: Engine, **payload: Any) -> dict[str, Any]:
    payload.setdefault("max_tokens", 64)
    return engine.submit(**payload).future.result(TIMEOUT)


def wait_partial(job: Job) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not job.partial:
        assert time.monotonic() < deadline, "no streamed text"
        time.sleep(0.0005)


def test_completion_then_keystroke_reuses_cache(
    make_engine: EngineFactory, tiny_model: Path
) -> None:
    engine = make_engine(tiny_model)
    info = engine.wait_ready(TIMEOUT)
    assert info["fim_template"] == "seed-coder" and info["backend"] == "CPU"
    assert info["fim_ids"] == [3, 4, 5] and info["n_ctx"] == 512

    prefix, suffix = "def f():\n    ", "\n"
    cold = run(engine, prefix=prefix, suffix=suffix)
    assert cold["text"] == DEFAULT_INFILL
    assert cold["cancelled"] is False
    stats = cold["stats"]
    # <[fim-suffix]> "\n" <[fim-prefix]> 13 prefix bytes <[fim-middle]>
    assert stats["prompt_tokens"] == 1 + 1 + 1 + len(prefix.encode()) + 1 == 17
    assert stats["reused_tokens"] == 0
    assert stats["evaluated_tokens"] == stats["prompt_tokens"]
    assert stats["generated_tokens"] == len(CHUNKS) == 7
    # one prompt chunk, then one decode per generated token (EOS is sampled, never decoded)
    assert stats["decode_steps"] == 1 + 7
    assert stats["stop_reason"] == "eos"
    assert cold["steps_total"] == 8 == engine.decode_steps

    # Type one character: everything up to the old <[fim-middle]> position is still cached.
    warm = run(engine, prefix=prefix + "r", suffix=suffix)
    assert warm["text"] == DEFAULT_INFILL
    w = warm["stats"]
    assert w["prompt_tokens"] == 18
    assert w["reused_tokens"] == stats["prompt_tokens"] - 1 == 16
    assert w["evaluated_tokens"] == 2  # the new byte and <[fim-middle]>
    assert w["decode_steps"] == 8
    print(
        f"\ncold: {stats['prompt_tokens']} tok, evaluated {stats['evaluated_tokens']}, "
        f"prompt {stats['prompt_ms']:.2f} ms, total {stats['total_ms']:.2f} ms; "
        f"warm: reused {w['reused_tokens']}, evaluated {w['evaluated_tokens']}, "
        f"prompt {w['prompt_ms']:.2f} ms, total {w['total_ms']:.2f} ms"
    )

    # The same request again: all but the last prompt token come from the cache.
    again = run(engine, prefix=prefix + "r", suffix=suffix)["stats"]
    assert (again["reused_tokens"], again["evaluated_tokens"]) == (17, 1)

    # A long prompt is evaluated in llama.cpp's full batches (512 tokens): one decode here.
    long_prefix = "x = 1\n" * 30  # 180 bytes
    big = run(engine, prefix=long_prefix, suffix="")["stats"]
    assert big["prompt_tokens"] == 183
    assert (big["reused_tokens"], big["evaluated_tokens"]) == (1, 182)
    assert big["decode_steps"] == 1 + 7


def test_cancel_stops_within_one_step(loop_engine: Engine) -> None:
    wasted = []
    for _ in range(5):
        job = loop_engine.submit(
            prefix="def f():\n    ", suffix="\n", max_tokens=100_000, max_time_ms=600_000
        )
        wait_partial(job)
        loop_engine.cancel(job)
        result = job.future.result(TIMEOUT)
        assert result["cancelled"] is True
        assert result["stats"]["stop_reason"] == "cancelled"
        assert result["stats"]["generated_tokens"] < 3000  # stopped long before the context
        assert LOOP_TEXT.startswith(job.partial)
        wasted.append(loop_engine.wasted_steps(job, result))
    print(f"\nwasted decode steps after cancel: {wasted}")
    assert max(wasted) <= 1


def test_cancel_is_precise(loop_engine: Engine) -> None:
    """Cancelling a queued job stops only that job: an older one (a prefill) keeps its work."""
    first = loop_engine.submit(prefix="a", suffix="", max_tokens=100_000, max_time_ms=600_000)
    second = loop_engine.submit(prefix="b", suffix="", max_tokens=100_000, max_time_ms=600_000)
    wait_partial(first)
    loop_engine.cancel(second)
    steps = loop_engine.decode_steps
    deadline = time.monotonic() + TIMEOUT
    while loop_engine.decode_steps < steps + 5 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not first.done and loop_engine.decode_steps >= steps + 5  # still generating
    loop_engine.cancel(first)
    r1, r2 = first.future.result(TIMEOUT), second.future.result(TIMEOUT)
    assert r1["cancelled"] is True and r2["cancelled"] is True
    assert r2["text"] == "" and r2["stats"]["decode_steps"] == 0  # never started decoding
    # The steps the first job ran while the second waited behind it are not the second's waste.
    assert loop_engine.wasted_steps(second, r2) == 0
    assert loop_engine.wasted_steps(first, r1) <= 1
    after = run(loop_engine, prefix="c", suffix="", max_tokens=2)
    assert after["cancelled"] is False and after["text"] == "ok_42 ="


def test_time_budget_stops_at_newline(loop_engine: Engine) -> None:
    # Deadline already spent: generation goes on to the end of the current line, then stops.
    r = run(loop_engine, prefix="def f():\n    ", suffix="\n", max_tokens=1000, max_time_ms=0)
    assert r["stats"]["stop_reason"] == "time"
    assert r["text"] == "ok_42 = compute(1)"
    assert r["stats"]["generated_tokens"] == 5  # up to and including the ")\n" chunk
    # A 1 ms budget: stops at some line end, never mid-line, long before max_tokens.
    r = run(loop_engine, prefix="def f():\n    ", suffix="\n", max_tokens=1000, max_time_ms=1)
    assert r["stats"]["stop_reason"] == "time"
    assert LOOP_TEXT.startswith(r["text"] + "\n")
    assert r["text"].endswith("compute(1)")
    assert r["stats"]["generated_tokens"] < 1000


def test_native_crash_restarts_with_safer_config(
    make_engine: EngineFactory, loop_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[tuple[str, str]] = []
    engine = make_engine(loop_model, on_event=lambda kind, msg: events.append((kind, msg)))
    engine.wait_ready(TIMEOUT)
    assert engine.config.safe_cpu is False
    job = engine.submit(prefix="x", suffix="", max_tokens=100_000, max_time_ms=600_000)
    wait_partial(job)
    old_pid = engine.pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGSEGV)
    with pytest.raises(EngineCrashed, match="SIGSEGV"):
        job.future.result(TIMEOUT)
    assert [kind for kind, _ in events] == ["ready", "crashed"]
    assert "SIGSEGV" in events[1][1]
    # reported once: the listener tells the user (and logs); the engine does not log it too
    assert not [r for r in caplog.records if "SIGSEGV" in r.getMessage()]
    assert engine.crashes == 1
    assert engine.config.safe_cpu is True
    assert engine.config.gpu_layers == 0  # as configured: only a second crash forces the CPU

    result = run(engine, prefix="x", suffix="", max_tokens=7)
    assert result["text"] == DEFAULT_INFILL
    assert engine.pid is not None and engine.pid != old_pid
    assert engine.starts == 2
    assert engine.info["safe_cpu"] is True
    assert [kind for kind, _ in events] == ["ready", "crashed", "ready"]


def test_jobs_of_a_dead_worker_end_even_when_a_keystroke_restarts_it_first(
    make_engine: EngineFactory, loop_model: Path
) -> None:
    """The worker dies and the next submit starts a new one before the old reader thread has
    noticed: the dead worker's job still ends (no request hangs), the new one is served."""
    engine = make_engine(loop_model)
    engine.wait_ready(TIMEOUT)
    job = engine.submit(prefix="x", suffix="", max_tokens=100_000, max_time_ms=600_000)
    wait_partial(job)
    proc = engine._worker.proc
    with engine._lock:  # the reader thread cannot look before the keystroke gets in
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(TIMEOUT)
        fresh = engine.submit(prefix="x", suffix="", max_tokens=7)  # starts a new worker
    with pytest.raises(EngineError):
        job.future.result(TIMEOUT)
    # The keystroke's own job either ran on the new worker or, when the dead process still
    # looked alive to it (two threads waiting on one child), ended with the crash: never hangs.
    with contextlib.suppress(EngineError):
        assert fresh.future.result(TIMEOUT)["text"] == DEFAULT_INFILL
    assert run(engine, prefix="x", suffix="", max_tokens=7)["text"] == DEFAULT_INFILL


@pytest.mark.parametrize("kind", ["missing", "not_gguf"])
def test_load_errors(make_engine: EngineFactory, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "model.gguf"
    if kind == "not_gguf":
        path.write_text("this is not a model\n" * 100)
    events: list[tuple[str, str]] = []
    engine = make_engine(path, on_event=lambda k, m: events.append((k, m)))
    expected = "Model path does not exist" if kind == "missing" else "Failed to load model"
    with pytest.raises(EngineError, match=expected):
        engine.wait_ready(TIMEOUT)
    assert not engine.ready
    # the CLI and the server check the file first and get a one-line reason
    reason = "not found" if kind == "missing" else "is not a GGUF file"
    with pytest.raises(ModelError, match=reason):
        locate_model(Settings(model=str(path)))
    # a load error is reported once, not also as a crash (the worker exits normally after it)
    time.sleep(0.3)
    assert [k for k, _ in events] == ["load_error"]
    assert engine.crashes == 0


def test_bad_requests_are_answered_and_the_engine_keeps_serving(
    make_engine: EngineFactory, tiny_model: Path
) -> None:
    engine = make_engine(tiny_model)
    engine.wait_ready(TIMEOUT)
    with pytest.raises(EngineError, match=re.escape("unknown op 'nonsense'")):
        engine.submit("nonsense").future.result(TIMEOUT)
    job = engine.submit(prefix="a", suffix="", max_tokens="lots")
    with pytest.raises(EngineError, match="invalid literal for int"):
        job.future.result(TIMEOUT)
    assert engine.alive and engine.crashes == 0
    ok = run(engine, prefix="def f():\n    ", suffix="\n")
    assert ok["text"] == DEFAULT_INFILL
    # a document far larger than the context is windowed, never refused
    big = run(engine, prefix="y = 2\n" * 2000, suffix="z\n" * 2000, max_tokens=16)
    # "z" follows the cursor: a one-line suggestion, so generation stops at the line's end
    assert big["text"] == "ok_42 = compute(1)\n"
    assert big["stats"]["stop_reason"] == "settled"
    assert big["stats"]["prompt_tokens"] <= 512 - 16


def test_reconfigure_never_waits_for_the_old_worker(
    make_engine: EngineFactory, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event loop calls reconfigure on a model reload: the old worker is ended on a
    thread of its own, and the next request runs on the new one."""
    import threading

    engine = make_engine(tiny_model)
    engine.wait_ready(TIMEOUT)
    old = engine._worker.proc
    caller = threading.get_ident()
    joined_on: list[int] = []
    real_join = old.join
    monkeypatch.setattr(
        old, "join", lambda t=None: (joined_on.append(threading.get_ident()), real_join(t))
    )
    engine.reconfigure(engine.config)
    assert run(engine, prefix="x", suffix="", max_tokens=7)["text"] == DEFAULT_INFILL
    deadline = time.monotonic() + TIMEOUT
    while old.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not old.is_alive() and joined_on and caller not in joined_on


def test_a_restart_never_starts_the_process_on_the_callers_thread(
    make_engine: EngineFactory, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keystroke after a crash submits at once; the new process starts on a thread of its
    own, and the request waits in the new worker's outbox meanwhile."""
    import threading

    engine = make_engine(tiny_model)
    engine.wait_ready(TIMEOUT)
    from multiprocessing import popen_spawn_posix

    started_on: list[int] = []
    real_init = popen_spawn_posix.Popen.__init__

    def init(self: Any, process_obj: Any) -> None:  # runs on the thread that starts it
        started_on.append(threading.get_ident())
        real_init(self, process_obj)

    monkeypatch.setattr(popen_spawn_posix.Popen, "__init__", init)
    old = engine._worker.proc
    os.kill(old.pid, signal.SIGKILL)
    old.join(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while engine._worker is not None and time.monotonic() < deadline:
        time.sleep(0.01)  # the reader noticed the death
    caller = threading.get_ident()
    job = engine.submit(prefix="x", suffix="", max_tokens=7)
    assert job.future.result(TIMEOUT)["text"] == DEFAULT_INFILL
    assert started_on and caller not in started_on
