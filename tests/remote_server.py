"""A real llama-server for the remote engine's tests: the binary built from the llama.cpp that
llama-cpp-python vendors (benchmarks/llama_server.py builds and caches it), on a loopback port,
with an optional API key. No FIM overrides: the engine finds the marks by text itself."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.llama_server import llama_server_binary, stop_process


def binary() -> Path:
    """The cached llama-server; building it is part of the test setup (CI does it first)."""
    found = llama_server_binary(log=lambda line: None)
    assert found is not None, "llama-server could not be built: python -m benchmarks.llama_server"
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """llama-server with a model; start() waits for /health, stop() ends it."""

    def __init__(
        self,
        model: Path,
        *,
        port: int | None = None,
        api_key: str | None = None,
        slots: int = 2,
        ctx: int = 1024,
    ) -> None:
        self.model, self.api_key, self.slots, self.ctx = model, api_key, slots, ctx
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.mkstemp(prefix="llama-server-test-", suffix=".log")[1])

    def start(self, timeout: float = 60.0) -> Server:
        cmd = [str(binary()), "-m", str(self.model), "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "-c", str(self.ctx), "-np", str(self.slots), "-t", "1"]
        cmd += ["--metrics"]  # decode counters: what the server really did after a cancel
        if self.api_key:
            cmd += ["--api-key", self.api_key]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"llama-server did not start: {tail}")
            with contextlib.suppress(OSError, ValueError):
                if self.get("/health", timeout=1.0).get("status") == "ok":
                    return self
            time.sleep(0.05)

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def get(self, path: str, timeout: float = 5.0) -> Any:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        req = urllib.request.Request(self.url + path, headers=headers)
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def decoded(self) -> int:
        """Decode steps the server has run (its /metrics counter)."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        req = urllib.request.Request(self.url + "/metrics", headers=headers)
        with urllib.request.urlopen(req, timeout=5) as resp:
            text = resp.read().decode()
        line = next(x for x in text.splitlines() if x.startswith("llamacpp:n_decode_total"))
        return int(float(line.split()[1]))

    def slots_busy(self) -> list[bool]:
        return [bool(s.get("is_processing")) for s in self.get("/slots")]

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
