"""Settings, model loading, worker crashes and process cleanup: one fresh server per test."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
from lsprotocol import types

from tests.e2e.helpers import (
    DEFAULT_INFILL,
    OTHER_INFILL,
    Models,
    lsp_session,
    pid_alive,
    wait_gone,
)
from tests.e2e.raw_client import RawServer

CURSOR = types.Position(line=1, character=4)


async def test_invalid_settings_warn_and_defaults_apply(models: Models) -> None:
    options = {"model": str(models.tiny), "debounceMs": 0, "maxTokens": "lots", "bogus": 1}
    async with lsp_session(options) as server:
        uri = "file:///e2e/lifecycle/settings.py"
        server.open(uri, "def settings():\n    \n")
        items = await server.inline(uri, CURSOR)
        assert [i.insert_text for i in items] == [DEFAULT_INFILL]

        warnings = [m.message for m in server.shown() if m.type == types.MessageType.Warning]
        assert any("maxTokens" in m and "lots" in m for m in warnings), warnings
        assert any("bogus" in m for m in warnings), warnings


async def test_missing_model_says_what_to_do_and_answers_empty(models: Models) -> None:
    async with lsp_session(
        {"model": str(models.missing), "debounceMs": 0}, wait_ready=False
    ) as server:
        stats = await server.wait_for(lambda s: s.status.state == "error", 10, "the load error")
        errors = [m.message for m in server.shown() if m.type == types.MessageType.Error]
        assert len(errors) == 1, server.shown()
        assert str(models.missing) in errors[0]
        assert "check the path" in errors[0]
        assert str(models.missing) in stats.status.message

        uri = "file:///e2e/lifecycle/missing.py"
        server.open(uri, "def missing():\n    \n")
        before = await server.stats()
        items = await server.inline(uri, CURSOR)
        assert items == []
        after = await server.stats()
        assert after.not_ready == before.not_ready + 1  # answered at once: nothing to wait for
        assert after.generations == 0
        assert after.engine_pid is None


async def test_model_setting_change_reloads_the_model(models: Models) -> None:
    async with lsp_session({"model": str(models.tiny), "debounceMs": 0}) as server:
        uri = "file:///e2e/lifecycle/reload.py"
        server.open(uri, "def reload():\n    \n")
        assert [i.insert_text for i in await server.inline(uri, CURSOR)] == [DEFAULT_INFILL]
        before = await server.stats()

        server.configure({"model": str(models.other), "debounceMs": 0})
        after = await server.wait_for(
            lambda s: s.engine_starts > before.engine_starts and s.status.state == "ready",
            15,
            "the new model to load",
        )
        assert after.engine_starts == before.engine_starts + 1
        assert after.engine_pid != before.engine_pid
        assert not pid_alive(before.engine_pid)

        # Same document, same cursor: the new model answers, not the old model's cached text.
        assert [i.insert_text for i in await server.inline(uri, CURSOR)] == [OTHER_INFILL]
        other_uri = "file:///e2e/lifecycle/reload-other.py"
        server.open(other_uri, "def reload_other():\n    \n")
        assert [i.insert_text for i in await server.inline(other_uri, CURSOR)] == [OTHER_INFILL]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV], ids=["SIGKILL", "SIGSEGV"])
async def test_engine_crash_is_reported_and_the_next_completion_works(
    models: Models, sig: signal.Signals
) -> None:
    async with lsp_session({"model": str(models.tiny), "debounceMs": 0}) as server:
        before = await server.stats()
        os.kill(before.engine_pid, sig)
        await server.wait_for(lambda s: s.engine_crashes == 1, 10, "the crash to be noticed")
        await asyncio.sleep(0.1)  # the showMessage is sent from the event loop right after
        crash_messages = [m.message for m in server.shown() if "engine" in m.message]
        assert len(crash_messages) == 1, server.shown()
        assert sig.name in crash_messages[0]

        uri = "file:///e2e/lifecycle/crash.py"
        server.open(uri, "def after_crash():\n    \n")
        items = await server.inline(uri, CURSOR, timeout=30)
        assert [i.insert_text for i in items] == [DEFAULT_INFILL]
        after = await server.stats()
        assert after.engine_pid not in (None, before.engine_pid)
        assert after.engine_starts == before.engine_starts + 1
        assert not pid_alive(before.engine_pid)


async def test_shutdown_and_exit_leave_no_processes(models: Models) -> None:
    async with lsp_session({"model": str(models.tiny), "debounceMs": 0}) as server:
        uri = "file:///e2e/lifecycle/shutdown.py"
        server.open(uri, "def shutdown():\n    \n")
        assert await server.inline(uri, CURSOR)
        engine_pid = (await server.stats()).engine_pid
        server_pid = server.server_pid
        assert pid_alive(engine_pid) and pid_alive(server_pid)

        await asyncio.wait_for(server.client.shutdown_async(None), 5)
        # The worker is stopped before shutdown is answered.
        engine_gone = await wait_gone(engine_pid, 1.0)
        server.client.exit(None)
        server_gone = await wait_gone(server_pid, 2.0)
        assert await asyncio.wait_for(server.client._server.wait(), 5) == 0  # type: ignore[union-attr]
        print(
            f"after shutdown: worker gone in {engine_gone:.2f} s, "
            f"server gone {server_gone:.2f} s after exit"
        )


def test_stdin_eof_ends_server_and_worker(models: Models) -> None:
    with RawServer() as server:
        server.initialize({"model": str(models.tiny), "debounceMs": 0})
        stats = server.wait_ready()
        engine_pid = stats["engine_pid"]
        assert pid_alive(engine_pid)

        t0 = time.monotonic()
        server.proc.stdin.close()  # the editor died
        server.proc.wait(timeout=5)
        server_gone = time.monotonic() - t0
        deadline = t0 + 5
        while pid_alive(engine_pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not pid_alive(engine_pid), "worker outlived the server"
        print(
            f"stdin EOF: server gone in {server_gone:.2f} s, "
            f"worker in {time.monotonic() - t0:.2f} s"
        )


async def test_a_restart_that_cannot_load_is_reported_once(models: Models, tmp_path) -> None:
    """The worker crashes and the model file is gone by the time the next keystroke restarts
    it: no loader waits for that start, so the engine's event says it (once), and the status
    stays on the error."""
    import shutil

    model = tmp_path / "moving.gguf"
    shutil.copy(models.tiny, model)
    async with lsp_session({"model": str(model), "debounceMs": 0}) as server:
        before = await server.stats()
        model.unlink()
        os.kill(before.engine_pid, signal.SIGKILL)
        await server.wait_for(lambda s: s.engine_crashes == 1, 10, "the crash to be noticed")
        uri = "file:///e2e/lifecycle/gone.py"
        server.open(uri, "def gone():\n    \n")
        assert await server.inline(uri, CURSOR, timeout=30) == []  # starts the restart
        await server.wait_for(
            lambda s: s.status.state == "error" and "does not exist" in s.status.message,
            15,
            "the failed restart in the status",
        )
        await asyncio.sleep(0.1)
        failed = [m.message for m in server.shown() if "does not exist" in m.message]
        assert len(failed) == 1, server.shown()
