"""What the index keeps of a file: its definitions (where they are, not their text) and its
imports as written. Plain data shared by extraction, resolution and retrieval."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Definition:
    """A named definition: line numbers only (0-based), so the index stays small and the text
    is read fresh when it is rendered."""

    name: str
    kind: str  # function | class | method | type | constant | variable | macro | module
    line: int  # first line of the header (the keyword line; decorators and comments excluded)
    body_line: int  # first line after the header (the signature is lines[line:body_line])
    end_line: int  # one past the last line of the definition
    container: str = ""  # the enclosing class/impl/struct for methods and fields


@dataclass(frozen=True, slots=True)
class Import:
    """One import as written in the file, before resolution."""

    module: str  # "pkg.mod", ".mod", "..", "./foo", "github.com/a/b", "crate::a::b", "foo.h"
    names: tuple[str, ...] = ()  # names taken from it ("*": all); () = the module itself
    alias: str = ""  # the local name bound to the module (import numpy as np -> "np")


@dataclass(frozen=True, slots=True)
class FileFacts:
    """Everything extracted from one file's text."""

    definitions: tuple[Definition, ...] = ()
    imports: tuple[Import, ...] = ()
    package: str = ""  # Go `package x` / Java `package a.b;` ("" elsewhere)


@dataclass(frozen=True, slots=True)
class Target:
    """Where an import leads: a file and the names to look up in it (() = the whole module)."""

    path: str
    names: tuple[str, ...] = ()
    alias: str = ""  # local name the module is bound to, for `alias.name` uses


class FileSet(Protocol):
    """The indexed files, as resolution sees them (absolute POSIX paths)."""

    def has(self, path: str) -> bool:
        """Is this file indexed?"""
        ...

    def listdir(self, folder: str) -> Sequence[str]:
        """Indexed files directly in a folder (absolute paths)."""
        ...

    def ending_with(self, tail: str) -> Sequence[str]:
        """Indexed files whose path ends with "/" + tail."""
        ...

    def read(self, path: str) -> str | None:
        """A small file's text (go.mod and the like), None when absent or unreadable."""
        ...


@dataclass
class Roots:
    """Where absolute module names start: the workspace folders (and their src/ folders)."""

    folders: list[str] = field(default_factory=list)
