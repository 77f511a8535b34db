"""Which cancels the stdin thread may act on at once: only the newest request of a document
whose text has not changed since (the scheduler would stop exactly those)."""

from __future__ import annotations

from typing import Any

from lsp_server.lsp.cancel_watch import CancelWatch

INLINE, CHANGE = "textDocument/inlineCompletion", "textDocument/didChange"


def doc(uri: str) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}}


def watch() -> tuple[CancelWatch, list[tuple[str, Any]]]:
    stopped: list[tuple[str, Any]] = []
    return CancelWatch(lambda uri, rid: stopped.append((uri, rid))), stopped


def test_the_newest_request_with_no_edit_since_is_stopped_once() -> None:
    w, stopped = watch()
    w.seen(INLINE, 1, doc("a"))
    w.seen(INLINE, 2, doc("b"))
    w.seen("$/cancelRequest", None, {"id": 1})
    w.seen("$/cancelRequest", None, {"id": 1})  # a second cancel of the same request
    assert stopped == [("a", 1)]


def test_an_edit_or_a_newer_request_leaves_it_to_the_scheduler() -> None:
    w, stopped = watch()
    w.seen(INLINE, 1, doc("a"))
    w.seen(CHANGE, None, doc("a"))
    w.seen("$/cancelRequest", None, {"id": 1})
    w.seen(INLINE, 2, doc("a"))
    w.seen(INLINE, 3, doc("a"))
    w.seen("$/cancelRequest", None, {"id": 2})
    w.seen("textDocument/didClose", None, doc("a"))
    w.seen("$/cancelRequest", None, {"id": 3})
    assert stopped == []
    assert w.newest == {}  # nothing kept for a closed document


def test_params_as_pygls_objects_and_odd_input() -> None:
    class Obj:
        def __init__(self, **kw: Any) -> None:
            self.__dict__.update(kw)

    w, stopped = watch()
    w.seen(INLINE, "x", Obj(text_document=Obj(uri="u")))
    w.seen(INLINE, 5, None)  # no params: ignored
    w.seen(INLINE, 6, {"textDocument": {"uri": 7}})  # not a string: ignored
    w.seen("$/cancelRequest", None, Obj(id="x"))
    assert stopped == [("u", "x")]
