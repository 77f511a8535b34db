"""Running next-edit predictions: one at a time (a newer request stops the older one within a
decode step), never in the way of a completion (a keystroke's completion stops a running
prediction: `preempt`), answered only for the document version they were computed for.

Pure asyncio over plain data; the engine is anything with `submit(op, **payload) -> Job` and
`cancel(job)` (a worker supervisor, a remote client, or a double in scheduling tests).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lsp_server.next_edit import regions
from lsp_server.next_edit.history import EditHistory
from lsp_server.next_edit.output import Edit, Malformed, edit_from
from lsp_server.next_edit.syntax_nodes import ancestors
from lsp_server.next_edit.zeta_v0318 import END_MARKER, assemble, reserved_text_in

log = logging.getLogger("seed_coder_lsp.next_edit")
MAX_TOKENS = 512  # an answer may rewrite the whole ~350-token editable region
PACE_WINDOW_S = 0.4  # longer gaps between requests are pauses, not typing rhythm
WAIT_MAX_S = 0.25  # at most this long a prediction waits for a pause in typing
RECENT = 32  # predictions kept for the accept command and the inline-completion path


class EditEngine(Protocol):
    """What the predictor needs from an engine (local or remote)."""

    @property
    def ready(self) -> bool: ...

    def submit(self, op: str = "complete", **payload: Any) -> Any: ...

    def cancel(self, job: Any, soft: bool = False) -> None: ...


@dataclass
class Counters:
    """What happened to next-edit requests, for tests, logs and benchmarks."""

    requests: int = 0
    predictions: int = 0  # generations started
    edits: int = 0  # answers that became an edit
    no_edit: int = 0  # answers without an edit (or one that changes nothing)
    malformed: int = 0
    superseded: int = 0  # a change or a newer request stopped it (after the decode in progress)
    preempted: int = 0  # a completion stopped it
    stale: int = 0  # the document changed while it ran
    refused: int = 0  # the text holds template text, or the prompt would not fit
    warmups: int = 0  # prompts evaluated (no answer) while waiting for a pause in typing
    not_ready: int = 0
    errors: int = 0
    shown: int = 0  # the client said it showed one (didShowInlineEdit)
    accepted: int = 0


@dataclass
class Prediction:
    """An edit for one version of one document."""

    id: str
    uri: str
    version: int
    text: str  # the document it was computed on
    edit: Edit
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def insertion_at(self) -> int | None:
        """The offset it inserts at, if it only inserts."""
        return self.edit.start if self.edit.start == self.edit.end else None


@dataclass
class Request:
    """What a prediction needs from the editor's state."""

    uri: str
    version: int
    text: str
    cursor: int
    path: str  # workspace-relative, as the history writes it
    language: str = ""


