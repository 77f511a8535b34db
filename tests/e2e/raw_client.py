"""A bare JSON-RPC client over the server's stdio, for tests that must own the pipes."""

from __future__ import annotations

import itertools
import json
import queue
import subprocess
import threading
import time
from typing import IO, Any

from tests.e2e.helpers import ROOT, SERVER_COMMAND, server_env


class RawServer:
    """`python -m lsp_server` with Content-Length framing done by hand."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            SERVER_COMMAND,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=server_env(),
            cwd=str(ROOT),
        )
        self.ids = itertools.count(1)
        self.inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.stderr: list[bytes] = []
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True).start()

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()

    # -- framing -----------------------------------------------------------------------------
    def _read(self, stream: IO[bytes]) -> None:
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    self.inbox.put(None)
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            if length is None:
                continue
            self.inbox.put(json.loads(stream.read(length)))

    def _drain(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            self.stderr.append(line)

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def request(self, method: str, params: Any, timeout: float = 10) -> Any:
        msg_id = next(self.ids)
        self.send({"id": msg_id, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.inbox.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no answer to {method} within {timeout} s") from None
            if msg is None:
                raise AssertionError(f"server closed stdout before answering {method}")
            if msg.get("id") == msg_id and "method" not in msg:
                if "error" in msg:
                    raise AssertionError(f"{method} failed: {msg['error']}")
                return msg.get("result")

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    # -- session -----------------------------------------------------------------------------
    def initialize(self, options: dict[str, Any]) -> Any:
        capabilities = {"textDocument": {"inlineCompletion": {}}, "window": {}}
        result = self.request(
            "initialize",
            {
                "processId": None,
                "rootUri": None,
                "capabilities": capabilities,
                "initializationOptions": options,
            },
        )
        self.notify("initialized", {})
        return result

    def wait_ready(self, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            stats = self.request("seedCoder/stats", {})
            if stats["status"]["state"] == "ready" and stats["engine_pid"]:
                return stats
            if time.monotonic() > deadline:
                raise AssertionError(f"model not ready: {stats}")
            time.sleep(0.02)
