"""LSP glue for repository context: the workspace folders and settings go to the index
builder, open documents' text and the editor's file events keep it fresh, a first build of a
large workspace shows $/progress, and seedCoder/stats reports it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from lsp_server.lsp.protocol import end_progress_token
from lsp_server.postprocess.syntax import EXTENSIONS
from lsp_server.repository.builder import IndexBuilder
from lsp_server.repository.context_sources import ContextSources, uri_path
from lsp_server.repository.definitions import extract
from lsp_server.repository.index import WorkspaceIndex

if TYPE_CHECKING:
    from lsp_server.lsp.server import SeedCoderServer

log = logging.getLogger("seed_coder_lsp.repository")
PROGRESS_FROM_FILES = 1000  # a first build of at least this many files shows progress
RESCAN_S = 300.0  # without the editor's file events: look for changed files this often
WATCH_ID = "seed-coder-lsp/workspace-files"


class RepositoryContext:
    """The index, its builder and the context sources, owned by one server."""

    def __init__(self, ls: SeedCoderServer) -> None:
        self.ls = ls
        self.index = WorkspaceIndex()
        self.builder = IndexBuilder(self.index, report=self._report_from_thread)
        self.sources = ContextSources(self.index, extract, self.builder.changed_on_disk)
        self.watching = False
        self._token = ""
        self._shown_first = False

    def folders(self) -> list[str]:
        """The workspace folders as paths (workspaceFolders, else the root)."""
        out = []
        for folder in self.ls.workspace.folders.values():
            path = uri_path(folder.uri)
            if path:
                out.append(path)
        root = self.ls.workspace.root_path
        return out or ([root] if root else [])

    def configure(self) -> None:
        """Folders or settings changed: index them (or stop, when turned off)."""
        settings = self.ls.settings
        on = settings.repository_context and settings.extra_context_tokens > 0
        folders = self.folders() if on else []
        self.builder.configure(folders, settings.exclude_globs, None if self.watching else RESCAN_S)

    async def watch_files(self) -> None:
        """Ask the client for file events of the languages we index (when it can send them)."""
        workspace = self.ls.client_capabilities.workspace
        watched = workspace.did_change_watched_files if workspace else None
        if not (watched and watched.dynamic_registration):
            return
        globs = "**/*.{" + ",".join(sorted({e[1:] for e in EXTENSIONS})) + "}"
        watchers = [types.FileSystemWatcher(glob_pattern=g) for g in (globs, "**/.gitignore")]
        options = types.DidChangeWatchedFilesRegistrationOptions(watchers=watchers)
        registration = types.Registration(
            id=WATCH_ID, method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES, register_options=options
        )
        try:
            await asyncio.wait_for(
                self.ls.client_register_capability_async(
                    types.RegistrationParams(registrations=[registration])
                ),
                10,
            )
        except Exception as exc:  # noqa: BLE001 - without events the slow rescan keeps it fresh
            log.info("file watching not available (%s); rescanning every %d s", exc, RESCAN_S)
            return
        self.watching = True
        self.configure()

    def opened_or_changed(self, uri: str, text: str) -> None:
        path = uri_path(uri)
        if path is not None and self.builder.state != "off":
            self.builder.open_text(path, text)

    def closed(self, uri: str) -> None:
        path = uri_path(uri)
        if path is not None and self.builder.state != "off":
            self.builder.closed(path)

    def files_changed(self, params: types.DidChangeWatchedFilesParams) -> None:
        paths = [p for change in params.changes if (p := uri_path(change.uri))]
        if paths:
            self.builder.changed_on_disk(paths)

    def status(self) -> dict[str, Any]:
        """For seedCoder/stats and doctor."""
        return {**self.builder.status(), "watching": self.watching, **self.sources.counts}

    def close(self) -> None:
        self.builder.stop()

    # -- progress of the first build ------------------------------------------------------
    def _report_from_thread(self, event: dict[str, Any]) -> None:
        self.ls.from_thread(self._report, event)

    def _report(self, event: dict[str, Any]) -> None:
        kind, done, total = event["kind"], event["done"], event["total"]
        if kind == "begin" and not self._shown_first and total >= PROGRESS_FROM_FILES:
            self._shown_first = True
            self.ls.loop.create_task(self._begin(total))  # type: ignore[union-attr]
        elif kind == "report" and self._token:
            pct = int(done * 100 / max(total, 1))
            self.ls.work_done_progress.report(
                self._token, types.WorkDoneProgressReport(message=f"{done}/{total}", percentage=pct)
            )
        elif kind == "end":
            stats = self.index.stats()
            self.ls.say(
                f"workspace index: {stats['files']} files, {stats['definitions']} definitions"
                f" ({self.builder.status()['build_ms']} ms to build)"
            )
            if self._token:
                token, self._token = self._token, ""
                self.ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message="done"))
                end_progress_token(self.ls, token)

    async def _begin(self, total: int) -> None:
        window = self.ls.client_capabilities.window
        if not (window and window.work_done_progress):
            return
        token = str(uuid.uuid4())
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ls.work_done_progress.create_async(token), 5)
            self.ls.work_done_progress.begin(
                token,
                types.WorkDoneProgressBegin(
                    title="Indexing the workspace", message=f"0/{total}", percentage=0
                ),
            )
            if self.builder.state == "building":
                self._token = token


def register(server: Any) -> None:
    """The workspace notifications the index listens to."""

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def on_files(ls: SeedCoderServer, params: types.DidChangeWatchedFilesParams) -> None:
        """Files created, changed or deleted outside the editor's buffers."""
        ls.repository.files_changed(params)

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def on_folders(ls: SeedCoderServer, _params: types.DidChangeWorkspaceFoldersParams) -> None:
        """pygls updated its folders: index the new set."""
        ls.repository.configure()
