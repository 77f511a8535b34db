"""Suggestions already computed, so typing through one (or accepting it) costs no model call."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from .postprocess import Suggestion

CACHE_ENTRIES = 64
CACHE_CHARS = 4_000_000  # entries hold whole documents: bound them by size too


@dataclass
class Shown:
    """A suggestion computed for (prefix, suffix): typing its start keeps the rest valid."""

    prefix: str
    suffix: str
    text: str
    replace_chars: int


class SuggestionCache:
    """Newest first; an entry serves any state reached by typing a proper start of its text."""

    def __init__(self, size: int = CACHE_ENTRIES, chars: int = CACHE_CHARS) -> None:
        self.size, self.max_chars = size, chars
        self.entries: OrderedDict[tuple[str, str], Shown] = OrderedDict()
        self.chars = 0  # characters held by the entries

    def get(self, prefix: str, suffix: str) -> Suggestion | None:
        """The rest of a suggestion the user is typing through (newest matching entry)."""
        for entry in reversed(self.entries.values()):
            if entry.suffix != suffix or not prefix.startswith(entry.prefix):
                continue
            typed = prefix[len(entry.prefix) :]
            if entry.text.startswith(typed) and len(entry.text) > len(typed):
                return Suggestion(entry.text[len(typed) :], entry.replace_chars)
        return None

    def put(self, prefix: str, suffix: str, suggestion: Suggestion) -> None:
        """Keep a computed suggestion (the newest of equal keys wins)."""
        key = (prefix[-256:], suffix[:256])
        self._drop(key)
        entry = Shown(prefix, suffix, suggestion.text, suggestion.replace_chars)
        self.entries[key] = entry
        self.chars += _size(entry)
        while len(self.entries) > 1 and (
            len(self.entries) > self.size or self.chars > self.max_chars
        ):
            self._drop(next(iter(self.entries)))

    def _drop(self, key: tuple[str, str]) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.chars -= _size(entry)

    def clear(self) -> None:
        self.entries.clear()
        self.chars = 0


def _size(entry: Shown) -> int:
    return len(entry.prefix) + len(entry.suffix) + len(entry.text)
