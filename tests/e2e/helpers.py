"""End-to-end helpers: the real server over stdio (`python -m lsp_server`) with tiny GGUF models.

Each `Session` is one server process driven by a pytest-lsp client whose capabilities are
written by hand (the bundled client snapshots do not declare inline completion).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient
from pytest_lsp.client import make_test_lsp_client

from tests.tiny_model import DEFAULT_INFILL as DEFAULT_INFILL  # re-exported for the tests

ROOT = Path(__file__).resolve().parents[2]
SERVER_COMMAND = [sys.executable, "-m", "lsp_server"]
OTHER_INFILL = "other_7 = rebuild(7)"
PAREN_INFILL = "len(items))"
STATS_LINE = re.compile(r"prompt (\d+) tok \(reused (\d+), evaluated (\d+)\)")

UTF16 = types.PositionEncodingKind.Utf16
UTF8 = types.PositionEncodingKind.Utf8
UTF32 = types.PositionEncodingKind.Utf32
PYTHON_CODEC = {UTF16: "utf-16-le", UTF8: "utf-8", UTF32: "utf-32-le"}
UNIT_BYTES = {UTF16: 2, UTF8: 1, UTF32: 4}


@dataclass(frozen=True)
class Models:
    """Paths of the tiny models every e2e module shares (written once per session)."""

    tiny: Path  # writes DEFAULT_INFILL then EOS
    loop: Path  # repeats DEFAULT_INFILL forever
    other: Path  # writes OTHER_INFILL
    paren: Path  # writes PAREN_INFILL (closes a bracket the editor auto-closed)
    missing: Path  # does not exist


def capabilities(
    encodings: Iterable[str] = (UTF16,),
    *,
    inline: bool = True,
    configuration: bool = False,
    watch_files: bool = False,
) -> types.ClientCapabilities:
    """What an editor would declare; `inline=False` is a client like Helix or Sublime."""
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(
            position_encodings=[types.PositionEncodingKind(e) for e in encodings]
        ),
        text_document=types.TextDocumentClientCapabilities(
            synchronization=types.TextDocumentSyncClientCapabilities(),
            completion=types.CompletionClientCapabilities(
                completion_item=types.ClientCompletionItemOptions(snippet_support=False)
            ),
            inline_completion=types.InlineCompletionClientCapabilities() if inline else None,
        ),
        window=types.WindowClientCapabilities(work_done_progress=True),
        workspace=types.WorkspaceClientCapabilities(
            did_change_configuration=types.DidChangeConfigurationClientCapabilities(),
            configuration=configuration or None,
            did_change_watched_files=types.DidChangeWatchedFilesClientCapabilities(
                dynamic_registration=True
            )
            if watch_files
            else None,
        ),
    )


def in_units(text: str, encoding: str) -> int:
    """Length of `text` in the client's position units."""
    return len(text.encode(PYTHON_CODEC[encoding])) // UNIT_BYTES[encoding]


def offset_of(text: str, pos: types.Position, encoding: str) -> int:
    """Python string offset of a client position (strict: raises when it is not on a boundary)."""
    lines = text.split("\n")
    line = lines[pos.line]
    units = 0
    for index, ch in enumerate(line):
        if units == pos.character:
            return sum(len(x) + 1 for x in lines[: pos.line]) + index
        units += in_units(ch, encoding)
    if units != pos.character:
        raise ValueError(f"{pos} is not a character boundary of line {line!r}")
    return sum(len(x) + 1 for x in lines[: pos.line]) + len(line)


def apply_edit(text: str, rng: types.Range, new_text: str, encoding: str) -> str:
    """The document after replacing `rng` (client units) with `new_text`, as an editor would."""
    start = offset_of(text, rng.start, encoding)
    end = offset_of(text, rng.end, encoding)
    assert start <= end
    return text[:start] + new_text + text[end:]


