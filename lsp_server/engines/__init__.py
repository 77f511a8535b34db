"""Engines behind one small interface: `submit(op, **payload) -> Job`, `cancel(job)`,
`wasted_steps(job, result)`, `ready`, `restartable`, `close()`.

`local` runs llama.cpp in a supervised worker process; `remote` sends the same token-exact
prompts to a shared inference server. The scheduler, the window, the prompt and the
post-processing do not know which one runs. A job's future resolves with a plain dict:
`text`, `stats` (prompt/reused/evaluated/generated tokens, ms, stop reason), `window`,
`cancelled`.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

OPS = ("complete", "prefill", "edit")  # edit: a next-edit prompt (next_edit/), greedy to EOS


class EngineError(Exception):
    """A problem a user can act on (load failure, crash, unreachable server); one line."""


class EngineCrashed(EngineError):
    """The engine died (worker process) or went away (server) while a request was pending."""


@dataclass
class Job:
    """One request in flight: its future, streamed text so far and cancel bookkeeping."""

    seq: int
    future: concurrent.futures.Future[dict[str, Any]] = field(
        default_factory=concurrent.futures.Future
    )
    partial: str = ""
    steps_at_cancel: int | None = None
    worker: int = 0  # which worker process / connection (the engine's `starts`) it went to
    owner: int = 0  # id() of the engine that made it: another engine's cancel ignores it
    on_partial: Callable[[str], None] | None = None  # told the text so far (engine thread)

    @property
    def done(self) -> bool:
        return self.future.done()

    def stream(self, text: str) -> None:
        """The text generated so far (engines call this as it streams)."""
        self.partial = text
        watcher = self.on_partial
        if watcher is not None:
            watcher(text)


EventSink = Callable[[str, str], None]  # (kind: ready|load_error|crashed|warning, message)


def log_event(kind: str, message: str) -> None:
    """Without a listener (CLI, tests) a local engine's problems still reach the log, once."""
    log = logging.getLogger("seed_coder_lsp.engine")
    if kind == "crashed":
        log.error(message)
    elif kind == "warning":
        log.warning(message)


class Waits:
    """wait_ready / wait_loaded for an engine that sets `_ready` once it can serve or failed
    (`load_error`), started by `start()`."""

    _ready: threading.Event
    load_error: str | None
    info: dict[str, Any]

    def start(self) -> None:
        raise NotImplementedError

    def _late(self, timeout: float | None) -> str:
        """What wait_ready says when the engine took longer than `timeout`."""
        return f"model did not load within {timeout:g} s"

    def wait_ready(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until the engine can serve; raise EngineError with the reason if it failed."""
        self.start()
        if not self._ready.wait(timeout):
            raise EngineError(self._late(timeout))
        if self.load_error:
            raise EngineError(self.load_error)
        return self.info

    def wait_loaded(self, timeout: float | None = None) -> bool:
        """Block until the engine has loaded (connected) or failed (see load_error)."""
        return self._ready.wait(timeout)
