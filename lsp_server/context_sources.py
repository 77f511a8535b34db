"""Where context from other files comes from: the other open documents (not secrets, not
excluded, not gitignored), the line last edited in each, and a sticky choice per cursor block.

The LSP layer feeds it plain data (URIs, texts, versions); it reads only the workspace's
.gitignore. The choice for a cursor is kept while the cursor stays in its 16-line block and no
other document changes, so typing never changes the snippets (they stay in the KV cache).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from .neighbors import CHUNK_LINES, OtherDoc, excluded, extra_context

STICKY_ENTRIES = 32


def uri_path(uri: str) -> str | None:
    """The file system path of a file:// URI (None for untitled: or other schemes)."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else None


class ContextSources:
    """Other documents' snippets for a cursor, chosen once per cursor block."""

    def __init__(self) -> None:
        self.edited: dict[str, int] = {}  # uri -> line last edited
        self.sticky: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self._ignore: tuple[str, float, Callable[[str], bool] | None] | None = None

    def note_edit(self, uri: str, text: str, offset: int | None) -> None:
        if offset is not None:
            self.edited[uri] = text.count("\n", 0, offset)

    def forget(self, uri: str) -> None:
        self.edited.pop(uri, None)

    def extra(
        self,
        uri: str,
        prefix: str,
        suffix: str,
        language: str,
        others: Iterable[tuple[str, str, int]],  # (uri, text, version) of the other documents
        budget_tokens: int,
        exclude_globs: tuple[str, ...],
        root: str | None,
    ) -> str:
        """The rendered snippets for this cursor ('' when none fit or none relate)."""
        if budget_tokens <= 0:
            return ""
        ignored = self._gitignore(root)
        docs, versions = [], []
        for other, text, version in others:
            if other == uri:
                continue
            path = self._display_path(other, root)
            if path is None or excluded(path, exclude_globs, ignored):
                continue
            docs.append(OtherDoc(path, text, self.edited.get(other)))
            versions.append((other, version))
        block = prefix.count("\n") // CHUNK_LINES
        key = (uri, block, budget_tokens, exclude_globs, tuple(sorted(versions)))
        if key in self.sticky:
            self.sticky.move_to_end(key)
            return self.sticky[key]
        text = extra_context(prefix, suffix, language, docs, budget_tokens)
        self.sticky[key] = text
        if len(self.sticky) > STICKY_ENTRIES:
            self.sticky.popitem(last=False)
        return text

    @staticmethod
    def _display_path(uri: str, root: str | None) -> str | None:
        """Workspace-relative POSIX path (the file name outside the workspace)."""
        path = uri_path(uri)
        if path is None:
            return None
        if root and os.path.commonpath([os.path.abspath(root), os.path.abspath(path)]) == (
            os.path.abspath(root)
        ):
            return Path(os.path.relpath(path, root)).as_posix()
        return Path(path).name

    def _gitignore(self, root: str | None) -> Callable[[str], bool] | None:
        """The workspace's .gitignore as a matcher (reloaded when the file changes)."""
        if not root:
            return None
        path = os.path.join(root, ".gitignore")
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            return None
        if self._ignore is None or self._ignore[:2] != (path, mtime):
            import pathspec

            with open(path, encoding="utf-8", errors="replace") as f:
                spec = pathspec.GitIgnoreSpec.from_lines(f.read().splitlines())
            self._ignore = (path, mtime, spec.match_file)
        return self._ignore[2]
