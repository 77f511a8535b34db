"""Work no keystroke waits for: the generation an edit starts when the client asks late, the
speculation after a shown suggestion, growing a cold window while the user reads, and the
prefill that warms the cache as a key arrives. A base of Scheduler (it shares its state)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from lsp_server.keystroke import budget, pacing
from lsp_server.keystroke.completion import payload
from lsp_server.keystroke.flights import Counters, DocState, EngineLike, Flight
from lsp_server.keystroke.suggestion_cache import SuggestionCache
from lsp_server.postprocess.rules import Suggestion
from lsp_server.settings import Settings

GROW_PAUSE_S = 1.0  # growing a cold window takes seconds: only once the user stops to read


class BackgroundWork:
    """The scheduler's background jobs; the state below is the scheduler's own."""

    engine: Callable[[], EngineLike | None]
    settings: Callable[[], Settings]
    background: Callable[[], str]  # the budget's level (budget.py)
    cache: SuggestionCache
    counters: Counters
    docs: dict[str, DocState]
    last_uri: str | None

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
        raise NotImplementedError

    def _eager(self, state: DocState, ticket: int, edits: int, text: str, cursor: int) -> None:
        """The pause after an edit: generate for it unless a request came or typing went on."""
        engine = self._idle(state, ticket)
        if engine is None or state.edits != edits or not self._allowed("eager"):
            return
        prefix, suffix = text[:cursor], text[cursor:]
        if self.cache.get(prefix, suffix) is not None:
            return
        settings = self.settings()
        self._cancel_grow(engine, state)
        self._prefill(engine, state, prefix, suffix, settings)
        job = engine.submit(**req(state, prefix, suffix, settings), background=True)
        self.counters.eager += 1
        self._launch(state, prefix, suffix, job, owner=None)

    def _after_shown(self, state: DocState, prefix: str, suffix: str, shown: Suggestion) -> None:
        """Once the user pauses on a shown suggestion (no key within 1.5x the typing pace),
        prepare the state after accepting it, then grow a window shrunk for a cold start."""
        if not self._allowed("speculate"):
            return  # nothing after the last key: speculation and growth wait for a request
        delay = pacing.pause(state)
        loop, ticket = asyncio.get_running_loop(), state.ticket
        loop.call_later(delay, self._speculate, state, ticket, prefix, suffix, shown)
        if state.grow_wanted:
            loop.call_later(GROW_PAUSE_S, self._grow, state, ticket, prefix, suffix)

    def _allowed(self, kind: str) -> bool:
        """The background budget allows this kind of work now (else it is counted as held)."""
        if budget.allows(self.background(), kind):
            return True
        self.counters.held_back += 1
        return False

    def _idle(self, state: DocState, ticket: int) -> EngineLike | None:
        """The engine, if the user has not typed since and is still in this document."""
        engine = self.engine()
        current = self.docs.get(self.last_uri or "") is state
        if engine is None or state.ticket != ticket or state.flight is not None or not current:
            return None
        return engine

    def _speculate(
        self, state: DocState, ticket: int, prefix: str, suffix: str, shown: Suggestion
    ) -> None:
        engine, settings = self._idle(state, ticket), self.settings()
        if engine is not None and settings.speculative:
            accepted = prefix + shown.text
            after = suffix[shown.replace_chars :]
            if self.cache.get(accepted, after) is None:
                job = engine.submit(**req(state, accepted, after, settings), background=True)
                self.counters.speculations += 1
                self._launch(state, accepted, after, job, owner=None, speculative=True)

    def _grow(self, state: DocState, ticket: int, prefix: str, suffix: str) -> None:
        """The full window, evaluated while the user reads (after a cold start's small one)."""
        engine = self._idle(state, ticket)
        if engine is None or not state.grow_wanted:
            return
        if state.grow_job is None or state.grow_job.done:
            settings = self.settings()
            state.grow_job = engine.submit(
                "prefill",
                uncapped=True,
                background=True,
                **req(state, prefix, suffix, settings, hint=False),
            )
            self.counters.grows += 1

    def _cancel_grow(self, engine: EngineLike, state: DocState) -> None:
        """A keystroke needs the engine now: the background grow gives way (and resumes after
        the next pause). It replaced the cached small window: prefill that again."""
        if state.grow_job is not None and not state.grow_job.done:
            engine.cancel(state.grow_job)
            state.prefill_key = None
        state.grow_job = None

    def _prefill(
        self, engine: EngineLike, state: DocState, prefix: str, suffix: str, settings: Settings
    ) -> None:
        """Warm the KV cache with everything but the cursor's line as soon as a key arrives, so
        the completion only evaluates that line. Typing on the same line keeps the same key: no
        new prefill, and the running one is never cancelled (its work survives aborts)."""
        # A new worker (model reload, crash restart) starts with an empty cache: prefill again.
        key = (getattr(engine, "starts", 0), prefix[: prefix.rfind("\n") + 1], suffix)
        if key == state.prefill_key:
            return
        if state.prefill_job is not None and not state.prefill_job.done:
            engine.cancel(state.prefill_job)  # what it evaluated stays cached for the next one
        state.prefill_key = key
        state.prefill_job = engine.submit("prefill", **req(state, prefix, suffix, settings))
        self.counters.prefills += 1


def req(
    state: DocState, prefix: str, suffix: str, settings: Settings, *, hint: bool = True
) -> dict[str, Any]:
    """The engine request for a cursor in this document."""
    hint_ = state.hint if hint else None
    return payload(prefix, suffix, settings, hint_, state.uri, state.language, state.extra)
