"""The edit history Zeta 2.1 is shown, kept as Zed keeps it (zed `crates/edit_prediction/src/
edit_prediction.rs`, commit in zeta_v0318.py): every change of an open document extends the
pending event when it is the same document, within 8 lines of the latest change and of the same
kind (typed or an accepted prediction); otherwise the pending event is finished and a new one
starts. A pause of 1 s or more inside an event splits it in two when it is shown. At most 10
events are kept; a change whose diff region passes 6,144 bytes is not recorded. Plain data.
Not ported: Zed's merging of trailing events that alternate between typed and predicted.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

from lsp_server.next_edit.udiff import unified_diff
from lsp_server.next_edit.zeta_v0318 import Event

EVENT_COUNT_MAX = 10
GROUPING_LINES = 8
PAUSE_S = 1.0
DIFF_SIZE_LIMIT = 2048 * 3
CONTEXT_LINES = 3

Span = tuple[int, int]  # string offsets


@dataclass
class _Pending:
    """The event being typed: texts before and now, where it changed, when."""

    uri: str
    path: str
    old: str
    new: str
    total: Span  # in `new`
    latest: Span  # in `new`
    predicted: bool
    last_edit: float
    pause_text: str | None = None  # the text when the last >= 1 s pause ended
    pause_total: Span | None = None  # `total` in pause_text then
    before_latest: str = ""  # the text before the latest change (for an accepted prediction)
    total_before_latest: Span | None = None


@dataclass
class EditHistory:
    """Events of all open documents, newest last; bounded (see EVENT_COUNT_MAX)."""

    events: deque[Event] = field(default_factory=deque)
    pending: _Pending | None = None

    def record(
        self, uri: str, path: str, old: str, new: str, changed: Span, now: float,
        *, predicted: bool = False,
    ) -> None:  # fmt: skip
        """A change of `uri` from `old` to `new`; `changed` is its extent in `new`."""
        if old == new:
            return
        if _diff(old, new, changed) is None:  # too large to show: ends the pending event
            self.finish()
            return
        last = self.pending
        if last is not None and last.uri == uri and last.new == old:
            total = _merge(_shift(last.total, old, new, changed), changed)
            near = _lines_between(new, changed, _shift(last.latest, old, new, changed))
            if last.predicted == predicted and near <= GROUPING_LINES:
                if now - last.last_edit >= PAUSE_S:
                    last.pause_text, last.pause_total = last.new, last.total
                last.before_latest, last.total_before_latest = last.new, last.total
                last.latest, last.total, last.new, last.last_edit = changed, total, new, now
                return
        self.finish()
        self.pending = _Pending(uri, path, old, new, changed, changed, predicted, now,
                                before_latest=old)  # fmt: skip

    def accept_latest(self, uri: str) -> bool:
        """The latest change applied an accepted prediction: it becomes an event of its own,
        marked as such (Zed records accepted predictions this way)."""
        last = self.pending
        if last is None or last.uri != uri:
            return False
        before, total = last.before_latest, last.total_before_latest
        self.pending = None
        if total is not None and before != last.old:
            head = replace(last, new=before, total=total, latest=total, pause_text=None)
            self.pending = head
            self.finish()
        self.pending = _Pending(uri, last.path, before, last.new, last.latest, last.latest,
                                True, last.last_edit, before_latest=before)  # fmt: skip
        return True

    def finish(self) -> None:
        """End the pending event and keep it (at most EVENT_COUNT_MAX events)."""
        last, self.pending = self.pending, None
        for event in _render(last) if last is not None else []:
            if len(self.events) + 1 >= EVENT_COUNT_MAX:
                self.events.popleft()
            self.events.append(event)

    def forget(self, uri: str) -> None:
        """A closed document: its events go (nothing of it is sent any more)."""
        if self.pending is not None and self.pending.uri == uri:
            self.pending = None
        self.events = deque(e for e in self.events if e.uri != uri)

    def snapshot(self) -> list[Event]:
        """The events to show, oldest first: the kept ones, then the pending one (split at its
        last pause)."""
        pending = _render(self.pending) if self.pending is not None else []
        return [*self.events, *pending]


def _render(last: _Pending) -> list[Event]:
    """The pending event as one or two events (before / after its last pause)."""
    parts: list[tuple[str, str, Span]] = []
    if last.pause_text is not None and last.pause_total is not None:
        parts.append((last.old, last.pause_text, last.pause_total))
        after = _changed_span(last.pause_text, last.new)
        if after is not None:
            parts.append((last.pause_text, last.new, after))
    else:
        parts.append((last.old, last.new, last.total))
    out = []
    for old, new, span in parts:
        diff = _diff(old, new, span)
        if diff:
            out.append(Event(last.path, diff, predicted=last.predicted, uri=last.uri))
    return out


def _diff(old: str, new: str, span: Span) -> str | None:
    """Zed's compute_diff_between_snapshots_in_range: the hunks of the rows around `span` (3
    rows of context each side, numbered as in the file); None when the region is too large."""
    start, end = span
    old_start, old_end = start, end + len(old) - len(new)
    if old_end < old_start:
        return None
    o_rows, n_rows = _row(old, old_start), _row(new, start)
    o_last, n_last = _row(old, old_end), _row(new, end)
    o_max, n_max = old.count("\n"), new.count("\n")
    o_ctx0, n_ctx0 = max(0, o_rows - CONTEXT_LINES), max(0, n_rows - CONTEXT_LINES)
    o_ctx1 = min(o_last + 1 + CONTEXT_LINES, o_max)
    n_ctx1 = min(n_last + 1 + CONTEXT_LINES, n_max)
    old_region = old[_line_start(old, o_ctx0) : _line_start(old, o_ctx1 + 1)]
    new_region = new[_line_start(new, n_ctx0) : _line_start(new, n_ctx1 + 1)]
    if max(len(old_region.encode()), len(new_region.encode())) > DIFF_SIZE_LIMIT:
        return None
    return unified_diff(old_region, new_region, o_ctx0, n_ctx0)


def _row(text: str, offset: int) -> int:
    return text.count("\n", 0, offset)


def _line_start(text: str, row: int) -> int:
    """Offset of a row's start; past the last row, the end of the text."""
    at = 0
    for _ in range(row):
        at = text.find("\n", at)
        if at < 0:
            return len(text)
        at += 1
    return at


