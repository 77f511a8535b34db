"""LSP glue for the model's life: settings, finding or downloading the model (never unasked),
the worker, and the messages and status that tell the user about it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from lsp_server import __version__, power
from lsp_server.engines import shared
from lsp_server.engines.local.supervisor import LocalEngine
from lsp_server.engines.remote.client import RemoteConfig, RemoteEngine
from lsp_server.engines.shared import SharedEngine, local_engine
from lsp_server.keystroke import budget
from lsp_server.lsp.protocol import FlatProtocol, converter, end_progress_token
from lsp_server.model_files.download import DownloadCancelled, DownloadError, download_model
from lsp_server.model_files.model_check import ModelError
from lsp_server.model_files.model_setup import locate_model, worker_config
from lsp_server.model_files.registry import resolve_model
from lsp_server.settings import DEFAULTS, Settings, parse_settings

log = logging.getLogger("seed_coder_lsp.server")
STATUS = "seedCoder/status"
DOWNLOAD_ACTION = "Download"
SAID_MAX = 256
LOAD_WAIT_S = 120.0  # an invoked request waits this long at most for a model to load


class ModelServer(LanguageServer):
    """Settings, the engine supervisor and its model; the user hears about all of it."""

    def __init__(self, settings: Settings = DEFAULTS) -> None:
        super().__init__(
            "seed-coder-lsp", __version__, protocol_cls=FlatProtocol, converter_factory=converter
        )
        self.base_settings = settings  # CLI flags over the defaults
        self.init_settings = settings  # ... plus initializationOptions: what pushes merge onto
        self.settings = settings
        self.engine: LocalEngine | SharedEngine | RemoteEngine | None = None
        self.engine_key: tuple[Any, ...] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.said: set[str] = set()
        self.status: dict[str, Any] = {"state": "loading", "message": "starting"}
        self.load_generation = 0
        self.offered: set[str] = set()  # models whose download the user was asked about
        self.reported_load_error: str | None = None  # the last load error a loader reported
        self._loaded: asyncio.Event | None = None  # set while the state is not "loading"

    def model_changed(self) -> None:
        """Another model was loaded: whatever depends on the old one is stale."""

    def extra_status(self) -> dict[str, Any]:
        """More for seedCoder/status (the next-edit model's state)."""
        return {}

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
        self.status = {"state": state, "message": message, **extra, **self.extra_status()}
        if self._loaded is not None:
            self._loaded.clear() if state == "loading" else self._loaded.set()
        self.protocol.notify(STATUS, self.status)

    def refresh_status(self) -> None:
        """The same status with the latest extra_status (the next-edit model changed)."""
        self.status = {**self.status, **self.extra_status()}
        self.protocol.notify(STATUS, self.status)

    async def until_loaded(self) -> None:
        """Until the model has loaded, the server answered, or either failed (an invoked
        request waits for it; LOAD_WAIT_S at most: a download may take an hour)."""
        if self._loaded is None:
            self._loaded = asyncio.Event()
            if self.status.get("state") != "loading":
                self._loaded.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._loaded.wait(), LOAD_WAIT_S)

    def from_thread(self, fn: Any, *args: Any) -> None:
        """Run fn on the event loop: engine events arrive on its reader thread."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(fn, *args)

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
        if reload:
            self.settings_applied()

    def background_level(self, engine: Any = None) -> str:
        """How much work no keystroke waits for the budget allows now (keystroke/budget.py)."""
        engine = engine if engine is not None else self.engine
        info = engine.info if engine is not None else {}
        return budget.level(self.settings.background_work, info, power.on_battery())

    def settings_applied(self) -> None:
        """New settings are in place (more models may depend on them)."""

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
            self.fail(f"could not load the model: {str(exc) or type(exc).__name__}")

    async def _load_model(self, *, download: bool = False) -> None:
        """A registry model that is not on disk is downloaded only when asked (download=True:
        the user's answer or command) or with autoDownload; otherwise the user is asked once.
        Newer settings cancel this load."""
        self.load_generation += 1
        generation = self.load_generation
        settings = self.settings
        self.engine_key = settings.engine_key()
        if settings.engine == "remote":
            await self._connect_remote(settings, generation)
            return
        self.set_status("loading", "loading model")
        try:
            resolved = resolve_model(settings.model or None)
            entry = resolved.entry
            if entry is not None and not resolved.path.exists():
                if not (download or settings.auto_download):
                    self.offer_download(entry.name, entry.size)
                    return
                await self.download(entry.name, generation)
            model = locate_model(settings)
        except DownloadCancelled:
            return  # newer settings took over
        except (ModelError, DownloadError) as exc:
            self.fail(str(exc))
            return
        config = worker_config(settings, str(model.path))
        engine = self.engine
        fresh = local_engine(config, settings.shared_engine, on_event=self.on_engine_event)
        if type(engine) is type(fresh) and isinstance(engine, (LocalEngine, SharedEngine)):
            engine.reconfigure(config)  # `fresh` never started: nothing to close
            self.model_changed()  # suggestions of the previous model are stale
        else:
            engine = fresh
            self._replace_engine(engine)
        if not await self._started(engine, generation, f"could not load {model.path}: "):
            return
        info = engine.info
        where = shared.describe(engine) if isinstance(engine, SharedEngine) else ""
        self.say(
            f"model {model.path.name} loaded in {info.get('load_ms')} ms on {info.get('backend')} "
            f"(FIM template {info.get('fim_template')}, context {info.get('n_ctx')})"
            + (f"; {where}" if where else "")
        )
        self.set_status("ready", f"{model.path.name} ready ({info.get('backend')})")

    async def _connect_remote(self, settings: Settings, generation: int) -> None:
        """engine remote: connect to the server at remoteUrl (the probe keeps trying when it
        is not there yet: the status turns ready by itself when it comes up)."""
        url = settings.remote_url.strip()
        if not url.startswith(("http://", "https://")):
            what = "is empty" if not url else f"= {url!r} is not an http(s) URL"
            self._replace_engine(None)
            self.fail(f"seedCoder.remoteUrl {what}: set it to the server's base URL")
            return
        self.set_status("loading", f"connecting to {url}")
        config = RemoteConfig(
            url, settings.remote_api, settings.context_length, settings.fim_template
        )
        engine = RemoteEngine(config, on_event=self.on_engine_event)
        self._replace_engine(engine)
        if not await self._started(engine, generation, ""):
            return
        info = engine.info
        self.say(
            f"connected to {url}: {info.get('api')} serving {info.get('model')} "
            f"(FIM template {info.get('fim_template')}, context {info.get('n_ctx')})"
        )
        self.set_status("ready", f"{info.get('model')} on {url}")

    async def _started(
        self, engine: LocalEngine | SharedEngine | RemoteEngine, generation: int, what: str
    ) -> bool:
        """Start an engine and wait for its load or first connection; False (and reported)
        when it failed, or quietly when newer settings took over meanwhile."""
        engine.start()
        await in_daemon_thread(engine.wait_loaded)
        if generation != self.load_generation:
            return False
        if engine.load_error:
            self.reported_load_error = engine.load_error  # its event must not say it again
            self.fail(what + engine.load_error)
            return False
        return True

    def fail(self, message: str) -> None:
        """A problem the user must act on: the error status and one message."""
        self.set_status("error", message)
        self.tell_once(message, types.MessageType.Error)

    def _replace_engine(self, engine: LocalEngine | SharedEngine | RemoteEngine | None) -> None:
        """Another engine (kind or server): close the old one off the event loop."""
        old, self.engine = self.engine, engine
        if old is not None:
            threading.Thread(target=old.close, daemon=True, name="close-engine").start()
            self.model_changed()

    def offer_download(self, name: str, size: int, role: str = "") -> None:
        """A missing registry model: say so in the status and ask once whether to download
        (`role`: "next edits" for the next-edit model, whose state is its own)."""
        message = f"{name} ({size / 1e9:.1f} GB) is not downloaded"
        if role:
            message += f" (for {role})"
        else:
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
        await self.reload_for(name, download=True)

    async def reload_for(self, name: str, *, download: bool = False) -> None:
        """Load the model again if the settings name `name` (after a download, or with
        download=True to fetch it first)."""
        try:
            current = resolve_model(self.settings.model or None).entry
        except ModelError:
            current = None
        if current is not None and current.name == name:
            await self.load_model(download=download)

    async def download(self, name: str, generation: int | None = None) -> None:
        """Download a registry model with $/progress percentages; a newer load (generation)
        stops it."""
        from lsp_server.model_files.registry import load_registry

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
            self.from_thread(self._engine_ready, message)
        elif kind == "load_error":
            self.from_thread(self._late_load_error, message)

    def _engine_ready(self, message: str) -> None:
        """A restart or reconnect finished (never over a status the user chose)."""
        if self.settings.enable:
            self.set_status("ready", message)

    def _late_load_error(self, message: str) -> None:
        """A load that no loader waits for failed (a restart after a crash): say it here. While
        loading, the loader reports it with the model's path."""
        if self.status.get("state") != "loading" and message != self.reported_load_error:
            self.fail(message)

    def shutdown_engine(self) -> None:
        """Stop the worker process (shutdown, exit or stdin closed)."""
        if self.engine is not None:
            self.engine.close()
        self.shutdown_more()

    def shutdown_more(self) -> None:
        """Other engines of the server stop with it."""


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
