"""LSP glue: inline completions over stdio (with model_life.py and protocol.py; lsp/ is the only
package that imports pygls/lsprotocol)."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

from lsprotocol import types
from pygls.workspace import TextDocument

from lsp_server import __version__, power
from lsp_server.engines.shared import shared_info
from lsp_server.keystroke.completion import stats_line
from lsp_server.keystroke.scheduler import Scheduler
from lsp_server.lsp import next_edit_features, positions, repository_life
from lsp_server.lsp.cancel_watch import CancelWatch
from lsp_server.lsp.documents import Document, Documents
from lsp_server.lsp.model_life import ModelServer
from lsp_server.lsp.next_edit_life import NextEdits
from lsp_server.lsp.protocol import internals, serve_stdio
from lsp_server.lsp.repository_life import RepositoryContext
from lsp_server.model_files.download import DownloadError
from lsp_server.postprocess.rules import Suggestion
from lsp_server.settings import DEFAULTS, Settings, parse_settings

log = logging.getLogger("seed_coder_lsp.server")
STATS = "seedCoder/stats"
DOWNLOAD_COMMAND = "seedCoder.server.downloadModel"


class SeedCoderServer(ModelServer):
    """Adds the keystroke scheduler and the document requests to the model's life."""

    def __init__(self, settings: Settings = DEFAULTS) -> None:
        super().__init__(settings)
        self.scheduler = Scheduler(
            lambda: self.engine,
            lambda: self.settings,
            self._log_stats,
            text_of=self.text_of,
            until_loaded=self.until_loaded,
            background=self.background_level,
            on_error=self._request_failed,
        )
        self.documents = Documents()  # the editor's text, kept with LSP line rules
        self.repository = RepositoryContext(self)  # the workspace index
        self.context = self.repository.sources  # snippets of other files for a cursor
        self.cancel_watch = CancelWatch(self.scheduler.stop_request)  # on stdin's thread
        self.next_edits = NextEdits(self, self.current)
        self.experimental_capabilities = next_edit_features.EXPERIMENTAL
        self.last_deletion: dict[str, tuple[int, str]] = {}  # uri -> (offset, text) just deleted
        self.inline_client = True
        self.pending_warnings: list[str] = []  # from initializationOptions, shown once initialized

    def model_changed(self) -> None:
        self.scheduler.cache.clear()

    def extra_status(self) -> dict[str, Any]:
        return {"nextEdit": self.next_edits.state["state"]} if hasattr(self, "next_edits") else {}

    def settings_applied(self) -> None:
        self.repository.configure()
        if self.loop is not None and self.settings.next_edit_key() != self.next_edits.key:
            self.loop.create_task(self.next_edits.load())

    async def reload_for(self, name: str, *, download: bool = False) -> None:
        await super().reload_for(name, download=download)
        if self.settings.next_edit_model.strip() == name:
            await self.next_edits.load(download=download)

    def shutdown_more(self) -> None:
        self.next_edits.close()
        self.repository.close()

    def current(self, uri: str) -> tuple[str, int] | None:
        """A document's text and version now (a prediction checks it is still for them)."""
        doc = self.documents.get(uri)
        return (doc.text, doc.version) if doc is not None else None

    def _request_failed(self, message: str) -> None:
        """A request the engine refused while it serves (marker text for a text-only server):
        said once; an outage is the engine's own event."""
        if self.engine is not None and self.engine.ready:
            self.tell_once(message)

    def _log_stats(self, stats: dict[str, Any]) -> None:
        self.say(f"completion: {stats_line(stats)} via {stats.get('source')}")
        if stats.get("source") == "model":
            self.set_status("ready", "model ready", lastLatencyMs=round(stats.get("total_ms", 0)))

    # -- settings and model lifecycle --------------------------------------------------------
    # -- requests ----------------------------------------------------------------------------
    def document(self, uri: str) -> TextDocument | None:
        """An open document, or None (the client never opened it or closed it)."""
        return self.workspace.text_documents.get(uri)

    def text_of(self, uri: str) -> str | None:
        """The document's current text (the scheduler checks requests against it)."""
        doc = self.documents.get(uri)
        return doc.text if doc is not None else None

    async def suggest(
        self, uri: str, position: types.Position, invoked: bool
    ) -> tuple[Document, int, Suggestion] | None:
        """Shared by inline and fallback completion: validate, then ask the scheduler."""
        settings = self.settings
        opened, doc = self.document(uri), self.documents.get(uri)
        self.next_edits.predictor.preempt()  # completions first: a running prediction stops
        if opened is None or doc is None:
            self.say(f"completion for unknown document {uri} ignored", types.MessageType.Warning)
            return None
        if not settings.enable or not settings.language_enabled(opened.language_id or ""):
            return None
        offset = positions.offset_at(doc.text, position.line, position.character, doc.encoding)
        if offset is None:
            self.say(
                f"position {position.line}:{position.character} is outside {uri}; ignored",
                types.MessageType.Warning,
            )
            return None
        text, version = doc.text, doc.version
        language = opened.language_id or ""
        extra = self.context.extra(
            uri,
            text[:offset],
            text[offset:],
            language,
            ((u, d.text, d.version) for u, d in self.documents.docs.items()),
            settings.extra_context_tokens,
            settings.exclude_globs,
            self.workspace.root_path,
            self.repository.folders() if settings.repository_context else (),
        )
        answer = await self.scheduler.complete(
            uri,
            text[:offset],
            text[offset:],
            invoked=invoked,
            language=language,
            extra=extra,
            request=self.protocol.msg_id,
        )
        if self.documents.get(uri) is not doc or doc.version != version:
            return None  # computed for text that has changed since: never show it as current
        if answer.suggestion is None:
            return self._next_edit_here(doc, uri, offset)
        return doc, offset, answer.suggestion

    def _next_edit_here(
        self, doc: Document, uri: str, offset: int
    ) -> tuple[Document, int, Suggestion] | None:
        """A next edit that inserts at the cursor is served as an inline completion too, so
        every client shows it (when the completion model had nothing to say)."""
        prediction = self.next_edits.predictor.latest_for(uri, doc.version)
        if prediction is None or prediction.insertion_at != offset:
            return None
        return doc, offset, Suggestion(prediction.edit.text)