def _changed_span(old: str, new: str) -> Span | None:
    """Where `new` differs from `old` (common prefix and suffix cut), or None if equal."""
    if old == new:
        return None
    start = 0
    limit = min(len(old), len(new))
    while start < limit and old[start] == new[start]:
        start += 1
    end = 0
    while end < limit - start and old[len(old) - 1 - end] == new[len(new) - 1 - end]:
        end += 1
    return start, len(new) - end


def _shift(span: Span, old: str, new: str, changed: Span) -> Span:
    """`span` (offsets in old) moved through the change that made `new` (anchors)."""
    delta = len(new) - len(old)
    change_start, change_end_new = changed
    change_end_old = change_end_new - delta

    def move(x: int) -> int:
        if x <= change_start:
            return x
        if x >= change_end_old:
            return x + delta
        return change_end_new

    return move(span[0]), move(span[1])


def _merge(a: Span, b: Span) -> Span:
    return min(a[0], b[0]), max(a[1], b[1])


def _lines_between(text: str, a: Span, b: Span) -> int:
    """0 when the spans overlap (as rows), else the rows between them."""
    a0, a1 = _row(text, a[0]), _row(text, a[1])
    b0, b1 = _row(text, b[0]), _row(text, b[1])
    if a1 < b0:
        return b0 - a1
    if b1 < a0:
        return a0 - b1
    return 0
