"""Suggestions already computed, so typing through one (or accepting it) costs no model call.

An entry keeps only the text near the cursor it was computed at, plus the lengths and hashes of
the whole prefix and suffix: memory is bounded by the suggestions, not by the documents, and a
lookup hashes the request's suffix once and compares only the entries made for that suffix.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from lsp_server.postprocess.rules import Suggestion

CACHE_ENTRIES = 64
CACHE_CHARS = 256_000  # characters held: suggestions and the text near their cursors
NEAR = 256  # characters kept on each side of the cursor (checked before any hash)


@dataclass(frozen=True)
class Shown:
    """A suggestion computed for (prefix, suffix): typing its start keeps the rest valid."""

    prefix_len: int
    prefix_hash: int
    prefix_tail: str  # the last NEAR characters of the prefix
    suffix_key: tuple[int, int]  # (hash, length) of the whole suffix
    suffix_head: str
    text: str
    replace_chars: int

    @property
    def chars(self) -> int:
        return len(self.prefix_tail) + len(self.suffix_head) + len(self.text)


def _suffix_key(suffix: str) -> tuple[int, int]:
    return hash(suffix), len(suffix)


class SuggestionCache:
    """Newest first; an entry serves any state reached by typing a proper start of its text."""

    def __init__(self, size: int = CACHE_ENTRIES, chars: int = CACHE_CHARS) -> None:
        self.size, self.max_chars = size, chars
        self.entries: OrderedDict[tuple[int, tuple[int, int]], Shown] = OrderedDict()
        self.chars = 0  # characters held by the entries

    def get(self, prefix: str, suffix: str) -> Suggestion | None:
        """The rest of a suggestion the user is typing through (newest matching entry)."""
        key = _suffix_key(suffix)
        head = suffix[:NEAR]
        for entry in reversed(self.entries.values()):
            if entry.suffix_key != key or entry.suffix_head != head:
                continue
            n = entry.prefix_len
            if len(prefix) < n or prefix[max(0, n - NEAR) : n] != entry.prefix_tail:
                continue
            typed = prefix[n:]
            if not (entry.text.startswith(typed) and len(entry.text) > len(typed)):
                continue
            if hash(prefix[:n]) == entry.prefix_hash:  # the whole text before, not just near
                return Suggestion(entry.text[len(typed) :], entry.replace_chars)
        return None

    def put(self, prefix: str, suffix: str, suggestion: Suggestion) -> None:
        """Keep a computed suggestion (the newest of equal keys wins)."""
        entry = Shown(
            prefix_len=len(prefix),
            prefix_hash=hash(prefix),
            prefix_tail=prefix[-NEAR:],
            suffix_key=_suffix_key(suffix),
            suffix_head=suffix[:NEAR],
            text=suggestion.text,
            replace_chars=suggestion.replace_chars,
        )
        key = (entry.prefix_hash, entry.suffix_key)
        self._drop(key)
        self.entries[key] = entry
        self.chars += entry.chars
        while len(self.entries) > 1 and (
            len(self.entries) > self.size or self.chars > self.max_chars
        ):
            self._drop(next(iter(self.entries)))

    def _drop(self, key: tuple[int, tuple[int, int]]) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.chars -= entry.chars

    def clear(self) -> None:
        self.entries.clear()
        self.chars = 0
