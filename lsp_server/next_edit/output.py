"""Zeta 2.1's answer -> one edit on the document, or nothing.

The model writes `<|marker_i|>` new text (intermediate markers repeated) `<|marker_j|>`: the
text between the markers replaces the old editable region's blocks i..j-1; the same marker twice
means no edit. Parsing follows zed `multi_region.rs` apply_marker_span_v0318 (commit in
zeta_v0318.py). What is shown is the smallest edit (common prefix and suffix cut), and a cursor
position after it. Discarded: no edit, an edit that changes nothing, one that only re-types what
the user just deleted, malformed markers (never shown, never leaked as text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lsp_server.next_edit.zeta_v0318 import CURSOR_MARKER, END_MARKER, marker_offsets

TAG = re.compile(r"<\|marker_(\d+)\|>")


class Malformed(ValueError):
    """The answer cannot be read as Zeta 2.1's marker format."""


@dataclass(frozen=True)
class Edit:
    """Replace text[start:end] with `text`; `cursor`: where the cursor goes after it (an
    offset in the new document), if the model said."""

    start: int
    end: int
    text: str
    cursor: int | None = None


def new_region(old_editable: str, output: str) -> tuple[str, int | None]:
    """The editable region the answer describes, and the cursor in it (if it placed one)."""
    output = output.removesuffix(END_MARKER)
    tags = list(TAG.finditer(output))
    if not tags:
        raise Malformed("no marker tags in the answer")
    if len(tags) == 1:
        raise Malformed("only one marker tag in the answer")
    first, last = int(tags[0].group(1)), int(tags[-1].group(1))
    if first == last:
        return old_editable, None
    offsets = marker_offsets(old_editable)
    if not (1 <= first <= len(offsets) and 1 <= last <= len(offsets)):
        raise Malformed("marker number out of range")
    start, end = offsets[first - 1], offsets[last - 1]
    if start > end:
        raise Malformed("start marker after end marker")
    body = "".join(output[a.end() : b.start()] for a, b in zip(tags, tags[1:]))
    region = old_editable[:start] + body + old_editable[end:]
    cursor = region.find(CURSOR_MARKER)
    if cursor >= 0:
        region = region[:cursor] + region[cursor + len(CURSOR_MARKER) :]
        return region, cursor
    return region, None


def edit_from(
    text: str,
    editable: tuple[int, int],
    output: str,
    undo_of: tuple[int, str] | None = None,
) -> Edit | None:
    """The minimal edit of `text` (whose editable region is `editable`) that the answer asks
    for, or None (no edit, nothing changes, or it only puts back the text the user's latest
    change deleted: `undo_of` = (where, what)). Raises Malformed for an unreadable answer."""
    lo, hi = editable
    old = text[lo:hi]
    new, cursor = new_region(old, output)
    if new == old:
        return None
    if any(t in new for t in (CURSOR_MARKER, END_MARKER)) or TAG.search(new):
        raise Malformed("template text left in the edit")
    prefix = _common_prefix(old, new)
    suffix = _common_prefix(old[prefix:][::-1], new[prefix:][::-1])
    start, old_end, new_end = prefix, len(old) - suffix, len(new) - suffix
    replacement = new[start:new_end]
    removed = old[start:old_end]
    if undo_of is not None and not removed and (lo + start, replacement) == undo_of:
        return None  # the user just deleted exactly this here: do not put it back
    moved = None if cursor is None else lo + cursor
    return Edit(lo + start, lo + old_end, replacement, moved)


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
