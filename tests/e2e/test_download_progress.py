"""A registry model that is not cached is downloaded by the server with $/progress percentages.

The hub is a local stand-in (http.server on 127.0.0.1); no test touches the internet.
"""

from __future__ import annotations

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

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
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
    _Hub.delay, _Hub.served = 0.0, 0
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


async def test_server_downloads_missing_registry_model_with_progress(registry: Path) -> None:
    async with lsp_session({"model": "tiny-test", "debounceMs": 0}) as s:
        assert registry.is_file()
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


async def test_offline_download_fails_with_one_actionable_message(
    registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    async with lsp_session({"model": "tiny-test"}, wait_ready=False) as s:
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
        server.initialize({"model": "tiny-test"})
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
