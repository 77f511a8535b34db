"""sharedEngine: language servers started against the same model share one engine process, each
with its own KV cache; the engine survives its clients' deaths, comes back after its own, leaves
after its last client, and refuses other users. Real servers over stdio, real llama.cpp."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from tests.e2e.helpers import (
    DEFAULT_INFILL,
    Models,
    Session,
    lsp_session,
    pid_alive,
    wait_gone,
)

pytestmark = pytest.mark.asyncio(loop_scope="function")
CURSOR = types.Position(line=1, character=4)
SHARED = {"debounceMs": 0, "speculative": False, "sharedEngine": True}


@pytest.fixture
def run() -> Iterator[Path]:
    """A runtime dir of this test only, with a short path (a socket's is at most 107 bytes)."""
    base = Path(tempfile.mkdtemp(prefix="sc-"))
    yield base / "run"
    shutil.rmtree(base, ignore_errors=True)


@asynccontextmanager
async def servers(models: Models, run_dir: Path, n: int) -> AsyncIterator[list[Session]]:
    """n language servers on the tiny model, sharing engines through `run_dir`."""
    run_dir.mkdir(mode=0o700, exist_ok=True)
    env = {"XDG_RUNTIME_DIR": str(run_dir), "SEED_CODER_LSP_ENGINE_GRACE": "1"}
    settings = {"model": str(models.tiny), **SHARED}
    async with AsyncExitStack() as stack:
        out = [await stack.enter_async_context(lsp_session(settings, env=env)) for _ in range(n)]
        yield out


def hosts(run_dir: Path) -> list[int]:
    """Engine processes serving sockets under run_dir (from /proc: what really runs)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = any(arg.startswith(str(run_dir).encode()) for arg in cmdline)
        if b"lsp_server.engines.shared.host" in cmdline and ours and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


async def complete(s: Session, uri: str, text: str) -> list[str]:
    s.open(uri, text)
    return [i.insert_text for i in await s.inline(uri, CURSOR, timeout=30)]


async def all_attached(sessions: list[Session], n: int) -> list[Any]:
    """Stats of every session once each sees n clients on the one engine."""
    return [
        await s.wait_for(
            lambda st: st.shared_engine is not None and st.shared_engine.clients == n,
            10,
            f"{n} clients",
        )
        for s in sessions
    ]


async def test_three_servers_one_engine_own_caches(models: Models, run: Path) -> None:
    async with servers(models, run, 3) as sessions:
        stats = await all_attached(sessions, 3)
        assert len({st.shared_engine.engine_pid for st in stats}) == 1
        assert len({st.engine_pid for st in stats}) == 1  # one llama.cpp worker
        assert sorted(st.shared_engine.session for st in stats) == [0, 1, 2]
        host = stats[0].shared_engine.engine_pid
        assert hosts(run) == [host]
        # It runs in its runtime folder, not in a project whose files Python would import.
        assert os.readlink(f"/proc/{host}/cwd") == str(run / "seed-coder-lsp")

        uris = [f"file:///e2e/shared/own-{i}.py" for i in range(3)]
        for i, (s, uri) in enumerate(zip(sessions, uris)):
            assert await complete(s, uri, f"def own_{i}():\n    \n") == [DEFAULT_INFILL]
        # Each window types one key after the others ran: its cache is still its own, so it
        # evaluates the new byte and the FIM middle token only (a shared cache: the whole prompt).
        for s, uri in zip(sessions, uris):
            cursor = s.insert(uri, 4 + len("def own_0():\n"), "z")
            before = await s.stats()
            assert [i.insert_text for i in await s.inline(uri, cursor)] == [DEFAULT_INFILL]
            after = await s.stats()
            assert after.evaluated_tokens - before.evaluated_tokens == 2


async def test_a_killed_server_leaves_the_others_working(models: Models, run: Path) -> None:
    async with servers(models, run, 3) as sessions:
        await all_attached(sessions, 3)
        os.kill(sessions[0].server_pid, signal.SIGKILL)
        await all_attached(sessions[1:], 2)
        for i, s in enumerate(sessions[1:]):
            uri = f"file:///e2e/shared/survivor-{i}.py"
            assert await complete(s, uri, f"def survivor_{i}():\n    \n") == [DEFAULT_INFILL]


@pytest.mark.parametrize("what", ["engine", "worker"])
async def test_every_server_recovers_when_the_engine_dies(
    models: Models, run: Path, what: str
) -> None:
    """engine: the engine process is killed (its worker follows); worker: llama.cpp crashes
    natively inside the engine (SIGSEGV), which restarts it."""
    async with servers(models, run, 3) as sessions:
        before = (await all_attached(sessions, 3))[0]
        if what == "engine":
            os.kill(before.shared_engine.engine_pid, signal.SIGKILL)
            os.kill(before.engine_pid, signal.SIGKILL)
        else:
            os.kill(before.engine_pid, signal.SIGSEGV)
        for s in sessions:
            await s.wait_for(lambda st: st.engine_crashes == 1, 10, "the crash to be noticed")
        for i, s in enumerate(sessions):
            uri = f"file:///e2e/shared/recover-{what}-{i}.py"
            assert await complete(s, uri, f"def recover_{i}():\n    \n") == [DEFAULT_INFILL]
        after = await all_attached(sessions, 3)
        assert len({st.shared_engine.engine_pid for st in after}) == 1
        assert len({st.engine_pid for st in after}) == 1
        assert after[0].engine_pid != before.engine_pid
        same_host = after[0].shared_engine.engine_pid == before.shared_engine.engine_pid
        assert same_host == (what == "worker")
        assert len(hosts(run)) == 1


async def test_the_engine_leaves_after_its_last_client(models: Models, run: Path) -> None:
    async with servers(models, run, 2) as sessions:
        stats = (await all_attached(sessions, 2))[0]
        host, worker = stats.shared_engine.engine_pid, stats.engine_pid
        sock = Path(stats.shared_engine.socket)
        assert await complete(sessions[0], "file:///e2e/shared/last.py", "def last():\n    \n")
    # Both servers exited: the engine waits its grace period (1 s here), then goes.
    assert pid_alive(host)
    await wait_gone(host, 10)
    await wait_gone(worker, 5)
    assert not sock.exists()


async def test_a_stale_socket_is_replaced(models: Models, run: Path) -> None:
    async with servers(models, run, 1) as sessions:
        stats = (await all_attached(sessions, 1))[0]
        sock_path = Path(stats.shared_engine.socket)
    await wait_gone(stats.shared_engine.engine_pid, 10)
    # An engine that crashed leaves its socket file: nobody listens on it.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_path))
    stale.close()
    async with servers(models, run, 1) as sessions:
        assert await complete(sessions[0], "file:///e2e/shared/stale.py", "def stale():\n    \n")
        stats = await sessions[0].stats()
        assert stats.shared_engine.socket == str(sock_path)
        assert hosts(run) == [stats.shared_engine.engine_pid]  # a new engine listens there


PROBE = r"""
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("denied"); sys.exit()
data = b'{"type":"hello","pid":1}'
s.sendall(struct.pack("!I", len(data)) + data)
reply = b""
while chunk := s.recv(4096):
    reply += chunk
print("refused" if b'"refused"' in reply and b"welcome" not in reply else "welcomed: %r" % reply)
"""


@pytest.mark.skipif(
    not hasattr(os, "getuid") or os.getuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root to run a client as a second uid",
)
async def test_another_user_cannot_connect(models: Models, run: Path) -> None:
    """The engine runs as this uid; a client as uid 65534 (nobody) is kept out by the 0700
    folder, and -- with the folder and socket opened up -- by the engine's own peer check."""
    async with servers(models, run, 1) as sessions:
        stats = (await all_attached(sessions, 1))[0]
        sock = Path(stats.shared_engine.socket)
        probe = run.parent / "probe.py"
        probe.write_text(PROBE)
        for folder in (run.parent, run):
            folder.chmod(0o755)
        probe.chmod(0o644)
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        command = [*as_nobody, sys.executable, str(probe), str(sock)]

        def run_probe() -> str:
            done = subprocess.run(command, capture_output=True, text=True, timeout=20, cwd="/")
            return done.stdout.strip() or done.stderr.strip()

        assert oct(sock.parent.stat().st_mode & 0o777) == "0o700"
        assert await asyncio.to_thread(run_probe) == "denied"
        sock.parent.chmod(0o755)
        sock.chmod(0o777)
        assert await asyncio.to_thread(run_probe) == "refused"
        # This user's servers are unaffected.
        assert await complete(sessions[0], "file:///e2e/shared/uid.py", "def uid():\n    \n")
