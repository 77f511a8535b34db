"""The language server driven as editors drive it: VS Code's and Neovim 0.12's request policies.

VS Code: a request on every key, the previous one cancelled ($/cancelRequest); a suggestion on
screen stays while the user types its next characters (client-side typing-through).
Neovim 0.12 (`vim.lsp.inline_completion`): a request after a 200 ms pause timer, never
cancelled; a result is drawn only if the buffer has not changed since the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.typing_sessions import REPO, Session

STATS = "seedCoder/stats"
NVIM_TIMER_S = 0.2
SETTLE_S = 8.0  # how long the last key may wait for its suggestion


@dataclass
class KeyRecord:
    """One keystroke: when it was sent and when a suggestion for its state appeared."""

    t_key: float
    shown_at: float | None = None
    t_asked: float | None = None  # when the client asked for this state
    text: str = ""


@dataclass
class SessionResult:
    """What the editor saw during one session, plus the engine's counts."""

    policy: str
    session: str
    cps: float
    keys: list[KeyRecord] = field(default_factory=list)
    requests: int = 0
    answered: int = 0
    evaluated_tokens: int = 0
    decode_steps: int = 0
    generations: int = 0
    notes: list[str] = field(default_factory=list)


def utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


class LspServer:
    """`python -m lsp_server` over stdio with inline-completion capabilities."""

    def __init__(self, model: Path, settings: dict[str, Any], logfile: Path) -> None:
        self.model, self.settings, self.logfile = model, settings, logfile
        self.client: Any = None
        self._stderr: asyncio.Task[None] | None = None

    async def start(self) -> dict[str, Any]:
        """Start, initialize, wait for the model; returns the stats at ready."""
        from lsprotocol import types
        from pytest_lsp.client import make_test_lsp_client

        self.client = client = make_test_lsp_client()

        @client.feature("seedCoder/status")
        def _status(_params: Any) -> None:
            return None

        await client.start_io(sys.executable, "-m", "lsp_server", env={**os.environ}, cwd=str(REPO))
        if client._stderr_forwarder is not None:  # keep the server's stderr in a file
            client._stderr_forwarder.cancel()
        self._stderr = asyncio.create_task(_copy_stderr(client._server, self.logfile))
        caps = types.ClientCapabilities(
            general=types.GeneralClientCapabilities(
                position_encodings=[types.PositionEncodingKind.Utf16]
            ),
            text_document=types.TextDocumentClientCapabilities(
                inline_completion=types.InlineCompletionClientCapabilities(),
                synchronization=types.TextDocumentSyncClientCapabilities(),
            ),
        )
        await client.initialize_session(
            types.InitializeParams(
                capabilities=caps,
                initialization_options={"model": str(self.model), **self.settings},
                root_uri=REPO.as_uri(),
            )
        )
        deadline = time.perf_counter() + 600
        while True:
            stats = await self.stats()
            state = stats.get("status", {}).get("state")
            if state == "ready":
                return stats
            if state == "error" or time.perf_counter() > deadline:
                raise SystemExit(f"the server did not load the model: {stats.get('status')}")
            await asyncio.sleep(0.05)

    @property
    def logs(self) -> list[str]:
        """window/logMessage lines so far (the test client records them)."""
        return [m.message for m in self.client.log_messages]

    async def stats(self) -> dict[str, Any]:
        result = await asyncio.wrap_future(self.client.protocol.send_request(STATS, {}))
        return _plain(result)

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.shutdown_session(), 20)
        await self.client.stop()
        if self._stderr is not None:
            self._stderr.cancel()


