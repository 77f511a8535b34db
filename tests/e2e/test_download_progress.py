"""A registry model that is not on disk: the server asks before downloading (or downloads at once
with autoDownload), with $/progress percentages; newer settings stop a download.

The hub is a local stand-in (http.server on 127.0.0.1); no test touches the internet.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from tests.e2e.helpers import lsp_session, pid_alive
from tests.e2e.raw_client import RawServer
from tests.hub_standin import PIECE, Hub, running, use_registry
from tests.tiny_model import DEFAULT_INFILL, write_tiny_model


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    data = write_tiny_model(tmp_path / "hub-tiny.gguf").read_bytes()
    with running(Hub(files={"test/tiny-GGUF/tiny.gguf": data})) as h:
        yield h


@pytest.fixture
def registry(tmp_path: Path, hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An extra registry entry pointing at the stand-in hub, and an empty HF cache; returns
    where the downloaded file will be."""
    return use_registry(monkeypatch, tmp_path, hub)


def _incomplete(registry: Path) -> int:
    """Bytes of the partial download in the HF cache (0 if none)."""
    blobs = registry.parents[2] / "blobs"
    return sum(p.stat().st_size for p in blobs.glob("*.incomplete")) if blobs.exists() else 0


async def test_a_missing_model_is_offered_and_nothing_is_fetched_unasked(
    registry: Path, hub: Hub
) -> None:
    async with lsp_session({"model": "tiny-test"}, wait_ready=False) as s:
        stats = await s.wait_for(lambda st: st.status.state == "error", what="the offer")
        assert stats.status.message == "tiny-test (0.0 GB) is not downloaded"
        for _ in range(100):
            if s.message_requests:
                break
            await asyncio.sleep(0.02)
        (asked,) = s.message_requests
        assert "tiny-test" in asked.message and [a.title for a in asked.actions] == ["Download"]
        await asyncio.sleep(0.3)
        assert hub.requests == [] and not registry.exists()  # dismissed: no network at all
        assert stats.engine_pid is None


async def test_server_downloads_missing_registry_model_when_asked(registry: Path) -> None:
    async with lsp_session({"model": "tiny-test", "debounceMs": 0}, answer="Download") as s:
        assert registry.is_file()
        assert len(s.message_requests) == 1
        reports = [r for rs in s.client.progress_reports.values() for r in rs]
        kinds = [r.kind for r in reports]
        assert kinds[0] == "begin" and kinds[-1] == "end"
        percents = [r.percentage for r in reports if r.kind == "report"]
        assert percents and percents[-1] == 100
        assert percents == sorted(percents)
        uri = "file:///tmp/dl.py"
        s.open(uri, "def f():\n    \n")
        items = await s.inline(uri, types.Position(line=1, character=4))
        assert [i.insert_text for i in items] == [DEFAULT_INFILL]


async def test_settings_from_the_client_come_before_any_model(
    registry: Path, hub: Hub, tmp_path: Path
) -> None:
    """initializationOptions name a registry model that is not downloaded, but the client's
    configuration (Neovim's vim.lsp.config settings) names a local file: only that is used."""
    local = write_tiny_model(tmp_path / "local.gguf")
    async with lsp_session(
        {"model": "tiny-test"}, configuration={"model": str(local), "debounceMs": 0}
    ) as s:
        stats = await s.stats()
        assert stats.status.state == "ready" and stats.engine_starts == 1
        assert s.message_requests == [] and hub.requests == []


async def test_newer_settings_stop_a_download_and_never_switch_to_its_model(
    registry: Path, hub: Hub, tmp_path: Path
) -> None:
    hub.delay = 0.1  # a slow network: 64 KiB a tenth of a second
    local = write_tiny_model(tmp_path / "local.gguf")
    async with lsp_session({"model": "tiny-test", "autoDownload": True}, wait_ready=False) as s:
        for _ in range(300):
            if hub.body_bytes > 1_200_000:  # past the first progress report (1 MB)
                break
            await asyncio.sleep(0.02)
        assert hub.body_bytes > 1_200_000, "download never got going"
        s.configure({"model": str(local)})
        await s.wait_ready()
        await asyncio.sleep(2.0)  # the next report (1 MB later) stops it
        sent = hub.body_bytes
        await asyncio.sleep(1.0)
        assert hub.body_bytes == sent < len(hub.files["test/tiny-GGUF/tiny.gguf"])
        stats = await s.stats()
        assert stats.engine_starts == 1 and stats.status.state == "ready"
        assert not registry.exists() and _incomplete(registry) == 0


