"""Where a shared engine lives and how its clients talk to it: a Unix socket in a 0700 folder of
the user's runtime dir, named by the model file and engine settings; length-prefixed JSON
messages (never pickle: nothing from a socket is executed); the peer's uid checked on both ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import stat
import struct
import sys
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lsp_server import __version__
from lsp_server.engines import EngineError
from lsp_server.engines.local.runner import WorkerConfig

PROTOCOL = 1  # bumped when messages change: an older engine is never attached to
MAX_MESSAGE = 64 * 1024 * 1024
NOT_IN_KEY = ("log_level",)  # settings that do not change what the engine computes


class TooLarge(ValueError):
    """A message over MAX_MESSAGE: never sent (the other end would hang up)."""


def supported() -> bool:
    """Unix sockets with a peer-uid check (Linux, macOS, BSDs); elsewhere one engine each."""
    return hasattr(socket, "AF_UNIX") and sys.platform != "win32"


def runtime_dir() -> Path:
    """The user's private folder for engine sockets; refused if anyone else could enter it."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base):
        path = Path(base) / "seed-coder-lsp"
    else:
        path = Path(tempfile.gettempdir()) / f"seed-coder-lsp-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise EngineError(
            f"{path} is not a folder only this user can enter (mode {oct(info.st_mode & 0o777)},"
            f" owner uid {info.st_uid}): not sharing an engine through it (set sharedEngine "
            "to false, or fix the folder)"
        )
    return path


def engine_key(config: WorkerConfig) -> str:
    """One engine per model file (its path, size and mtime) and engine settings."""
    try:
        info = os.stat(config.model_path)
    except OSError as exc:
        raise EngineError(f"model file {config.model_path}: {exc.strerror}") from exc
    ident = {k: v for k, v in asdict(config).items() if k not in NOT_IN_KEY}
    ident.update(
        model_path=os.path.realpath(config.model_path),
        size=info.st_size,
        mtime_ns=info.st_mtime_ns,
        protocol=PROTOCOL,
        version=__version__,
    )
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end (None where the OS cannot tell)."""
    if hasattr(socket, "SO_PEERCRED"):  # Linux: struct ucred {pid, uid, gid}
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return int(struct.unpack("3i", raw)[1])
    if sys.platform == "darwin" or "bsd" in sys.platform:  # LOCAL_PEERCRED: struct xucred
        raw = sock.getsockopt(0, 0x001, struct.calcsize("=IIh2x16I"))
        return int(struct.unpack_from("=II", raw)[1])
    return None


class Channel:
    """Length-prefixed JSON messages over a connected socket; sends are thread-safe."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = sock.makefile("rb")
        self._lock = threading.Lock()

    def send(self, msg: dict[str, Any]) -> None:
        """One message; raises OSError when the other end is gone."""
        data = json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode()
        if len(data) > MAX_MESSAGE:
            raise TooLarge(f"a request of {len(data) >> 20} MB is more than the engine takes")
        with self._lock:
            self.sock.sendall(struct.pack("!I", len(data)) + data)

    def recv(self) -> dict[str, Any]:
        """The next message; EOFError when the other end closed."""
        header = self._reader.read(4)
        if len(header) < 4:
            raise EOFError
        (size,) = struct.unpack("!I", header)
        if size > MAX_MESSAGE:
            raise ValueError(f"message of {size} bytes")
        data = self._reader.read(size)
        if len(data) < size:
            raise EOFError
        msg = json.loads(data)
        if not isinstance(msg, dict):
            raise ValueError("message is not an object")
        return msg

    def close(self) -> None:
        """Close both directions (a reader blocked in recv sees EOF)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._reader.close()
            self.sock.close()


def connect(path: Path) -> Channel | None:
    """A channel to the engine at `path`, None when nobody listens there (no or stale socket);
    an engine run by another user is refused."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    except OSError as exc:
        sock.close()
        raise EngineError(f"cannot connect to the shared engine at {path}: {exc}") from exc
    uid = peer_uid(sock)
    if uid != os.getuid():
        sock.close()
        raise EngineError(f"the shared engine at {path} runs as uid {uid}, not this user")
    return Channel(sock)
