"""Find the user's shared engine for a model and settings, or start it: under a lock file, so
that windows opened together start one engine, not one each; a socket nobody answers on (an
engine that crashed) is replaced."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from lsp_server.engines import EngineError
from lsp_server.engines.local.runner import WorkerConfig
from lsp_server.engines.shared.wire import Channel, connect, engine_key, runtime_dir

START_TIMEOUT_S = 30.0  # until the new engine listens (it loads the model after that)


@dataclass
class Place:
    """Where an engine for this model and settings lives."""

    socket: Path
    lock: Path
    log: Path


def place(config: WorkerConfig) -> Place:
    """Paths in the private runtime folder, named by the engine key."""
    folder = runtime_dir()
    key = engine_key(config)
    return Place(
        folder / f"engine-{key}.sock", folder / f"engine-{key}.lock", folder / f"engine-{key}.log"
    )


def attach(config: WorkerConfig, grace: float) -> tuple[Channel, Place]:
    """A channel to the engine, started if no one has."""
    import fcntl  # POSIX only, as the whole shared engine (wire.supported)

    where = place(config)
    chan = connect(where.socket)
    if chan is not None:
        return chan, where
    with open(where.lock, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        chan = connect(where.socket)  # another window may have started it meanwhile
        if chan is not None:
            return chan, where
        proc = _spawn(config, where, grace)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            chan = connect(where.socket)
            if chan is not None:
                return chan, where
            if proc.poll() is not None:
                raise EngineError(
                    f"the shared engine exited at start (code {proc.returncode}); see {where.log}"
                )
            time.sleep(0.02)
        proc.kill()
        raise EngineError(f"the shared engine did not start within {START_TIMEOUT_S:g} s")


def _spawn(config: WorkerConfig, where: Place, grace: float) -> subprocess.Popen[bytes]:
    """Start the engine detached (its own session: closing this window leaves it running)."""
    command = [
        sys.executable,
        "-m",
        "lsp_server.engines.shared.host",
        "--socket",
        str(where.socket),
        "--grace",
        str(grace),
        "--config",
        json.dumps(asdict(config)),
    ]
    with open(where.log, "wb") as log:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
            close_fds=True,
            cwd=where.socket.parent,  # not the editor's project: its files must not be imported
        )
    # Reap it when it exits while we still run (no zombie), without waiting for it here.
    threading.Thread(target=proc.wait, daemon=True, name="reap-engine").start()
    return proc
