"""A registry model that is not on disk: the server asks before downloading (or downloads at once
with autoDownload), with $/progress percentages; newer settings stop a download.

The hub is a local stand-in (http.server on 127.0.0.1); no test touches the internet.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from lsprotocol import types

from tests.e2e.helpers import lsp_session, pid_alive
from tests.e2e.raw_client import RawServer
from tests.tiny_model import DEFAULT_INFILL, write_tiny_model


class _Hub(BaseHTTPRequestHandler):
    """Serves one file at /{repo}/resolve/main/{file} in small pieces."""

    data = b""
    path_served = ""
    delay = 0.0  # seconds between 64 KiB pieces: a slow network
    served = 0
    requests = 0  # every request that reached the hub

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        type(self).requests += 1
        if self.path != self.path_served:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.data)))
        self.end_headers()
        for i in range(0, len(self.data), 64 * 1024):
            self.wfile.write(self.data[i : i + 64 * 1024])
            type(self).served += 1
            time.sleep(self.delay)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    model = write_tiny_model(tmp_path / "hub-tiny.gguf")
    _Hub.data = model.read_bytes()
    _Hub.path_served = "/test/tiny-GGUF/resolve/main/tiny.gguf"
    _Hub.delay, _Hub.served, _Hub.requests = 0.0, 0, 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Hub.data
    server.shutdown()


@pytest.fixture
def registry(tmp_path: Path, hub: tuple[str, bytes], monkeypatch: pytest.MonkeyPatch) -> Path:
    """An extra registry entry pointing at the stand-in hub, and an empty cache."""
    endpoint, data = hub
    extra = tmp_path / "registry.json"
    extra.write_text(
        json.dumps(
            {
                "models": {
                    "tiny-test": {
                        "repo": "test/tiny-GGUF",
                        "file": "tiny.gguf",
                        "size": len(data),
                        "size_exact": True,
                        "template": "seed-coder",
                    }
                }
            }
        )
    )
    cache = tmp_path / "cache"
    monkeypatch.setenv("SEED_CODER_LSP_REGISTRY", str(extra))
    monkeypatch.setenv("SEED_CODER_LSP_CACHE", str(cache))
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("SEED_CODER_LSP_MODEL", raising=False)
    return cache / "models" / "tiny.gguf"


async def test_a_missing_model_is_offered_and_nothing_is_fetched_unasked(registry: Path) -> None:
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
        assert _Hub.requests == 0 and not registry.exists()  # dismissed: no network at all
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
    registry: Path, tmp_path: Path
) -> None:
    """initializationOptions name a registry model that is not downloaded, but the client's
    configuration (Neovim's vim.lsp.config settings) names a local file: only that is used."""
    local = write_tiny_model(tmp_path / "local.gguf")
    async with lsp_session(
        {"model": "tiny-test"}, configuration={"model": str(local), "debounceMs": 0}
    ) as s:
        stats = await s.stats()
        assert stats.status.state == "ready" and stats.engine_starts == 1
        assert s.message_requests == [] and _Hub.requests == 0


async def test_newer_settings_stop_a_download_and_never_switch_to_its_model(
    registry: Path, tmp_path: Path
) -> None:
    _Hub.delay = 0.3  # a slow network
    local = write_tiny_model(tmp_path / "local.gguf")
    async with lsp_session({"model": "tiny-test", "autoDownload": True}, wait_ready=False) as s:
        for _ in range(200):
            if _Hub.served >= 1:
                break
            await asyncio.sleep(0.02)
        assert _Hub.served >= 1, "download never started"
        s.configure({"model": str(local)})
        await s.wait_ready()
        part = registry.with_name(registry.name + ".part")
        size = part.stat().st_size
        await asyncio.sleep(1.0)
        assert part.stat().st_size == size  # the transfer stopped; the .part stays to resume
        stats = await s.stats()
        assert stats.engine_starts == 1 and stats.status.state == "ready"
        assert not registry.exists()  # only a .part, to resume later


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


def test_editor_closing_during_a_download_ends_the_server_at_once(registry: Path) -> None:
    _Hub.delay = 0.5  # the whole file would take many seconds
    with RawServer() as server:
        server.initialize({"model": "tiny-test", "autoDownload": True})
        deadline = time.monotonic() + 10
        while _Hub.served < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _Hub.served >= 2, "download never started"
        t0 = time.monotonic()
        assert server.proc.stdin is not None
        server.proc.stdin.close()
        server.proc.wait(timeout=5)
        assert time.monotonic() - t0 < 2.0
        assert not pid_alive(server.proc.pid)
    assert not registry.exists()
