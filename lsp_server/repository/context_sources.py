"""Where context from other files comes from, best first: the definitions the cursor's code
uses (the workspace index, resolved through imports), then similar chunks of the other open
documents (not secrets, not excluded, not gitignored), the recently edited ones first.

The LSP layer feeds it plain data (URIs, texts, versions). The choice for a cursor is kept while
the cursor stays in its 16-line block, no other document changes and the definitions it shows
keep their index generation, so typing never changes the snippets (they stay in the KV cache).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from lsp_server.prompt.neighbors import (
    CHUNK_LINES,
    OtherDoc,
    excluded,
    query,
    render_one,
    select,
)
from lsp_server.repository.facts import FileFacts, Roots
from lsp_server.repository.index import WorkspaceIndex
from lsp_server.repository.retrieve import (
    Bindings,
    related,
    render_definition,
)
from lsp_server.repository.scan import Rules

STICKY_ENTRIES = 32
CHARS_PER_TOKEN_MAX = 8  # the snippets sent never exceed the budget at this many chars a token
EXTRACT_NOW_BYTES = 64_000  # a file not indexed yet is parsed on the spot up to this size
Extract = Callable[[str, str], FileFacts]


@dataclass(frozen=True)
class Choice:
    """The snippets chosen for a cursor block and the files they came from (path, generation)."""

    snippets: tuple[str, ...]
    used: tuple[tuple[str, int], ...]


def uri_path(uri: str) -> str | None:
    """The file system path of a file:// URI (None for untitled: or other schemes)."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else None


