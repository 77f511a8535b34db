"""backgroundWork over stdio: `never` runs no decode step after the last key (no speculation,
no eager generation), `always` does speculate, and seedCoder/stats reports the level and the
CPU time the worker spent in the background."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types

from tests.e2e.helpers import DEFAULT_INFILL, Models, lsp_session

pytestmark = pytest.mark.asyncio
PAUSE_S = 2.5  # past the speculation pause, the eager pause and the cold window's growth


async def type_then_pause(models: Models, mode: str, shared: bool = False) -> tuple[object, object]:
    """A suggestion shown, a pause (speculation time), then a key it does not match that the
    client never asks about (eager generation time), then a pause: stats before that last
    key and after the pause."""
    settings = {
        "model": str(models.tiny),
        "debounceMs": 0,
        "backgroundWork": mode,
        "sharedEngine": shared,
    }
    async with lsp_session(settings) as s:
        uri = f"file:///e2e/background/{mode}.py"
        s.open(uri, "def f():\n    \n")
        items = await s.inline(uri, types.Position(line=1, character=4))
        assert [i.insert_text for i in items] == [DEFAULT_INFILL]
        await asyncio.sleep(PAUSE_S)
        last = await s.stats()
        s.insert(uri, len("def f():\n    "), "z")  # the last key
        await asyncio.sleep(PAUSE_S)
        return last, await s.stats()


@pytest.mark.parametrize("shared", [False, True], ids=["own-worker", "shared"])
async def test_never_runs_nothing_after_the_last_key(models: Models, shared: bool) -> None:
    last, later = await type_then_pause(models, "never", shared)
    assert later.decode_steps == last.decode_steps  # not one step after the last key
    assert (later.speculations, later.eager, later.grows) == (0, 0, 0)
    assert later.evaluated_tokens == last.evaluated_tokens
    assert later.held_back >= 2  # the speculation and the eager generation were held
    assert later.background.level == "none" and later.background.cpu_s == 0.0
    assert later.background.foreground_cpu_s > 0.0


@pytest.mark.parametrize("shared", [False, True], ids=["own-worker", "shared"])
async def test_always_speculates_and_counts_its_cpu_time(models: Models, shared: bool) -> None:
    last, later = await type_then_pause(models, "always", shared)
    assert later.decode_steps > last.decode_steps  # the eager generation for the last key
    assert (later.speculations, later.eager, later.held_back) == (1, 1, 0)
    assert later.background.level == "full" and later.background.cpu_s > 0.0
