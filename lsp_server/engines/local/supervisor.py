"""The local engine: a supervised llama.cpp worker process, one generation at a time,
restarted after crashes.

Requests go out through a sender thread and answers come back through a reader thread, so no
caller ever blocks on the pipe. Cancellation is a shared counter: cancelling sequence number N
stops N and everything older between two decode steps, without a message round trip.
"""

from __future__ import annotations

import itertools
import multiprocessing
import queue
import signal
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from lsp_server.engines import EngineCrashed, EngineError, EventSink, Job, Waits, log_event
from lsp_server.engines.local.runner import WorkerConfig
from lsp_server.engines.local.worker import CancelBoard, worker_main

NATIVE_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT}


@dataclass(eq=False)
class _Worker:
    """One worker's life: process, pipe, outbox (its sender thread's queue) and start number.
    Replaced as a whole, under the engine's lock: nothing of a dead worker leaks to the next."""

    proc: Any
    conn: Any
    outbox: queue.Queue[Any]
    gen: int
    launched: threading.Event = field(default_factory=threading.Event)  # start() returned
    started: bool = False  # the process really runs (launching can fail)

    def alive(self) -> bool:
        """Running, or still being launched (counts as alive: no second launch meanwhile)."""
        return not self.launched.is_set() or (self.started and self.proc.is_alive())


