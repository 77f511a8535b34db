"""The typing rhythm and what a keystroke's generation costs, as plain numbers: when a
generation costs more than the gap between keys, wait for a pause instead of starting work the
next key would stop."""

from __future__ import annotations

from typing import Any

from lsp_server.keystroke.flights import DocState
from lsp_server.settings import Settings

PACE_WINDOW_S = 0.4  # longer gaps are pauses (reading, thinking), not typing rhythm
ADAPTIVE_DEBOUNCE_MAX_S = 0.25
WARM_TOKENS = 64  # a generation that evaluated more was a cold start, not a keystroke's cost
HELD_DECAY = 0.9  # a held key lowers the cost estimate: a generation soon measures it again


def note_pace(state: DocState, now: float) -> None:
    """Track the typing rhythm: a moving average of the short gaps between requests."""
    if state.last_request is not None and now - state.last_request < PACE_WINDOW_S:
        gap = now - state.last_request
        state.pace = gap if state.pace is None else 0.7 * state.pace + 0.3 * gap
    state.last_request = now


def spent_s(stats: dict[str, Any]) -> float:
    """Seconds a generation took (a cold start's prompt evaluation is not a keystroke's)."""
    spent = float(stats.get("generate_ms", 0.0))
    if int(stats.get("evaluated_tokens", 0)) <= WARM_TOKENS:
        spent += float(stats.get("prompt_ms", 0.0))
    return spent / 1000


def keystroke_cost(cost: float | None, stats: dict[str, Any]) -> float:
    """Moving average of the seconds a keystroke's generation takes."""
    spent = spent_s(stats)
    return spent if cost is None else 0.7 * cost + 0.3 * spent


def cancelled_cost(cost: float | None, stats: dict[str, Any]) -> float | None:
    """A generation stopped by the next key took at least what it ran: the estimate is never
    below that (or decaying while keys wait would start a generation at every key of a long
    burst on a machine where each is stopped before it ends)."""
    spent = spent_s(stats)
    if spent <= 0:
        return cost
    return spent if cost is None else max(cost, spent)


def debounce(state: DocState, settings: Settings, cost: float | None) -> float:
    """Seconds to wait before generating: debounceMs while a generation costs less than the
    gap between keys (it can be shown before the next one); when it costs more, wait for a
    pause (1.5x the typing pace, at most 250 ms) instead of starting work typing will stop."""
    delay = settings.debounce_ms / 1000
    if not settings.adaptive_debounce or state.pace is None or cost is None:
        return delay
    if cost <= state.pace:
        return delay
    return max(delay, pause(state))


def after_hold(cost: float) -> float:
    """The cost estimate after a key that waited for a pause. Nothing is measured while keys
    wait, so an estimate inflated by a busy moment (other windows on a shared engine, a cold
    start) would hold every key until the user pauses; decaying it lets a generation through
    after a few keys to measure it again (about one in ten keys on a machine that is slow)."""
    return cost * HELD_DECAY


def pause(state: DocState) -> float:
    """How long without a key counts as a pause at this typing pace (0 before any rhythm)."""
    return min(state.pace * 1.5, ADAPTIVE_DEBOUNCE_MAX_S) if state.pace else 0.0
