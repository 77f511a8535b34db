"""$/cancelRequest during a generation that would never end on its own (loop model)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.e2e.helpers import Models, lsp_session


async def test_cancel_request_stops_the_generation(models: Models) -> None:
    settings = {"model": str(models.loop), "debounceMs": 0, "maxTokens": 4000, "maxTimeMs": 600000}
    async with lsp_session(settings) as server:
        uri = "file:///e2e/cancel/loop.py"
        server.open(uri, "def endless():\n    \n")
        start = await server.stats()
        request = server.send_inline(uri, types.Position(line=1, character=4), msg_id="cancel-me")

        # Wait until the worker is generating (well past the prompt's decode steps).
        running = await server.wait_for(
            lambda s: s.decode_steps >= start.decode_steps + 20, 10, "the generation to start"
        )
        assert not request.done()
        server.cancel("cancel-me")

        with pytest.raises(JsonRpcException) as caught:
            await asyncio.wait_for(request, 5)
        assert caught.value.code == -32800  # RequestCancelled
        at_error = await server.stats()

        # Decode steps stop growing: look again twice after the error came back (at ~1.5 ms a
        # step on this CPU, a generation that went on would add hundreds of steps meanwhile).
        await asyncio.sleep(0.25)
        settled = await server.stats()
        await asyncio.sleep(0.25)
        final = await server.stats()

        print(
            f"cancel: {running.decode_steps - start.decode_steps} steps before the cancel was "
            f"sent, {at_error.decode_steps - running.decode_steps} between the last poll and the "
            f"error reply, {final.decode_steps - at_error.decode_steps} after it; server-side "
            f"wasted_steps={final.wasted_steps}"
        )
        # The reply goes out as soon as the handler is cancelled; the worker may still finish
        # the step it was in, and then it stops for good.
        assert final.decode_steps == settled.decode_steps
        assert final.decode_steps - at_error.decode_steps <= 1
        assert final.cancelled - start.cancelled == 1
        assert final.generations - start.generations == 1
        # Stopped where the cancel was read (stdin's thread), not after a trip through the
        # event loop; steps counted from that moment: at most the one in progress completes.
        assert final.early_cancels - start.early_cancels == 1
        assert final.wasted_steps - start.wasted_steps <= 1

        # The server still answers, and the worker is the same process (no restart needed).
        assert final.engine_pid == start.engine_pid
        assert final.engine_crashes == 0


async def test_a_cancel_after_typing_or_a_newer_request_is_left_to_the_scheduler(
    models: Models,
) -> None:
    """A cancel read after an edit of the document, or for a request that a newer one followed,
    is not stopped early: the generation may still be what the newer state wants (here the
    user typed the first characters of what the loop model writes, and a newer request
    attached to the running generation). It runs on; the newer request is answered from it."""
    settings = {"model": str(models.loop), "debounceMs": 0, "maxTokens": 400, "maxTimeMs": 60000}
    async with lsp_session(settings) as server:
        uri = "file:///e2e/cancel/typed.py"
        server.open(uri, "def typed():\n    \n")
        start = await server.stats()
        first = server.send_inline(uri, types.Position(line=1, character=4), msg_id="old")
        await server.wait_for(
            lambda s: s.decode_steps >= start.decode_steps + 10, 10, "the generation to start"
        )
        cursor = server.insert(uri, len("def typed():\n    "), "ok")  # what it is writing
        second = server.send_inline(uri, cursor, msg_id="new")
        server.cancel("old")
        with contextlib.suppress(JsonRpcException):  # superseded (empty) before the cancel
            assert not (await asyncio.wait_for(first, 5)).items
        items = (await asyncio.wait_for(second, 20)).items
        assert [i.insert_text for i in items][0].startswith("_42 = compute(1)")
        final = await server.stats()
        assert final.early_cancels == start.early_cancels
        assert final.generations - start.generations == 1  # the newer request attached
