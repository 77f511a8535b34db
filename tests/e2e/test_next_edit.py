"""Next edits over stdio: the real server, a tiny Zeta-format model in its own worker, the
Copilot-compatible request, the accept command, the history from didChange, and what must never
happen (a stale or malformed answer shown, a completion delayed by a prediction)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from tests.e2e.helpers import DEFAULT_INFILL, ROOT, UTF8, UTF16, Models, Session, lsp_session
from tests.tiny_model import ZETA_ANSWER, ZETA_DOCUMENT, write_tiny_model, write_zeta_model

URI = (ROOT / "tests" / "e2e" / "next_edit_area.py").as_uri()  # inside the workspace
REQUEST = "textDocument/copilotInlineEdit"
CALL = ZETA_DOCUMENT.index("area(2)") + len("area(2")  # where ", 3" goes


@pytest.fixture(scope="module")
def zetas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("zeta-e2e")
    return {
        "edit": write_zeta_model(base / "zeta.gguf"),
        "none": write_zeta_model(base / "none.gguf", "<|marker_1|><|marker_1|>"),
        "broken": write_zeta_model(base / "broken.gguf", "<|marker_1|>print(area(2, 3<|mark"),
        "loop": write_zeta_model(base / "loop.gguf", ZETA_ANSWER, loop=True),
        "silent": write_tiny_model(base / "silent.gguf", "", name="silent-base"),
    }


@asynccontextmanager
async def session(model: Path, next_model: Path | str, **more: Any) -> AsyncIterator[Session]:
    settings = {"model": str(model), "nextEditModel": str(next_model), "debounceMs": 0, **more}
    encodings = more.pop("encodings", None) or [UTF16]
    settings.pop("encodings", None)
    async with lsp_session(settings, encodings=encodings) as s:
        await s.wait_for(lambda st: st.next_edit.state in ("ready", "error"), 30, "next edits")
        yield s


async def ask(s: Session, uri: str, pos: types.Position, version: int | None = None) -> Any:
    params = {
        "textDocument": {
            "uri": uri,
            "version": s.versions.get(uri) if version is None else version,
        },
        "position": {"line": pos.line, "character": pos.character},
        "context": {"triggerKind": 2},
    }
    return await asyncio.wait_for(
        asyncio.wrap_future(s.client.protocol.send_request(REQUEST, params)), 30
    )


@pytest.mark.parametrize("encoding", [UTF16, UTF8])
async def test_the_predicted_edit_with_its_exact_range(
    models: Models, zetas: dict[str, Path], encoding: str
) -> None:
    async with session(models.tiny, zetas["edit"], encodings=[encoding]) as s:
        stats = await s.stats()
        assert stats.next_edit.state == "ready" and stats.status.nextEdit == "ready"
        assert s.init.capabilities.experimental["nextEdits"]["request"] == REQUEST
        s.open(URI, ZETA_DOCUMENT)
        result = await ask(s, URI, s.cursor(URI, CALL))
        (item,) = result.edits
        assert item.text == ", 3"
        at = s.cursor(URI, CALL)
        assert (item.range.start.line, item.range.start.character) == (at.line, at.character)
        assert (item.range.end.line, item.range.end.character) == (at.line, at.character)
        assert item.textDocument.version == 1 and item.textDocument.uri == URI
        assert item.command.command == "seedCoder.server.acceptNextEdit"
        after = await s.stats()
        assert (after.next_edit.predictions, after.next_edit.edits) == (1, 1)
        assert after.generations == 0  # the completion model did nothing for it


async def test_no_edit_and_malformed_answers_show_nothing(
    models: Models, zetas: dict[str, Path]
) -> None:
    for name, counter in (("none", "no_edit"), ("broken", "malformed")):
        async with session(models.tiny, zetas[name]) as s:
            s.open(URI, ZETA_DOCUMENT)
            assert not (await ask(s, URI, s.cursor(URI, CALL))).edits
            stats = await s.stats()
            assert getattr(stats.next_edit, counter) == 1 and stats.next_edit.edits == 0


async def test_stale_versions_unknown_documents_and_bad_positions(
    models: Models, zetas: dict[str, Path]
) -> None:
    async with session(models.tiny, zetas["edit"]) as s:
        s.open(URI, ZETA_DOCUMENT)
        at = s.cursor(URI, CALL)
        assert not (await ask(s, URI, at, version=7)).edits  # a version we do not have
        assert not (await ask(s, "file:///nowhere.py", at, version=1)).edits
        assert not (await ask(s, URI, types.Position(line=99, character=0))).edits
        stats = await s.stats()
        assert stats.next_edit.predictions == 0 and stats.next_edit.stale == 1
        bad = types.ExecuteCommandParams(
            command="seedCoder.server.acceptNextEdit", arguments=["ne-9"]
        )
        answer = await s.client.workspace_execute_command_async(bad)
        assert answer == {"ok": False, "error": "unknown or expired next edit 'ne-9'"}


@pytest.mark.parametrize("shared", [False, True], ids=["own-workers", "shared-engines"])
async def test_a_keystroke_stops_a_running_prediction(
    models: Models, zetas: dict[str, Path], shared: bool
) -> None:
    async with session(models.tiny, zetas["loop"], sharedEngine=shared) as s:
        s.open(URI, ZETA_DOCUMENT)
        start = await s.stats()
        pending = asyncio.ensure_future(ask(s, URI, s.cursor(URI, CALL)))
        await s.wait_for(
            lambda st: st.next_edit.decode_steps >= start.next_edit.decode_steps + 30,
            10, "the prediction to run",
        )  # fmt: skip
        cursor = s.insert(URI, CALL, ",")  # the user types on: stopped between two decodes
        assert not (await asyncio.wait_for(pending, 10)).edits
        stopped = await s.stats()
        assert (stopped.next_edit.superseded, stopped.next_edit.preempted) == (1, 0)
        await asyncio.sleep(0.2)
        later = await s.stats()
        assert later.next_edit.decode_steps - stopped.next_edit.decode_steps <= 1
        # ... and a completion asked while a prediction runs is never kept waiting by it
        pending = asyncio.ensure_future(ask(s, URI, cursor))
        await s.wait_for(
            lambda st: st.next_edit.decode_steps >= later.next_edit.decode_steps + 30,
            10, "the second prediction to run",
        )  # fmt: skip
        items = await s.inline(URI, cursor)
        assert [i.insert_text for i in items] == [DEFAULT_INFILL + "\n))"]  # over the closers
        final = await s.stats()  # stopped inside the decode in progress: completions first
        assert final.next_edit.preempted == 1 and final.generations == 1
        assert not (await asyncio.wait_for(pending, 10)).edits


async def test_history_and_an_accepted_edit(models: Models, zetas: dict[str, Path]) -> None:
    async with session(models.tiny, zetas["edit"]) as s:
        start = ZETA_DOCUMENT.replace("width, height", "width")
        s.open(URI, start)
        s.insert(URI, start.index("width)") + len("width"), ", height")  # the user's edit
        assert (await s.stats()).next_edit.events == 1
        (item,) = (await ask(s, URI, s.cursor(URI, CALL))).edits
        s.insert(URI, CALL, item.text)  # the client applies it, then runs its command
        accepted = await s.client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command=item.command.command, arguments=item.command.arguments
            )
        )
        assert accepted == {"ok": True}
        stats = await s.stats()
        assert (stats.next_edit.accepted, stats.next_edit.events) == (1, 2)
        again = await s.client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command=item.command.command, arguments=item.command.arguments
            )
        )
        assert again["ok"] is False  # accepted once only
        s.close(URI)
        assert (await s.stats()).next_edit.events == 0  # dropped with the document


async def test_an_insertion_at_the_cursor_is_also_an_inline_completion(
    zetas: dict[str, Path],
) -> None:
    async with session(zetas["silent"], zetas["edit"]) as s:
        s.open(URI, ZETA_DOCUMENT)
        at = s.cursor(URI, CALL)
        (edit,) = (await ask(s, URI, at)).edits
        items = await s.inline(URI, at)
        assert [i.insert_text for i in items] == [edit.text]
        assert items[0].range == types.Range(start=at, end=at)


async def test_a_missing_or_non_zeta_model_is_one_message_and_completions_go_on(
    models: Models, tmp_path: Path
) -> None:
    for next_model, needle in ((tmp_path / "nope.gguf", "nope.gguf"),):
        async with session(models.tiny, next_model) as s:
            stats = await s.stats()
            assert stats.next_edit.state == "error"
            said = [m.message for m in s.shown() if "next edits" in m.message]
            assert len(said) == 1 and needle in said[0]
            s.open(URI, "def f():\n    \n")
            items = await s.inline(URI, types.Position(line=1, character=4))
            assert [i.insert_text for i in items] == [DEFAULT_INFILL]
            assert not (await ask(s, URI, types.Position(line=1, character=4))).edits
    nofim = write_tiny_model(tmp_path / "nofim.gguf", fim=False)
    async with session(models.tiny, nofim) as s:
        said = [m.message for m in s.shown() if "next edits" in m.message]
        assert len(said) == 1 and "not Zeta 2.1" in said[0]


async def test_next_edits_from_a_team_server(models: Models, zetas: dict[str, Path]) -> None:
    """engine remote: completions from one llama-server, next edits from another serving the
    tiny Zeta model (nextEditUrl), the same exact edit, token-exact prompts over /tokenize."""
    from tests.remote_server import Server

    with (
        Server(models.tiny, slots=1) as completions,
        Server(zetas["edit"], slots=1, ctx=4096) as zeta,
    ):
        settings = {
            "engine": "remote",
            "remoteUrl": completions.url,
            "nextEditUrl": zeta.url,
            "nextEditModel": "zeta-2.1",
            "debounceMs": 0,
        }
        async with lsp_session(settings) as s:
            await s.wait_for(lambda st: st.next_edit.state == "ready", 30, "the next-edit server")
            s.open(URI, ZETA_DOCUMENT)
            (item,) = (await ask(s, URI, s.cursor(URI, CALL))).edits
            assert item.text == ", 3"
            at = s.cursor(URI, CALL)
            start, end = item.range.start, item.range.end
            assert (start.line, start.character, end.line, end.character) == (4, 12, 4, 12)
            assert (at.line, at.character) == (4, 12)
            stats = await s.stats()
            assert stats.next_edit.evaluated_tokens > 100  # the server's own count
            (again,) = (await ask(s, URI, s.cursor(URI, CALL))).edits
            assert again.text == ", 3"
            later = await s.stats()
            # the same prompt again: the server's slot cache kept it
            assert later.next_edit.evaluated_tokens - stats.next_edit.evaluated_tokens <= 2
