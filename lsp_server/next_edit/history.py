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
        after = changed_span(last.pause_text, last.new)
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
    rows of context each side, numbered as in the file); None when the region is too large.
    Works from offsets (str.find / count run in C): a keystroke in a large file stays cheap."""
    start, end = span
    old_start, old_end = start, end + len(old) - len(new)
    if old_end < old_start:
        return None
    old_region, o_row = _region(old, old_start, old_end)
    new_region, n_row = _region(new, start, end)
    size = max(len(old_region.encode("utf-8", "surrogatepass")),
               len(new_region.encode("utf-8", "surrogatepass")))  # fmt: skip
    if size > DIFF_SIZE_LIMIT:
        return None
    return unified_diff(old_region, new_region, o_row, n_row)


def _region(text: str, start: int, end: int) -> tuple[str, int]:
    """The rows from 3 before `start`'s to 4 after `end`'s (Zed's: the context end row is the
    end row + 1 + 3, clamped to the last row, and the region runs to the start of the row after
    it), and the first row's number."""
    lo = text.rfind("\n", 0, start) + 1
    for _ in range(CONTEXT_LINES):
        if lo == 0:
            break
        lo = text.rfind("\n", 0, lo - 1) + 1
    hi = end
    for _ in range(CONTEXT_LINES + 2):
        nl = text.find("\n", hi)
        if nl < 0:
            hi = len(text)
            break
        hi = nl + 1
    return text[lo:hi], text.count("\n", 0, lo)


def _row(text: str, offset: int) -> int:
    return text.count("\n", 0, offset)


def changed_span(old: str, new: str) -> Span | None:
    """Where `new` differs from `old` (common prefix and suffix cut), or None if equal."""
    if old == new:
        return None
    start = common_prefix(old, new)
    end = common_prefix(old[start:][::-1], new[start:][::-1])
    return start, len(new) - end


def common_prefix(a: str, b: str) -> int:
    """Length of the common prefix, by halving with slice compares (C speed: a keystroke in a
    megabyte file costs microseconds, not a Python loop over it)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


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
