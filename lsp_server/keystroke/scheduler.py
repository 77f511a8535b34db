"""The keystroke path, paced by the engine: single flight per document, newest request wins.

While the engine is idle a keystroke starts work at once. While a generation runs, the newest
request waits for it if its result can still be shown (the user typed what it is producing, or
nothing yet) and is otherwise stopped within a decode step; older requests are answered empty at
once. Every generation's result lands in the suggestion cache, so a result for an older keystroke
that is still consistent with what was typed since is shown, trimmed, not dropped. Shown
suggestions get a speculative generation for the state after accepting them.

Pure asyncio over plain strings; the engine is anything with `submit(op, **payload) -> Job` and
`cancel(job)` (the real worker supervisor, or a double in scheduling tests).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from lsp_server.keystroke import budget, pacing
from lsp_server.keystroke.background import BackgroundWork, req
from lsp_server.keystroke.completion import finish
from lsp_server.keystroke.early_answer import first, watch_block_end
from lsp_server.keystroke.flights import Answer, Counters, DocState, EngineLike, Flight, consistent
from lsp_server.keystroke.suggestion_cache import SuggestionCache
from lsp_server.settings import Settings

log = logging.getLogger("seed_coder_lsp.scheduler")
EAGER_PAUSE_S = 0.1  # an edit not followed by a request this soon: start its generation
EAGER_CLIENT_S = 30.0  # ... if the document had an inline request this recently


class Scheduler(BackgroundWork):
    """Decides, for each inline request, whether to answer from cache, wait, or generate."""

    def __init__(
        self,
        engine: Callable[[], EngineLike | None],
        settings: Callable[[], Settings],
        on_stats: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        text_of: Callable[[str], str | None] | None = None,
        until_loaded: Callable[[], Awaitable[None]] | None = None,
        background: Callable[[], str] = lambda: budget.FULL,
        on_error: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.on_error = on_error  # a request the engine refused: the user hears it
        self.engine = engine
        self.background = background  # how much work no keystroke waits for (budget.py)
        self.until_loaded = until_loaded  # an invoked request waits for a loading engine
        self.clock = clock
        self.settings = settings
        self.on_stats = on_stats or (lambda stats: None)
        self.text_of = text_of or (lambda uri: None)
        self.docs: dict[str, DocState] = {}
        self.cache = SuggestionCache()
        self.counters = Counters()
        self.cost: float | None = None  # seconds a keystroke's generation takes, moving average
        self.last_uri: str | None = None  # where the user works: background work is for it
        self.early_cancels: deque[Any] = deque(maxlen=16)  # requests cancelled on stdin's thread

    # -- document events ---------------------------------------------------------------------
    def forget(self, uri: str) -> None:
        """A closed document: drop its state and stop its work."""
        state = self.docs.pop(uri, None)
        engine = self.engine()
        if state is None or engine is None:
            return
        state.ticket += 1  # whoever waits is superseded: never generate for a closed document
        self._wake(state)
        if state.flight is not None:
            self._stop(engine, state.flight)
        for job in (state.prefill_job, state.grow_job):
            if job is not None:
                engine.cancel(job)

    def sizes(self) -> dict[str, int]:
        """What the keystroke path holds, for the soak test: all of it bounded."""
        return {
            "documents": len(self.docs),
            "cache_entries": len(self.cache.entries),
            "cache_chars": self.cache.chars,
        }

    def _leave(self, uri: str | None) -> None:
        """The user moved to another document: its background work is of no use now."""
        state, engine = self.docs.get(uri or ""), self.engine()
        if state is None or engine is None:
            return
        if state.flight is not None and state.flight.speculative:
            self._stop(engine, state.flight)
        self._cancel_grow(engine, state)

    def on_change(self, uri: str, text: str, cursor: int | None = None) -> None:
        """An edit: stop the document's generation at once if its result can no longer be
        shown (clients that ask only after a pause would otherwise let it run). If no request
        follows within EAGER_PAUSE_S, start the generation for the cursor the edit left, so a
        client that asks after its own pause timer (Neovim 0.12: 200 ms) finds it done."""
        state, engine = self.docs.get(uri), self.engine()
        if state is None or engine is None:
            return
        state.edits += 1
        flight = state.flight
        live = flight is not None and not flight.cancelled and not flight.speculative
        if live and flight is not None and not self._showable_in(flight, text):
            self._stop(engine, flight)
        recent = state.last_request is not None and (
            self.clock() - state.last_request < EAGER_CLIENT_S
        )
        if cursor is not None and 0 <= cursor <= len(text) and recent:
            asyncio.get_running_loop().call_later(
                EAGER_PAUSE_S, self._eager, state, state.ticket, state.edits, text, cursor
            )

    # -- the request path --------------------------------------------------------------------
    async def complete(
        self,
        uri: str,
        prefix: str,
        suffix: str,
        *,
        invoked: bool = False,
        language: str = "",
        extra: tuple[str, ...] = (),
        request: Any = None,
    ) -> Answer:
        """Answer one inline request; newer requests for the same document supersede this one.
        `request` is the LSP request's id (a cancel read early names it: see stop_request)."""
        self.counters.requests += 1
        if uri != self.last_uri:
            self._leave(self.last_uri)
            self.last_uri = uri
        state = self.docs.setdefault(uri, DocState(uri=uri))
        state.language, state.extra = language, extra
        state.ticket += 1
        ticket = state.ticket
        self._wake(state)
        state.wake = asyncio.get_running_loop().create_future()
        pacing.note_pace(state, self.clock())
        state.request = request
        try:
            answer = await self._answer(uri, state, ticket, prefix, suffix, invoked)
        except asyncio.CancelledError:
            self._on_cancel(uri, state, ticket, prefix + suffix)
            raise
        if answer.suggestion is not None:
            self._after_shown(state, prefix, suffix, answer.suggestion)
        return answer

    async def _answer(
        self, uri: str, state: DocState, ticket: int, prefix: str, suffix: str, invoked: bool
    ) -> Answer:
        """Cache, then a running generation that can still be shown, then a new one."""
        engine = self.engine()
        waited: Flight | None = None
        delayed = loaded = False
        while True:
            cached = self.cache.get(prefix, suffix)
            if cached is not None:
                if waited is not None:
                    return Answer(cached, "attached", waited.stats)
                self.counters.cache_hits += 1
                self._drop_unshowable(engine, state, prefix, suffix)
                return Answer(cached, "cache")
            if engine is None or not (engine.ready or engine.restartable):
                if invoked and not loaded and self.until_loaded is not None:
                    loaded = True  # asked for explicitly: worth waiting for the load (once)
                    self.counters.waited_for_load += 1
                    if not await self._wait(state, ticket, self.until_loaded()):
                        return self._superseded()
                    engine = self.engine()
                    continue
                self.counters.not_ready += 1
                return Answer(None, "not-ready")
            current = self.text_of(uri)
            if current is not None and current != prefix + suffix:
                return self._superseded()  # the document changed: this state is gone
            flight = state.flight
            if flight is not None and not flight.cancelled:
                if self._showable(flight, prefix, suffix):
                    flight.owner, flight.request = ticket, state.request
                    if waited is None:
                        self.counters.attached += 1
                    waited = flight
                    if not await self._wait(state, ticket, flight.landed):
                        return self._superseded()
                    if flight.error:
                        return Answer(None, "error", {"error": flight.error})
                    same = (flight.prefix, flight.suffix) == (prefix, suffix)
                    if same and not flight.cancelled and self.cache.get(prefix, suffix) is None:
                        return Answer(None, "empty", flight.stats)  # it had nothing to show
                    continue
                self._stop(engine, flight)
            settings = self.settings()
            self._cancel_grow(engine, state)
            self._prefill(engine, state, prefix, suffix, settings)
            delay = 0.0 if invoked or delayed else self.debounce(state, settings)
            if delay > 0:
                delayed = True
                if not await self._wait(state, ticket, asyncio.sleep(delay)):
                    return self._superseded()
                continue
            if state.request is not None and state.request in self.early_cancels:
                return Answer(None, "cancelled")  # its cancel was read while it got here
            job = engine.submit(**req(state, prefix, suffix, settings))
            self.counters.generations += 1
            flight = self._launch(state, prefix, suffix, job, owner=ticket)
            flight.request = state.request
            early = watch_block_end(job, prefix, suffix, state.language)
            if not await self._wait(state, ticket, first(flight.landed, early)):
                return self._superseded()
            shown = early.result() if early is not None and early.done() else None
            assert flight.landed is not None
            if shown is not None and not flight.landed.done():
                self.cache.put(prefix, suffix, shown)  # the landing replaces it with the rest
                self.counters.early += 1
                return Answer(shown, "early")
            if not await self._wait(state, ticket, flight.landed):
                return self._superseded()
            if flight.error:
                return Answer(None, "error", {"error": flight.error})
            cached = self.cache.get(prefix, suffix)
            return Answer(cached, "model" if cached else "empty", flight.stats)

    def _superseded(self) -> Answer:
        self.counters.superseded += 1
        return Answer(None, "superseded")

    async def _wait(self, state: DocState, ticket: int, what: Awaitable[Any] | None) -> bool:
        """Wait for `what` unless a newer request arrives first; False if one did."""
        wake = state.wake
        task = asyncio.ensure_future(what) if what is not None else None
        waiters = [asyncio.shield(task)] if task is not None else []
        if wake is not None and not wake.done():
            waiters.append(wake)
        if waiters:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if state.ticket != ticket:
            return False
        if task is not None and not task.done():  # pragma: no cover - woken for this ticket
            await asyncio.shield(task)
        return True

    @staticmethod
    def _wake(state: DocState) -> None:
        """A newer request: the one waiting until now answers superseded at once."""
        if state.wake is not None and not state.wake.done():
            state.wake.set_result(None)

    def _on_cancel(self, uri: str, state: DocState, ticket: int, asked: str) -> None:
        """$/cancelRequest: the generation stops unless the user typed on since the request,
        consistently with it: then the next keystroke's request will want it."""
        flight, engine = state.flight, self.engine()
        if flight is None or flight.owner != ticket or engine is None:
            return
        flight.owner = None
        text = self.text_of(uri)
        if text is None or text == asked or not self._showable_in(flight, text):
            self._stop(engine, flight)
            self.counters.cancelled += 1

    def stop_request(self, uri: str, request: Any) -> None:
        """A $/cancelRequest read on the stdin thread (cancel_watch.py), for the newest request
        of a document whose text has not changed since: stop its generation now, from that
        thread, within the decode in progress. The event loop's cancel follows and finds it
        stopped. Only attribute reads and engine.cancel (thread-safe) happen here."""
        self.early_cancels.append(request)
        state, engine = self.docs.get(uri), self.engine()
        flight = state.flight if state is not None else None
        if flight is None or engine is None or flight.cancelled or flight.request != request:
            return
        flight.cancelled = True
        self.counters.early_cancels += 1
        engine.cancel(flight.job)

    # -- flights -----------------------------------------------------------------------------
    def _launch(
        self,
        state: DocState,
        prefix: str,
        suffix: str,
        job: Any,
        *,
        owner: int | None,
        speculative: bool = False,
    ) -> Flight:
        """Track a submitted generation; its result goes to the cache when it lands."""
        loop = asyncio.get_running_loop()
        flight = Flight(prefix, suffix, job, speculative, owner, landed=loop.create_future())
        state.flight = flight
        asyncio.wrap_future(job.future).add_done_callback(
            lambda done: self._land(state, flight, done)
        )
        return flight

    def _land(self, state: DocState, flight: Flight, done: asyncio.Future[Any]) -> None:
        """Post-process a finished generation into the cache (whoever still wants it)."""
        if state.flight is flight:
            state.flight = None
        try:
            result = done.result()
        except BaseException as exc:  # noqa: BLE001 - engine errors become empty answers
            flight.error = str(exc) or type(exc).__name__
            if not flight.cancelled:
                self.counters.errors += 1
                log.warning("completion failed: %s", flight.error)
                self.on_error(flight.error)
            result = None
        if result is not None:
            self._take(state, flight, result)
        assert flight.landed is not None
        if not flight.landed.done():
            flight.landed.set_result(None)

    def _take(self, state: DocState, flight: Flight, result: dict[str, Any]) -> None:
        engine = self.engine()
        if engine is not None:
            self.counters.wasted_steps += engine.wasted_steps(flight.job, result)
        out = finish(flight.prefix, flight.suffix, result, state.language)
        flight.stats = out.stats
        if out.window:
            state.hint = out.window
        if out.cancelled:
            if not flight.speculative:
                self.cost = pacing.cancelled_cost(self.cost, out.stats)
            return
        self.cost = pacing.keystroke_cost(self.cost, out.stats)
        state.grow_wanted = bool(out.stats.get("capped"))
        source = "speculative" if flight.speculative else "model"
        self.on_stats({**out.stats, "source": source})
        if out.suggestion is not None:
            self.cache.put(flight.prefix, flight.suffix, out.suggestion)

    def _showable(self, flight: Flight, prefix: str, suffix: str) -> bool:
        """Whether the flight's result can still serve this state."""
        if flight.suffix != suffix or not prefix.startswith(flight.prefix):
            return False
        return consistent(flight.job.partial, prefix[len(flight.prefix) :])

    def _showable_in(self, flight: Flight, text: str) -> bool:
        """The same, for a document text whose cursor is not known (an edit, a cancel)."""
        end = len(text) - len(flight.suffix)
        if end < len(flight.prefix) or not text.startswith(flight.prefix):
            return False
        if not text.endswith(flight.suffix):
            return False
        return consistent(flight.job.partial, text[len(flight.prefix) : end])

    def _drop_unshowable(
        self, engine: EngineLike | None, state: DocState, prefix: str, suffix: str
    ) -> None:
        """A cache hit: a generation for text the user has typed past is of no use any more."""
        flight = state.flight
        if engine is None or flight is None or flight.cancelled or flight.speculative:
            return
        if not self._showable(flight, prefix, suffix):
            self._stop(engine, flight)

    def _stop(self, engine: EngineLike, flight: Flight) -> None:
        """Cancel a generation; it lands (cancelled) within a decode step."""
        if flight.cancelled:
            return
        flight.cancelled = True
        if not flight.job.done:
            self.counters.stopped += 1
        engine.cancel(flight.job)

    def debounce(self, state: DocState, settings: Settings) -> float:
        """Seconds to wait before generating (pacing.debounce with the measured cost)."""
        delay = pacing.debounce(state, settings, self.cost)
        if self.cost is not None and delay > settings.debounce_ms / 1000:
            self.cost = pacing.after_hold(self.cost)
        return delay
