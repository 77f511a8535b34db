"""The keystroke path's state as plain data: per-document tickets and flights, counters."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from lsp_server.postprocess.rules import Suggestion


class EngineLike(Protocol):
    """What the scheduler needs from an engine."""

    @property
    def ready(self) -> bool: ...

    @property
    def restartable(self) -> bool: ...

    def submit(self, op: str = "complete", **payload: Any) -> Any: ...

    def cancel(self, job: Any) -> None: ...

    def wasted_steps(self, job: Any, result: dict[str, Any]) -> int: ...


@dataclass
class Counters:
    """What happened on the keystroke path, for tests, logs and benchmarks."""

    requests: int = 0
    generations: int = 0
    speculations: int = 0
    eager: int = 0  # generations started by an edit before the client asked
    early: int = 0  # answered at the block's end while the generation went on
    cache_hits: int = 0
    prefills: int = 0
    grows: int = 0
    attached: int = 0
    superseded: int = 0
    stopped: int = 0  # generations stopped because their result could no longer be shown
    cancelled: int = 0
    early_cancels: int = 0  # ... of those, stopped where the cancel was read (stdin's thread)
    not_ready: int = 0
    waited_for_load: int = 0  # invoked requests that waited for the model to load
    wasted_steps: int = 0
    errors: int = 0
    held_back: int = 0  # background work the budget did not allow (backgroundWork)


@dataclass
class Flight:
    """A generation in progress for one document."""

    prefix: str
    suffix: str
    job: Any
    speculative: bool = False
    owner: int | None = None  # ticket of the request that waits for it
    request: Any = None  # ... and that request's LSP id
    cancelled: bool = False  # stopping: never wait for it
    landed: asyncio.Future[None] | None = None  # set once its result is in the cache
    stats: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass
class DocState:
    """Per-document scheduling state."""

    uri: str = ""  # engines may keep a cache per document (a remote server's slot)
    language: str = ""  # LSP language id: where a multi-line infill may end
    extra: tuple[str, ...] = ()  # context from other files, as rendered for the last request
    ticket: int = 0
    request: Any = None  # LSP id of the newest request
    flight: Flight | None = None
    wake: asyncio.Future[None] | None = None  # resolved when a newer request arrives
    hint: tuple[int, int] | None = None
    prefill_key: tuple[int, str, str] | None = None  # (worker, text before the line, suffix)
    prefill_job: Any = None
    grow_job: Any = None
    grow_wanted: bool = False  # the last window was shrunk for a cold start
    last_request: float | None = None  # monotonic seconds
    edits: int = 0
    pace: float | None = None  # typical gap between keystrokes, seconds


@dataclass
class Answer:
    """A request's answer plus how it was produced."""

    suggestion: Suggestion | None
    source: str  # "model", "cache", "attached", "superseded", "not-ready", "empty", "error"
    stats: dict[str, Any] = field(default_factory=dict)


def consistent(partial: str, typed: str) -> bool:
    """Typed text that a generation which has produced `partial` so far can still complete."""
    if not typed:
        return True
    return bool(partial) and (partial.startswith(typed) or typed.startswith(partial))
