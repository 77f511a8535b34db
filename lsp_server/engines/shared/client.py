"""A language server's side of the shared engine: the same interface as LocalEngine (submit,
cancel, wasted_steps, ready, restartable, close), over the engine's socket. Everything per
editor (documents, scheduler, caches, post-processing) stays in the server; only generation
runs in the engine. When the engine goes away, pending requests fail as after a worker crash
and the next request finds or starts a new one.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from lsp_server.engines import EngineCrashed, EngineError, EventSink, Job, Waits, log_event
from lsp_server.engines.local.runner import WorkerConfig
from lsp_server.engines.shared.spawn import Place, attach
from lsp_server.engines.shared.wire import Channel, TooLarge

GRACE_S = 60.0  # the engine outlives its last window this long (a window reopened reuses it)
ATTACH_TRIES = 5


@dataclass(eq=False)
class _Link:
    """One connection's life (replaced as a whole after the engine went away)."""

    gen: int
    outbox: queue.Queue[Any] = field(default_factory=queue.Queue)
    chan: Channel | None = None
    where: Place | None = None
    up: bool = False  # the welcome arrived


class SharedEngine(Waits):
    """Client of the user's shared engine for one model file and settings."""

    kind = "local"

    def __init__(
        self, config: WorkerConfig, on_event: EventSink | None = None, grace: float | None = None
    ) -> None:
        self.config = config
        self.on_event = on_event or log_event
        self.grace = GRACE_S if grace is None else grace
        self._grace_env()
        self._seq = itertools.count(1)
        self._lock = threading.RLock()
        self._jobs: dict[int, Job] = {}
        self._link: _Link | None = None
        self._ready = threading.Event()
        self._state = "loading"
        self.info: dict[str, Any] = {}
        self.load_error: str | None = None
        self.crashes = 0
        self.starts = 0
        self._steps_done = 0  # decode steps of finished jobs
        self._steps_running: dict[int, int] = {}  # of jobs in progress, as the engine reports
        self.evaluated_tokens = 0
        self.cpu_ms = {"foreground": 0.0, "background": 0.0}
        self.engine_pid: int | None = None  # the shared engine process
        self.pid: int | None = None  # its llama.cpp worker
        self.clients = 0
        self.session = -1
        self._closed = False

    def _grace_env(self) -> None:
        """Tests shorten the grace period (SEED_CODER_LSP_ENGINE_GRACE, seconds)."""
        value = os.environ.get("SEED_CODER_LSP_ENGINE_GRACE")
        if value:
            self.grace = float(value)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Connect (starting the engine if no window has) on a thread; requests wait meanwhile."""
        with self._lock:
            if self._closed:
                raise EngineError("engine is shut down")
            if self._link is not None:
                return
            self._ready.clear()
            self.load_error = None
            self._state = "loading"
            self.starts += 1
            link = self._link = _Link(self.starts)
        threading.Thread(target=self._connect, args=(link,), daemon=True).start()

    def _connect(self, link: _Link) -> None:
        """Attach, say hello, take the welcome; then read and send on their own threads."""
        try:
            chan, where, welcome = self._attach()
        except (EngineError, OSError, EOFError, ValueError) as exc:
            message = f"could not attach to the shared engine: {exc}"
            with self._lock:
                current = self._link is link and not self._closed
                if current:
                    self._link = None
                    self.load_error = message
                    self._state = "load_error"
                    self._ready.set()
            self._fail_all(EngineError(message), link.gen)
            if current:  # not a connection a reload or close has replaced
                self.on_event("load_error", message)
            return
        with self._lock:
            link.chan, link.where, link.up = chan, where, True
            self.session = int(welcome.get("session", 0))
            current = self._link is link
        if not current:
            chan.close()
            return
        self._apply_state(welcome, announce=True)
        threading.Thread(target=self._reader, args=(link,), daemon=True).start()
        threading.Thread(target=self._sender, args=(link,), daemon=True).start()

    def _attach(self) -> tuple[Channel, Place, dict[str, Any]]:
        """Channel, place and the engine's welcome. An engine that is
        exiting (its grace period just ended) turns us away or hangs up: the next try finds or
        starts its successor."""
        for attempt in range(ATTACH_TRIES):
            chan, where = attach(self.config, self.grace)
            try:
                chan.send({"type": "hello", "pid": os.getpid()})
                while True:
                    msg = chan.recv()
                    if msg.get("type") == "welcome":
                        return chan, where, msg
                    if msg.get("type") == "refused":
                        if msg.get("message") != "closing":
                            raise EngineError(str(msg.get("message")))
                        raise EOFError
            except (EOFError, OSError):
                chan.close()
                if attempt == ATTACH_TRIES - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise EngineError("unreachable")

    @property
    def ready(self) -> bool:
        return self._state == "ready" and self.alive

    @property
    def restartable(self) -> bool:
        """The engine or its worker went away after working: the next submit brings it back."""
        if self._closed or self.load_error or self.starts == 0:
            return False
        return self._link is None or self._state == "crashed"

    @property
    def decode_steps(self) -> int:
        """Decode steps the engine ran for this client (jobs in progress included)."""
        return self._steps_done + sum(self._steps_running.copy().values())

    @property
    def alive(self) -> bool:
        link = self._link
        return link is not None and link.up

    def shared_info(self) -> dict[str, Any]:
        """Which engine process serves this server and how many servers share it."""
        link = self._link
        return {
            "engine_pid": self.engine_pid,
            "clients": self.clients,
            "session": self.session,
            "socket": str(link.where.socket) if link and link.where else None,
            "log": str(link.where.log) if link and link.where else None,
        }

    def close(self, timeout: float = 1.0) -> None:
        """Leave the engine (it exits after its grace period if we were the last)."""
        with self._lock:
            self._closed = True
            link, self._link = self._link, None
            if not self._ready.is_set():
                self.load_error = self.load_error or "engine shut down"
                self._ready.set()
        _hang_up(link)
        self._fail_all(EngineError("engine shut down"))

    def reconfigure(self, config: WorkerConfig) -> None:
        """New model or settings: the next request attaches to the engine for them."""
        with self._lock:
            link, self._link = self._link, None
            self.config = config
            self.crashes = 0
            self._ready.clear()
        _hang_up(link)
        self._fail_all(EngineError("model reloading"))

    # -- requests ----------------------------------------------------------------------------
    def submit(self, op: str = "complete", **payload: Any) -> Job:
        """Queue a request; the returned job's future resolves with the engine's answer."""
        with self._lock:
            if self._link is None:
                self.start()
            link = self._link
            assert link is not None
            job = Job(seq=next(self._seq), worker=link.gen, owner=id(self))
            self._jobs[job.seq] = job
            link.outbox.put({"type": "submit", "seq": job.seq, "op": op, "payload": payload})
        return job

    def cancel(self, job: Job, soft: bool = False) -> None:
        """Stop this job at the engine (unqueued, or inside the decode in progress)."""
        if job.owner != id(self) or job.done:
            return
        with self._lock:
            link = self._link
            if job.steps_at_cancel is None:
                job.steps_at_cancel = self.decode_steps
            if link is not None and link.gen == job.worker:
                link.outbox.put({"type": "cancel", "seq": job.seq, "soft": soft})

    def wasted_steps(self, job: Job, result: dict[str, Any]) -> int:
        """Decode steps this job ran after it was cancelled (the engine counted them)."""
        return int(result.get("wasted_steps", 0))

    # -- threads -----------------------------------------------------------------------------
    def _sender(self, link: _Link) -> None:
        """Write requests in order; a None ends the thread."""
        while True:
            msg = link.outbox.get()
            if msg is None or link.chan is None:
                return
            try:
                link.chan.send(msg)
            except TooLarge as exc:  # this request only: the connection stays
                self._fail_one(int(msg.get("seq", -1)), EngineError(str(exc)))
            except OSError:
                return

    def _reader(self, link: _Link) -> None:
        """Dispatch the engine's messages; on EOF the engine is gone (unless we left)."""
        assert link.chan is not None
        while True:
            try:
                msg = link.chan.recv()
            except (EOFError, OSError, ValueError):
                break
            self._dispatch(msg)
        link.outbox.put(None)
        with self._lock:
            current = self._link is link
            if current:
                self._link = None
        if not current or self._closed:
            return
        loading = self._state == "loading"
        self.crashes += 1
        where = f" (pid {self.engine_pid})" if self.engine_pid else ""
        message = f"the shared llama.cpp engine{where} went away - restarting it on next request"
        if loading:
            self.load_error = f"the shared engine{where} exited while loading the model"
            self._state = "load_error"
            self._ready.set()
            message = self.load_error
        self._fail_all(EngineCrashed(message), link.gen)
        self.on_event("load_error" if loading else "crashed", message)

    def _apply_state(self, msg: dict[str, Any], announce: bool = False) -> None:
        """The engine's state as a welcome or event reports it."""
        self.engine_pid = msg.get("engine_pid", self.engine_pid)
        self.pid = msg.get("worker_pid", self.pid)
        self.clients = int(msg.get("clients", self.clients))
        state = str(msg.get("state", "loading"))
        if msg.get("info"):
            self.info = {**msg["info"], "shared": True}
        self._state = state
        if state == "ready":
            self.load_error = None
            self._ready.set()
            if announce:
                for warning in self.info.get("warnings", []):
                    self.on_event("warning", warning)
                self.on_event("ready", "model loaded")
        elif state == "crashed":
            self._ready.set()  # loaded once; restartable: the next request starts it again
        elif state == "load_error":
            self.load_error = str(msg.get("message") or "the model did not load")
            self._ready.set()
            if announce:
                self.on_event("load_error", self.load_error)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        """Route one message: engine events and client counts, or a job's stream and answer."""
        kind = msg.get("type")
        if kind == "clients":
            self.clients = int(msg.get("clients", 0))
            return
        if kind == "event":
            event = str(msg.get("kind"))
            if event == "crashed":
                self.crashes += 1
            self._apply_state(msg)
            self.on_event(event, str(msg.get("message", "")))
            return
        job = self._jobs.get(int(msg.get("seq", -1)))
        if job is None:
            return
        if kind == "partial":
            job.stream(job.partial + str(msg.get("text", "")))
            return
        if kind == "progress":
            self._steps_running[job.seq] = int(msg.get("steps", 0))
            return
        self._jobs.pop(job.seq, None)
        ran = self._steps_running.pop(job.seq, 0)
        if kind == "error":
            self._steps_done += ran
            error = EngineCrashed if msg.get("crashed") else EngineError
            job.future.set_exception(error(str(msg.get("message", "engine error"))))
            return
        self._steps_done += int(msg.get("steps", 0))
        self.evaluated_tokens += int(msg.get("stats", {}).get("evaluated_tokens", 0))
        side = "background" if msg.get("background") else "foreground"
        self.cpu_ms[side] += float(msg.get("cpu_ms", 0.0))
        job.future.set_result(msg)

    def _fail_one(self, seq: int, exc: Exception) -> None:
        """Resolve one pending job with an error."""
        with self._lock:
            job = self._jobs.pop(seq, None)
        if job is not None and not job.future.done():
            job.future.set_exception(exc)

    def _fail_all(self, exc: Exception, gen: int | None = None) -> None:
        """Resolve every pending job (of one connection, if given) with an error."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if gen is None or j.worker == gen]
            for job in jobs:
                self._jobs.pop(job.seq, None)
        for job in jobs:
            self._steps_done += self._steps_running.pop(job.seq, 0)
            if not job.future.done():
                job.future.set_exception(exc)


def _hang_up(link: _Link | None) -> None:
    """Stop a connection we left: its sender ends, the engine sees us go."""
    if link is not None:
        link.outbox.put(None)
        if link.chan is not None:
            link.chan.close()