class Doc:
    """A client buffer mirrored to the server with incremental didChange."""

    def __init__(self, server: LspServer, name: str, text: str, cursor: int) -> None:
        self.server, self.text, self.cursor, self.version = server, text, cursor, 1
        self.uri = (REPO / "bench" / name).as_uri()
        self.server.client.text_document_did_open(_did_open(self.uri, text))

    def position(self, offset: int) -> Any:
        from lsprotocol import types

        line = self.text.count("\n", 0, offset)
        start = self.text.rfind("\n", 0, offset) + 1
        return types.Position(line=line, character=utf16_len(self.text[start:offset]))

    def edit(self, start: int, end: int, new: str) -> None:
        """Replace text[start:end] (one incremental change); the cursor ends after it."""
        from lsprotocol import types

        rng = types.Range(start=self.position(start), end=self.position(end))
        self.text = self.text[:start] + new + self.text[end:]
        self.version += 1
        self.cursor = start + len(new)
        self.server.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=self.uri, version=self.version
                ),
                content_changes=[types.TextDocumentContentChangePartial(range=rng, text=new)],
            )
        )

    def request(self, msg_id: str, invoked: bool = False) -> asyncio.Future[Any]:
        """textDocument/inlineCompletion at the cursor, sent now."""
        from lsprotocol import types

        kind = types.InlineCompletionTriggerKind
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=self.uri),
            position=self.position(self.cursor),
            context=types.InlineCompletionContext(
                trigger_kind=kind.Invoked if invoked else kind.Automatic
            ),
        )
        fut = self.server.client.protocol.send_request(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id=msg_id
        )
        return asyncio.wrap_future(fut)

    def request_next_edit(self, cursor: int) -> tuple[str, asyncio.Future[Any]]:
        """textDocument/copilotInlineEdit at `cursor`, sent now; (its id, its answer)."""
        self.next_id = getattr(self, "next_id", 0) + 1
        msg_id = f"ne-{self.next_id}"
        pos = self.position(cursor)
        params = {
            "textDocument": {"uri": self.uri, "version": self.version},
            "position": {"line": pos.line, "character": pos.character},
            "context": {"triggerKind": 2},
        }
        fut = self.server.client.protocol.send_request(
            "textDocument/copilotInlineEdit", params, msg_id=msg_id
        )
        return msg_id, asyncio.wrap_future(fut)

    def cancel(self, msg_id: str) -> None:
        from lsprotocol import types

        self.server.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))

    def apply(self, item: Any) -> None:
        """Accept an item: its text over its range."""
        start = end = self.cursor
        if item.range is not None:
            start, end = self.offset(item.range.start), self.offset(item.range.end)
        self.edit(start, end, _item_text(item))

    def offset(self, pos: Any) -> int:
        lines = self.text.split("\n")
        off = sum(len(x) + 1 for x in lines[: pos.line])
        line = lines[pos.line] if pos.line < len(lines) else ""
        units, i = 0, 0
        while i < len(line) and units < pos.character:
            units += utf16_len(line[i])
            i += 1
        return off + i