class LocalEngine(Waits):
    """Parent side of the worker process."""

    kind = "local"

    def __init__(self, config: WorkerConfig, on_event: EventSink | None = None) -> None:
        self.config = config
        # The listener reports events (the server: a message and the log); never both here.
        self.on_event = on_event or log_event
        self._ctx = multiprocessing.get_context("spawn")
        self._seq = itertools.count(1)
        self._lock = threading.RLock()
        self._jobs: dict[int, Job] = {}
        self._worker: _Worker | None = None
        self._board = CancelBoard(self._ctx)
        self._steps = self._ctx.Value("q", 0, lock=False)
        self._ready = threading.Event()
        self.info: dict[str, Any] = {}
        self.load_error: str | None = None
        self.crashes = 0
        self.starts = 0
        self.evaluated_tokens = 0  # prompt tokens decoded by every job so far (prefills too)
        self.cpu_ms = {"foreground": 0.0, "background": 0.0}  # the worker's CPU time, by kind
        self._closed = False
        self._retired: set[int] = set()  # workers ended on purpose (reload), by start number

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Spawn the worker on a thread (the caller, often the event loop, never waits for a
        process start); it loads the model and then answers requests. Requests submitted
        meanwhile wait in the new worker's outbox."""
        with self._lock:
            if self._closed:
                raise EngineError("engine is shut down")
            if self._worker is not None and self._worker.alive():
                return
            self._ready.clear()
            self.load_error = None
            parent, child = self._ctx.Pipe()
            proc = self._ctx.Process(
                target=worker_main,
                args=(child, self._board, self._steps, self.config),
                daemon=True,
                name="seed-coder-engine",
            )
            self.starts += 1
            worker = _Worker(proc, parent, queue.Queue(), self.starts)
            self._worker = worker
            threading.Thread(target=self._launch, args=(worker, child), daemon=True).start()

    def _launch(self, worker: _Worker, child: Any) -> None:
        """Start the process, then its reader and sender threads; a failed start is a load
        error with the reason."""
        try:
            worker.proc.start()
            worker.started = True
        except Exception as exc:  # noqa: BLE001 - out of processes, memory, a bad interpreter
            message = f"could not start the llama.cpp engine process: {exc}"
            with self._lock:
                if self._worker is worker:
                    self._worker = None
                    self.load_error = message
                    self._ready.set()
            self._fail_all(EngineError(message), worker=worker.gen)
            return
        finally:
            child.close()
            worker.launched.set()
        threading.Thread(target=self._reader, args=(worker,), daemon=True).start()
        threading.Thread(target=self._sender, args=(worker,), daemon=True).start()

    @property
    def ready(self) -> bool:
        """Loaded and able to answer."""
        return self._ready.is_set() and self.load_error is None and self.alive

    @property
    def restartable(self) -> bool:
        """The worker died after loading fine once: the next submit starts a new one."""
        return self._worker is None and not self._closed and self.starts > 0 and not self.load_error

    @property
    def alive(self) -> bool:
        worker = self._worker
        return worker is not None and worker.started and worker.proc.is_alive()

    @property
    def pid(self) -> int | None:
        worker = self._worker
        return worker.proc.pid if worker is not None else None

    @property
    def decode_steps(self) -> int:
        """Decode steps the worker has run since this engine was created."""
        return int(self._steps.value)

    def close(self, timeout: float = 1.0) -> None:
        """Stop the worker: ask, then terminate, then kill; fail whatever is pending."""
        with self._lock:
            self._closed = True
            worker = self._worker
            if not self._ready.is_set():  # release anyone waiting for a load that won't finish
                self.load_error = self.load_error or "engine shut down"
                self._ready.set()
            self._board.cancel_through(2**62)
        if worker is None:
            return
        worker.outbox.put({"op": "shutdown"})
        worker.outbox.put(None)
        worker.launched.wait(timeout)
        if not worker.started:
            self._fail_all(EngineError("engine shut down"))
            return
        proc = worker.proc
        proc.join(timeout / 2)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout / 4)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout / 4)
        worker.conn.close()
        self._fail_all(EngineError("engine shut down"))

    # -- requests ----------------------------------------------------------------------------
    def submit(self, op: str = "complete", **payload: Any) -> Job:
        """Queue a request; the returned job's future resolves with the worker's answer."""
        with self._lock:
            if self._worker is None or not self._worker.alive():
                self.start()
            worker = self._worker
            assert worker is not None
            job = Job(seq=next(self._seq), worker=worker.gen, owner=id(self))
            self._jobs[job.seq] = job
            worker.outbox.put({"op": op, "seq": job.seq, **payload})
        return job

    def drop_session(self, session: int) -> None:
        """A shared engine's client left: free its context in the worker (if one runs)."""
        with self._lock:
            if self._worker is not None and self._worker.alive():
                self._worker.outbox.put({"op": "drop_session", "session": session})

    def cancel(self, job: Job, soft: bool = False) -> None:
        """Stop this job (only this one) inside the decode in progress; soft: after it (the
        batch being evaluated completes and stays cached; next edits)."""
        if job.owner != id(self):
            return  # a job of the engine this one replaced (its sequence numbers differ)
        with self._lock:
            self._board.cancel(job.seq, soft)
            # Read the counter after the cancel is visible, so only steps it failed to stop count.
            if job.steps_at_cancel is None:
                job.steps_at_cancel = self.decode_steps

    def wasted_steps(self, job: Job, result: dict[str, Any]) -> int:
        """Decode steps this job ran after it was cancelled."""
        if job.steps_at_cancel is None:
            return 0
        # Steps of other jobs (one queued ahead of it) are not this job's waste.
        since = max(job.steps_at_cancel, int(result.get("steps_start", 0)))
        return max(0, int(result.get("steps_total", since)) - since)

    def reconfigure(self, config: WorkerConfig) -> None:
        """New model or load settings: the next request starts a fresh worker with them."""
        with self._lock:
            old = self._worker
            self.config = config
            self.crashes = 0
        if old is not None:
            self._retire(old)

    def _retire(self, worker: _Worker) -> None:
        """End a worker we no longer want, without reporting it as a crash."""
        with self._lock:
            self._retired.add(worker.gen)
            self._board.cancel_through(next(self._seq))  # everything submitted so far
            worker.outbox.put(None)
            if self._worker is worker:
                self._worker = None
            self._ready.clear()
        self._fail_all(EngineError("model reloading"))
        # Waiting for it to go can take a second: never on the caller's (the event loop's) time.
        threading.Thread(target=_end, args=(worker,), daemon=True, name="retire").start()

    # -- threads -----------------------------------------------------------------------------
    def _sender(self, worker: _Worker) -> None:
        """Write requests to the pipe in order; a None ends the thread."""
        while True:
            msg = worker.outbox.get()
            if msg is None:
                return
            try:
                worker.conn.send(msg)
            except (OSError, ValueError, BrokenPipeError):
                return

    def _reader(self, worker: _Worker) -> None:
        """Dispatch the worker's messages; on EOF, report how the worker died (once)."""
        while True:
            try:
                msg = worker.conn.recv()
            except (EOFError, OSError, ValueError):
                break
            self._dispatch(msg, worker)
        worker.proc.join(2.0)
        worker.outbox.put(None)  # this worker's sender only: a newer worker may run already
        event = self._death(worker)
        if event is not None:
            self.on_event(*event)

    def _death(self, worker: _Worker) -> tuple[str, str] | None:
        """Settle a dead worker's state under the lock; the event to report, if any."""
        with self._lock:
            current = self._worker is worker
            if current:
                self._worker = None
            if worker.gen in self._retired or self._closed:
                error: EngineError = EngineError("the llama.cpp engine was restarted")
                event = None
            elif current and not self._ready.is_set():
                code = worker.proc.exitcode
                self.load_error = self.load_error or _death_message(code, loading=True)
                self._ready.set()
                if code is not None and code < 0 and -code in NATIVE_SIGNALS:
                    self.crashes += 1
                    self.config = _safer(self.config, self.crashes)
                # A loader waiting for this start reports it; a restart after a crash has none,
                # so the listener hears it (the server shows it unless it is loading).
                error, event = EngineError(self.load_error), ("load_error", self.load_error)
            elif current and self.load_error:
                # The worker reported why it could not load and exited: not a crash.
                error, event = EngineError(self.load_error), None
            else:
                # A crash (also when a keystroke already started the next worker).
                code = worker.proc.exitcode
                self.crashes += 1
                if code is not None and code < 0 and -code in NATIVE_SIGNALS:
                    self.config = _safer(self.config, self.crashes)
                message = _death_message(code, loading=False)
                error, event = EngineCrashed(message), ("crashed", message)
        self._fail_all(error, worker=worker.gen)
        return event

    def _dispatch(self, msg: dict[str, Any], worker: _Worker) -> None:
        """Route one worker message to its job or to the lifecycle state (a retired worker's
        late ready or load error is not the current worker's)."""
        kind = msg.get("type")
        if kind in ("ready", "load_error") and worker is not self._worker:
            return
        if kind == "ready":
            self.info = msg["info"]
            self._ready.set()
            for warning in self.info.get("warnings", []):
                self.on_event("warning", warning)
            self.on_event("ready", "model loaded")
            return
        if kind == "load_error":
            self.load_error = msg["message"]
            self._ready.set()
            self.on_event("load_error", msg["message"])
            return
        job = self._jobs.get(msg.get("seq", -1))
        if job is None:
            return
        if kind == "partial":
            job.stream(job.partial + msg["text"])
            return
        self._jobs.pop(job.seq, None)
        self.evaluated_tokens += int(msg.get("stats", {}).get("evaluated_tokens", 0))
        self.cpu_ms["background" if msg.get("background") else "foreground"] += float(
            msg.get("cpu_ms", 0.0)
        )
        if kind == "error":
            job.future.set_exception(EngineError(msg["message"]))
        else:
            job.future.set_result(msg)

    def _fail_all(self, exc: Exception, worker: int | None = None) -> None:
        """Resolve every pending job (of one worker, if given) with an error."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if worker is None or j.worker == worker]
            for job in jobs:
                self._jobs.pop(job.seq, None)
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(exc)


def _end(worker: _Worker) -> None:
    """Terminate, wait a second, kill (once it has been launched at all)."""
    worker.launched.wait()
    if not worker.started:
        return
    proc = worker.proc
    proc.terminate()
    proc.join(1.0)
    if proc.is_alive():
        proc.kill()
        proc.join(1.0)


def _safer(config: WorkerConfig, crashes: int) -> WorkerConfig:
    """After a native crash: no repacked CPU buffers; after two, no GPU either."""
    return replace(config, safe_cpu=True, gpu_layers=0 if crashes >= 2 else config.gpu_layers)


def _death_message(code: int | None, *, loading: bool) -> str:
    """One line about how the worker ended."""
    phase = "while loading the model" if loading else ""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        how = f"crashed ({name})"
        if -code == signal.SIGKILL:
            how = "was killed (SIGKILL; out of memory?)"
    else:
        how = f"exited with code {code}"
    return " ".join(
        p
        for p in (f"the llama.cpp engine {how}", phase, "- restarting it on the next request")
        if p
    )
