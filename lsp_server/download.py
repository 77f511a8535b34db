"""Resumable model download with stdlib urllib, so a 5 GB fetch survives a dropped link."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from . import __version__
from .model_check import GGUF_MAGIC, read_magic
from .registry import ModelEntry, models_dir

__all__ = ["DownloadError", "download_model", "model_url", "stderr_progress"]

Progress = Callable[[int, int], None]

CHUNK = 1 << 20
ESTIMATE_TOLERANCE = 0.10
PROGRESS_MIN_FRACTION = 0.01
PROGRESS_MIN_SECONDS = 0.25
DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUTHY = {"1", "true", "yes", "on"}


class DownloadError(Exception):
    """A download that failed; the message is one line a person can act on."""


class DownloadCancelled(DownloadError):
    """Stopped on purpose (newer settings asked for another model); the .part stays to resume."""


@dataclass
class _Target:
    """Everything the error messages need to tell the user how to finish by hand."""

    entry: ModelEntry
    url: str
    dest: Path

    @property
    def part(self) -> Path:
        """Partial file next to the destination, so a rename finishes it atomically."""
        return self.dest.with_name(self.dest.name + ".part")

    def hint(self) -> str:
        """How to get the file without this tool."""
        return f"download {self.url} by hand and save it as {self.dest}"

    def retry(self) -> str:
        """How to resume with this tool."""
        return f"re-run `seed-coder-lsp download {self.entry.name}` to resume"


def _endpoint(endpoint: str | None) -> str:
    """Hub base URL: explicit, else $HF_ENDPOINT (read now, not at import), else the hub's."""
    if endpoint:
        return endpoint
    env = os.environ.get("HF_ENDPOINT")
    if env:
        return env
    try:
        from huggingface_hub import constants

        return str(constants.ENDPOINT)
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        return DEFAULT_ENDPOINT


def model_url(entry: ModelEntry, endpoint: str | None = None) -> str:
    """The hub's direct-download URL for a registry entry."""
    base = _endpoint(endpoint).rstrip("/")
    return f"{base}/{entry.repo}/resolve/main/{urllib.parse.quote(entry.file)}"


def _offline() -> bool:
    """Honour the huggingface_hub convention for 'never touch the network'."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUTHY


def _size_plausible(size: int, entry: ModelEntry) -> bool:
    """Exact registry sizes must match; estimates only need to be within +-10%."""
    if entry.size_exact:
        return size == entry.size
    return abs(size - entry.size) <= entry.size * ESTIMATE_TOLERANCE


def _is_complete(dest: Path, entry: ModelEntry) -> bool:
    """A finished file (renamed only after verification) needs no network round trip."""
    try:
        return (
            dest.is_file()
            and _size_plausible(dest.stat().st_size, entry)
            and read_magic(dest) == GGUF_MAGIC
        )
    except OSError:
        return False


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follow 308 on Python 3.10 too, and keep the token only on the hub's own host."""

    def __init__(self, token: str | None) -> None:
        self.token = token

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, 307 if code == 308 else code, msg, headers, newurl)
        if new is not None and self.token:
            old_host = urllib.parse.urlsplit(req.full_url).netloc
            if urllib.parse.urlsplit(new.full_url).netloc == old_host:
                new.add_unredirected_header("Authorization", f"Bearer {self.token}")
        return new

    http_error_308 = urllib.request.HTTPRedirectHandler.http_error_302


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    """GET `url` from byte `offset`, with the HF token if one is set."""
    token = os.environ.get("HF_TOKEN") or None
    req = urllib.request.Request(url, headers={"User-Agent": f"seed-coder-lsp/{__version__}"})
    if offset:
        req.add_header("Range", f"bytes={offset}-")
    if token:
        # Unredirected: a CDN on another host must not receive the token.
        req.add_unredirected_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(_RedirectHandler(token))
    resp: http.client.HTTPResponse = opener.open(req, timeout=timeout)
    return resp


