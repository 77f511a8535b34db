"""LSP glue for the next-edit model's life: found, offered for download (never fetched unasked),
loaded in a worker of its own (or reached on a server), replaced when its settings change.

One worker process per model: the two 8B models share nothing in memory (different weights;
each worker maps its own file), each keeps its own KV cache (a prediction never evicts the
completion's prompt), and a native crash of one leaves the other serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lsp_server.engines.local.supervisor import LocalEngine
from lsp_server.engines.remote.client import RemoteConfig, RemoteEngine
from lsp_server.engines.shared import SharedEngine, local_engine
from lsp_server.keystroke import budget
from lsp_server.lsp.model_life import in_daemon_thread
from lsp_server.model_files.download import DownloadCancelled, DownloadError
from lsp_server.model_files.model_check import ModelError
from lsp_server.model_files.model_setup import (
    NEXT_EDIT_CONTEXT,
    locate_model_named,
    next_edit_config,
)
from lsp_server.model_files.registry import resolve_model
from lsp_server.next_edit.history import EditHistory
from lsp_server.next_edit.predictor import Predictor

if TYPE_CHECKING:
    from lsp_server.lsp.model_life import ModelServer

log = logging.getLogger("seed_coder_lsp.next_edit")


class NextEdits:
    """The next-edit engine, the edit history and the predictor of one server."""

    def __init__(self, server: ModelServer, current: Callable[[str], tuple[str, int] | None]):
        self.server = server
        self.engine: LocalEngine | SharedEngine | RemoteEngine | None = None
        self.key: tuple[Any, ...] | None = None
        self.history = EditHistory()
        self.predictor = Predictor(
            lambda: self.engine,
            self.history,
            current,
            self._log_stats,
            lambda: budget.allows(server.background_level(self.engine), "warmup"),
        )
        self.state: dict[str, Any] = {"state": "off", "message": "no next-edit model set"}
        self.generation = 0

    @property
    def on(self) -> bool:
        """Next edits are configured (the history is kept only then)."""
        return self.key is not None

    def _log_stats(self, stats: dict[str, Any]) -> None:
        """A prediction's numbers, for the log (called on the engine's thread)."""
        from lsp_server.keystroke.completion import stats_line

        self.server.from_thread(self.server.say, f"next edit: {stats_line(stats)}")

    def _set(self, state: str, message: str) -> None:
        self.state = {"state": state, "message": message}
        log.info("next edits: %s (%s)", state, message)
        self.server.refresh_status()

    def clock(self) -> float:
        return time.monotonic()

    async def load(self, *, download: bool = False) -> None:
        """Set up the engine the settings name (or none); errors become one message."""
        settings = self.server.settings
        key = settings.next_edit_key()
        if key == self.key and not download and self.state["state"] != "error":
            return
        self.generation += 1
        generation, self.key = self.generation, key
        self._replace(None)
        if key is None:
            self.history = self.predictor.history = EditHistory()
            self._set("off", "no next-edit model set" if settings.next_edit else "turned off")
            return
        try:
            engine = await self._engine(settings, generation, download)
        except DownloadCancelled:
            return
        except (ModelError, DownloadError, OSError) as exc:
            self._fail(str(exc))
            return
        if engine is None or generation != self.generation:
            return
        self._replace(engine)
        engine.start()
        await in_daemon_thread(engine.wait_loaded)
        if generation != self.generation:
            return
        if engine.load_error:
            self._fail(f"the next-edit model could not load: {engine.load_error}")
            return
        self._check(engine)

    async def _engine(
        self, settings: Any, generation: int, download: bool
    ) -> LocalEngine | SharedEngine | RemoteEngine | None:
        name = settings.next_edit_model.strip()
        if settings.engine == "remote":
            url = (settings.next_edit_url or settings.remote_url).strip()
            if not url.startswith(("http://", "https://")):
                raise ModelError("seedCoder.nextEditUrl (or remoteUrl) must be an http(s) URL")
            self._set("loading", f"connecting to {url}")
            remote = RemoteConfig(url, settings.remote_api, NEXT_EDIT_CONTEXT, "seed-coder")
            return RemoteEngine(remote, on_event=self._on_event)
        resolved = resolve_model(name)
        entry = resolved.entry
        if entry is not None and not resolved.path.exists():
            if not (download or settings.auto_download):
                self._set("error", f"{entry.name} ({entry.size / 1e9:.1f} GB) is not downloaded")
                self.server.offer_download(entry.name, entry.size, role="next edits")
                return None
            await self.server.download(entry.name, generation=None)
            if generation != self.generation:
                return None
        model = locate_model_named(name)
        self._set("loading", f"loading {model.path.name}")
        config = next_edit_config(settings, str(model.path))
        return local_engine(config, settings.shared_engine, on_event=self._on_event)

    def _check(self, engine: LocalEngine | SharedEngine | RemoteEngine) -> None:
        """Zeta 2.1 speaks Seed-Coder's FIM: a model without those tokens cannot serve."""
        info = engine.info
        if info.get("fim_template") != "seed-coder":
            self._replace(None)
            self._fail(
                f"{info.get('name') or 'the next-edit model'} has no Seed-Coder fill-in-the-middle "
                "tokens: it is not Zeta 2.1 (set seedCoder.nextEditModel to a Zeta 2.1 GGUF)"
            )
            return
        name = str(info.get("name") or info.get("model") or "")
        if "zeta" not in name.lower():
            self.server.tell_once(
                f"the next-edit model {name!r} does not look like Zeta 2.1: next edits may be poor"
            )
        self._set("ready", f"{name or 'next-edit model'} ready")
        self.server.say(f"next edits: {name} ready on {info.get('backend')}")

    def _fail(self, message: str) -> None:
        self._set("error", message)
        self.server.tell_once(f"next edits: {message}")

    def _on_event(self, kind: str, message: str) -> None:
        """Engine thread: a crash or a failed restart of the next-edit engine, said once (its
        warnings are about completions, and the load itself is checked by _check)."""
        if kind in ("crashed", "load_error"):
            self.server.from_thread(self.server.tell_once, f"next edits: {message}")
        if kind == "crashed":
            self.server.from_thread(self._set, "error", message)
        elif kind == "ready":
            self.server.from_thread(self._restarted)

    def _restarted(self) -> None:
        """A restart after a crash loaded: ready again (the first load is _check's)."""
        if self.state["state"] == "error" and self.engine is not None and self.engine.ready:
            self._set("ready", "next-edit model ready")

    def _replace(self, engine: LocalEngine | SharedEngine | RemoteEngine | None) -> None:
        old, self.engine = self.engine, engine
        if old is not None:
            threading.Thread(target=old.close, daemon=True, name="close-next-edit").start()

    def close(self) -> None:
        """Stop the worker (shutdown, exit, stdin closed)."""
        if self.engine is not None:
            self.engine.close()