def encoding_of(doc: TextDocument) -> str:
    """The negotiated position encoding, as "utf-8" / "utf-16" / "utf-32"."""
    kind = doc.position_codec.encoding
    return str(getattr(kind, "value", kind) or positions.UTF16)


def edit_cursor(doc: Document, changes: Sequence[Any]) -> int | None:
    """Where typing leaves the cursor: after the text of the last change (None for a whole-text
    replacement, which says nothing about the cursor)."""
    last = changes[-1] if changes else None
    rng = getattr(last, "range", None)
    if last is None or rng is None:
        return None
    start = positions.offset_at(doc.text, rng.start.line, rng.start.character, doc.encoding)
    return None if start is None else start + len(last.text)


def item_range(doc: Document, offset: int, suggestion: Suggestion) -> types.Range:
    """The exact range the text replaces: empty at the cursor, or over auto-closed brackets."""
    text, enc = doc.text, doc.encoding
    start = positions.position_at(text, offset, enc)
    end = positions.position_at(text, offset + suggestion.replace_chars, enc)
    return types.Range(
        start=types.Position(line=start[0], character=start[1]),
        end=types.Position(line=end[0], character=end[1]),
    )


server = SeedCoderServer()


@server.feature(types.INITIALIZE)
def on_initialize(ls: SeedCoderServer, params: types.InitializeParams) -> None:
    """Settings from initializationOptions; note whether the client shows inline completions."""
    text_doc = params.capabilities.text_document
    ls.inline_client = bool(text_doc and text_doc.inline_completion is not None)
    settings, warnings = parse_settings(params.initialization_options, ls.base_settings)
    ls.settings = ls.init_settings = settings
    ls.pending_warnings = warnings


