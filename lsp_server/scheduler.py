"""The keystroke path: per-document supersession, debounce, typed-through cache, attach, cancel.

Pure asyncio over plain strings; the engine is anything with `submit(**payload) -> Job` and
`cancel(job)` (the real worker supervisor, or a double in scheduling tests).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from .completion import finish, payload
from .postprocess import Suggestion
from .settings import Settings

log = logging.getLogger("seed_coder_lsp.scheduler")
PACE_WINDOW_S = 0.4  # longer gaps are pauses (reading, thinking), not typing rhythm
ADAPTIVE_DEBOUNCE_MAX_S = 0.25


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
    cache_hits: int = 0
    prefills: int = 0
    attached: int = 0
    superseded: int = 0
    cancelled: int = 0
    not_ready: int = 0
    wasted_steps: int = 0
    errors: int = 0


@dataclass
class Shown:
    """A suggestion given for (prefix, suffix): typing its start keeps the rest valid."""

    prefix: str
    suffix: str
    text: str
    replace_chars: int


@dataclass
class Flight:
    """A generation in progress for one document."""

    prefix: str
    suffix: str
    job: Any
    owner: int  # ticket of the request that currently wants its result
    task: asyncio.Future[dict[str, Any]] | None = None
    cancelled: bool = False  # stopping: never attach a new request to it


@dataclass
class DocState:
    """Per-document scheduling state."""

    ticket: int = 0
    flight: Flight | None = None
    hint: tuple[int, int] | None = None
    prefill_key: tuple[int, str, str] | None = None  # (worker, text before the line, suffix)
    prefill_job: Any = None
    last_request: float | None = None  # monotonic seconds
    pace: float | None = None  # typical gap between keystrokes, seconds


@dataclass
class Answer:
    """A request's answer plus how it was produced."""

    suggestion: Suggestion | None
    source: str  # "model", "cache", "attached", "superseded", "not-ready", "disabled", "empty"
    stats: dict[str, Any] = field(default_factory=dict)


