"""Initialize: advertised capabilities and position-encoding negotiation, then an exact item.

One server per client kind: the exact inline item is checked in the units that client asked for,
with an emoji (outside the BMP: 2 UTF-16 units, 4 UTF-8 bytes, 1 UTF-32 unit) before the cursor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from lsprotocol import types

from tests.e2e.helpers import (
    DEFAULT_INFILL,
    UTF8,
    UTF16,
    UTF32,
    Models,
    Session,
    apply_edit,
    lsp_session,
)

EMOJI_LINE = '    s = "😀"; '
EMOJI_DOC = f"def f():\n{EMOJI_LINE}\n"
# (encodings the client offers, encoding it must get, cursor column at the end of EMOJI_LINE)
CLIENTS = {
    "utf16-only": ([UTF16], UTF16, 14),
    "prefers-utf8": ([UTF8, UTF16], UTF8, 16),
    "prefers-utf32": ([UTF32, UTF8, UTF16], UTF32, 13),
}


@pytest_asyncio.fixture(params=list(CLIENTS))
async def session(request: pytest.FixtureRequest, models: Models) -> AsyncIterator[Session]:
    offered, _, _ = CLIENTS[request.param]
    async with lsp_session({"model": str(models.tiny), "debounceMs": 0}, encodings=offered) as s:
        s.case = request.param  # type: ignore[attr-defined]
        yield s


async def test_capabilities_and_exact_item(session: Session) -> None:
    _, expected_encoding, column = CLIENTS[session.case]  # type: ignore[attr-defined]
    caps = session.init.capabilities

    # Advertised features.
    assert caps.inline_completion_provider, caps
    assert caps.completion_provider is not None
    sync = caps.text_document_sync
    change = sync.change if isinstance(sync, types.TextDocumentSyncOptions) else sync
    assert change == types.TextDocumentSyncKind.Incremental
    assert caps.position_encoding == expected_encoding

    # The exact item, with the range in the client's units.
    uri = "file:///e2e/caps/emoji.py"
    session.open(uri, EMOJI_DOC)
    cursor = types.Position(line=1, character=column)
    items = await session.inline(uri, cursor)
    assert len(items) == 1
    item = items[0]
    assert item.insert_text == DEFAULT_INFILL
    assert item.range is not None
    assert (item.range.start.line, item.range.start.character) == (1, column)
    assert (item.range.end.line, item.range.end.character) == (1, column)
    applied = apply_edit(EMOJI_DOC, item.range, item.insert_text, session.encoding)
    assert applied == f"def f():\n{EMOJI_LINE}{DEFAULT_INFILL}\n"

    # One unit past the end of the line is outside the document in the client's units.
    assert await session.inline(uri, types.Position(line=1, character=column + 1)) == []