@server.feature(types.INITIALIZED)
async def on_initialized(ls: SeedCoderServer, _params: types.InitializedParams) -> None:
    """Answered at once; the model loads in the background."""
    ls.loop = asyncio.get_running_loop()
    for warning in ls.pending_warnings:
        ls.tell_once(warning)
    if not ls.settings.enable:
        ls.set_status("disabled", "completions disabled (seedCoder.enable)")
    await ls.pull_configuration()  # settings first, then the model: never the wrong one
    ls.loop.create_task(ls.load_model())
    ls.loop.create_task(ls.next_edits.load())
    ls.repository.configure()
    ls.loop.create_task(ls.repository.watch_files())


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
def on_configuration(ls: SeedCoderServer, params: types.DidChangeConfigurationParams) -> None:
    """Settings pushed by the client (section seedCoder)."""
    raw = params.settings
    if isinstance(raw, dict) and "seedCoder" in raw:
        raw = raw["seedCoder"]
    if raw is None:
        return
    ls.apply_settings(raw)


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def on_open(ls: SeedCoderServer, params: types.DidOpenTextDocumentParams) -> None:
    """Keep the editor's text ourselves (see documents.py), in the negotiated encoding."""
    item = params.text_document
    opened = ls.document(item.uri)
    encoding = encoding_of(opened) if opened is not None else positions.UTF16
    ls.documents.open(item.uri, item.text, item.version, encoding)
    ls.repository.opened_or_changed(item.uri, item.text)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def on_change(ls: SeedCoderServer, params: types.DidChangeTextDocumentParams) -> None:
    """Apply the edit with LSP line rules, then stop a generation it made useless."""
    uri = params.text_document.uri
    before = ls.documents.get(uri)
    old = before.text if before is not None else None
    changes = [(_range(getattr(c, "range", None)), c.text) for c in params.content_changes]
    if not ls.documents.change(uri, params.text_document.version, changes):
        opened = ls.document(uri)  # an edit that does not fit: take pygls's copy, and say so
        if opened is not None:
            log.warning("edit of %s does not fit the text; resynchronized", uri)
            ls.documents.open(uri, opened.source, opened.version or 0, encoding_of(opened))
    doc = ls.documents.get(uri)
    if doc is not None:
        cursor = edit_cursor(doc, params.content_changes)
        ls.context.note_edit(uri, doc.text, cursor)
        ls.scheduler.on_change(uri, doc.text, cursor)
        ls.repository.opened_or_changed(uri, doc.text)
    next_edit_features.after_change(ls, uri, old, params.content_changes)


