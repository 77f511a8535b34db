"""What lands in the buffer: auto-closed brackets, and the textDocument/completion fallback."""

from __future__ import annotations

import pytest
from lsprotocol import types

from tests.e2e.helpers import (
    DEFAULT_INFILL,
    PAREN_INFILL,
    UTF8,
    UTF16,
    Models,
    apply_edit,
    lsp_session,
)

# The editor auto-closed both brackets; the model (PAREN_INFILL = "len(items))") closes the
# outer one itself, so the item must replace the editor's ")" rather than add a second one.
BRACKET_DOC = 'print()\ns = "😀" + str()\n'
CASES = [
    (0, "print(", "print(len(items))"),
    (1, 's = "😀" + str(', 's = "😀" + str(len(items))'),
]


@pytest.mark.parametrize("encoding", [UTF16, UTF8])
async def test_auto_closed_bracket_is_replaced_not_doubled(models: Models, encoding: str) -> None:
    async with lsp_session(
        {"model": str(models.paren), "debounceMs": 0}, encodings=[encoding]
    ) as server:
        assert server.encoding == encoding
        uri = "file:///e2e/edits/brackets.py"
        server.open(uri, BRACKET_DOC)
        lines = BRACKET_DOC.split("\n")
        for line, before_cursor, expected in CASES:
            offset = sum(len(x) + 1 for x in lines[:line]) + len(before_cursor)
            cursor = server.cursor(uri, offset)
            items = await server.inline(uri, cursor)
            assert len(items) == 1, (line, items)
            item = items[0]
            assert item.insert_text == PAREN_INFILL
            assert item.range is not None
            # The range starts at the cursor and covers exactly the auto-closed ")".
            assert item.range.start == cursor
            assert item.range.end == types.Position(line=line, character=cursor.character + 1)
            after = apply_edit(BRACKET_DOC, item.range, item.insert_text, encoding)
            new_line = after.split("\n")[line]
            assert new_line == expected
            assert new_line.count(")") == new_line.count("(")


async def test_completion_fallback_for_clients_without_inline_completion(
    models: Models,
) -> None:
    async with lsp_session({"model": str(models.tiny), "debounceMs": 0}, inline=False) as server:
        uri = "file:///e2e/edits/fallback.py"
        text = "def fallback():\n    \n"
        server.open(uri, text)
        cursor = types.Position(line=1, character=4)
        result = await server.client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri), position=cursor
            )
        )
        assert result is not None
        items = result.items if isinstance(result, types.CompletionList) else result
        assert len(items) == 1
        edit = items[0].text_edit
        assert isinstance(edit, types.TextEdit)
        assert edit.new_text == DEFAULT_INFILL
        assert edit.range == types.Range(start=cursor, end=cursor)
        assert apply_edit(text, edit.range, edit.new_text, server.encoding) == (
            f"def fallback():\n    {DEFAULT_INFILL}\n"
        )
