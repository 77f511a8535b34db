"""Suggestions already computed, so typing through one (or accepting it) costs no model call."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from .postprocess import Suggestion

CACHE_ENTRIES = 64


@dataclass
class Shown:
    """A suggestion computed for (prefix, suffix): typing its start keeps the rest valid."""

    prefix: str
    suffix: str
    text: str
    replace_chars: int


class SuggestionCache:
    """Newest first; an entry serves any state reached by typing a proper start of its text."""

    def __init__(self, size: int = CACHE_ENTRIES) -> None:
        self.size = size
        self.entries: OrderedDict[tuple[str, str], Shown] = OrderedDict()

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
        self.entries.pop(key, None)
        self.entries[key] = Shown(prefix, suffix, suggestion.text, suggestion.replace_chars)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)

    def clear(self) -> None:
        self.entries.clear()
