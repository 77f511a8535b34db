"""Which part of the file Zeta 2.1 sees: the cursor excerpt (8,192 estimated tokens of whole
lines around the cursor), and inside it the editable region (350) and its context (150),
grown to the syntax nodes around the cursor when they fit, as Zed computes them.

Ported from zed `crates/edit_prediction/src/cursor_excerpt.rs` and
`crates/zeta_prompt/src/excerpt_ranges.rs` (commit in zeta_v0318.py). Zed counts UTF-8 bytes,
so this works on the encoded text and returns string offsets at the end.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lsp_server.next_edit.zeta_v0318 import CONTEXT_TOKENS, EDITABLE_TOKENS

EXCERPT_TOKENS = 8192


@dataclass(frozen=True)
class Region:
    """String offsets into the document: the context the prompt shows, the editable part of
    it and the cursor."""

    context: tuple[int, int]
    editable: tuple[int, int]
    cursor: int


class _Lines:
    """Line starts and token estimates of a UTF-8 text, Zed's way (a line without its
    newline costs max(1, bytes // 3))."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.starts = [0, *(m.end() for m in re.finditer(b"\n", data))]
        self.max_row = len(self.starts) - 1

    def row_of(self, offset: int) -> int:
        return max(0, bisect_right(self.starts, offset) - 1)

    def end_of(self, row: int) -> int:
        if row + 1 < len(self.starts):
            return min(self.starts[row + 1] - 1, len(self.data))
        return len(self.data)

    def tokens(self, row: int) -> int:
        return max(1, (self.end_of(row) - self.starts[row]) // 3)

    def span_tokens(self, start_row: int, end_row: int) -> int:
        """Rows start_row..end_row-1."""
        return sum(self.tokens(r) for r in range(start_row, end_row))

    def byte_range(self, start_row: int, end_row: int) -> tuple[int, int]:
        return self.starts[start_row], self.end_of(end_row)


def _symmetric(lines: _Lines, row: int, budget: int) -> tuple[int, int, int]:
    """Grow one line down, then one up, while lines fit."""
    start = end = row
    budget = max(0, budget - lines.tokens(row))
    while budget > 0 and (start > 0 or end < lines.max_row):
        if end < lines.max_row:
            cost = lines.tokens(end + 1)
            if cost > budget:
                break
            end, budget = end + 1, budget - cost
        if start > 0 and budget > 0:
            cost = lines.tokens(start - 1)
            if cost > budget:
                break
            start, budget = start - 1, budget - cost
    return start, end, budget


def _linewise(
    lines: _Lines, start: int, end: int, budget: int, prefer_up: bool
) -> tuple[int, int, int]:
    """Grow a line at a time (the preferred direction first) while something fits."""
    while budget > 0 and (start > 0 or end < lines.max_row):
        grown = False
        for up in (prefer_up, not prefer_up):
            row = start - 1 if up else end + 1
            if budget > 0 and 0 <= row <= lines.max_row and lines.tokens(row) <= budget:
                budget, grown = budget - lines.tokens(row), True
                start, end = (row, end) if up else (start, row)
        if not grown:
            break
    return start, end, budget


def _boundaries(
    lines: _Lines, syntax: Sequence[tuple[int, int]], start: int, end: int
) -> list[tuple[int, int]]:
    """Row spans of the syntax nodes (innermost first) that reach beyond start..end."""
    out: list[tuple[int, int]] = []
    for lo, hi in syntax:
        rows = (lines.row_of(lo), lines.row_of(hi))
        if rows[0] >= start and rows[1] <= end or (out and out[-1] == rows):
            continue
        out.append(rows)
    return out


def _grow_to_syntax(
    lines: _Lines, syntax: Sequence[tuple[int, int]], start: int, end: int, budget: int
) -> tuple[int, int, int, bool]:
    grew = False
    for lo, hi in _boundaries(lines, syntax, start, end):
        need = lines.span_tokens(lo, start) if lo < start else 0
        need += lines.span_tokens(end + 1, hi + 1) if hi > end else 0
        if need > budget:
            break
        start, end, budget, grew = min(start, lo), max(end, hi), budget - need, True
    return start, end, budget, grew


def editable_and_context(
    data: bytes,
    cursor: int,
    syntax: Sequence[tuple[int, int]],
    editable_tokens: int,
    context_tokens: int,
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Byte ranges of the editable region and its context within an excerpt (Zed's
    compute_editable_and_context_ranges)."""
    lines = _Lines(data)
    row = lines.row_of(cursor)
    initial = editable_tokens * 3 // 4
    start, end, budget = _symmetric(lines, row, initial)
    budget += editable_tokens - initial
    first_start, first_end = start, end
    start, end, budget, _ = _grow_to_syntax(lines, syntax, start, end, budget)
    prefer_up = first_start - start <= end - first_end
    start, end, _ = _linewise(lines, start, end, budget, prefer_up)
    editable = lines.byte_range(start, end)
    c_start, c_end = lines.row_of(editable[0]), lines.row_of(editable[1])
    c_start, c_end, left, grew = _grow_to_syntax(lines, syntax, c_start, c_end, context_tokens)
    if not grew:
        c_start, c_end, _ = _linewise(lines, c_start, c_end, left, True)
    return editable, lines.byte_range(c_start, c_end)


def cursor_excerpt(data: bytes, cursor: int) -> tuple[int, int]:
    """Byte range of the whole lines around the cursor within EXCERPT_TOKENS."""
    lines = _Lines(data)
    start, end, _ = _symmetric(lines, lines.row_of(cursor), EXCERPT_TOKENS)
    return lines.byte_range(start, end)


def region(text: str, cursor: int, syntax: Sequence[tuple[int, int]] = ()) -> Region:
    """The region Zeta 2.1 gets for a cursor (string offsets). `syntax`: byte ranges of the
    syntax nodes around the cursor, innermost first (empty without a grammar)."""
    data = text.encode("utf-8", "surrogatepass")
    at = len(text[:cursor].encode("utf-8", "surrogatepass"))
    lo, hi = cursor_excerpt(data, at)
    excerpt = data[lo:hi]
    clipped = [(max(a, lo) - lo, min(b, hi) - lo) for a, b in syntax if b >= lo and a <= hi]
    editable, context = editable_and_context(
        excerpt, at - lo, clipped, EDITABLE_TOKENS, CONTEXT_TOKENS
    )
    to_str = _offsets(data)
    return Region(
        context=(to_str(context[0] + lo), to_str(context[1] + lo)),
        editable=(to_str(editable[0] + lo), to_str(editable[1] + lo)),
        cursor=cursor,
    )


def _offsets(data: bytes) -> Callable[[int], int]:
    """Byte offset -> string offset for a UTF-8 text (offsets on character boundaries)."""

    def convert(offset: int) -> int:
        return len(data[:offset].decode("utf-8", "surrogatepass"))

    return convert
