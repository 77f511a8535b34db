"""The open documents' text exactly as the editor has it, under incremental edits.

pygls 2.1.1 applies incremental changes on `str.splitlines()` lines, which also break at form
feed, \\x1c-\\x1e, \\x85, U+2028 and U+2029; LSP lines end only at \\n, \\r\\n and \\r. After one
edit in a file holding such a character its copy drifts from the editor's. This store applies
changes with LSP line rules (positions.py), as plain data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lsp_server.lsp.positions import offset_at

Range = tuple[int, int, int, int]  # start line, start character, end line, end character


@dataclass
class Document:
    text: str
    version: int
    encoding: str


class Documents:
    """uri -> the editor's text and version."""

    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}

    def open(self, uri: str, text: str, version: int, encoding: str) -> None:
        self.docs[uri] = Document(text, version, encoding)

    def close(self, uri: str) -> None:
        self.docs.pop(uri, None)

    def get(self, uri: str) -> Document | None:
        return self.docs.get(uri)

    def fingerprint(self, uri: str) -> dict[str, Any] | None:
        """Version, length and SHA-256 of a document's text: enough to check it against the
        editor's without showing it."""
        doc = self.docs.get(uri)
        if doc is None:
            return None
        digest = hashlib.sha256(doc.text.encode("utf-8", "surrogatepass")).hexdigest()
        return {"version": doc.version, "length": len(doc.text), "sha256": digest}

    def change(self, uri: str, version: int, changes: Iterable[tuple[Range | None, str]]) -> bool:
        """Apply changes in order (None range: the whole text); False if one does not fit the
        text (the caller resynchronizes), True otherwise."""
        doc = self.docs.get(uri)
        if doc is None:
            return False
        text = doc.text
        for rng, new in changes:
            if rng is None:
                text = new
                continue
            start = offset_at(text, rng[0], rng[1], doc.encoding)
            end = offset_at(text, rng[2], rng[3], doc.encoding)
            if start is None or end is None or end < start:
                return False
            text = text[:start] + new + text[end:]
        doc.text, doc.version = text, version
        return True