class Driver:
    """Runs a session under one client policy and records what the editor would show."""

    def __init__(self, server: LspServer, policy: str) -> None:
        self.server, self.policy = server, policy
        self.ids = 0
        self.pending: list[asyncio.Future[Any]] = []

    def _next_id(self) -> str:
        self.ids += 1
        return f"{self.policy}-{self.ids}"

    async def run(self, session: Session, name: str) -> SessionResult:
        """Open the file and look at it (a first suggestion, the engine idle again), then type."""
        doc = Doc(self.server, name, session.text, session.cursor)
        res = SessionResult(self.policy, session.name, session.cps)
        self.latest = -1
        self.timer: asyncio.TimerHandle | None = None
        self.current: tuple[str, asyncio.Future[Any]] | None = None
        self.last_sent = -2  # key index of the newest request
        self.shown = await self._first_look(doc, res)  # (key index, item on screen)
        before = await self.server.stats()
        due = time.perf_counter()
        for key in session.keys:
            await _sleep_until(due)
            self._key(doc, res, key)
            due += session.gap
        await self._settle(res)
        after = await self.server.stats()
        res.evaluated_tokens = after["evaluated_tokens"] - before["evaluated_tokens"]
        res.decode_steps = after["decode_steps"] - before["decode_steps"]
        res.generations = after["generations"] - before["generations"]
        return res

    async def _first_look(self, doc: Doc, res: SessionResult) -> tuple[int, Any] | None:
        """A suggestion at the opening cursor (what a trigger key asks for), then wait until
        the engine is idle: typing starts on a file the user has looked at."""
        result = await asyncio.wait_for(doc.request(self._next_id(), invoked=True), 120)
        items = list(getattr(result, "items", None) or [])
        if not items:
            res.notes.append("no suggestion at the opening cursor")
        await asyncio.sleep(1.2)  # reading: background work (speculation, a cold window's growth)
        steps, quiet = -1, 0
        while quiet < 10:  # a decode step (a batch of 512 prompt tokens) can take 0.4 s
            await asyncio.sleep(0.1)
            now = (await self.server.stats())["decode_steps"]
            quiet = quiet + 1 if now == steps else 0
            steps = now
        return (-1, items[0]) if items else None

    def _key(self, doc: Doc, res: SessionResult, key: str) -> None:
        """One keystroke: the edit, then the policy's requests."""
        k = len(res.keys)
        rec = KeyRecord(time.perf_counter())
        res.keys.append(rec)
        self.latest = k
        shown = self.shown
        if key == "<accept>":
            if shown is not None:
                doc.apply(shown[1])
            self.shown = None
        else:
            doc.edit(doc.cursor, doc.cursor, key)
            self.shown = None
            text = _item_text(shown[1]) if shown else ""
            if self.policy == "vscode" and text.startswith(key) and len(text) > 1:
                # VS Code keeps a suggestion on screen while the user types its characters.
                rec.shown_at, rec.text = rec.t_key, text[1:]
                self.shown = (k, _Trimmed(text[1:]))
        if self.policy == "vscode":
            if self.current is not None and not self.current[1].done():
                doc.cancel(self.current[0])
            self._send(doc, res, k)
        else:
            if self.timer is not None:
                self.timer.cancel()
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(NVIM_TIMER_S, self._send, doc, res, k)

    def _send(self, doc: Doc, res: SessionResult, k: int) -> None:
        msg_id = self._next_id()
        fut = doc.request(msg_id)
        res.keys[k].t_asked = time.perf_counter()
        res.requests += 1
        self.last_sent = k
        self.current = (msg_id, fut)
        self.pending.append(fut)
        fut.add_done_callback(lambda f: self._answered(res, k, f))

    def _answered(self, res: SessionResult, k: int, fut: asyncio.Future[Any]) -> None:
        res.answered += 1
        if fut.cancelled() or fut.exception() is not None or k != self.latest:
            return  # cancelled, or the buffer changed since: the editor drops it
        items = list(getattr(fut.result(), "items", None) or [])
        if items and res.keys[k].shown_at is None:
            res.keys[k].shown_at = time.perf_counter()
            res.keys[k].text = _item_text(items[0])
            self.shown = (k, items[0])

    async def _settle(self, res: SessionResult) -> None:
        """Wait for the last key's suggestion (or SETTLE_S) and for every answer."""
        deadline = time.perf_counter() + SETTLE_S
        while time.perf_counter() < deadline:
            asked = self.last_sent == self.latest
            if asked and all(f.done() for f in self.pending):
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)


@dataclass
class _Trimmed:
    """What stays on screen while typing through: the rest of the text, at the cursor."""

    insert_text: str
    range: Any = None


def _item_text(item: Any) -> str:
    text = item.insert_text
    return text if isinstance(text, str) else str(text.value)


def _did_open(uri: str, text: str) -> Any:
    from lsprotocol import types

    return types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
    )


async def _sleep_until(due: float) -> None:
    delay = due - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


async def _copy_stderr(server: Any, logfile: Path) -> None:
    with logfile.open("ab") as f:
        while server is not None and server.stderr is not None:
            line = await server.stderr.readline()
            if not line:
                return
            f.write(line)
            f.flush()


def _plain(value: Any) -> Any:
    """pygls hands JSON objects back as namedtuple-like objects."""
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "__dict__") and not isinstance(value, (str, int, float, bool)):
        return {k: _plain(v) for k, v in vars(value).items()}
    return value
