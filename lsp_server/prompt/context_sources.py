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

from lsp_server.prompt.neighbors import CHUNK_LINES, OtherDoc, excluded, extra_context

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
        self._specs: dict[str, tuple[float, Callable[[str], bool]]] = {}

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
        """The rendered snippets for this cursor ('' when none fit or none relate). A keystroke
        in the same block with no other document changed costs a dictionary lookup."""
        if budget_tokens <= 0:
            return ""
        candidates = [(u, text, v) for u, text, v in others if u != uri]
        block = prefix.count("\n") // CHUNK_LINES
        versions = tuple(sorted((u, v) for u, _text, v in candidates))
        key = (uri, block, budget_tokens, exclude_globs, root, versions)
        if key in self.sticky:
            self.sticky.move_to_end(key)
            return self.sticky[key]
        ignored = self._gitignore(root)
        here = uri_path(uri)
        home = root or (os.path.dirname(here) if here else None)
        docs = []
        for other, text, _version in candidates:
            path = self._relative_path(other, home)
            if path is not None and not excluded(path, exclude_globs, ignored):
                docs.append(OtherDoc(path, text, self.edited.get(other)))
        text = extra_context(prefix, suffix, language, docs, budget_tokens)
        self.sticky[key] = text
        if len(self.sticky) > STICKY_ENTRIES:
            self.sticky.popitem(last=False)
        return text

    def shareable_path(
        self, uri: str, root: str | None, exclude_globs: tuple[str, ...]
    ) -> str | None:
        """The document's path as a prompt may name it -- the workspace folder's name, then
        the path in it, as Zed writes edit-history paths -- or None for a file that is a
        secret, excluded, gitignored or outside the workspace."""
        here = uri_path(uri)
        home = root or (os.path.dirname(here) if here else None)
        rel = self._relative_path(uri, home)
        if home is None or rel is None or excluded(rel, exclude_globs, self._gitignore(root)):
            return None
        return f"{os.path.basename(os.path.abspath(home))}/{rel}"

    @staticmethod
    def _relative_path(uri: str, home: str | None) -> str | None:
        """POSIX path relative to the workspace (or, without one, the current file's folder);
        None for anything outside it (~/.kube/config and the like are never candidates)."""
        path = uri_path(uri)
        if path is None or not home:
            return None
        home, path = os.path.abspath(home), os.path.abspath(path)
        if os.path.commonpath([home, path]) != home:
            return None
        return Path(os.path.relpath(path, home)).as_posix()

    def _gitignore(self, root: str | None) -> Callable[[str], bool] | None:
        """The workspace's ignore rules (.gitignore files along the path, .git/info/exclude)."""
        if not root:
            return None

        def ignored(rel: str) -> bool:
            parts = rel.split("/")
            for depth in range(len(parts)):
                folder = os.path.join(root, *parts[:depth])
                rest = "/".join(parts[depth:])
                for name in (".gitignore", os.path.join(".git", "info", "exclude")):
                    if depth and name != ".gitignore":
                        continue
                    match = self._spec(os.path.join(folder, name))
                    if match is not None and match(rest):
                        return True
            return False

        return ignored

    def _spec(self, path: str) -> Callable[[str], bool] | None:
        """An ignore file as a matcher, cached until it changes (None when absent)."""
        try:
            mtime = os.stat(path).st_mtime
            cached = self._specs.get(path)
            if cached is not None and cached[0] == mtime:
                return cached[1]
            with open(path, encoding="utf-8", errors="replace") as f:
                import pathspec

                match = pathspec.GitIgnoreSpec.from_lines(f.read().splitlines()).match_file
        except OSError:
            return None
        if len(self._specs) > 256:
            self._specs.clear()
        self._specs[path] = (mtime, match)
        return match