class ContextSources:
    """Snippets of other files for a cursor, chosen once per cursor block."""

    def __init__(
        self,
        index: WorkspaceIndex | None = None,
        extract: Extract | None = None,
        on_stale: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.index, self.extract, self.on_stale = index, extract, on_stale
        self.edited: dict[str, int] = {}  # uri -> line last edited
        self.sticky: OrderedDict[tuple[Any, ...], Choice] = OrderedDict()
        self._binds: OrderedDict[tuple[str, int, tuple[str, ...]], Bindings] = OrderedDict()
        self.counts = {"choices": 0, "definitions_shown": 0, "similar_shown": 0}

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
        folders: Sequence[str] = (),
    ) -> tuple[str, ...]:
        """The rendered snippets for this cursor, best first (() when none relate). A keystroke
        in the same block with nothing else changed costs a few dictionary lookups."""
        if budget_tokens <= 0:
            return ()
        candidates = [(u, text, v) for u, text, v in others if u != uri]
        block = prefix.count("\n") // CHUNK_LINES
        versions = tuple(sorted((u, v) for u, _text, v in candidates))
        key = (uri, block, budget_tokens, exclude_globs, root, tuple(folders), versions)
        kept = self.sticky.get(key)
        if kept is not None and kept.used == self._fingerprint(kept.used):
            self.sticky.move_to_end(key)
            return kept.snippets
        binds = self._bindings(uri_path(uri), prefix, suffix, language, folders)
        choice = self._choose(
            uri,
            prefix,
            suffix,
            language,
            candidates,
            budget_tokens,
            exclude_globs,
            root,
            folders,
            binds,
        )
        self.sticky[key] = choice
        snippets = choice.snippets
        self.sticky.move_to_end(key)
        if len(self.sticky) > STICKY_ENTRIES:
            self.sticky.popitem(last=False)
        return snippets

    def _fingerprint(self, used: tuple[Any, ...]) -> tuple[Any, ...]:
        """The same files at their current generations (a changed definition moves the choice)."""
        index = self.index
        return tuple((p, index.generation(p) if index else 0) for p, _gen in used)

    def _choose(
        self,
        uri: str,
        prefix: str,
        suffix: str,
        language: str,
        candidates: list[tuple[str, str, int]],
        budget_tokens: int,
        exclude_globs: tuple[str, ...],
        root: str | None,
        folders: Sequence[str],
        binds: Bindings | None,
    ) -> Choice:
        """Definitions first, then similar chunks, within a generous character cap (the engine
        fits them to the budget in real tokens)."""
        here = uri_path(uri)
        home = self._home(here, root, folders)
        open_text = {p: t for u, t, _v in candidates if (p := uri_path(u))}
        cap = budget_tokens * CHARS_PER_TOKEN_MAX
        out: list[str] = []
        taken: list[tuple[str, int, int]] = []  # (path, first, end line) shown already
        lines_of: dict[str, list[str] | None] = {}
        found = []
        if binds is not None and self.index is not None and here is not None:
            found = related(self.index, here, binds, prefix, suffix)
        for f in found:
            if f.path not in lines_of:  # each file read and split once per choice
                text = self._text(f.path, open_text)
                lines_of[f.path] = text.split("\n") if text is not None else None
            lines = lines_of[f.path]
            body = render_definition(self.index, f, lines) if lines and self.index else None
            if body is None:
                if self.on_stale is not None:
                    self.on_stale([f.path])
                continue
            entry = self.index.entry(f.path) if self.index else None
            shown = self._display(f.path, entry.folder if entry else home)
            if shown is None or excluded(shown, exclude_globs):
                continue
            out.append(render_one(shown, body, language))
            taken.append((f.path, f.definition.line, f.definition.end_line))
        used = tuple((t[0], self.index.generation(t[0]) if self.index else 0) for t in taken)
        self.counts["definitions_shown"] += len(taken)
        docs = []
        for other, text, _version in candidates:
            path = self._relative_path(other, home)
            where = uri_path(other)
            if path is not None and home and where and self._allowed(where, home, exclude_globs):
                docs.append(OtherDoc(path, text, self.edited.get(other), where))
        full = {d.path: d.full for d in docs}
        for doc_path, start, text in select(query(prefix, suffix), docs, cap):
            if not _overlaps(taken, full[doc_path], start, start + CHUNK_LINES):
                out.append(render_one(doc_path, text, language))
                self.counts["similar_shown"] += 1
        self.counts["choices"] += 1
        return Choice(_capped(out, cap), used)

    def _bindings(
        self, here: str | None, prefix: str, suffix: str, language: str, folders: Sequence[str]
    ) -> Bindings | None:
        """What the file's imports bind, kept while its index entry stays the same."""
        if self.index is None or here is None:
            return None
        entry = self.index.entry(here)
        key = (here, entry.generation if entry else 0, tuple(folders))
        binds = self._binds.get(key)
        if binds is not None:
            return binds
        if entry is not None:
            facts = entry.facts
        elif self.extract is not None and len(prefix) + len(suffix) <= EXTRACT_NOW_BYTES:
            facts = self.extract(prefix + suffix, language)
        else:
            facts = FileFacts()
        binds = Bindings(self.index, here, language, facts, Roots(list(folders)))
        self._binds[key] = binds
        if len(self._binds) > STICKY_ENTRIES:
            self._binds.popitem(last=False)
        return binds

    def _text(self, path: str, open_text: dict[str, str]) -> str | None:
        """A file's text: the open document's, else the disk's."""
        if path in open_text:
            return open_text[path]
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return None

    def _display(self, path: str, folder: str | None) -> str | None:
        """How a prompt names a file: its path in its workspace folder."""
        if not folder:
            return None
        rel = os.path.relpath(path, folder)
        return None if rel.startswith("..") else Path(rel).as_posix()

    @staticmethod
    def _home(here: str | None, root: str | None, folders: Sequence[str]) -> str | None:
        """The workspace folder holding the file (the innermost), the root, or its folder."""
        inside = [f for f in folders if here and os.path.commonpath([f, here]) == f]
        if inside:
            return max(inside, key=len)
        return root or (os.path.dirname(here) if here else None)

    def shareable_path(
        self, uri: str, root: str | None, exclude_globs: tuple[str, ...]
    ) -> str | None:
        """The document's path as a prompt may name it -- the workspace folder's name, then
        the path in it, as Zed writes edit-history paths -- or None for a file that is a
        secret, excluded, gitignored or outside the workspace."""
        here = uri_path(uri)
        home = self._home(here, root, ())
        rel = self._relative_path(uri, home)
        if (
            home is None
            or here is None
            or rel is None
            or not self._allowed(here, home, exclude_globs)
        ):
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

    @staticmethod
    def _allowed(path: str, home: str, exclude_globs: tuple[str, ...]) -> bool:
        """The index's rules for a file (gitignore, excludeGlobs, secrets, skipped folders);
        a fresh Rules each time, so an edited .gitignore counts at once (files re-read by
        mtime only)."""
        return Rules([home], exclude_globs).allowed(os.path.abspath(path))


def _overlaps(taken: list[tuple[str, int, int]], full: str, first: int, end: int) -> bool:
    """A similar chunk that shows a definition already chosen adds nothing."""
    return any(p == full and a < end and first < b for p, a, b in taken)


def _capped(snippets: list[str], cap: int) -> tuple[str, ...]:
    """Snippets up to the character cap (the first always, the engine cuts it at a line)."""
    out: list[str] = []
    used = 0
    for s in snippets:
        if out and used + len(s) > cap:
            break
        out.append(s)
        used += len(s)
    return tuple(out)
