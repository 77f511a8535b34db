"""Downloader tests against a local stand-in for the Hugging Face hub (no internet)."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lsp_server.download import DownloadError, download_model, model_url, stderr_progress
from lsp_server.registry import ModelEntry, models_dir

DATA = b"GGUF" + bytes(range(256)) * 1200
REPO = "acme/Tiny-GGUF"
FILE = "Tiny.Q4_K_M.gguf"


def make_entry(size: int = len(DATA), exact: bool = True) -> ModelEntry:
    """A registry entry for the file the fake hub serves."""
    return ModelEntry(
        name="tiny",
        repo=REPO,
        file=FILE,
        size=size,
        size_exact=exact,
        template="seed-coder",
        description="test model",
    )


@dataclass
class Request:
    """What the fake hub saw, so tests can assert on Range and Authorization."""

    path: str
    range: str | None
    auth: str | None


@dataclass
class HubState:
    """Behaviour switches for the fake hub."""

    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    drop_after: int | None = None  # send this many body bytes, then cut the connection (once)
    status: int | None = None  # answer every download request with this error status
    ignore_range: bool = False
    redirect_to: str | None = None  # base URL to 302 to (default: this server's /cdn)


class HubHandler(BaseHTTPRequestHandler):
    """Serves /{repo}/resolve/main/{file} and /cdn/{repo}/{file} with Range support."""

    server: HubServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Keep test output quiet."""

    def do_GET(self) -> None:
        """Log the request, then redirect, fail, or serve the file."""
        st = self.server.state
        st.requests.append(
            Request(self.path, self.headers.get("Range"), self.headers.get("Authorization"))
        )
        m = re.fullmatch(r"/(.+)/resolve/main/([^/]+)", self.path)
        cdn = re.fullmatch(r"/cdn/(.+)/([^/]+)", self.path)
        if st.status is not None:
            self.send_error(st.status)
            return
        if m and st.redirect_to is not None:
            self.send_response(302)
            self.send_header("Location", f"{st.redirect_to}/cdn/{m.group(1)}/{m.group(2)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        match = m or cdn
        key = f"{match.group(1)}/{match.group(2)}" if match else ""
        if key not in st.files:
            self.send_error(404)
            return
        self._serve(st, st.files[key])

    def _serve(self, st: HubState, data: bytes) -> None:
        """Send the whole file or the requested tail, maybe dropping the connection."""
        start = 0
        rng = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if rng and not st.ignore_range:
            start = int(rng.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if st.drop_after is not None:
            cut, st.drop_after = st.drop_after, None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


class HubServer(ThreadingHTTPServer):
    """ThreadingHTTPServer carrying the shared HubState."""

    daemon_threads = True

    def __init__(self, state: HubState) -> None:
        super().__init__(("127.0.0.1", 0), HubHandler)
        self.state = state

    @property
    def url(self) -> str:
        """Base URL to use as the hub endpoint."""
        return f"http://127.0.0.1:{self.server_address[1]}"


StartHub = Callable[..., HubServer]


@pytest.fixture
def start_hub() -> Iterator[StartHub]:
    """Factory for fake hubs, all shut down after the test."""
    servers: list[HubServer] = []

    def start(state: HubState | None = None) -> HubServer:
        srv = HubServer(state or HubState(files={f"{REPO}/{FILE}": DATA}))
        threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def hub(start_hub: StartHub) -> HubServer:
    """One fake hub serving DATA as acme/Tiny-GGUF/Tiny.Q4_K_M.gguf."""
    return start_hub()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No proxies, no token, no offline flag, and a cache inside tmp."""
    for var in ("HF_TOKEN", "HF_HUB_OFFLINE", "HF_ENDPOINT", "SEED_CODER_LSP_MODEL"):
        monkeypatch.delenv(var, raising=False)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SEED_CODER_LSP_CACHE", str(tmp_path / "cache"))


def closed_port_url() -> str:
    """A localhost URL nothing listens on, for connection-refused tests."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_model_url_pattern() -> None:
    entry = make_entry()
    url = model_url(entry, "https://hub.example/")
    assert url == f"https://hub.example/{REPO}/resolve/main/{FILE}"


def test_model_url_honours_hf_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "https://mirror.example")
    assert model_url(make_entry()).startswith("https://mirror.example/acme/Tiny-GGUF/resolve/main/")


def test_full_download(hub: HubServer, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    path = download_model(
        make_entry(), tmp_path, endpoint=hub.url, progress=lambda d, t: calls.append((d, t))
    )
    assert path == tmp_path / FILE
    assert path.read_bytes() == DATA
    assert not (tmp_path / (FILE + ".part")).exists()
    assert calls[-1] == (len(DATA), len(DATA))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert hub.state.requests[0].range is None


def test_default_dest_is_models_dir(hub: HubServer, tmp_path: Path) -> None:
    path = download_model(make_entry(), endpoint=hub.url)
    assert path == models_dir() / FILE
    assert path.is_relative_to(tmp_path / "cache")
    assert path.read_bytes() == DATA


def test_complete_file_needs_no_network(tmp_path: Path) -> None:
    (tmp_path / FILE).write_bytes(DATA)
    assert download_model(make_entry(), tmp_path, endpoint=closed_port_url()) == tmp_path / FILE


def test_resume_after_dropped_connection(hub: HubServer, tmp_path: Path) -> None:
    half = len(DATA) // 2
    hub.state.drop_after = half
    with pytest.raises(DownloadError, match="seed-coder-lsp download tiny"):
        download_model(make_entry(), tmp_path, endpoint=hub.url)
    part = tmp_path / (FILE + ".part")
    assert part.stat().st_size == half
    assert not (tmp_path / FILE).exists()

    calls: list[tuple[int, int]] = []
    path = download_model(
        make_entry(), tmp_path, endpoint=hub.url, progress=lambda d, t: calls.append((d, t))
    )
    assert path.read_bytes() == DATA
    assert hub.state.requests[-1].range == f"bytes={half}-"
    assert calls[0] == (half, len(DATA))
    assert calls[-1] == (len(DATA), len(DATA))
    assert not part.exists()


def test_server_ignoring_range_restarts(hub: HubServer, tmp_path: Path) -> None:
    hub.state.ignore_range = True
    (tmp_path / (FILE + ".part")).write_bytes(b"garbage" * 100)
    path = download_model(make_entry(), tmp_path, endpoint=hub.url)
    assert path.read_bytes() == DATA
    assert hub.state.requests[-1].range == "bytes=700-"


def test_complete_part_finishes_on_416(hub: HubServer, tmp_path: Path) -> None:
    (tmp_path / (FILE + ".part")).write_bytes(DATA)
    path = download_model(make_entry(), tmp_path, endpoint=hub.url)
    assert path.read_bytes() == DATA
    assert len(hub.state.requests) == 1


def test_oversized_part_restarts(hub: HubServer, tmp_path: Path) -> None:
    (tmp_path / (FILE + ".part")).write_bytes(DATA + b"extra")
    path = download_model(make_entry(), tmp_path, endpoint=hub.url)
    assert path.read_bytes() == DATA
    assert [r.range for r in hub.state.requests] == [f"bytes={len(DATA) + 5}-", None]


def test_exact_size_mismatch_detected(hub: HubServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="size mismatch") as exc:
        download_model(make_entry(size=len(DATA) + 10), tmp_path, endpoint=hub.url)
    assert str(len(DATA)) in str(exc.value)
    assert not (tmp_path / FILE).exists()


def test_estimated_size_within_ten_percent(hub: HubServer, tmp_path: Path) -> None:
    entry = make_entry(size=int(len(DATA) * 1.05), exact=False)
    assert download_model(entry, tmp_path, endpoint=hub.url).read_bytes() == DATA


def test_estimated_size_far_off_detected(hub: HubServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="size mismatch"):
        download_model(make_entry(size=len(DATA) * 2, exact=False), tmp_path, endpoint=hub.url)


def test_not_gguf_rejected(start_hub: StartHub, tmp_path: Path) -> None:
    html = b"<html>" + b"x" * 1000
    srv = start_hub(HubState(files={f"{REPO}/{FILE}": html}))
    with pytest.raises(DownloadError, match="GGUF"):
        download_model(make_entry(size=len(html)), tmp_path, endpoint=srv.url)
    assert not (tmp_path / FILE).exists()
    assert not (tmp_path / (FILE + ".part")).exists()


def test_404_message(hub: HubServer, tmp_path: Path) -> None:
    hub.state.status = 404
    with pytest.raises(DownloadError) as exc:
        download_model(make_entry(), tmp_path, endpoint=hub.url)
    msg = str(exc.value)
    assert "404" in msg
    assert model_url(make_entry(), hub.url) in msg
    assert "by hand" in msg and str(tmp_path / FILE) in msg
    assert "\n" not in msg


def test_401_mentions_token(hub: HubServer, tmp_path: Path) -> None:
    hub.state.status = 401
    with pytest.raises(DownloadError, match="HF_TOKEN"):
        download_model(make_entry(), tmp_path, endpoint=hub.url)


def test_connection_refused_message(tmp_path: Path) -> None:
    endpoint = closed_port_url()
    with pytest.raises(DownloadError) as exc:
        download_model(make_entry(), tmp_path, endpoint=endpoint, timeout=5)
    msg = str(exc.value)
    assert model_url(make_entry(), endpoint) in msg
    assert "by hand" in msg and str(tmp_path / FILE) in msg
    assert "refused" in msg
    assert "\n" not in msg


def test_hf_hub_offline(hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DownloadError, match="HF_HUB_OFFLINE") as exc:
        download_model(make_entry(), tmp_path, endpoint=hub.url)
    assert "by hand" in str(exc.value)
    assert hub.state.requests == []


def test_redirect_same_host_keeps_token(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    hub.state.redirect_to = hub.url
    path = download_model(make_entry(), tmp_path, endpoint=hub.url)
    assert path.read_bytes() == DATA
    assert [r.path.split("/")[1] for r in hub.state.requests] == ["acme", "cdn"]
    assert all(r.auth == "Bearer hf_secret" for r in hub.state.requests)


def test_redirect_other_host_drops_token(
    start_hub: StartHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    cdn = start_hub()
    front = start_hub(HubState(redirect_to=cdn.url))
    hub_calls: list[tuple[int, int]] = []
    path = download_model(
        make_entry(), tmp_path, endpoint=front.url, progress=lambda d, t: hub_calls.append((d, t))
    )
    assert path.read_bytes() == DATA
    assert front.state.requests[0].auth == "Bearer hf_secret"
    assert cdn.state.requests[0].auth is None
    assert hub_calls[-1] == (len(DATA), len(DATA))


def test_resume_through_redirect_keeps_range(hub: HubServer, tmp_path: Path) -> None:
    hub.state.redirect_to = hub.url
    (tmp_path / (FILE + ".part")).write_bytes(DATA[:1000])
    assert download_model(make_entry(), tmp_path, endpoint=hub.url).read_bytes() == DATA
    assert hub.state.requests[-1].range == "bytes=1000-"


def test_stderr_progress_writes_stderr_only(capsys: pytest.CaptureFixture[str]) -> None:
    stderr_progress(0, 200)
    stderr_progress(100, 200)
    stderr_progress(200, 200)
    out, err = capsys.readouterr()
    assert out == ""
    assert "50.0%" in err and "100.0%" in err and err.endswith("\n")


def test_stderr_progress_unknown_total(capsys: pytest.CaptureFixture[str]) -> None:
    stderr_progress(5_000_000, 0)
    out, err = capsys.readouterr()
    assert out == "" and "0.01 GB" in err


def test_timeout_message(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections in the backlog, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(DownloadError, match="timed out") as exc:
            download_model(make_entry(), tmp_path, endpoint=endpoint, timeout=0.3)
    assert "by hand" in str(exc.value) and model_url(make_entry(), endpoint) in str(exc.value)