def position_at(text: str, offset: int, encoding: str) -> types.Position:
    """Client position of a Python string offset."""
    before = text[:offset]
    line = before.count("\n")
    column = before[before.rfind("\n") + 1 :]
    return types.Position(line=line, character=in_units(column, encoding))


class Session:
    """One server process plus helpers for documents, requests and the stats request."""

    def __init__(self, client: LanguageClient, encoding: str, init: types.InitializeResult):
        self.client = client
        self.encoding = encoding
        self.init = init
        self.statuses: list[Any] = []
        self.message_requests: list[Any] = []  # window/showMessageRequest params received
        self.registrations: list[Any] = []  # client/registerCapability registrations received
        self.texts: dict[str, str] = {}
        self.versions: dict[str, int] = {}

    # -- documents -------------------------------------------------------------------------
    def open(self, uri: str, text: str, language: str = "python") -> None:
        self.texts[uri] = text
        self.versions[uri] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language, version=1, text=text
                )
            )
        )

    def insert(self, uri: str, offset: int, new: str) -> types.Position:
        """Incremental didChange inserting `new` at a string offset; returns the new cursor."""
        return self.replace(uri, offset, offset, new)

    def replace(self, uri: str, start: int, end: int, new: str) -> types.Position:
        """Incremental didChange of text[start:end] (string offsets); returns the new cursor."""
        text = self.texts[uri]
        rng = types.Range(
            start=position_at(text, start, self.encoding), end=position_at(text, end, self.encoding)
        )
        self.versions[uri] += 1
        self.texts[uri] = text[:start] + new + text[end:]
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=self.versions[uri]
                ),
                content_changes=[types.TextDocumentContentChangePartial(range=rng, text=new)],
            )
        )
        return position_at(self.texts[uri], start + len(new), self.encoding)

    def close(self, uri: str) -> None:
        self.client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        self.texts.pop(uri, None)

    def cursor(self, uri: str, marker_offset: int) -> types.Position:
        return position_at(self.texts[uri], marker_offset, self.encoding)

    # -- requests ----------------------------------------------------------------------------
    def send_inline(
        self,
        uri: str,
        position: types.Position,
        *,
        msg_id: str | None = None,
        invoked: bool = False,
    ) -> asyncio.Future[Any]:
        """Send textDocument/inlineCompletion now (not when awaited) and return its future."""
        kind = (
            types.InlineCompletionTriggerKind.Invoked
            if invoked
            else types.InlineCompletionTriggerKind.Automatic
        )
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=position,
            context=types.InlineCompletionContext(trigger_kind=kind),
        )
        future = self.client.protocol.send_request(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id=msg_id
        )
        return asyncio.wrap_future(future)

    async def inline(
        self, uri: str, position: types.Position, *, invoked: bool = False, timeout: float = 10
    ) -> list[types.InlineCompletionItem]:
        result = await asyncio.wait_for(self.send_inline(uri, position, invoked=invoked), timeout)
        assert result is not None
        return list(result.items)

    def cancel(self, msg_id: str) -> None:
        self.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))

    async def stats(self) -> Any:
        return await asyncio.wait_for(
            asyncio.wrap_future(self.client.protocol.send_request("seedCoder/stats", {})), 10
        )

    async def fingerprint(self, uri: str) -> Any:
        """The server's version, length and SHA-256 of a document (seedCoder/stats with a uri)."""
        future = self.client.protocol.send_request("seedCoder/stats", {"uri": uri})
        return (await asyncio.wait_for(asyncio.wrap_future(future), 10)).document

    def configure(self, settings: dict[str, Any]) -> None:
        self.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"seedCoder": settings})
        )

    async def wait_for(
        self, predicate: Callable[[Any], bool], timeout: float = 15, what: str = "condition"
    ) -> Any:
        """Poll seedCoder/stats until predicate(stats) holds."""
        deadline = time.monotonic() + timeout
        while True:
            stats = await self.stats()
            if predicate(stats):
                return stats
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; last stats {stats}")
            await asyncio.sleep(0.02)

    async def wait_ready(self, timeout: float = 30) -> Any:
        return await self.wait_for(
            lambda s: (
                s.status.state == "ready"
                and (s.engine_pid is not None or s.engine_kind == "remote")
            ),
            timeout,
            "the model to load",
        )

    def log_lines(self) -> list[str]:
        return [m.message for m in self.client.log_messages]

    def shown(self) -> list[types.ShowMessageParams]:
        return list(self.client.messages)

    @property
    def server_pid(self) -> int:
        assert self.client._server is not None
        return self.client._server.pid


