"""The shared engine process: one per user, model file and engine settings. It owns a supervised
llama.cpp worker (engines/local: crash-isolated and restarted as for a single server), listens on
a private Unix socket, gives every attached language server its own KV context (session), runs
the most recent keystroke's request first across clients, and exits `grace` seconds after its
last client left.

Run by the first server that needs it (`python -m lsp_server.engines.shared.host`), detached
from that server so that closing the window that started it leaves the others working.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lsp_server.engines import EngineCrashed, EngineError, Job
from lsp_server.engines.local.decoding import Stats
from lsp_server.engines.local.runner import WorkerConfig
from lsp_server.engines.local.supervisor import LocalEngine
from lsp_server.engines.shared.fairness import Item, Pending
from lsp_server.engines.shared.wire import Channel, peer_uid

log = logging.getLogger("seed_coder_lsp.shared_engine")
HELLO_TIMEOUT_S = 10.0
PROGRESS_S = 0.05
RESERVED = ("op", "seq", "session")  # the engine's own fields of a worker request


@dataclass(eq=False)
class Client:
    """One attached language server."""

    id: int
    chan: Channel
    session: int
    pid: int = 0
    gone: bool = False


@dataclass
class Running:
    """The request the worker is on."""

    client: Client
    item: Item
    job: Job
    sent: list[int] = field(default_factory=lambda: [0])  # streamed characters forwarded


class Host:
    """Accepts clients, queues their requests, feeds the worker one at a time."""

    def __init__(self, config: WorkerConfig, path: Path, grace: float) -> None:
        self.path = path
        self.grace = grace
        self.engine = LocalEngine(config, on_event=self._on_engine_event)
        self.cond = threading.Condition()
        self.pending = Pending()
        self.clients: dict[int, Client] = {}
        self.running: Running | None = None
        self.current: tuple[Client, Item] | None = None  # picked, maybe not submitted yet
        self.last_left = time.monotonic()
        self._ids = 0
        self._inode: int | None = None
        self.listener: socket.socket | None = None
        self.closing = False  # decided to exit: nobody else is welcomed
        self.arriving = 0  # connections not yet welcomed (they keep the engine up)

    # -- life --------------------------------------------------------------------------------
    def serve(self) -> None:
        """Bind (replacing a stale socket), load the model, accept clients until idle."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # the spawner holds the lock and found nobody listening
        old = os.umask(0o177)
        try:
            listener.bind(str(self.path))
        finally:
            os.umask(old)
        listener.listen(16)
        self.listener = listener
        self._inode = os.stat(self.path).st_ino
        log.info("shared engine %d listening on %s", os.getpid(), self.path)
        self.engine.start()
        threading.Thread(target=self._feed, daemon=True, name="feed").start()
        threading.Thread(target=self._idle_watch, daemon=True, name="idle").start()
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:  # closed by shutdown
                time.sleep(60)
                continue
            with self.cond:
                self.arriving += 1
            threading.Thread(target=self._serve_client, args=(sock,), daemon=True).start()

    def shutdown(self, why: str) -> None:
        """Stop welcoming, remove our socket (not a newer engine's: it is unlinked before the
        listener closes, so no newer one can be bound there yet), stop the worker, exit."""
        with self.cond:
            self.closing = True
        log.info("shared engine %d exits: %s", os.getpid(), why)
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self._inode:
                self.path.unlink()
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.close()
        self.engine.close()
        os._exit(0)

    def _idle_watch(self) -> None:
        """Exit `grace` seconds after the last client left (or after start, if none came)."""
        while True:
            time.sleep(min(0.5, max(self.grace / 4, 0.05)))
            with self.cond:
                idle = (
                    not self.clients
                    and not self.arriving
                    and time.monotonic() - self.last_left >= self.grace
                )
            if idle:
                self.shutdown(f"no client for {self.grace:g} s")

    # -- clients -----------------------------------------------------------------------------
    def _serve_client(self, sock: socket.socket) -> None:
        """Check who it is, welcome it, then read its requests and cancels until it leaves."""
        chan = Channel(sock)
        try:
            uid = peer_uid(sock)
            if uid != os.getuid():
                log.warning("refused a connection from uid %s", uid)
                _refuse(sock, "this engine belongs to another user")
                return
            try:
                sock.settimeout(HELLO_TIMEOUT_S)
                hello = chan.recv()
                sock.settimeout(None)
            except (EOFError, OSError, ValueError):
                chan.close()
                return
            client = self._join(chan, int(hello.get("pid", 0) or 0))
        finally:
            with self.cond:
                self.arriving -= 1
        if client is None:
            _refuse(sock, "closing")
            return
        try:
            while True:
                msg = chan.recv()
                kind = msg.get("type")
                if kind == "submit":
                    self._enqueue(client, msg)
                elif kind == "cancel":
                    self._cancel(client, int(msg.get("seq", 0)), bool(msg.get("soft")))
        except (EOFError, OSError, ValueError):
            pass
        finally:
            self._leave(client)

    def _join(self, chan: Channel, pid: int) -> Client | None:
        """Register a client on the lowest free session (context) and welcome it -- before
        any broadcast can reach it; None while the engine is closing. A worker that crashed
        or failed to load is started again for it (the others' next request would, too)."""
        if self.engine.restartable or self.engine.load_error:
            with contextlib.suppress(EngineError):
                self.engine.start()
        with self.cond:
            if self.closing:
                return None
            self._ids += 1
            used = {c.session for c in self.clients.values()}
            session = next(n for n in range(len(used) + 1) if n not in used)
            client = Client(self._ids, chan, session, pid)
            self._send(client, {"type": "welcome", **self._state(), "session": session})
            self.clients[client.id] = client
            count = len(self.clients)
        log.info("client %d (pid %d) attached on session %d", client.id, pid, session)
        self._broadcast({"type": "clients", "clients": count})
        return client

    def _leave(self, client: Client) -> None:
        """A client closed or died: drop its queue, stop its request, free its context."""
        with self.cond:
            client.gone = True
            self.clients.pop(client.id, None)
            self.pending.drop(client.id)
            running = self.running
            self.last_left = time.monotonic()
            count = len(self.clients)
            # Queued before the session number can be given to another client: the worker
            # frees the context after the job in progress and before any newcomer's request.
            self.engine.drop_session(client.session)
        if running is not None and running.client is client:
            self.engine.cancel(running.job)
        client.chan.close()
        log.info("client %d left; %d remain", client.id, count)
        self._broadcast({"type": "clients", "clients": count})

    def _state(self) -> dict[str, Any]:
        """What a client needs to know about the worker."""
        engine = self.engine
        if engine.load_error:
            state = "load_error"
        elif engine.ready:
            state = "ready"
        elif engine.restartable:
            state = "crashed"
        else:
            state = "loading"
        return {
            "state": state,
            "message": engine.load_error or "",
            "info": engine.info,
            "engine_pid": os.getpid(),
            "worker_pid": engine.pid,
            "clients": len(self.clients),
        }

    def _on_engine_event(self, kind: str, message: str) -> None:
        """The worker loaded, failed, crashed or warned: every client hears it."""
        log.log(logging.WARNING if kind != "ready" else logging.INFO, "%s: %s", kind, message)
        self._broadcast({"type": "event", "kind": kind, **self._state(), "message": message})

    def _send(self, client: Client, msg: dict[str, Any]) -> None:
        """To one client; a dead one is noticed by its reader."""
        if client.gone:
            return
        with contextlib.suppress(OSError):
            client.chan.send(msg)

    def _broadcast(self, msg: dict[str, Any]) -> None:
        with self.cond:
            clients = list(self.clients.values())
        for client in clients:
            self._send(client, msg)

    # -- requests ----------------------------------------------------------------------------
    def _enqueue(self, client: Client, msg: dict[str, Any]) -> None:
        """Queue a request; a keystroke's preempts another client's background work."""
        payload = dict(msg.get("payload") or {})
        item = Item(int(msg.get("seq", 0)), str(msg.get("op", "complete")), payload)
        with self.cond:
            self.pending.add(client.id, item)
            running = self.running
            self.cond.notify_all()
        if (
            running is not None
            and not item.background
            and running.item.background
            and running.client is not client
        ):
            self.engine.cancel(running.job)

    def _cancel(self, client: Client, seq: int, soft: bool) -> None:
        """Stop a request: unqueue it, or stop it inside the worker."""
        with self.cond:
            item = self.pending.remove(client.id, seq)
            current = self.current
            if item is None and current is not None and current[0] is client:
                if current[1].seq == seq:  # picked: _run cancels it if it has not started
                    current[1].cancel = "soft" if soft else "hard"
                    if self.running is not None:
                        self.engine.cancel(self.running.job, soft)
                return
        if item is not None:
            self._send(client, _unrun(seq))

    def _feed(self) -> None:
        """Run the chosen request, forward its stream and answer, then the next."""
        while True:
            with self.cond:
                picked = self.pending.pop()
                while picked is None:
                    self.cond.wait()
                    picked = self.pending.pop()
                client = self.clients.get(picked[0])
                item = picked[1]
                if client is None:
                    continue
                self.current = (client, item)
            try:
                self._run(client, item)
            except Exception as exc:  # noqa: BLE001 - one bad request must not stop the feeder
                log.exception("request %s of client %d failed", item.seq, client.id)
                self._send(client, _error(item.seq, exc))
            finally:
                with self.cond:
                    self.current = self.running = None

    def _run(self, client: Client, item: Item) -> None:
        """One request on the worker, in the client's own context."""
        base = self.engine.decode_steps  # the worker is idle: nothing else counts from here
        payload = {k: v for k, v in item.payload.items() if k not in RESERVED}
        with self.cond:
            if client.gone:  # left after its request was picked: its context is dropped
                return
            try:
                job = self.engine.submit(item.op, session=client.session, **payload)
            except EngineError as exc:
                self._send(client, _error(item.seq, exc))
                return
        running = Running(client, item, job)

        def forward(text: str) -> None:
            piece = text[running.sent[0] :]
            running.sent[0] = len(text)
            if piece:
                self._send(client, {"type": "partial", "seq": item.seq, "text": piece})

        job.on_partial = forward
        with self.cond:
            self.running = running
            if item.cancel or client.gone:
                self.engine.cancel(job, item.cancel == "soft")
        try:
            result = self._wait(client, item.seq, job, base)
        except EngineError as exc:
            self._send(client, _error(item.seq, exc))
            return
        forward(job.partial)
        steps = max(0, int(result.get("steps_total", 0)) - int(result.get("steps_start", 0)))
        wasted = self.engine.wasted_steps(job, result)
        self._send(client, {**result, "seq": item.seq, "steps": steps, "wasted_steps": wasted})

    def _wait(self, client: Client, seq: int, job: Job, base: int) -> dict[str, Any]:
        """The job's result; meanwhile its decode steps so far, every 50 ms while they grow
        (the client's counts stay live, as a worker of its own would keep them)."""
        sent = 0
        while True:
            try:
                return job.future.result(timeout=PROGRESS_S)
            except concurrent.futures.TimeoutError:
                steps = self.engine.decode_steps - base
                if steps != sent:
                    sent = steps
                    self._send(client, {"type": "progress", "seq": seq, "steps": steps})


