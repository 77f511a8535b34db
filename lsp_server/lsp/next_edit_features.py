"""LSP glue for next edits: GitHub Copilot's language-server request (so clients written for it,
copilot-lsp and sidekick.nvim, work with ours), the accept command, and the edit history fed
from every didChange.

`textDocument/copilotInlineEdit` {textDocument: {uri, version}, position, context} ->
{edits: [{text, range, textDocument: {uri, version}, command}]} with at most one edit; the
command (`seedCoder.server.acceptNextEdit` [id]) tells the server the edit was applied.
`textDocument/didShowInlineEdit` is counted. Advertised under capabilities.experimental.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from lsp_server.lsp import positions
from lsp_server.next_edit.history import changed_span
from lsp_server.next_edit.predictor import Request

if TYPE_CHECKING:
    from lsp_server.lsp.server import SeedCoderServer

INLINE_EDIT = "textDocument/copilotInlineEdit"
DID_SHOW = "textDocument/didShowInlineEdit"
ACCEPT_COMMAND = "seedCoder.server.acceptNextEdit"
EXPERIMENTAL = {
    "nextEdits": {"request": INLINE_EDIT, "didShow": DID_SHOW, "acceptCommand": ACCEPT_COMMAND}
}
NO_EDITS: dict[str, Any] = {"edits": []}


def _get(obj: Any, *keys: str) -> Any:
    """params.a.b whether pygls made objects or dicts of them."""
    for key in keys:
        if obj is None:
            return None
        obj = obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)
    return obj


def after_change(ls: SeedCoderServer, uri: str, old: str | None, changes: Sequence[Any]) -> None:
    """A didChange: a running prediction is for an old text (stop it); the history records
    the change (documents the model may see only)."""
    ls.next_edits.predictor.supersede()
    doc = ls.documents.get(uri)
    if doc is None or old is None:
        return
    ls.last_deletion.pop(uri, None)
    last = changes[-1] if len(changes) == 1 else None
    rng = getattr(last, "range", None)
    if last is not None and rng is not None and not last.text:
        start = positions.offset_at(old, rng.start.line, rng.start.character, doc.encoding)
        end = positions.offset_at(old, rng.end.line, rng.end.character, doc.encoding)
        if start is not None and end is not None and end > start:
            ls.last_deletion[uri] = (start, old[start:end])
    if not ls.next_edits.on:
        return
    path = ls.context.shareable_path(uri, ls.workspace.root_path, ls.settings.exclude_globs)
    if path is None:
        return
    span = changed_span(old, doc.text)
    if span is not None:
        ls.next_edits.history.record(uri, path, old, doc.text, span, ls.next_edits.clock())


def forget(ls: SeedCoderServer, uri: str) -> None:
    """A closed document: its history and predictions go."""
    ls.next_edits.history.forget(uri)
    ls.next_edits.predictor.forget(uri)
    ls.last_deletion.pop(uri, None)


def register(server: SeedCoderServer) -> None:
    """Add the next-edit requests and command to the server."""

    @server.feature(INLINE_EDIT)
    async def on_inline_edit(ls: SeedCoderServer, params: Any) -> dict[str, Any]:
        """The next edit for this version of the document (at most one), or none."""
        uri, version = _get(params, "textDocument", "uri"), _get(params, "textDocument", "version")
        line, character = _get(params, "position", "line"), _get(params, "position", "character")
        doc = ls.documents.get(uri) if isinstance(uri, str) else None
        if doc is None:
            ls.say(f"next edit for unknown document {uri} ignored", types.MessageType.Warning)
            return NO_EDITS
        if not ls.next_edits.on or not ls.settings.enable:
            return NO_EDITS
        if isinstance(version, int) and version != doc.version:
            ls.next_edits.predictor.counters.stale += 1
            return NO_EDITS  # the client is ahead of or behind us: never answer another text
        if not isinstance(line, int) or not isinstance(character, int):
            return NO_EDITS
        offset = positions.offset_at(doc.text, line, character, doc.encoding)
        if offset is None:
            ls.say(
                f"position {line}:{character} is outside {uri}; ignored", types.MessageType.Warning
            )
            return NO_EDITS
        opened = ls.document(uri)
        request = Request(uri, doc.version, doc.text, offset, _path(ls, uri),
                          (opened.language_id if opened else "") or "")  # fmt: skip
        prediction = await ls.next_edits.predictor.predict(request, ls.last_deletion.get(uri))
        if prediction is None or ls.documents.get(uri) is not doc or doc.version != request.version:
            return NO_EDITS
        edit = prediction.edit
        item: dict[str, Any] = {
            "text": edit.text,
            "range": _range(doc.text, edit.start, edit.end, doc.encoding),
            "textDocument": {"uri": uri, "version": doc.version},
            "command": {
                "title": "Accept next edit",
                "command": ACCEPT_COMMAND,
                "arguments": [prediction.id],
            },  # fmt: skip
            "id": prediction.id,
        }
        if edit.cursor is not None:
            after = doc.text[: edit.start] + edit.text + doc.text[edit.end :]
            cursor = positions.position_at(after, edit.cursor, doc.encoding)
            item["cursor"] = {"line": cursor[0], "character": cursor[1]}
        return {"edits": [item]}

    @server.feature(DID_SHOW)
    def on_did_show(ls: SeedCoderServer, _params: Any) -> None:
        ls.next_edits.predictor.counters.shown += 1

    @server.command(ACCEPT_COMMAND)
    def on_accept(ls: Any, *args: Any) -> dict[str, Any]:
        """The client applied a next edit: the history records it as an accepted prediction.
        (`ls` is untyped: pygls resolves a command's annotations at run time.)"""
        ident = args[0] if args else None
        prediction = ls.next_edits.predictor.recent.get(ident) if isinstance(ident, str) else None
        if prediction is None:
            return {"ok": False, "error": f"unknown or expired next edit {ident!r}"}
        ls.next_edits.predictor.recent.pop(prediction.id, None)
        ls.next_edits.predictor.counters.accepted += 1
        edit, before = prediction.edit, prediction.text
        doc = ls.documents.get(prediction.uri)
        applied = before[: edit.start] + edit.text + before[edit.end :]
        if doc is not None and doc.text == applied:  # the latest change is this edit: mark it
            ls.next_edits.history.accept_latest(prediction.uri)
        return {"ok": True}


def _path(ls: SeedCoderServer, uri: str) -> str:
    """The cursor file's path in the prompt: workspace-relative like the history, else its
    name (never an absolute path)."""
    shared = ls.context.shareable_path(uri, ls.workspace.root_path, ())
    if shared is not None:
        return shared
    return os.path.basename(uri.rstrip("/")) or "untitled"


def _range(text: str, start: int, end: int, encoding: str) -> dict[str, Any]:
    a, b = positions.position_at(text, start, encoding), positions.position_at(text, end, encoding)
    return {"start": {"line": a[0], "character": a[1]}, "end": {"line": b[0], "character": b[1]}}
