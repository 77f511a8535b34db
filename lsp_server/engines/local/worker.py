"""The engine worker: hosts llama.cpp in its own process, so a native crash never takes the server.

It receives plain-dict requests over a multiprocessing pipe and runs them on a Runner; a shared
cancel board lets the parent stop a job without a message round trip (the Runner checks it
inside every llama.cpp decode).
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from lsp_server.engines.local.edits import generate_edit
from lsp_server.engines.local.runner import Runner, WorkerConfig
from lsp_server.engines.local.sessions import Sessions

log = logging.getLogger("seed_coder_lsp.worker")

CANCEL_SLOTS = 64


class CancelBoard:
    """Shared memory for cancellation without a message round trip: a watermark (everything up
    to N) and a ring of single cancels, so cancelling one job leaves older ones (a prefill) be.
    A soft cancel (a second ring) stops a job only between two decodes: the batch in progress
    completes and stays cached (a superseded prediction's prompt is mostly the next one's)."""

    def __init__(self, ctx: Any) -> None:
        self.watermark = ctx.Value("q", 0, lock=False)
        self.ring = ctx.Array("q", CANCEL_SLOTS, lock=False)
        self.soft = ctx.Array("q", CANCEL_SLOTS, lock=False)

    def cancel(self, seq: int, soft: bool = False) -> None:
        (self.soft if soft else self.ring)[seq % CANCEL_SLOTS] = seq

    def cancel_through(self, seq: int) -> None:
        self.watermark.value = max(self.watermark.value, seq)

    def is_cancelled(self, seq: int) -> bool:
        return seq <= self.watermark.value or self.ring[seq % CANCEL_SLOTS] == seq

    def is_stopped(self, seq: int) -> bool:
        """Cancelled, softly or not."""
        return self.is_cancelled(seq) or self.soft[seq % CANCEL_SLOTS] == seq


def _install_llama_logging(level: str) -> None:
    """Route llama.cpp's log lines to logging (stderr); the default callback can raise on UTF-8."""
    import llama_cpp

    verbose = level == "debug"
    pending: list[bytes] = []
    last_level = [0]

    @llama_cpp.llama_log_callback
    def _callback(lvl: int, text: bytes, _user: ctypes.c_void_p) -> None:
        # ggml levels: 1 debug, 2 info, 3 warn, 4 error, 5 continues the previous line
        if lvl == 5:
            lvl = last_level[0]
        last_level[0] = lvl
        pending.append(text or b"")
        if not (text or b"").endswith(b"\n"):
            return
        line = b"".join(pending).decode("utf-8", errors="replace").rstrip()
        pending.clear()
        if lvl >= 3 or verbose:
            log.warning("llama.cpp: %s", line)

    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
    globals()["_LOG_CALLBACK_REF"] = _callback  # keep the C callback alive


def worker_main(conn: Any, board: CancelBoard, steps: Any, config: WorkerConfig) -> None:
    """Process entry: stdout becomes stderr, load the model, then serve requests until EOF."""
    os.dup2(2, 1)  # whatever llama.cpp prints must never reach the LSP channel
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    _install_llama_logging(config.log_level)
    try:
        runner = Runner(config)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one message
        conn.send({"type": "load_error", "message": str(exc) or type(exc).__name__})
        return
    conn.send({"type": "ready", "info": runner.info()})
    sessions = Sessions(runner)  # one context per client of a shared engine (session 0: today's)

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        op = msg.get("op")
        if op == "shutdown":
            return
        seq = msg.get("seq", 0)
        cpu = time.process_time()  # this process's CPU time: every llama.cpp thread counts
        try:
            if op == "drop_session":
                sessions.drop(int(msg.get("session", 0)))
                continue
            if op in ("complete", "edit"):
                runner = sessions.get(int(msg.get("session", 0)))
                result = _complete(runner, conn, msg, board, steps)
            elif op == "prefill":
                runner = sessions.get(int(msg.get("session", 0)))
                result = _prefill(runner, msg, board, steps)
            else:
                result = None
            if result is not None:
                result["cpu_ms"] = (time.process_time() - cpu) * 1000
                result["background"] = bool(msg.get("background"))
                conn.send(result)
            else:
                conn.send({"type": "error", "seq": seq, "message": f"unknown op {op!r}"})
        except Exception as exc:  # noqa: BLE001 - a bad request must not end the worker
            log.exception("request %s failed", seq)
            conn.send({"type": "error", "seq": seq, "message": str(exc) or type(exc).__name__})


def _stepper(steps: Any) -> Callable[[], None]:
    """Count decode steps in shared memory (the parent measures steps run after a cancel)."""

    def step() -> None:
        steps.value += 1

    return step


def _prefill(runner: Runner, msg: dict[str, Any], board: CancelBoard, steps: Any) -> dict:
    """Warm the cache with the stable part of a prompt and report what it cost."""
    seq = msg.get("seq", 0)
    start = steps.value
    stats = runner.prefill(msg, lambda: board.is_cancelled(seq), _stepper(steps))
    return {
        "steps_start": start,
        "type": "result",
        "seq": seq,
        "stats": asdict(stats),
        "cancelled": stats.stop_reason == "cancelled",
        "steps_total": steps.value,
    }


def _complete(
    runner: Runner, conn: Any, msg: dict[str, Any], board: CancelBoard, steps: Any
) -> dict:
    """Run one completion request, streaming text pieces, and build its result message."""
    seq = msg.get("seq", 0)
    start = steps.value
    cancelled = lambda: board.is_cancelled(seq)  # noqa: E731
    on_text = lambda text: conn.send({"type": "partial", "seq": seq, "text": text})  # noqa: E731
    if msg.get("op") == "edit":
        stopped = lambda: board.is_stopped(seq)  # noqa: E731
        outcome = generate_edit(runner, msg, cancelled, _stepper(steps), on_text, stopped)
    else:
        outcome = runner.generate(msg, cancelled, _stepper(steps), on_text)
    return {
        "type": "result",
        "seq": seq,
        "text": outcome.text,
        "stats": asdict(outcome.stats),
        "window": outcome.window,
        "cancelled": outcome.cancelled,
        "steps_start": start,
        "steps_total": steps.value,
    }