def _refuse(sock: socket.socket, why: str) -> None:
    """Say no and hang up; what the peer sent is discarded unread (closing with it pending
    would reset the connection before the answer is read)."""
    with contextlib.suppress(OSError):
        Channel(sock).send({"type": "refused", "message": why})
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(1.0)
        for _ in range(16):  # at most 1 MB
            if not sock.recv(65536):
                break
    sock.close()


def _unrun(seq: int) -> dict[str, Any]:
    """The answer to a request cancelled before it ran."""
    stats = asdict(Stats(stop_reason="cancelled"))
    return {"type": "result", "seq": seq, "text": "", "stats": stats, "cancelled": True, "steps": 0}


def _error(seq: int, exc: Exception) -> dict[str, Any]:
    return {
        "type": "error",
        "seq": seq,
        "message": str(exc),
        "crashed": isinstance(exc, EngineCrashed),
    }


def main(argv: list[str] | None = None) -> None:
    """Entry point of the detached engine process (stderr goes to its log file)."""
    parser = argparse.ArgumentParser(prog="seed-coder-lsp-engine")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--config", required=True, help="WorkerConfig as JSON")
    parser.add_argument("--grace", type=float, default=60.0)
    args = parser.parse_args(argv)
    config = WorkerConfig(**json.loads(args.config))
    logging.basicConfig(
        level=logging.DEBUG if config.log_level == "debug" else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(name)s: %(message)s",
    )
    host = Host(config, Path(args.socket), args.grace)
    signal.signal(signal.SIGTERM, lambda *_: host.shutdown("SIGTERM"))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in the editor's terminal is not ours
    host.serve()


if __name__ == "__main__":
    main()