def _range(rng: types.Range | None) -> tuple[int, int, int, int] | None:
    if rng is None:
        return None
    return (rng.start.line, rng.start.character, rng.end.line, rng.end.character)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def on_close(ls: SeedCoderServer, params: types.DidCloseTextDocumentParams) -> None:
    """Stop any generation for a closed document and forget its text."""
    ls.documents.close(params.text_document.uri)
    ls.context.forget(params.text_document.uri)
    ls.repository.closed(params.text_document.uri)
    ls.scheduler.forget(params.text_document.uri)
    next_edit_features.forget(ls, params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
async def on_inline_completion(
    ls: SeedCoderServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList:
    """Ghost text: one item with an explicit range (clients hide range-less items after a word)."""
    invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
    found = await ls.suggest(params.text_document.uri, params.position, invoked)
    if found is None:
        return types.InlineCompletionList(items=[])
    doc, offset, suggestion = found
    item = types.InlineCompletionItem(
        insert_text=suggestion.text, range=item_range(doc, offset, suggestion)
    )
    return types.InlineCompletionList(items=[item])


@server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(resolve_provider=False))
async def on_completion(
    ls: SeedCoderServer, params: types.CompletionParams
) -> types.CompletionList | None:
    """For clients without inline completion (Helix, Sublime): the infill as one item."""
    if ls.inline_client or not ls.settings.completion_fallback:
        return None
    found = await ls.suggest(params.text_document.uri, params.position, invoked=True)
    if found is None:
        return types.CompletionList(is_incomplete=True, items=[])
    doc, offset, suggestion = found
    first_line = suggestion.text.split("\n", 1)[0].strip() or suggestion.text.strip()
    item = types.CompletionItem(
        label=first_line[:80],
        kind=types.CompletionItemKind.Snippet,
        detail="Seed-Coder",
        text_edit=types.TextEdit(
            range=item_range(doc, offset, suggestion), new_text=suggestion.text
        ),
        insert_text_format=types.InsertTextFormat.PlainText,
        filter_text=doc.text[doc.text.rfind("\n", 0, offset) + 1 : offset] + first_line,
        sort_text="0",
        preselect=True,
    )
    return types.CompletionList(is_incomplete=True, items=[item])


@server.command(DOWNLOAD_COMMAND)
async def on_download_command(ls: SeedCoderServer, *args: Any) -> dict[str, Any]:
    """seedCoder.server.downloadModel [name]: download then (re)load. pygls routes
    workspace/executeCommand only to @server.command handlers (a feature handler never runs)."""
    from lsp_server.model_files.registry import default_model_name, load_registry

    given = args[0] if args else None
    if given is not None and not isinstance(given, str):
        ls.tell_once(f"{DOWNLOAD_COMMAND} takes a registry model name, got {given!r}")
        return {"ok": False, "error": "the argument must be a model name"}
    name = given or ls.settings.model or default_model_name()
    if name not in load_registry():
        message = f"{name!r} is not a registry model; nothing to download"
        ls.tell_once(message)
        return {"ok": False, "error": message}
    try:
        await ls.download(name)
    except DownloadError as exc:
        ls.tell_once(str(exc), types.MessageType.Error)
        return {"ok": False, "error": str(exc)}
    await ls.reload_for(name)
    return {"ok": True, "model": name}


@server.feature(STATS)
def on_stats(ls: SeedCoderServer, params: Any) -> dict[str, Any]:
    """Counters and engine facts, for tests and benchmarks; with {uri}, the server's version
    and hash of that document (is it in sync with the editor?), never its text."""
    engine = ls.engine
    uri = params.get("uri") if isinstance(params, dict) else getattr(params, "uri", None)
    return {
        "document": ls.documents.fingerprint(uri) if isinstance(uri, str) else None,
        **vars(ls.scheduler.counters),
        "decode_steps": engine.decode_steps if engine else 0,
        "evaluated_tokens": engine.evaluated_tokens if engine else 0,
        "engine_kind": engine.kind if engine else None,
        "next_edit": {
            **ls.next_edits.state,
            **vars(ls.next_edits.predictor.counters),
            "decode_steps": ls.next_edits.engine.decode_steps if ls.next_edits.engine else 0,
            "evaluated_tokens": (
                ls.next_edits.engine.evaluated_tokens if ls.next_edits.engine else 0
            ),
            "events": len(ls.next_edits.history.snapshot()),
        },
        "repository": ls.repository.status(),
        "background": {
            "level": ls.background_level(),
            "on_battery": power.on_battery(),
            "cpu_s": round(engine.cpu_ms["background"] / 1000, 3) if engine else 0.0,
            "foreground_cpu_s": round(engine.cpu_ms["foreground"] / 1000, 3) if engine else 0.0,
            "index_cpu_s": ls.repository.builder.status()["cpu_s"],
        },
        "engine_pid": engine.pid if engine else None,
        "engine_starts": engine.starts if engine else 0,
        "engine_crashes": engine.crashes if engine else 0,
        "shared_engine": shared_info(engine),
        "status": ls.status,
        "info": engine.info if engine else {},
        "internals": {**internals(ls), **ls.scheduler.sizes(), "said": len(ls.said)},
    }


next_edit_features.register(server)
repository_life.register(server)


@server.feature(types.SHUTDOWN)
def on_shutdown(ls: SeedCoderServer, _params: Any) -> None:
    """Stop the worker before answering, so nothing outlives the editor."""
    ls.shutdown_engine()


def serve(settings: Settings = DEFAULTS) -> int:
    """Run the server on stdio until exit or stdin EOF, then stop the engine."""
    server.base_settings = server.init_settings = settings
    server.settings = settings
    t0 = time.perf_counter()
    log.info("seed-coder-lsp %s starting (python %s)", __version__, sys.version.split()[0])
    try:
        serve_stdio(server, server.cancel_watch.seen)
    finally:
        server.shutdown_engine()
        log.info("stopped after %.1f s", time.perf_counter() - t0)
    return 0