class Predictor:
    """Decides, for each next-edit request, whether and what to generate."""

    def __init__(
        self,
        engine: Callable[[], EditEngine | None],
        history: EditHistory,
        current: Callable[[str], tuple[str, int] | None],
        on_stats: Callable[[dict[str, Any]], None] | None = None,
        warmups: Callable[[], bool] = lambda: True,
    ) -> None:
        self.engine = engine
        self.warmups = warmups  # the background budget allows warm-ups now
        self.history = history
        self.current = current  # uri -> (text, version) now, or None when not open
        self.on_stats = on_stats or (lambda stats: None)
        self.counters = Counters()
        self.running: Any = None  # the job whose answer is wanted (or a warm-up)
        self.stopping: dict[int, Any] = {}  # softly stopped jobs still finishing their batch
        self.recent: OrderedDict[str, Prediction] = OrderedDict()
        self._ids = itertools.count(1)
        self.ticket = 0  # bumped by every request and change: a waiting request is then stale
        self.last_request: float | None = None
        self.pace: float | None = None  # typical gap between requests while typing, seconds
        self.cost: float | None = None  # seconds a prediction takes, moving average
        self.clock = time.monotonic

    def preempt(self) -> None:
        """A completion wants the engine's CPU now: stop the running prediction inside the
        decode in progress (the client asks again after the next pause); one waiting for a
        pause never starts."""
        self.ticket += 1
        if self._stop_running(soft=False):
            self.counters.preempted += 1

    def supersede(self) -> None:
        """The text changed: the running prediction is for old text. It stops after the decode
        in progress, which stays cached: the next prompt shares most of it."""
        self.ticket += 1
        if self._stop_running(soft=True):
            self.counters.superseded += 1

    def _stop_running(self, soft: bool) -> bool:
        """Stop the running job: softly (it finishes its batch, tracked until done) or inside
        its decode, together with any job still finishing a soft stop."""
        running, self.running = self.running, None
        engine = self.engine()
        if engine is None:
            return False
        if not soft:
            for job in list(self.stopping.values()):
                engine.cancel(job, soft=False)
            self.stopping.clear()
        if running is None or running.done:
            return False
        engine.cancel(running, soft=soft)
        if soft:
            key = id(running)
            self.stopping[key] = running
            running.future.add_done_callback(lambda _f: self.stopping.pop(key, None))
        return True

    async def predict(
        self, req: Request, undo_of: tuple[int, str] | None = None
    ) -> Prediction | None:
        """The next edit for this state of the document, or None."""
        self.counters.requests += 1
        engine = self.engine()
        if engine is None or not engine.ready:
            self.counters.not_ready += 1
            return None
        self.supersede()
        ticket = self.ticket
        payload = self._payload(req)
        if payload is None:
            self.counters.refused += 1
            return None
        editable, body = payload
        delay = self._wait()
        if delay > 0:
            # Typing faster than a prediction runs: wait for a pause, and meanwhile evaluate
            # the prompt only (no answer), stopped after its batch by the next key; what it
            # evaluated stays cached for the prediction that follows the pause.
            if self.warmups():
                warm = {**body, "max_tokens": 0, "warmup": True, "background": True}
                self.running = engine.submit("edit", **warm)
                self.counters.warmups += 1
            await asyncio.sleep(delay)
            if ticket != self.ticket:
                self.counters.superseded += 1
                return None  # a newer request or change came first: it never generated
        job = engine.submit("edit", **body)
        self.counters.predictions += 1
        job.future.add_done_callback(self._learn)  # also when nobody waits for it any more
        self.running = job
        try:
            result = await asyncio.shield(asyncio.wrap_future(job.future))
        except asyncio.CancelledError:
            engine.cancel(job, soft=True)  # $/cancelRequest: the prompt's batch is kept
            raise
        except Exception as exc:  # noqa: BLE001 - engine errors are an empty answer
            self.counters.errors += 1
            log.warning("next edit failed: %s", exc)
            return None
        finally:
            if self.running is job:
                self.running = None
        return self._take(req, editable, result, undo_of)

    def _learn(self, done: Any) -> None:
        """A finished or stopped prediction (engine thread): its cost, and its numbers in the
        log. One stopped after `spent` seconds cost at least that."""
        if done.cancelled() or done.exception() is not None:
            return
        stats = dict(done.result().get("stats") or {})
        spent = float(stats.get("total_ms", 0.0)) / 1000
        if done.result().get("cancelled"):
            self.cost = max(self.cost or 0.0, spent)
        else:
            self.cost = spent if self.cost is None else 0.7 * self.cost + 0.3 * spent
        self.on_stats({**stats, "source": "next-edit"})

    def _wait(self) -> float:
        """Seconds to wait before starting: none while a prediction costs less than the gap
        between requests; else a pause (1.5x the typing pace, at most WAIT_MAX_S), so that work
        the next key would stop is not started (the editors' own debounce makes this 0)."""
        now = self.clock()
        gap = None if self.last_request is None else now - self.last_request
        self.last_request = now
        if gap is None or gap >= PACE_WINDOW_S:
            return 0.0  # after a pause: at once
        self.pace = gap if self.pace is None else 0.7 * self.pace + 0.3 * gap
        if self.cost is None or self.cost <= self.pace:
            return 0.0
        return min(self.pace * 1.5, WAIT_MAX_S)

    def _payload(self, req: Request) -> tuple[tuple[int, int], dict[str, Any]] | None:
        """The engine request: the region, the prompt's pieces (None: cannot be sent)."""
        region = regions.region(req.text, req.cursor, ancestors(req.text, req.cursor, req.language))
        lo, hi = region.context
        context = req.text[lo:hi]
        events = self.history.snapshot()
        found = reserved_text_in(context) or reserved_text_in(req.path)
        found = found or next((t for e in events if (t := reserved_text_in(e.diff))), None)
        if found is not None:
            log.info(
                "next edit skipped: the text holds %r, which the model reads as its own", found
            )
            return None
        edit_lo, edit_hi = region.editable
        prompt = assemble(req.path, context, (edit_lo - lo, edit_hi - lo), req.cursor - lo, events)
        if prompt is None:
            return None
        body = {
            "edit_suffix": [list(p) for p in prompt.suffix],
            "edit_prefix": [list(p) for p in prompt.prefix],
            "max_tokens": MAX_TOKENS,
            "max_time_ms": 600_000,
            "temperature": 0.0,
            "stop_texts": [END_MARKER],  # Seed-Coder's EOS text: nothing else ends an answer
            "doc": req.uri,
        }
        return region.editable, body

    def _take(
        self,
        req: Request,
        editable: tuple[int, int],
        result: dict[str, Any],
        undo_of: tuple[int, str] | None,
    ) -> Prediction | None:
        """Parse the answer; keep it only for the version it was computed on."""
        if result.get("cancelled"):
            return None
        now = self.current(req.uri)
        if now is None or now != (req.text, req.version):
            self.counters.stale += 1
            return None
        try:
            edit = edit_from(req.text, editable, str(result.get("text", "")), undo_of)
        except Malformed as exc:
            self.counters.malformed += 1
            log.info("next edit answer ignored: %s", exc)
            return None
        if edit is None:
            self.counters.no_edit += 1
            return None
        self.counters.edits += 1
        prediction = Prediction(
            f"ne-{next(self._ids)}",
            req.uri,
            req.version,
            req.text,
            edit,
            dict(result.get("stats") or {}),
        )
        self.recent[prediction.id] = prediction
        while len(self.recent) > RECENT:
            self.recent.popitem(last=False)
        return prediction

    def latest_for(self, uri: str, version: int) -> Prediction | None:
        """The newest prediction for this version of the document."""
        for prediction in reversed(self.recent.values()):
            if prediction.uri == uri:
                return prediction if prediction.version == version else None
        return None

    def forget(self, uri: str) -> None:
        """A closed document: its predictions go."""
        for key in [k for k, p in self.recent.items() if p.uri == uri]:
            del self.recent[key]
