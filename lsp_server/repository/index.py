"""The workspace index: per file its definitions and imports (line numbers, not text), and per
name the files that define it. Written by the builder's thread, read on the event loop; every
read and write holds one lock for a few dictionary operations only."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lsp_server.repository.facts import Definition, FileFacts

MAX_FILES = 100_000  # beyond this the index stops growing (and says so)
# ... or beyond this many definitions: about 260 B each (10,440 files of site-packages, 287k
# definitions: 75 MB), so the index stays under about 300 MB whatever the workspace.
MAX_DEFINITIONS = 1_000_000


@dataclass(frozen=True, slots=True)
class Entry:
    """One indexed file: where it is, what it holds, and which version of it that was."""

    path: str  # absolute
    folder: str  # its workspace folder
    language: str
    mtime_ns: int  # of the file on disk when read; -1 when read from an open document
    facts: FileFacts
    generation: int  # changes whenever this file's entry changes


class WorkspaceIndex:
    """Definitions by file and by name; also the file set import resolution looks in."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, Entry] = {}
        # name -> the path defining it, or a tuple of them (most names have one: no set each)
        self._names: dict[str, str | tuple[str, ...]] = {}
        self._dirs: dict[str, set[str]] = {}  # folder -> indexed files in it
        self._bases: dict[str, set[str]] = {}  # file name -> paths
        self._generation = 0
        self._definitions = 0
        self.full = False  # MAX_FILES reached: some files were left out

    # -- writes (the builder's thread) ---------------------------------------------------
    def put(self, path: str, folder: str, language: str, mtime_ns: int, facts: FileFacts) -> bool:
        """Add or replace a file's entry; False when the index is full."""
        names = {sys.intern(d.name) for d in facts.definitions}
        with self._lock:
            old = self._files.get(path)
            grown = len(facts.definitions) - (len(old.facts.definitions) if old else 0)
            if (old is None and len(self._files) >= MAX_FILES) or (
                grown > 0 and self._definitions + grown > MAX_DEFINITIONS
            ):
                self.full = True
                return False
            self._definitions += grown
            self._generation += 1
            self._files[path] = Entry(path, folder, language, mtime_ns, facts, self._generation)
            if old is not None:
                for name in {d.name for d in old.facts.definitions} - names:
                    self._unname(name, path)
            for name in names:
                self._name(name, path)
            if old is None:
                self._dirs.setdefault(os.path.dirname(path), set()).add(path)
                self._bases.setdefault(os.path.basename(path), set()).add(path)
        return True

    def remove(self, path: str) -> None:
        """A file was deleted (or is no longer allowed): forget it."""
        with self._lock:
            old = self._files.pop(path, None)
            if old is None:
                return
            self._definitions -= len(old.facts.definitions)
            self._generation += 1
            for name in {d.name for d in old.facts.definitions}:
                self._unname(name, path)
            self._discard(self._dirs, os.path.dirname(path), path)
            self._discard(self._bases, os.path.basename(path), path)

    def retain(self, keep: Iterable[str]) -> int:
        """After a full walk: drop every file the walk did not find (deleted, now ignored,
        or in a folder no longer in the workspace)."""
        keep = set(keep)
        with self._lock:
            stale = [p for p in self._files if p not in keep]
        for path in stale:
            self.remove(path)
        return len(stale)

    def _name(self, name: str, path: str) -> None:
        have = self._names.get(name)
        if have is None:
            self._names[name] = path
        elif isinstance(have, str):
            if have != path:
                self._names[name] = (have, path)
        elif path not in have:
            self._names[name] = (*have, path)

    def _unname(self, name: str, path: str) -> None:
        have = self._names.get(name)
        if have == path:
            del self._names[name]
        elif isinstance(have, tuple) and path in have:
            rest = tuple(p for p in have if p != path)
            self._names[name] = rest[0] if len(rest) == 1 else rest

    @staticmethod
    def _discard(table: dict[str, set[str]], key: str, path: str) -> None:
        paths = table.get(key)
        if paths is not None:
            paths.discard(path)
            if not paths:
                del table[key]

    # -- reads (the event loop) ---------------------------------------------------------
    def entry(self, path: str) -> Entry | None:
        """A file's entry, None when not indexed."""
        return self._files.get(path)

    def generation(self, path: str) -> int:
        """A file's generation (0 when not indexed), to tell whether a choice is stale."""
        entry = self._files.get(path)
        return entry.generation if entry is not None else 0

    def defined(self, name: str) -> list[tuple[str, Definition]]:
        """Every definition of a name in the workspace, (path, definition)."""
        with self._lock:
            have = self._names.get(name, ())
            paths = [have] if isinstance(have, str) else sorted(have)
            entries = [self._files[p] for p in paths if p in self._files]
        return [(e.path, d) for e in entries for d in e.facts.definitions if d.name == name]

    def definitions_in(self, path: str, name: str) -> list[Definition]:
        """A file's definitions of a name (a module's `name`, a class's methods too)."""
        entry = self._files.get(path)
        return [] if entry is None else [d for d in entry.facts.definitions if d.name == name]

    def stats(self) -> dict[str, int]:
        """Files and definitions held."""
        with self._lock:
            return {"files": len(self._files), "definitions": self._definitions}

    def paths(self) -> list[str]:
        """Every indexed path."""
        with self._lock:
            return list(self._files)

    # -- the file set resolution looks in -----------------------------------------------
    def has(self, path: str) -> bool:
        return path in self._files

    def listdir(self, folder: str) -> Sequence[str]:
        with self._lock:
            return sorted(self._dirs.get(folder.rstrip("/") or "/", ()))

    def ending_with(self, tail: str) -> Sequence[str]:
        with self._lock:
            paths = self._bases.get(tail.rsplit("/", 1)[-1], ())
            return sorted(p for p in paths if p.endswith("/" + tail.lstrip("/")))

    def read(self, path: str) -> str | None:
        """Small project files (go.mod, Cargo.toml) straight from the disk."""
        try:
            if os.path.islink(path) or os.path.getsize(path) > 256_000:
                return None
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return None
