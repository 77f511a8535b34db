"""engine remote over stdio against a real llama-server: exact suggestions and ranges over both
APIs, an unreachable server answered empty at once and resumed by itself, a superseded request
whose stream is closed on the server, settings switching engines, and a key never shown."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from lsprotocol import types

from lsp_server.settings import API_KEY_ENV
from tests.e2e.helpers import DEFAULT_INFILL, Models, lsp_session
from tests.remote_server import Server, free_port

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("remote_api", ["llama-server", "openai"])
async def test_exact_suggestion_and_range_from_the_server(models: Models, remote_api: str) -> None:
    with Server(models.tiny, slots=1) as server:
        settings = {"engine": "remote", "remoteUrl": server.url, "remoteApi": remote_api}
        async with lsp_session(settings) as s:
            stats = await s.stats()
            assert stats.engine_kind == "remote" and stats.info.api == remote_api
            assert stats.status.message == f"{server.model} on {server.url}"
            uri = "file:///e2e/remote/exact.py"
            s.open(uri, "def remote_exact():\n    \n")
            cursor = types.Position(line=1, character=4)
            items = await s.inline(uri, cursor)
            assert [i.insert_text for i in items] == [DEFAULT_INFILL]
            assert items[0].range == types.Range(start=cursor, end=cursor)
            # typing through the suggestion is served from the cache: no new generation
            before = (await s.stats()).generations
            typed = s.insert(uri, len("def remote_exact():\n    "), "ok_")
            items = await s.inline(uri, typed)
            assert [i.insert_text for i in items] == ["42 = compute(1)\n    return ok_42"]
            assert (await s.stats()).generations == before
            logs = [line for line in s.log_lines() if line.startswith("completion:")]
            assert logs and "generated 8 tok" in logs[0]


async def test_unreachable_server_answers_empty_at_once_and_resumes_by_itself(
    models: Models,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = {"engine": "remote", "remoteUrl": url}
    async with lsp_session(settings, wait_ready=False) as s:
        await s.wait_for(lambda st: st.status.state == "error", what="the error status")
        status = (await s.stats()).status.message
        assert status == f"cannot reach {url}: connection refused or no such host"
        uri = "file:///e2e/remote/down.py"
        s.open(uri, "def down():\n    \n")
        before = (await s.stats()).not_ready
        assert await s.inline(uri, types.Position(line=1, character=4)) == []
        assert (await s.stats()).not_ready == before + 1  # no network wait: it knows it is down
        assert [m.message for m in s.shown()].count(f"Seed-Coder: {status}") == 1
        with Server(models.tiny, port=port, slots=1):
            await s.wait_ready(timeout=15)  # the probe reconnects; nobody had to do a thing
            items = await s.inline(uri, types.Position(line=1, character=4))
            assert [i.insert_text for i in items] == [DEFAULT_INFILL]
        # the server goes away while in use: one message, the status says it, requests empty
        s.insert(uri, len("def down():\n    "), "x")
        assert await s.inline(uri, types.Position(line=1, character=5)) == []
        await s.wait_for(lambda st: st.status.state == "error", what="the outage status")
        stats = await s.stats()
        assert stats.engine_crashes == 1
        # a pooled connection reads "lost", a new one "cannot reach": both name the server
        assert stats.status.message.startswith(
            (f"cannot reach {url}", f"lost the connection to {url}")
        )
        outage = [m.message for m in s.shown() if "retrying every" in m.message]
        assert len(outage) == 1


async def test_superseded_request_closes_its_stream_on_the_server(models: Models) -> None:
    """A newer request supersedes a running one: its stream is closed and the server stops
    decoding for it (the server's own counter), long before its 4,000-token budget."""
    with Server(models.loop, slots=1, ctx=8192) as server:
        settings = {
            "engine": "remote",
            "remoteUrl": server.url,
            "contextLength": 8192,
            "maxTokens": 4000,
            "maxTimeMs": 600_000,
            "speculative": False,
        }
        async with lsp_session(settings) as s:
            uri = "file:///e2e/remote/supersede.py"
            s.open(uri, "first = \nsecond = \n")
            before = server.decoded()
            first = s.send_inline(uri, types.Position(line=0, character=8))
            deadline = time.monotonic() + 10
            while server.slots_busy() != [True]:
                assert time.monotonic() < deadline, "the first generation never started"
                await asyncio.sleep(0.005)
            s.configure({**settings, "maxTimeMs": 10})  # the second one stops by itself
            await asyncio.sleep(0.05)
            second = s.send_inline(uri, types.Position(line=1, character=9))
            first_result = await asyncio.wait_for(first, 10)
            assert first_result is None or list(first_result.items) == []
            await asyncio.wait_for(second, 10)
            deadline = time.monotonic() + 10
            while server.slots_busy() != [False]:
                assert time.monotonic() < deadline, "llama-server kept generating"
                await asyncio.sleep(0.01)
            stats = await s.stats()
            assert stats.superseded == 1
            assert server.decoded() - before < 4000  # had the first run on: over 4,000


async def test_switching_engines_by_settings(models: Models) -> None:
    with Server(models.tiny, slots=1) as server:
        async with lsp_session({"model": str(models.tiny)}) as s:
            assert (await s.stats()).engine_kind == "local"
            s.configure({"model": str(models.tiny), "engine": "remote", "remoteUrl": server.url})
            await s.wait_for(lambda st: st.engine_kind == "remote", what="the remote engine")
            await s.wait_ready()
            uri = "file:///e2e/remote/switch.py"
            s.open(uri, "def switch():\n    \n")
            items = await s.inline(uri, types.Position(line=1, character=4))
            assert [i.insert_text for i in items] == [DEFAULT_INFILL]
            s.configure({"model": str(models.tiny), "engine": "remote", "remoteUrl": "gpu:8080"})
            await s.wait_for(lambda st: st.status.state == "error", what="the URL error")
            message = "seedCoder.remoteUrl = 'gpu:8080' is not an http(s) URL"
            assert (await s.stats()).status.message.startswith(message)
            assert await s.inline(uri, types.Position(line=1, character=4)) == []
            s.configure({"model": str(models.tiny)})
            await s.wait_for(lambda st: st.engine_kind == "local", what="the local engine")
            await s.wait_ready()


async def test_the_key_is_never_shown_or_logged(
    models: Models, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = "sk-e2e-secret-51f0"
    with Server(models.tiny, slots=1, api_key=key) as server:
        monkeypatch.setenv(API_KEY_ENV, "not-the-key-8c1d")
        settings = {"engine": "remote", "remoteUrl": server.url, "logLevel": "debug"}
        async with lsp_session(settings, wait_ready=False) as s:
            await s.wait_for(lambda st: st.status.state == "error", what="the 401")
            status = (await s.stats()).status.message
            assert status.startswith(f"{server.url} answered 401: an API key was refused")
            said = s.log_lines() + [m.message for m in s.shown()]
            assert not [line for line in said if "not-the-key" in line or key in line]
        monkeypatch.setenv(API_KEY_ENV, key)
        async with lsp_session({**settings, "apiKey": key}) as s:
            uri = "file:///e2e/remote/key.py"
            s.open(uri, "def key():\n    \n")
            items = await s.inline(uri, types.Position(line=1, character=4))
            assert [i.insert_text for i in items] == [DEFAULT_INFILL]
            said = s.log_lines() + [m.message for m in s.shown()]
            assert any("seedCoder.apiKey ignored" in line for line in said)
            assert not [line for line in said if key in line]


async def test_an_invoked_request_right_after_start_waits_for_the_connection(
    models: Models,
) -> None:
    """Sent before the server has connected: an automatic request may be empty, an invoked one
    (the user asked) waits for the connection and gets the suggestion; on a server that cannot
    be reached, the invoked request ends with the failed connection, empty, never hanging."""
    with Server(models.tiny, slots=1) as server:
        settings = {"engine": "remote", "remoteUrl": server.url, "debounceMs": 0}
        async with lsp_session(settings, wait_ready=False) as s:
            uri = "file:///e2e/remote/early.py"
            s.open(uri, "def early():\n    \n")
            cursor = types.Position(line=1, character=4)
            automatic = s.send_inline(uri, cursor)
            invoked = await s.inline(uri, cursor, invoked=True, timeout=30)
            assert [i.insert_text for i in invoked] == [DEFAULT_INFILL]
            assert not (await asyncio.wait_for(automatic, 5)).items  # superseded or early
            stats = await s.stats()
            assert stats.waited_for_load == 1 and stats.status.state == "ready"
    url = f"http://127.0.0.1:{free_port()}"
    async with lsp_session({"engine": "remote", "remoteUrl": url}, wait_ready=False) as s:
        uri = "file:///e2e/remote/early-down.py"
        s.open(uri, "def down():\n    \n")
        assert await s.inline(uri, types.Position(line=1, character=4), invoked=True) == []
        assert (await s.stats()).status.state == "error"
