"""The server's copy of a document stays the editor's after edits next to the characters that
str.splitlines() (and so pygls) treats as line breaks and LSP does not: checked over stdio, by
the hash the server reports, in each position encoding, with the character on a line before the
edit, on the edit's own line and on a line after it."""

from __future__ import annotations

import pytest
from lsprotocol import types

from tests.e2e.helpers import (
    DEFAULT_INFILL,
    UTF8,
    UTF16,
    UTF32,
    Models,
    Session,
    fingerprint_of,
    lsp_session,
)

ODD = ["\u2028", "\u2029", "\x85", "\x1c", "\x1d", "\x1e", "\v\u2029", "\f", "é😀\u2028"]


def cases(odd: str) -> list[tuple[str, str, int, str]]:
    """(name, text, offset of the edit, inserted text) with `odd` around the edit."""
    before = f"s = 'x{odd}y'\nc = \n"
    same = f"s = 'x{odd}y' + \nz = 0\n"
    after = f"c = \ns = 'x{odd}y'\nt = 1\n"
    return [
        ("line before", before, before.index("c = ") + 4, "9"),
        ("same line", same, same.index(" + ") + 3, "f(9)"),
        ("line after", after, 4, "9"),
        ("after it, on a later line", after, after.index("t = 1") + 5, "2"),
        ("replacing it", before, before.index(odd), "Z"),
    ]


async def check_edits(server: Session, encoding: str) -> None:
    for n, odd in enumerate(ODD):
        for name, text, offset, new in cases(odd):
            uri = f"file:///e2e/documents/{encoding}/{n}/{name.replace(' ', '_')}.py"
            server.open(uri, text)
            end = offset + (len(odd) if name == "replacing it" else 0)  # over the odd chars
            server.replace(uri, offset, end, new)
            expected = text[:offset] + new + text[end:]
            got = await server.fingerprint(uri)
            want = fingerprint_of(expected, 2)
            assert (got.version, got.length, got.sha256) == (
                want["version"],
                want["length"],
                want["sha256"],
            ), f"{encoding} {odd!r} {name}: the server's copy drifted"
            server.close(uri)


@pytest.mark.parametrize("encoding", [UTF8, UTF16, UTF32])
async def test_edits_next_to_odd_line_breaks_keep_the_editors_text(
    models: Models, encoding: str
) -> None:
    async with lsp_session(
        {"model": str(models.tiny)}, encodings=[encoding], wait_ready=False
    ) as server:
        assert server.encoding == encoding
        await check_edits(server, encoding)


async def test_the_completion_after_the_edit_sees_the_typed_text(models: Models) -> None:
    """The issue's session: type `9` at the end of `c = ` under a line holding U+2028, then ask
    at the new end of the line: the item sits there, and the server holds `c = 9`."""
    async with lsp_session({"model": str(models.tiny), "debounceMs": 0}) as server:
        uri = "file:///e2e/documents/issue.py"
        text = "s = 'x\u2028y'\nc = \n"
        server.open(uri, text)
        cursor = server.insert(uri, text.index("c = ") + 4, "9")
        assert cursor == types.Position(line=1, character=5)
        items = await server.inline(uri, cursor)
        assert [i.insert_text for i in items] == [DEFAULT_INFILL]
        assert items[0].range == types.Range(start=cursor, end=cursor)
        got = await server.fingerprint(uri)
        assert got.sha256 == fingerprint_of("s = 'x\u2028y'\nc = 9\n", 2)["sha256"]
