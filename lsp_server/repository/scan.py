"""Which workspace files the index may read: source files of the languages we parse, under the
workspace folders, not gitignored, not excluded, not secrets, not too large, never through a
symbolic link (a link can lead out of the workspace, or into a loop)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from lsp_server.postprocess.syntax import EXTENSIONS
from lsp_server.prompt.neighbors import excluded

MAX_FILE_BYTES = 1_000_000  # larger files (generated code, bundles) are not indexed
# Folders that never hold the workspace's own code, gitignored or not.
SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache",
     ".ruff_cache", ".tox", ".nox", ".venv", ".idea", ".vscode-test", ".gradle", "bower_components"}
)  # fmt: skip
IGNORE_FILES = (".gitignore", ".ignore")

Matcher = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class Found:
    """A file the index may read: absolute path, its workspace folder and mtime."""

    path: str
    folder: str
    mtime_ns: int


def indexable_name(name: str) -> bool:
    """A file name in one of the languages the index parses."""
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in EXTENSIONS


_LOADED: dict[str, tuple[int, Matcher]] = {}  # ignore file -> (mtime, matcher)


def load_ignore(path: str) -> Matcher | None:
    """A .gitignore-style file as a matcher of paths relative to its folder (None: none),
    read again only when it changes."""
    try:
        mtime = os.stat(path).st_mtime_ns
        cached = _LOADED.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    import pathspec

    if len(_LOADED) > 1024:
        _LOADED.clear()
    match = pathspec.GitIgnoreSpec.from_lines(lines).match_file
    _LOADED[path] = (mtime, match)
    return match


def _any_of(matchers: tuple[Matcher, ...]) -> Matcher:
    """One matcher for several ignore files of a folder."""
    return lambda rel: any(m(rel) for m in matchers)


class Rules:
    """Every reason a workspace path is not indexed, checked without touching the disk twice."""

    def __init__(self, folders: Sequence[str], exclude_globs: tuple[str, ...]) -> None:
        self.folders = [os.path.abspath(f) for f in folders]
        self.exclude_globs = exclude_globs
        self._ignores: dict[str, Matcher | None] = {}

    def folder_of(self, path: str) -> str | None:
        """The workspace folder holding a path (the innermost), None when outside them all."""
        best = None
        for folder in self.folders:
            if (path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)) and (
                best is None or len(folder) > len(best)
            ):
                best = folder
        return best

    def ignores(self, folder: str) -> Matcher | None:
        """The ignore rules a folder itself holds (.git/info/exclude too at the root), read
        once per Rules: a walk reads each folder's once, a new Rules reads changed files."""
        if folder not in self._ignores:
            names = IGNORE_FILES + ((os.path.join(".git", "info", "exclude"),)
                                    if folder in self.folders else ())  # fmt: skip
            found = tuple(m for name in names if (m := load_ignore(os.path.join(folder, name))))
            self._ignores[folder] = _any_of(found) if found else None
        return self._ignores[folder]

    def forget_ignores(self) -> None:
        """A .gitignore changed: read them again."""
        self._ignores.clear()

    def allowed(self, path: str, is_dir: bool = False) -> bool:
        """Inside a workspace folder, not gitignored along the way, not excluded, not a secret."""
        folder = self.folder_of(path)
        if folder is None:
            return False
        rel = os.path.relpath(path, folder).replace(os.sep, "/")
        if rel == ".":
            return True
        parts = rel.split("/")
        if any(p in SKIP_DIRS for p in parts[:-1]) or (is_dir and parts[-1] in SKIP_DIRS):
            return False
        for depth in range(len(parts)):
            base = os.path.join(folder, *parts[:depth])
            match = self.ignores(base)
            rest = "/".join(parts[depth:]) + ("/" if is_dir else "")
            if match is not None and match(rest):
                return False
        return not excluded(rel, self.exclude_globs)


def walk(rules: Rules, stop: Callable[[], bool] = lambda: False) -> Iterator[Found]:
    """Every indexable file under the workspace folders, depth first, links never followed."""
    seen_dirs: set[tuple[int, int]] = set()
    for folder in rules.folders:
        todo = [folder]
        while todo and not stop():
            here = todo.pop()
            try:
                st = os.stat(here, follow_symlinks=False)
                if (st.st_dev, st.st_ino) in seen_dirs:
                    continue
                seen_dirs.add((st.st_dev, st.st_ino))
                entries = sorted(os.scandir(here), key=lambda e: e.name, reverse=True)
            except OSError:
                continue
            for entry in entries:
                yield from _entry(rules, entry, todo)


def _entry(rules: Rules, entry: os.DirEntry[str], todo: list[str]) -> Iterator[Found]:
    """One directory entry: a folder to visit, a file to index, or nothing."""
    try:
        if entry.is_symlink():
            return
        if entry.is_dir(follow_symlinks=False):
            if os.path.exists(os.path.join(entry.path, "pyvenv.cfg")):
                return  # a virtual environment: installed packages, not the workspace's code
            if rules.allowed(entry.path, is_dir=True):
                todo.append(entry.path)
            return
        if not indexable_name(entry.name):
            return
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return
    if stat.S_ISREG(st.st_mode) and st.st_size <= MAX_FILE_BYTES and rules.allowed(entry.path):
        folder = rules.folder_of(entry.path) or ""
        yield Found(entry.path, folder, st.st_mtime_ns)


def check_file(rules: Rules, path: str) -> Found | None:
    """One file, as the walk would find it (None: not indexable, gone, or through a link)."""
    path = os.path.abspath(path)
    if not indexable_name(os.path.basename(path)) or not rules.allowed(path):
        return None
    folder = rules.folder_of(path)
    if folder is None or os.path.realpath(path) != _real_under(folder, path):
        return None  # a link somewhere on the way
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
        return None
    return Found(path, folder, st.st_mtime_ns)


def _real_under(folder: str, path: str) -> str:
    """Where a path would be if no part of it below the folder were a link."""
    return os.path.join(os.path.realpath(folder), os.path.relpath(path, folder))