async def test_offline_download_fails_with_one_actionable_message(
    registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    async with lsp_session({"model": "tiny-test", "autoDownload": True}, wait_ready=False) as s:
        stats = await s.wait_for(lambda st: st.status.state == "error", what="the error status")
        errors = [m.message for m in s.shown() if m.type == types.MessageType.Error]
        assert len(errors) == 1
        assert "tiny.gguf" in errors[0] and "by hand" in errors[0]
        assert stats.engine_pid is None
        uri = "file:///tmp/offline.py"
        s.open(uri, "x = 1\n")
        assert await s.inline(uri, types.Position(line=1, character=0)) == []
        assert not registry.exists()


def test_editor_closing_during_a_download_ends_the_server_at_once(registry: Path, hub: Hub) -> None:
    hub.delay = 0.5  # the whole file would take many seconds
    with RawServer() as server:
        server.initialize({"model": "tiny-test", "autoDownload": True})
        deadline = time.monotonic() + 10
        while hub.body_bytes < 2 * PIECE and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hub.body_bytes >= 2 * PIECE, "download never started"
        t0 = time.monotonic()
        assert server.proc.stdin is not None
        server.proc.stdin.close()
        server.proc.wait(timeout=5)
        assert time.monotonic() - t0 < 2.0
        assert not pid_alive(server.proc.pid)
    assert not registry.exists()


async def execute(s: Any, *arguments: Any) -> Any:
    """workspace/executeCommand seedCoder.server.downloadModel, as the editors send it."""
    params = types.ExecuteCommandParams(
        command="seedCoder.server.downloadModel", arguments=list(arguments)
    )
    return await asyncio.wait_for(s.client.workspace_execute_command_async(params), 30)


def test_the_download_command_is_advertised() -> None:
    """Clients find the command in executeCommandProvider (pygls lists @server.command ones)."""
    from lsp_server.lsp.server import DOWNLOAD_COMMAND, server

    assert DOWNLOAD_COMMAND in server.protocol.fm.commands


@pytest.mark.parametrize("with_name", [False, True])
async def test_the_download_command_downloads_and_loads(
    registry: Path, hub: Hub, with_name: bool
) -> None:
    async with lsp_session({"model": "tiny-test", "debounceMs": 0}, wait_ready=False) as s:
        await s.wait_for(lambda st: st.status.state == "error", what="the offer")
        assert hub.requests == []
        commands = s.init.capabilities.execute_command_provider.commands
        assert "seedCoder.server.downloadModel" in commands
        result = await execute(s, "tiny-test") if with_name else await execute(s)
        assert result == {"ok": True, "model": "tiny-test"}
        assert registry.is_file() and hub.gets() >= 1
        await s.wait_ready()
        uri = "file:///tmp/dl-command.py"
        s.open(uri, "def f():\n    \n")
        items = await s.inline(uri, types.Position(line=1, character=4))
        assert [i.insert_text for i in items] == [DEFAULT_INFILL]


async def test_the_download_command_refuses_an_unknown_name(registry: Path, hub: Hub) -> None:
    async with lsp_session({"model": "tiny-test"}, wait_ready=False) as s:
        result = await execute(s, "no-such-model")
        assert result == {
            "ok": False,
            "error": "'no-such-model' is not a registry model; nothing to download",
        }
        bad = await execute(s, 42)
        assert bad["ok"] is False and "model name" in bad["error"]
        shown = [m.message for m in s.shown()]
        assert "Seed-Coder: 'no-such-model' is not a registry model; nothing to download" in shown
        assert hub.gets() == 0 and not registry.exists()
        assert (await s.stats()).status.state == "error"  # still the offer; still answering


async def test_the_download_command_reports_a_failing_hub(registry: Path, hub: Hub) -> None:
    """A hub that refuses (401) and one that lacks the file (404): one clear error each, the
    server goes on, and the same command works once the hub serves the file."""
    data = hub.files.pop("test/tiny-GGUF/tiny.gguf")
    async with lsp_session({"model": "tiny-test"}, wait_ready=False) as s:
        missing = await execute(s)
        assert missing["ok"] is False and "was not found (404)" in missing["error"]
        hub.refuse = 401
        refused = await execute(s, "tiny-test")
        assert refused["ok"] is False and "needs a Hugging Face login" in refused["error"]
        errors = [m.message for m in s.shown() if m.type == types.MessageType.Error]
        assert errors == [f"Seed-Coder: {missing['error']}", f"Seed-Coder: {refused['error']}"]
        assert not registry.exists()
        hub.refuse, hub.files["test/tiny-GGUF/tiny.gguf"] = None, data
        assert await execute(s) == {"ok": True, "model": "tiny-test"}
        await s.wait_ready()


async def test_a_missing_next_edit_model_is_offered_and_fetched_only_when_asked(
    registry: Path, hub: Hub, tmp_path: Path
) -> None:
    """nextEditModel names a registry model that is not on disk: the user is asked (nothing is
    fetched); the download command with its name fetches it and next edits come up."""
    local = write_tiny_model(tmp_path / "local.gguf")
    settings = {"model": str(local), "nextEditModel": "tiny-test"}
    async with lsp_session(settings) as s:
        await s.wait_for(lambda st: st.next_edit.state == "error", what="the offer")
        for _ in range(100):
            if s.message_requests:
                break
            await asyncio.sleep(0.02)
        (asked,) = s.message_requests
        assert "tiny-test" in asked.message and "next edits" in asked.message
        assert hub.gets() == 0 and not registry.exists()
        assert await execute(s, "tiny-test") == {"ok": True, "model": "tiny-test"}
        stats = await s.wait_for(lambda st: st.next_edit.state == "ready", what="next edits")
        assert registry.is_file() and stats.engine_starts == 1  # completions never reloaded
