"""A local stand-in for the Hugging Face hub: what `hf_hub_download` needs, on 127.0.0.1.

HEAD and GET of /{owner}/{repo}/resolve/{revision}/{file} with X-Repo-Commit, ETag and
Content-Length, Range requests (resume), and knobs for the tests: a slow network, a dropped
connection, a refusal (401 of a gated repository).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

COMMIT = "0123456789abcdef0123456789abcdef01234567"
PIECE = 64 * 1024


@dataclass
class Hub:
    """What the stand-in serves and what it saw."""

    files: dict[str, bytes] = field(default_factory=dict)  # "owner/repo/file" -> bytes
    delay: float = 0.0  # seconds between pieces of a GET body
    drop_after: int | None = None  # close the first GET after this many body bytes
    refuse: int | None = None  # answer every request with this status (401: gated)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    body_bytes: int = 0  # bytes of file bodies sent
    url: str = ""

    def gets(self) -> int:
        return sum(1 for method, _ in self.requests if method == "GET")


class _Handler(BaseHTTPRequestHandler):
    hub: Hub

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        hub = self.hub
        hub.requests.append((self.command, self.path))
        if hub.refuse:
            self.send_response(hub.refuse)
            self.send_header("X-Error-Code", "GatedRepo")
            self.send_header("X-Error-Message", "Access to this model is restricted.")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            self.send_error(404)
            return
        key = f"{parts[0]}/{parts[1]}/{'/'.join(parts[4:])}"
        data = hub.files.get(key)
        if data is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start = 0
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and rng[6:].split("-")[0]:
            start = int(rng[6:].split("-")[0])
        self.send_response(206 if start else 200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(data) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if not body:
            return
        sent = 0
        for i in range(start, len(data), PIECE):
            chunk = data[i : i + PIECE]
            if hub.drop_after is not None and sent + len(chunk) > hub.drop_after:
                cut = hub.drop_after - sent
                hub.drop_after = None  # only once: the retry resumes
                self.wfile.write(chunk[:cut])
                hub.body_bytes += cut
                self.wfile.flush()
                self.connection.shutdown(2)  # the link drops mid-file
                self.close_connection = True
                return
            self.wfile.write(chunk)
            sent += len(chunk)
            hub.body_bytes += len(chunk)
            if hub.delay:
                time.sleep(hub.delay)


@contextmanager
def running(hub: Hub) -> Iterator[Hub]:
    """Serve `hub` on a free loopback port for the duration."""
    handler = type("Handler", (_Handler,), {"hub": hub})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()


def use_registry(monkeypatch: Any, tmp_path: Path, hub: Hub) -> Path:
    """A registry entry `tiny-test` served by `hub` (its file test/tiny-GGUF/tiny.gguf), an
    empty HF cache and HF_ENDPOINT at the hub, in this process's environment (and so in every
    server or editor the test starts); returns where the downloaded file will be."""
    data = hub.files["test/tiny-GGUF/tiny.gguf"]
    extra = tmp_path / "registry.json"
    entry = {
        "repo": "test/tiny-GGUF",
        "file": "tiny.gguf",
        "size": len(data),
        "size_exact": True,
        "template": "seed-coder",
    }
    extra.write_text(json.dumps({"models": {"tiny-test": entry}}))
    hf = tmp_path / "hf"
    monkeypatch.setenv("SEED_CODER_LSP_REGISTRY", str(extra))
    monkeypatch.setenv("SEED_CODER_LSP_CACHE", str(tmp_path / "ours"))
    monkeypatch.setenv("HF_HOME", str(hf))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("SEED_CODER_LSP_MODEL", raising=False)
    return hf / "hub" / "models--test--tiny-GGUF" / "snapshots" / COMMIT / "tiny.gguf"
