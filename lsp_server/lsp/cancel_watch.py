"""Which $/cancelRequest can stop its generation the moment it is read, before the event loop.

The stdin reader thread shows every message here in arrival order. A cancel for the newest
completion request of a document, with no edit of that document read since, is a cancel whose
generation the scheduler would stop anyway (the text is the one asked about, no newer request
can want it): stopping it on the reader thread saves the trip through the event loop, which a
CPU busy with llama.cpp can make tens of milliseconds long. Everything else is left to the
scheduler. Plain data: no pygls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

REQUESTS = ("textDocument/inlineCompletion", "textDocument/completion")
CHANGES = ("textDocument/didChange", "textDocument/didClose", "textDocument/didOpen")
CANCEL = "$/cancelRequest"


def _uri(params: Any) -> str | None:
    doc = getattr(params, "text_document", None)
    if doc is None and isinstance(params, dict):
        doc = params.get("textDocument")
    uri = doc.get("uri") if isinstance(doc, dict) else getattr(doc, "uri", None)
    return uri if isinstance(uri, str) else None


def _cancel_id(params: Any) -> Any:
    return params.get("id") if isinstance(params, dict) else getattr(params, "id", None)


class CancelWatch:
    """Per document: the newest completion request read, and whether an edit was read since."""

    def __init__(self, stop: Callable[[str, Any], None]) -> None:
        self.stop = stop  # (uri, request id): stop the generation that request owns
        self.newest: dict[str, Any] = {}  # uri -> id of its newest request, while no edit since
        self.lock = threading.Lock()

    def seen(self, method: str, msg_id: Any, params: Any) -> None:
        """One message, as it arrives (the reader thread)."""
        if method in REQUESTS or method in CHANGES:
            uri = _uri(params)
            if uri is None:
                return
            with self.lock:
                if method in REQUESTS:
                    self.newest[uri] = msg_id
                else:
                    self.newest.pop(uri, None)  # the text differs from what was asked about
        elif method == CANCEL:
            wanted = _cancel_id(params)
            with self.lock:
                uri = next((u for u, i in self.newest.items() if i == wanted), None)
                if uri is not None:
                    del self.newest[uri]  # one stop per request
            if uri is not None:
                self.stop(uri, wanted)
