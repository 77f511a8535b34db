"""The server's copy of a document stays identical to the editor's under incremental edits,
with the characters str.splitlines() treats as line breaks and LSP does not."""

from __future__ import annotations

import random
import re

import pytest
from pygls.workspace import TextDocument

from lsp_server.lsp.documents import Documents
from lsp_server.lsp.positions import UTF8, UTF16, UTF32, units

ODD = ["\f", "\v", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "é", "😀", "\t"]
PIECES = ["a", "bc", " ", "\n", "\r\n", "\r", *ODD]


def lsp_position(text: str, offset: int, encoding: str) -> tuple[int, int]:
    """The editor's view: lines end at \\n, \\r\\n, \\r only."""
    starts = [0, *(m.end() for m in re.finditer(r"\r\n|\n|\r", text))]
    line = max(i for i, s in enumerate(starts) if s <= offset)
    return line, units(text[starts[line] : offset], encoding)


def random_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(PIECES) for _ in range(n))


@pytest.mark.parametrize("encoding", [UTF8, UTF16, UTF32])
@pytest.mark.parametrize("seed", range(5))
def test_incremental_edits_keep_the_editors_text(encoding: str, seed: int) -> None:
    rng = random.Random(seed)
    text = random_text(rng, 60)
    store = Documents()
    store.open("u", text, 1, encoding)
    for version in range(2, 200):
        a = rng.randrange(len(text) + 1)
        b = rng.randrange(a, min(len(text), a + 6) + 1)
        if text[a - 1 : a + 1] == "\r\n" or text[b - 1 : b + 1] == "\r\n":
            continue  # an editor never splits a CRLF line ending
        new = random_text(rng, rng.randrange(0, 4))
        rng_pos = (*lsp_position(text, a, encoding), *lsp_position(text, b, encoding))
        text = text[:a] + new + text[b:]
        assert store.change("u", version, [(rng_pos, new)])
        doc = store.get("u")
        assert doc is not None and doc.text == text and doc.version == version


def test_pygls_own_copy_drifts_after_a_form_feed() -> None:
    """Why we keep our own: pygls 2.1.1 splits at the form feed, so the same edit lands
    elsewhere (when this fails, pygls is fixed and documents.py can go)."""
    text = "x = 1\f\ny = 2\n"
    from lsprotocol import types

    doc = TextDocument("file:///t.py", text)
    change = types.TextDocumentContentChangePartial(
        range=types.Range(
            start=types.Position(line=1, character=0), end=types.Position(line=1, character=1)
        ),
        text="z",
    )
    doc.apply_change(change)
    store = Documents()
    store.open("u", text, 1, UTF16)
    assert store.change("u", 2, [((1, 0, 1, 1), "z")])
    assert store.get("u").text == "x = 1\f\nz = 2\n"  # type: ignore[union-attr]
    assert doc.source != store.get("u").text  # type: ignore[union-attr]


def test_an_edit_that_does_not_fit_is_refused() -> None:
    store = Documents()
    store.open("u", "abc\n", 1, UTF16)
    assert not store.change("u", 2, [((5, 0, 5, 1), "x")])
    assert store.get("u").text == "abc\n"  # type: ignore[union-attr]
    assert not store.change("nope", 2, [(None, "x")])
    assert store.change("u", 3, [(None, "whole")])
    assert store.get("u").text == "whole"  # type: ignore[union-attr]
