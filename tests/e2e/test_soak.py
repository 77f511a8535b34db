"""A long typing session against the real server: its tables stay below fixed bounds (counts,
not memory: `python -m benchmarks.soak` measures the resident memory)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.soak import soak
from lsp_server.keystroke.suggestion_cache import CACHE_CHARS, CACHE_ENTRIES
from tests.e2e.helpers import Models


async def test_two_thousand_keystrokes_leave_nothing_behind(models: Models, tmp_path: Path) -> None:
    result = await soak(models.tiny, 2000, tmp_path / "server.log", samples=4)
    got = result["internals"]
    # pygls keeps a future per didOpen/didChange (2,000+ here) unless FlatProtocol drops it
    assert got["pending_futures"] == 0 and got["result_types"] == 0
    assert got["progress_tokens"] == 0
    assert got["documents"] == 1  # four documents were opened and closed in turn
    assert got["cache_entries"] <= CACHE_ENTRIES and got["cache_chars"] <= CACHE_CHARS
    assert got["said"] == 0