class Scheduler:
    """Decides, for each inline request, whether to answer from cache, attach, or generate."""

    def __init__(
        self,
        engine: Callable[[], EngineLike | None],
        settings: Callable[[], Settings],
        on_stats: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.settings = settings
        self.on_stats = on_stats or (lambda stats: None)
        self.docs: dict[str, DocState] = {}
        self.shown: OrderedDict[tuple[str, str], Shown] = OrderedDict()
        self.counters = Counters()

    # -- cache -------------------------------------------------------------------------------
    def from_cache(self, prefix: str, suffix: str) -> Suggestion | None:
        """Rest of a suggestion the user is typing through (newest matching entry first)."""
        for entry in reversed(self.shown.values()):
            if entry.suffix != suffix or not prefix.startswith(entry.prefix):
                continue
            typed = prefix[len(entry.prefix) :]
            if entry.text.startswith(typed) and len(entry.text) > len(typed):
                return Suggestion(entry.text[len(typed) :], entry.replace_chars)
        return None

    def remember(self, prefix: str, suffix: str, suggestion: Suggestion) -> None:
        """Keep a shown suggestion so typing through it costs no model call."""
        key = (prefix[-256:], suffix[:256])
        self.shown.pop(key, None)
        self.shown[key] = Shown(prefix, suffix, suggestion.text, suggestion.replace_chars)
        while len(self.shown) > 64:
            self.shown.popitem(last=False)

    def forget(self, uri: str) -> None:
        """A closed document: drop its state and stop its generation."""
        state = self.docs.pop(uri, None)
        engine = self.engine()
        if state is None or engine is None:
            return
        if state.flight is not None:
            self._stop(engine, state.flight)
        if state.prefill_job is not None:
            engine.cancel(state.prefill_job)

    # -- the request path --------------------------------------------------------------------
    async def complete(
        self, uri: str, prefix: str, suffix: str, *, invoked: bool = False
    ) -> Answer:
        """Answer one inline request; newer requests for the same document supersede this one."""
        self.counters.requests += 1
        state = self.docs.setdefault(uri, DocState())
        state.ticket += 1
        self._note_pace(state)
        ticket = state.ticket
        engine = self.engine()
        flight = state.flight
        running = flight is not None and not flight.job.done and not flight.cancelled
        cached = self.from_cache(prefix, suffix)
        if cached is not None:
            self.counters.cache_hits += 1
            if running and engine is not None and flight is not None:
                self._stop(engine, flight)  # its result is for text the user has typed past
            return Answer(cached, "cache")
        if engine is None or not (engine.ready or engine.restartable):
            self.counters.not_ready += 1
            return Answer(None, "not-ready")
        if running and flight is not None:
            if self._can_attach(flight, prefix, suffix):
                flight.owner = ticket
                self.counters.attached += 1
                return await self._await_flight(
                    uri, state, flight, ticket, prefix, suffix, "attached"
                )
            self._stop(engine, flight)
        settings = self.settings()
        self._prefill(engine, state, prefix, suffix, settings)
        delay = 0.0 if invoked else self.debounce(state, settings)
        if delay > 0:
            await asyncio.sleep(delay)
        if state.ticket != ticket:
            self.counters.superseded += 1
            return Answer(None, "superseded")
        job = engine.submit(**payload(prefix, suffix, settings, state.hint))
        self.counters.generations += 1
        flight = Flight(prefix, suffix, job, ticket)
        state.flight = flight
        return await self._await_flight(uri, state, flight, ticket, prefix, suffix, "model")

    def _count_waste(self, engine: EngineLike, job: Any, done: asyncio.Future[Any]) -> None:
        """Steps a cancelled job ran after its cancel, once its (unawaited) result arrives."""
        if not done.cancelled() and done.exception() is None:
            self.counters.wasted_steps += engine.wasted_steps(job, done.result())

    def _note_pace(self, state: DocState) -> None:
        """Track the typing rhythm: a moving average of the short gaps between requests."""
        now = self.clock()
        if state.last_request is not None and now - state.last_request < PACE_WINDOW_S:
            gap = now - state.last_request
            state.pace = gap if state.pace is None else 0.7 * state.pace + 0.3 * gap
        state.last_request = now

    @staticmethod
    def debounce(state: DocState, settings: Settings) -> float:
        """Seconds to wait: debounceMs, stretched to 1.5x the typing pace (at most 250 ms) so a
        fast typist's next key arrives before a generation starts (Tabby-style, adaptive)."""
        delay = settings.debounceMs / 1000
        if settings.adaptiveDebounce and state.pace is not None:
            delay = max(delay, min(state.pace * 1.5, ADAPTIVE_DEBOUNCE_MAX_S))
        return delay

    def _prefill(
        self, engine: EngineLike, state: DocState, prefix: str, suffix: str, settings: Settings
    ) -> None:
        """Warm the KV cache with everything but the cursor's line as soon as a key arrives, so
        the completion after the debounce (or a pause) only evaluates that line. Typing on the
        same line keeps the same key: no new prefill, and the running one is never cancelled."""
        # A new worker (model reload, crash restart) starts with an empty cache: prefill again.
        key = (getattr(engine, "starts", 0), prefix[: prefix.rfind("\n") + 1], suffix)
        if key == state.prefill_key:
            return
        if state.prefill_job is not None and not state.prefill_job.done:
            engine.cancel(state.prefill_job)  # what it evaluated stays cached for the next one
        state.prefill_key = key
        state.prefill_job = engine.submit(
            "prefill", **payload(prefix, suffix, settings, state.hint)
        )
        self.counters.prefills += 1

    @staticmethod
    def _stop(engine: EngineLike, flight: Flight) -> None:
        """Cancel a generation and remember that it is on its way out."""
        flight.cancelled = True
        engine.cancel(flight.job)

    def _can_attach(self, flight: Flight, prefix: str, suffix: str) -> bool:
        """The user typed exactly what the running generation is producing (so far)."""
        if flight.cancelled or flight.suffix != suffix or not prefix.startswith(flight.prefix):
            return False
        typed = prefix[len(flight.prefix) :]
        produced = flight.job.partial
        return produced.startswith(typed) if len(produced) >= len(typed) else False

    async def _await_flight(
        self,
        uri: str,
        state: DocState,
        flight: Flight,
        ticket: int,
        prefix: str,
        suffix: str,
        source: str,
    ) -> Answer:
        """Wait for the generation; hand the result over only if this request still owns it."""
        engine = self.engine()
        if flight.task is None:
            flight.task = asyncio.wrap_future(flight.job.future)
        try:
            result = await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            # $/cancelRequest (or shutdown): stop the generation unless a newer request took it.
            if flight.owner == ticket and engine is not None:
                self._stop(engine, flight)
                self.counters.cancelled += 1
                # Nobody awaits the result any more: count its wasted steps when it lands.
                flight.task.add_done_callback(partial(self._count_waste, engine, flight.job))
            raise
        except Exception as exc:  # noqa: BLE001 - engine errors become empty answers
            self.counters.errors += 1
            log.warning("completion failed: %s", exc)
            return Answer(None, "error", {"error": str(exc)})
        if engine is not None:
            self.counters.wasted_steps += engine.wasted_steps(flight.job, result)
        if flight.owner != ticket or state.ticket != ticket:
            self.counters.superseded += 1
            return Answer(None, "superseded", result.get("stats", {}))
        if state.flight is flight:
            state.flight = None
        out = finish(flight.prefix, flight.suffix, result)
        if out.window:
            state.hint = out.window
        self.on_stats({**out.stats, "source": source, "uri": uri})
        if out.suggestion is None:
            return Answer(None, "empty", out.stats)
        self.remember(flight.prefix, flight.suffix, out.suggestion)
        if source == "attached":
            rest = self.from_cache(prefix, suffix)
            return Answer(rest, source, out.stats)
        return Answer(out.suggestion, source, out.stats)
