"""LSP glue (the only module that imports pygls/lsprotocol): inline completions over stdio."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from . import __version__, positions
from .completion import locate_model, stats_line, worker_config
from .download import DownloadCancelled, DownloadError, download_model
from .engine import Engine
from .lsp_protocol import FlatProtocol, end_progress_token, internals
from .model_check import ModelError
from .postprocess import Suggestion
from .registry import resolve_model
from .scheduler import Scheduler
from .settings import DEFAULTS, Settings, parse_settings

log = logging.getLogger("seed_coder_lsp.server")
STATUS = "seedCoder/status"
STATS = "seedCoder/stats"
DOWNLOAD_COMMAND = "seedCoder.server.downloadModel"
DOWNLOAD_ACTION = "Download"
SAID_MAX = 256


class SeedCoderServer(LanguageServer):
    """Server state: settings, the engine supervisor and the keystroke scheduler."""

    def __init__(self, settings: Settings = DEFAULTS) -> None:
        super().__init__("seed-coder-lsp", __version__, protocol_cls=FlatProtocol)
        self.base_settings = settings  # CLI flags over the defaults
        self.init_settings = settings  # ... plus initializationOptions: what pushes merge onto
        self.settings = settings
        self.engine: Engine | None = None
        self.engine_key: tuple[Any, ...] | None = None
        self.scheduler = Scheduler(
            lambda: self.engine, lambda: self.settings, self._log_stats, text_of=self.text_of
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        self.said: set[str] = set()
        self.status: dict[str, Any] = {"state": "loading", "message": "starting"}
        self.inline_client = True
        self.load_generation = 0
        self.pending_warnings: list[str] = []  # from initializationOptions, shown once initialized
        self.offered: set[str] = set()  # models whose download the user was asked about

    # -- messages ----------------------------------------------------------------------------
    def tell_once(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        """A problem the user can fix: one showMessage per distinct text, and the log."""
        log.warning(message)
        if message in self.said:
            return
        if len(self.said) >= SAID_MAX:  # distinct messages (paths, causes) must not pile up
            self.said.clear()
        self.said.add(message)
        self.window_show_message(
            types.ShowMessageParams(type=kind, message=f"Seed-Coder: {message}")
        )

    def say(self, message: str, level: types.MessageType = types.MessageType.Log) -> None:
        """A line for the editor's log (window/logMessage) and stderr."""
        log.info(message)
        self.window_log_message(types.LogMessageParams(type=level, message=message))

    def set_status(self, state: str, message: str, **extra: Any) -> None:
        """Tell the client (status bar) what the engine is doing."""
        self.status = {"state": state, "message": message, **extra}
        self.protocol.notify(STATUS, self.status)

    def from_thread(self, fn: Any, *args: Any) -> None:
        """Run fn on the event loop: engine events arrive on its reader thread."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(fn, *args)

    def _log_stats(self, stats: dict[str, Any]) -> None:
        self.say(f"completion: {stats_line(stats)} via {stats.get('source')}")
        if stats.get("source") == "model":
            self.set_status("ready", "model ready", lastLatencyMs=round(stats.get("total_ms", 0)))

    # -- settings and model lifecycle --------------------------------------------------------
    def apply_settings(self, raw: Any, *, reload: bool = True) -> None:
        """Merge new settings; warn about bad values; reload the model if its settings changed."""
        settings, warnings = parse_settings(raw, self.init_settings)
        for warning in warnings:
            self.tell_once(warning)
        self.settings = settings
        if not settings.enable:
            self.set_status("disabled", "completions disabled (seedCoder.enable)")
        if reload and settings.engine_key() != self.engine_key and self.loop is not None:
            self.loop.create_task(self.load_model())
        elif settings.enable and self.status.get("state") == "disabled":
            self.set_status("ready" if self.engine and self.engine.ready else "loading", "enabled")

    async def pull_configuration(self) -> None:
        """Ask the client for its settings (section seedCoder) before a model is picked: clients
        such as Neovim's vim.lsp.config answer here and push didChangeConfiguration later."""
        workspace = self.client_capabilities.workspace
        if not (workspace and workspace.configuration):
            return
        params = types.ConfigurationParams(items=[types.ConfigurationItem(section="seedCoder")])
        try:
            result = await asyncio.wait_for(self.workspace_configuration_async(params), 2.0)
        except Exception as exc:  # noqa: BLE001 - a client that does not answer: go on
            log.info("workspace/configuration unanswered (%s); using initializationOptions", exc)
            return
        if result and isinstance(result[0], dict):
            self.apply_settings(result[0], reload=False)

    async def load_model(self, *, download: bool = False) -> None:
        """Find the model and start the worker (see _load_model). Whatever goes wrong ends in
        the error status and one message: never stuck at "loading"."""
        try:
            await self._load_model(download=download)
        except Exception as exc:  # noqa: BLE001 - a bug or an odd failure: say so, keep serving
            log.exception("loading the model failed")
            message = f"could not load the model: {str(exc) or type(exc).__name__}"
            self.set_status("error", message)
            self.tell_once(message, types.MessageType.Error)

    async def _load_model(self, *, download: bool = False) -> None:
        """A registry model that is not on disk is downloaded only when asked (download=True:
        the user's answer or command) or with autoDownload; otherwise the user is asked once.
        Newer settings cancel this load."""
        self.load_generation += 1
        generation = self.load_generation
        settings = self.settings
        self.engine_key = settings.engine_key()
        self.set_status("loading", "loading model")
        try:
            resolved = resolve_model(settings.model or None)
            entry = resolved.entry
            if entry is not None and not resolved.path.exists():
                if not (download or settings.autoDownload):
                    self.offer_download(entry.name, entry.size)
                    return
                await self.download(entry.name, generation)
            model = locate_model(settings)
        except DownloadCancelled:
            return  # newer settings took over
        except (ModelError, DownloadError) as exc:
            self.set_status("error", str(exc))
            self.tell_once(str(exc), types.MessageType.Error)
            return
        config = worker_config(settings, str(model.path))
        if self.engine is None:
            self.engine = Engine(config, on_event=self.on_engine_event)
        else:
            self.engine.reconfigure(config)
            self.scheduler.cache.clear()  # suggestions of the previous model are stale
        self.engine.start()
        engine = self.engine
        await in_daemon_thread(engine.wait_loaded)
        if generation != self.load_generation:
            return
        if engine.load_error:
            message = f"could not load {model.path}: {engine.load_error}"
            self.set_status("error", message)
            self.tell_once(message, types.MessageType.Error)
            return
        info = engine.info
        self.say(
            f"model {model.path.name} loaded in {info.get('load_ms')} ms on {info.get('backend')} "
            f"(FIM template {info.get('fim_template')}, context {info.get('n_ctx')})"
        )
        self.set_status("ready", f"{model.path.name} ready ({info.get('backend')})")

    def offer_download(self, name: str, size: int) -> None:
        """A missing registry model: say so in the status and ask once whether to download."""
        message = f"{name} ({size / 1e9:.1f} GB) is not downloaded"
        self.set_status("error", message)
        log.warning(message)
        if name in self.offered or self.loop is None:
            return
        self.offered.add(name)
        self.loop.create_task(self._ask_download(name, message))

    async def _ask_download(self, name: str, message: str) -> None:
        """window/showMessageRequest with a Download action; download only on that answer."""
        params = types.ShowMessageRequestParams(
            type=types.MessageType.Warning,
            message=f"Seed-Coder: {message}. Nothing is downloaded without your say.",
            actions=[types.MessageActionItem(title=DOWNLOAD_ACTION)],
        )
        try:
            answer = await self.window_show_message_request_async(params)
        except Exception:  # noqa: BLE001 - a client without message requests: the status says it
            return
        if answer is None or answer.title != DOWNLOAD_ACTION:
            return
        current = resolve_model(self.settings.model or None).entry
        if current is not None and current.name == name:
            await self.load_model(download=True)

    async def download(self, name: str, generation: int | None = None) -> None:
        """Download a registry model with $/progress percentages; a newer load (generation)
        stops it."""
        from .registry import load_registry

        entry = load_registry()[name]
        token = str(uuid.uuid4())
        progress = self.work_done_progress
        window = self.client_capabilities.window
        try:
            if not (window and window.work_done_progress):
                raise RuntimeError("client does not show progress")
            await asyncio.wait_for(progress.create_async(token), 5)
            progress.begin(
                token, types.WorkDoneProgressBegin(title="Downloading " + entry.file, percentage=0)
            )
        except Exception:  # noqa: BLE001 - clients without progress support still download
            token = ""

        def progress_from_thread(done: int, total: int) -> None:
            if generation is not None and generation != self.load_generation:
                raise DownloadCancelled(f"download of {entry.file} stopped: settings changed")
            self.from_thread(report, done, total)

        def report(done: int, total: int) -> None:
            pct = int(done * 100 / total) if total else 0
            self.set_status("loading", f"downloading {entry.file}", percent=pct)
            if token:
                progress.report(token, types.WorkDoneProgressReport(percentage=pct))

        try:
            await in_daemon_thread(lambda: download_model(entry, progress=progress_from_thread))
        finally:
            if token:
                progress.end(token, types.WorkDoneProgressEnd(message="done"))
                end_progress_token(self, token)

    def on_engine_event(self, kind: str, message: str) -> None:
        """Engine thread -> loop: crashes and model warnings become one message each."""
        if kind == "crashed":
            self.from_thread(self.tell_once, message)
            self.from_thread(self.set_status, "error", message)
        elif kind == "warning":
            self.from_thread(self.tell_once, message)
        elif kind == "ready":
            self.from_thread(self.set_status, "ready", "model ready")

    def shutdown_engine(self) -> None:
        """Stop the worker process (shutdown, exit or stdin closed)."""
        if self.engine is not None:
            self.engine.close()

    # -- requests ----------------------------------------------------------------------------
    def document(self, uri: str) -> TextDocument | None:
        """An open document, or None (the client never opened it or closed it)."""
        return self.workspace.text_documents.get(uri)

    def text_of(self, uri: str) -> str | None:
        """The document's current text (the scheduler checks requests against it)."""
        doc = self.document(uri)
        return doc.source if doc is not None else None

    async def suggest(
        self, uri: str, position: types.Position, invoked: bool
    ) -> tuple[TextDocument, int, Suggestion] | None:
        """Shared by inline and fallback completion: validate, then ask the scheduler."""
        settings = self.settings
        doc = self.document(uri)
        if doc is None:
            self.say(f"completion for unknown document {uri} ignored", types.MessageType.Warning)
            return None
        if not settings.enable or not settings.language_enabled(doc.language_id or ""):
            return None
        offset = cursor_offset(doc, position)
        if offset is None:
            self.say(
                f"position {position.line}:{position.character} is outside {uri}; ignored",
                types.MessageType.Warning,
            )
            return None
        text, version = doc.source, doc.version
        answer = await self.scheduler.complete(uri, text[:offset], text[offset:], invoked=invoked)
        if answer.suggestion is None or self.document(uri) is not doc or doc.version != version:
            return None  # computed for text that has changed since: never show it as current
        return doc, offset, answer.suggestion


