"""LSP positions <-> string offsets, in UTF-8, UTF-16 or UTF-32 code units.

LSP lines end at "\\n", "\\r\\n" or "\\r" only (str.splitlines also splits at form feeds and
U+2028, which editors do not), and the end of a file without a final newline is a valid
position on its last line.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"
_EOL = re.compile(r"\r\n|\n|\r")


@lru_cache(maxsize=2)
def line_starts(text: str) -> tuple[int, ...]:
    """Offset of the first character of every line (cached: one scan per document version; the
    cache keeps its texts alive, so it holds two: the document in use and one other)."""
    return (0, *(m.end() for m in _EOL.finditer(text)))


def _line_body(text: str, starts: tuple[int, ...], line: int) -> str:
    """A line's text without its ending."""
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    return text[starts[line] : end].rstrip("\r\n")


def units(chars: str, encoding: str) -> int:
    """Length of text in the client's code units."""
    if encoding == UTF32:
        return len(chars)
    if encoding == UTF8:
        return len(chars.encode("utf-8"))
    return len(chars) + sum(1 for c in chars if ord(c) > 0xFFFF)


def offset_at(text: str, line: int, character: int, encoding: str = UTF16) -> int | None:
    """String offset of a position, or None when it lies outside the text or inside a character."""
    starts = line_starts(text)
    if line < 0 or character < 0 or line >= len(starts):
        return None
    body = _line_body(text, starts, line)
    if encoding == UTF32 or body.isascii():  # one unit a character: no walk over the line
        return starts[line] + character if character <= len(body) else None
    seen = 0
    for i, ch in enumerate(body):
        if seen == character:
            return starts[line] + i
        if seen > character:
            return None
        seen += units(ch, encoding)
    return starts[line] + len(body) if seen == character else None


def position_at(text: str, offset: int, encoding: str = UTF16) -> tuple[int, int]:
    """(line, character) of a string offset, in the client's units."""
    starts = line_starts(text)
    line = max(0, bisect_right(starts, offset) - 1)
    head = text[starts[line] : offset]
    return line, len(head) if head.isascii() else units(head, encoding)
