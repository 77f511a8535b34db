"""The edit history as Zed keeps it, on the cases of Zed's own tests (zed 7eec892...,
crates/edit_prediction/src/edit_prediction_tests.rs: test_request_events,
test_edit_history_getter_pause_splits_last_event,
test_predicted_edits_are_separated_in_edit_history; crates/language/src/text_diff.rs)."""

from __future__ import annotations

from lsp_server.next_edit.history import EVENT_COUNT_MAX, EditHistory
from lsp_server.next_edit.udiff import unified_diff

URI, PATH = "file:///root/foo.md", "root/foo.md"


class Buffer:
    """A document whose edits go to a history, like didChange would."""

    def __init__(self, history: EditHistory, text: str, uri: str = URI, path: str = PATH):
        self.history, self.text, self.uri, self.path, self.now = history, text, uri, path, 0.0

    def edit(self, start: int, end: int, new: str, *, after: float = 0.1) -> None:
        self.now += after
        old, self.text = self.text, self.text[:start] + new + self.text[end:]
        self.history.record(
            self.uri, self.path, old, self.text, (start, start + len(new)), self.now
        )

    def offset(self, row: int) -> int:
        return sum(len(line) + 1 for line in self.text.split("\n")[:row])


def rendered(history: EditHistory) -> str:
    return "\n---\n".join(e.diff for e in history.snapshot())


def test_unified_diff_goldens() -> None:
    body = " foo\n-bar\n+BAR\n baz\n"
    assert unified_diff("foo\nbar\nbaz\n", "foo\nBAR\nbaz\n") == "@@ -1,3 +1,3 @@\n" + body
    assert unified_diff("foo\nbar\nbaz\n", "foo\nBAR\nbaz\n", 9, 11) == "@@ -10,3 +12,3 @@\n" + body
    old = "line1\nline2\nline3\nline4\nline5\nCHANGE_ME\nline7\nline8\n"
    new = old.replace("CHANGE_ME", "CHANGED")
    assert unified_diff(old, new) == (
        "@@ -3,6 +3,6 @@\n line3\n line4\n line5\n-CHANGE_ME\n+CHANGED\n line7\n line8\n"
    )
    assert unified_diff(old, new, 0, 0, 0) == "@@ -6,1 +6,1 @@\n-CHANGE_ME\n+CHANGED\n"


def test_request_events() -> None:
    history = EditHistory()
    Buffer(history, "Hello!\n\nBye\n").edit(7, 7, "How")
    (event,) = history.snapshot()
    assert (event.path, event.predicted) == (PATH, False)
    assert event.diff == "@@ -1,3 +1,3 @@\n Hello!\n-\n+How\n Bye\n"


def test_a_pause_splits_the_pending_event() -> None:
    history = EditHistory()
    buf = Buffer(history, "Hello!\n\nBye\n")
    buf.edit(7, 7, "How")
    buf.edit(10, 10, " are you?", after=2.0)  # after a pause: same line, so the same event
    buf.edit(19, 19, "!")
    assert [e.diff for e in history.snapshot()] == [
        "@@ -1,3 +1,3 @@\n Hello!\n-\n+How\n Bye\n",
        "@@ -1,3 +1,3 @@\n Hello!\n-How\n+How are you?!\n Bye\n",
    ]


def test_coalescing_within_eight_lines() -> None:
    history = EditHistory()
    buf = Buffer(history, "".join(f"Line {i}\n" for i in range(1, 31)))
    buf.edit(buf.offset(10), buf.offset(13), "Middle A\nMiddle B\n")
    assert rendered(history) == (
        "@@ -8,9 +8,8 @@\n Line 8\n Line 9\n Line 10\n-Line 11\n-Line 12\n-Line 13\n"
        "+Middle A\n+Middle B\n Line 14\n Line 15\n Line 16\n"
    )
    buf.edit(buf.offset(5), buf.offset(5), "Above\n")
    buf.edit(buf.offset(14), buf.offset(14), "Below\n")
    first = (
        "@@ -3,15 +3,16 @@\n Line 3\n Line 4\n Line 5\n+Above\n Line 6\n Line 7\n Line 8\n"
        " Line 9\n Line 10\n-Line 11\n-Line 12\n-Line 13\n+Middle A\n+Middle B\n Line 14\n"
        "+Below\n Line 15\n Line 16\n Line 17\n"
    )
    assert rendered(history) == first
    buf.edit(buf.offset(25), buf.offset(25), "Far below\n")
    assert rendered(history) == first + "\n---\n" + (
        "@@ -23,6 +23,7 @@\n Line 22\n Line 23\n Line 24\n+Far below\n Line 25\n Line 26\n"
        " Line 27\n"
    )


def test_an_accepted_prediction_is_an_event_of_its_own() -> None:
    history = EditHistory()
    buf = Buffer(history, "def f(a):\n    return a\n\nf(1)\n")
    buf.edit(7, 7, ", b")  # the user adds a parameter
    buf.edit(buf.text.index("f(1)") + 3, buf.text.index("f(1)") + 3, ", 2")  # accepted edit
    assert history.accept_latest(URI)
    events = history.snapshot()
    assert [e.predicted for e in events] == [False, True]
    assert "+def f(a, b):" in events[0].diff and "+f(1, 2)" not in events[0].diff
    assert "-f(1)\n+f(1, 2)\n" in events[1].diff
    buf.edit(0, 0, "# typed\n")  # a typed change after it starts a new event
    assert [e.predicted for e in history.snapshot()] == [False, True, False]


def test_bounded_and_dropped_at_close() -> None:
    history = EditHistory()
    buf = Buffer(history, "".join(f"l{i}\n" for i in range(400)))
    for n in range(30):  # far apart: each its own event
        buf.edit(buf.offset(n * 12), buf.offset(n * 12), "x")
    assert len(history.snapshot()) == EVENT_COUNT_MAX  # 9 kept + the pending one
    other = Buffer(history, "y\n", uri="file:///root/other.py", path="root/other.py")
    other.edit(0, 0, "z")
    history.forget(URI)
    assert [e.path for e in history.snapshot()] == ["root/other.py"]


def test_a_change_too_large_to_show_is_not_recorded() -> None:
    history = EditHistory()
    buf = Buffer(history, "a\n")
    buf.edit(0, 0, "x" * 7000 + "\n")
    assert history.snapshot() == []