def _http_error(t: _Target, exc: urllib.error.HTTPError) -> DownloadError:
    """Translate an HTTP status into advice."""
    if exc.code in (401, 403):
        why = f"access denied (HTTP {exc.code}) for {t.url}: set HF_TOKEN if the repo is gated, or"
    elif exc.code == 404:
        why = f"not found (HTTP 404): {t.url} -- the file may have been renamed; check the repo, or"
    else:
        why = f"server error (HTTP {exc.code} {exc.reason}) for {t.url}; retry later, or"
    return DownloadError(f"{why} {t.hint()}")


def _network_error(t: _Target, exc: BaseException) -> DownloadError:
    """Translate offline / DNS / refused / timeout into advice."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (socket.timeout, TimeoutError)):
        what = "timed out"
    elif isinstance(reason, socket.gaierror):
        what = "cannot resolve host (offline?)"
    elif isinstance(reason, ConnectionRefusedError):
        what = "connection refused"
    else:
        what = f"network error ({reason})"
    return DownloadError(f"cannot download {t.url}: {what}; {t.hint()}")


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _parse_content_range(value: str | None) -> tuple[int, int | None] | None:
    """(start, total) from a Content-Range header; total None when the server says '*'."""
    m = _CONTENT_RANGE.match(value or "")
    if not m:
        return None
    return int(m.group(1)), None if m.group(3) == "*" else int(m.group(3))


def _unsatisfiable_total(exc: urllib.error.HTTPError) -> int | None:
    """Total size from a 416 answer ('bytes */N'), which tells us if the .part is complete."""
    m = re.match(r"bytes\s+\*/(\d+)", exc.headers.get("Content-Range", "") if exc.headers else "")
    return int(m.group(1)) if m else None


def _start(t: _Target, offset: int, timeout: float) -> tuple[http.client.HTTPResponse, int, int]:
    """Open the stream; returns (response, offset actually resumed from, total size or 0)."""
    resp = _open(t.url, offset, timeout)
    length = int(resp.headers.get("Content-Length") or 0)
    if resp.status == 206:
        cr = _parse_content_range(resp.headers.get("Content-Range"))
        if cr is not None and cr[0] == offset:
            return resp, offset, cr[1] or (offset + length if length else 0)
        resp.close()  # a range we did not ask for: start over without Range
        resp = _open(t.url, 0, timeout)
        length = int(resp.headers.get("Content-Length") or 0)
    return resp, 0, length  # 200: the server ignored Range, so the body is the whole file


def _check_total(t: _Target, total: int) -> None:
    """Refuse before transferring gigabytes if the hub offers an implausible size."""
    if total and not _size_plausible(total, t.entry):
        kind = "expects" if t.entry.size_exact else "estimates"
        raise DownloadError(
            f"size mismatch for {t.url}: server offers {total} bytes, registry {kind} "
            f"{t.entry.size}; the upstream file changed -- check it, or {t.hint()}"
        )


def _check_space(t: _Target, needed: int) -> None:
    """Fail early instead of filling the disk half way through."""
    try:
        free = shutil.disk_usage(t.dest.parent).free
    except OSError:
        return
    if needed > free:
        raise DownloadError(
            f"not enough disk space in {t.dest.parent}: need {needed} more bytes, {free} free; "
            f"free some space or set SEED_CODER_LSP_CACHE to another disk"
        )


class _Throttle:
    """Call `progress` at most every ~1% or 0.25 s, so a terminal is not flooded."""

    def __init__(self, progress: Progress | None, expected: int) -> None:
        self.progress = progress
        self.step = max(1, int(expected * PROGRESS_MIN_FRACTION))
        self.last_done = -1
        self.last_time = 0.0

    def __call__(self, done: int, total: int, *, force: bool = False) -> None:
        if self.progress is None or done == self.last_done:
            return
        now = time.monotonic()
        due = done - self.last_done >= self.step or now - self.last_time >= PROGRESS_MIN_SECONDS
        if force or due:
            self.last_done, self.last_time = done, now
            self.progress(done, total)


def _stream(
    t: _Target, resp: http.client.HTTPResponse, offset: int, total: int, report: _Throttle
) -> int:
    """Append the body to the .part file; returns its final size."""
    done = offset
    with resp, t.part.open("ab" if offset else "wb") as out:
        if offset:
            out.truncate(offset)  # in case the file grew since we measured it
        report(done, total, force=True)
        try:
            while chunk := resp.read(CHUNK):
                out.write(chunk)
                done += len(chunk)
                report(done, total)
        except (http.client.HTTPException, OSError) as exc:
            out.flush()
            raise DownloadError(
                f"download of {t.url} interrupted at {done} bytes ({_reason(exc)}); "
                f"{t.retry()}, or {t.hint()}"
            ) from exc
    return done


def _verify(t: _Target, done: int, total: int) -> None:
    """The .part must be complete, the right size and a GGUF before it may be renamed."""
    if total and done < total:
        raise DownloadError(
            f"download of {t.url} stopped at {done} of {total} bytes; {t.retry()}, or {t.hint()}"
        )
    if (total and done != total) or not _size_plausible(done, t.entry):
        t.part.unlink(missing_ok=True)
        raise DownloadError(
            f"downloaded {done} bytes from {t.url} but expected {total or t.entry.size}; "
            f"the partial file was removed -- re-run `seed-coder-lsp download {t.entry.name}` "
            f"to start over, or {t.hint()}"
        )
    if read_magic(t.part) != GGUF_MAGIC:
        t.part.unlink(missing_ok=True)
        raise DownloadError(f"{t.url} did not return a GGUF file; check the URL, or {t.hint()}")


def _finish_416(t: _Target, exc: urllib.error.HTTPError, offset: int) -> bool:
    """On 416 the .part may already be whole; otherwise drop it so the next try restarts."""
    total = _unsatisfiable_total(exc)
    if total is not None and total == offset:
        return True
    t.part.unlink(missing_ok=True)
    return False


def _attempt(t: _Target, progress: Progress | None, timeout: float) -> bool:
    """One request; True when the .part holds the verified file, False to retry from zero."""
    offset = t.part.stat().st_size if t.part.exists() else 0
    try:
        resp, offset, total = _start(t, offset, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            if _finish_416(t, exc, offset):
                _verify(t, offset, offset)
                return True
            return False
        raise _http_error(t, exc) from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise _network_error(t, exc) from exc
    try:
        _check_total(t, total)
        _check_space(t, max(0, (total or t.entry.size) - offset))
    except DownloadError:
        resp.close()
        raise
    report = _Throttle(progress, total or t.entry.size)
    done = _stream(t, resp, offset, total, report)
    _verify(t, done, total)
    report(done, total or done, force=True)
    return True


def download_model(
    entry: ModelEntry,
    dest_dir: Path | None = None,
    *,
    endpoint: str | None = None,
    progress: Progress | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download `entry` into `dest_dir` (default models_dir()), resuming a previous .part."""
    dest = (dest_dir if dest_dir is not None else models_dir()) / entry.file
    if _is_complete(dest, entry):
        return dest
    t = _Target(entry=entry, url=model_url(entry, endpoint), dest=dest)
    if _offline():
        raise DownloadError(
            f"HF_HUB_OFFLINE is set, so {entry.name} was not downloaded; {t.hint()}"
        )
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create {dest.parent}: {exc.strerror or exc}") from exc
    # A second attempt only happens when the server refused to resume (416) and we restart.
    if not _attempt(t, progress, timeout) and not _attempt(t, progress, timeout):
        raise DownloadError(f"server would not resume {t.url}; {t.retry()}, or {t.hint()}")
    os.replace(t.part, dest)
    return dest


def _reason(exc: BaseException) -> str:
    """Short human reason for an interruption."""
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    return type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}"


def _gb(n: int) -> str:
    """Bytes as GB with two decimals, the unit model sizes are quoted in."""
    return f"{n / 1e9:.2f}"


def stderr_progress(done: int, total: int) -> None:
    """Progress bar for the CLI; stderr only, because stdout is the LSP channel."""
    width = 30
    if total > 0:
        frac = min(1.0, done / total)
        bar = "#" * int(frac * width)
        line = f"\r[{bar:<{width}}] {frac * 100:5.1f}%  {_gb(done)}/{_gb(total)} GB"
    else:
        line = f"\r{_gb(done)} GB"
    sys.stderr.write(line)
    if total > 0 and done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()