def fingerprint_of(text: str, version: int) -> dict[str, Any]:
    """What seedCoder/stats reports for a document whose text is `text`."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return {"version": version, "length": len(text), "sha256": digest}


def server_env() -> dict[str, str]:
    """Replace (not merge) semantics in pytest-lsp: start from this process's environment."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


@asynccontextmanager
async def lsp_session(
    init_options: dict[str, Any] | None,
    *,
    encodings: Iterable[str] = (UTF16,),
    inline: bool = True,
    wait_ready: bool = True,
    configuration: dict[str, Any] | None = None,
    answer: str | None = None,
    root: Path = ROOT,
    watch_files: bool = False,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Session]:
    """Start the server, initialize it, optionally wait for the model, shut it down after.
    `configuration`: the client answers workspace/configuration (section seedCoder) with it;
    `answer`: the action title it picks in window/showMessageRequest (None: dismissed).
    The workspace index is off unless the settings turn it on (`repositoryContext`): what
    this repository's own code defines must not change other tests' prompts. So is the shared
    engine (`sharedEngine`): tests that kill or count the worker own theirs; the shared path
    has its own tests (test_shared_engine.py, and test_completion.py runs with it too)."""
    if isinstance(init_options, dict):
        init_options = {"repositoryContext": False, "sharedEngine": False, **init_options}
    client = make_test_lsp_client()
    message_requests: list[Any] = []

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def _ask(params: Any) -> Any:
        message_requests.append(params)
        if answer is None:
            return None
        return next((a for a in params.actions or [] if a.title == answer), None)

    registrations: list[Any] = []
    if watch_files:

        @client.feature(types.CLIENT_REGISTER_CAPABILITY)
        def _register(params: Any) -> None:
            registrations.extend(params.registrations)

    if configuration is not None:
        client.set_configuration(configuration, section="seedCoder")
    await client.start_io(*SERVER_COMMAND, env={**server_env(), **(env or {})}, cwd=str(ROOT))
    statuses: list[Any] = []

    @client.feature("seedCoder/status")
    def _status(_client: Any, params: Any) -> None:
        statuses.append(params)

    encodings = list(encodings)
    try:
        result = await asyncio.wait_for(
            client.initialize_session(
                types.InitializeParams(
                    capabilities=capabilities(
                        encodings,
                        inline=inline,
                        configuration=configuration is not None,
                        watch_files=watch_files,
                    ),
                    initialization_options=init_options,
                    root_uri=root.as_uri(),
                )
            ),
            20,
        )
        encoding = result.capabilities.position_encoding or UTF16
        session = Session(client, encoding, result)
        session.statuses = statuses
        session.message_requests = message_requests
        session.registrations = registrations
        if wait_ready:
            await session.wait_ready()
        yield session
        if client._server is not None and client._server.returncode is None:
            await asyncio.wait_for(client.shutdown_session(), 10)
    finally:
        if client._server is not None and client._server.returncode is None:
            client._server.kill()
        await client.stop()


def pid_alive(pid: int) -> bool:
    """A process that exists and is not a zombie (an orphan's zombie may wait for its reaper)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


async def wait_gone(pid: int, timeout: float) -> float:
    """Seconds until `pid` is gone; AssertionError if it outlives `timeout`."""
    t0 = time.monotonic()
    while pid_alive(pid):
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"process {pid} still running after {timeout} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - t0