def in_daemon_thread(fn: Callable[[], Any]) -> asyncio.Future[Any]:
    """Run blocking work (a download, waiting for the model) on a daemon thread: unlike the
    loop's executor, it never keeps the process alive after the editor has gone."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if not future.done():
            future.set_result(value) if ok else future.set_exception(value)

    def run() -> None:
        try:
            result = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            loop.call_soon_threadsafe(settle, False, exc)
        else:
            loop.call_soon_threadsafe(settle, True, result)

    threading.Thread(target=run, daemon=True, name="seed-coder-blocking").start()
    return future


def encoding_of(doc: TextDocument) -> str:
    """The negotiated position encoding, as "utf-8" / "utf-16" / "utf-32"."""
    kind = doc.position_codec.encoding
    return str(getattr(kind, "value", kind) or positions.UTF16)


def cursor_offset(doc: TextDocument, position: types.Position) -> int | None:
    """Character offset of a client position, or None when it lies outside the document."""
    return positions.offset_at(doc.source, position.line, position.character, encoding_of(doc))


def edit_cursor(doc: TextDocument, changes: Sequence[Any]) -> int | None:
    """Where typing leaves the cursor: after the text of the last change (None for a whole-text
    replacement, which says nothing about the cursor)."""
    last = changes[-1] if changes else None
    rng = getattr(last, "range", None)
    if last is None or rng is None:
        return None
    start = positions.offset_at(doc.source, rng.start.line, rng.start.character, encoding_of(doc))
    return None if start is None else start + len(last.text)


def item_range(doc: TextDocument, offset: int, suggestion: Suggestion) -> types.Range:
    """The exact range the text replaces: empty at the cursor, or over auto-closed brackets."""
    text, enc = doc.source, encoding_of(doc)
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


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
def on_configuration(ls: SeedCoderServer, params: types.DidChangeConfigurationParams) -> None:
    """Settings pushed by the client (section seedCoder)."""
    raw = params.settings
    if isinstance(raw, dict) and "seedCoder" in raw:
        raw = raw["seedCoder"]
    if raw is None:
        return
    ls.apply_settings(raw)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def on_change(ls: SeedCoderServer, params: types.DidChangeTextDocumentParams) -> None:
    """After pygls applied the edit: stop a generation whose result can no longer be shown."""
    uri = params.text_document.uri
    doc = ls.document(uri)
    if doc is not None:
        ls.scheduler.on_change(uri, doc.source, edit_cursor(doc, params.content_changes))


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def on_close(ls: SeedCoderServer, params: types.DidCloseTextDocumentParams) -> None:
    """Stop any generation for a closed document."""
    ls.scheduler.forget(params.text_document.uri)


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
    if ls.inline_client or not ls.settings.completionFallback:
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
        filter_text=doc.source[doc.source.rfind("\n", 0, offset) + 1 : offset] + first_line,
        sort_text="0",
        preselect=True,
    )
    return types.CompletionList(is_incomplete=True, items=[item])


@server.feature(
    types.WORKSPACE_EXECUTE_COMMAND, types.ExecuteCommandOptions(commands=[DOWNLOAD_COMMAND])
)
async def on_execute_command(ls: SeedCoderServer, params: types.ExecuteCommandParams) -> Any:
    """seedCoder.server.downloadModel [name]: download then (re)load."""
    if params.command != DOWNLOAD_COMMAND:
        return None
    from .registry import default_model_name, load_registry

    name = (params.arguments or [None])[0] or ls.settings.model or default_model_name()
    if name not in load_registry():
        ls.tell_once(f"{name!r} is not a registry model; nothing to download")
        return {"ok": False}
    try:
        await ls.download(name)
    except DownloadError as exc:
        ls.tell_once(str(exc), types.MessageType.Error)
        return {"ok": False, "error": str(exc)}
    await ls.load_model(download=False)
    return {"ok": True}


@server.feature(STATS)
def on_stats(ls: SeedCoderServer, _params: Any) -> dict[str, Any]:
    """Counters and engine facts, for tests and benchmarks."""
    engine = ls.engine
    return {
        **vars(ls.scheduler.counters),
        "decode_steps": engine.decode_steps if engine else 0,
        "evaluated_tokens": engine.evaluated_tokens if engine else 0,
        "engine_pid": engine.pid if engine else None,
        "engine_starts": engine.starts if engine else 0,
        "engine_crashes": engine.crashes if engine else 0,
        "status": ls.status,
        "info": engine.info if engine else {},
        "internals": {**internals(ls), **ls.scheduler.sizes(), "said": len(ls.said)},
    }


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
        server.start_io()
    finally:
        server.shutdown_engine()
        log.info("stopped after %.1f s", time.perf_counter() - t0)
    return 0
