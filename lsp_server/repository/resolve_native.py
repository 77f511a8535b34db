"""Import resolution for Go, Rust, C/C++ and Java (see resolve.resolve)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence

from lsp_server.repository.facts import FileSet, Import, Roots, Target

MAX_UP = 32  # folders walked up looking for go.mod / Cargo.toml


def _ancestors(folder: str, roots: Roots) -> list[str]:
    """folder and its parents, stopping at the workspace folder that holds it (or at /)."""
    stops = {root.rstrip("/") or "/" for root in roots.folders}
    out = [folder]
    while folder not in stops and len(out) < MAX_UP:
        parent = posixpath.dirname(folder)
        if parent == folder:
            break
        folder = parent
        out.append(folder)
    return out


# Go ------------------------------------------------------------------------------------------


def go(imp: Import, path: str, files: FileSet, roots: Roots) -> list[Target]:
    """An import path inside the module of the nearest go.mod: every non-test file of the
    package folder, bound to the explicit alias or the path's last element."""
    for folder in _ancestors(posixpath.dirname(path), roots):
        text = files.read(folder + "/go.mod")
        if text is None:
            continue
        module = _go_module(text)
        if not module or not (imp.module == module or imp.module.startswith(module + "/")):
            return []
        package = folder + imp.module[len(module) :]
        alias = imp.alias or imp.module.rsplit("/", 1)[-1]
        return [
            Target(file, imp.names, alias)
            for file in sorted(files.listdir(package))
            if file.endswith(".go") and not file.endswith("_test.go")
        ]
    return []


def _go_module(text: str) -> str:
    """The module path declared in go.mod text."""
    for line in text.splitlines():
        words = line.split("//", 1)[0].split()
        if len(words) == 2 and words[0] == "module":
            return words[1].strip('"`')
    return ""


# Rust ----------------------------------------------------------------------------------------

Module = tuple[str, str]  # (the module's file, the folder holding its child modules)


def rust(imp: Import, path: str, files: FileSet, roots: Roots) -> list[Target]:
    """`crate::`, `self::`, `super::` and current-module paths: the longest prefix that is a
    module file; the element after it is the name looked up there."""
    segments = [part for part in imp.module.split("::") if part]
    if not segments:
        return []
    names: dict[str, list[str]] = {}
    aliases: dict[str, str] = {}
    for name in imp.names or ("",):
        full = segments + [name] if name and name != "*" else segments
        found = _rust_walk(full, path, files, roots)
        if found is None:
            continue
        file, rest = found
        if rest or name == "*":
            names.setdefault(file, []).append(rest[0] if rest else "*")
        else:  # the path names a module itself
            names.setdefault(file, [])
            aliases[file] = imp.alias or full[-1]
    return [Target(file, tuple(found), aliases.get(file, "")) for file, found in names.items()]


def _rust_walk(
    segments: list[str], path: str, files: FileSet, roots: Roots
) -> tuple[str, list[str]] | None:
    """The deepest module file along a path, and the segments left after it."""
    current = _rust_current(path)
    first = segments[0]
    if first == "crate":
        module = _rust_crate(path, files, roots)
        rest = segments[1:]
    elif first in ("self", "super"):
        module, rest = current, segments
        while rest and rest[0] in ("self", "super"):
            if rest[0] == "super":
                module = _rust_parent(module, files) or module
            rest = rest[1:]
    elif _rust_child(current, first, files) is not None:
        module, rest = current, segments
    else:  # 2015-style crate-relative path, or another crate (std, a dependency)
        module, rest = _rust_crate(path, files, roots), segments
        if module is None or _rust_child(module, first, files) is None:
            return None
    if module is None:
        return None
    while rest:
        child = _rust_child(module, rest[0], files)
        if child is None:
            break
        module, rest = child, rest[1:]
    return module[0], rest


def _rust_current(path: str) -> Module:
    """The module a file is: lib.rs/main.rs/mod.rs own their folder, a/b.rs owns a/b/."""
    folder, name = posixpath.split(path)
    if name in ("lib.rs", "main.rs", "mod.rs"):
        return path, folder
    return path, posixpath.join(folder, name[: -len(".rs")] if name.endswith(".rs") else name)


def _rust_child(module: Module, name: str, files: FileSet) -> Module | None:
    """Submodule `name` of a module: <dir>/name.rs or <dir>/name/mod.rs."""
    folder = posixpath.join(module[1], name)
    for file in (folder + ".rs", folder + "/mod.rs"):
        if files.has(file):
            return file, folder
    return None


def _rust_parent(module: Module, files: FileSet) -> Module | None:
    """The module whose folder holds this one's file: a/b.rs or a/b/mod.rs -> a.rs or a/mod.rs
    (or the crate root in a folder with lib.rs/main.rs)."""
    file, folder = module
    parent = posixpath.dirname(file if not file.endswith("/mod.rs") else folder)
    for candidate in (parent + "/mod.rs", parent + ".rs", parent + "/lib.rs", parent + "/main.rs"):
        if files.has(candidate):
            return candidate, parent
    return None


def _rust_crate(path: str, files: FileSet, roots: Roots) -> Module | None:
    """The crate root module: the nearest folder up with lib.rs/main.rs, or src/ beside the
    nearest Cargo.toml."""
    for folder in _ancestors(posixpath.dirname(path), roots):
        for name in ("lib.rs", "main.rs"):
            if files.has(folder + "/" + name):
                return folder + "/" + name, folder
        if files.read(folder + "/Cargo.toml") is not None:
            for name in ("lib.rs", "main.rs"):
                if files.has(folder + "/src/" + name):
                    return folder + "/src/" + name, folder + "/src"
            return None
    return None


# C / C++ -------------------------------------------------------------------------------------


def c(imp: Import, path: str, files: FileSet, roots: Roots) -> list[Target]:
    """`#include "x.h"`: beside the including file, then under each workspace folder and its
    include/, then the one indexed file ending with it."""
    spec = imp.module
    bases = [posixpath.dirname(path)]
    for root in roots.folders:
        bases += [root, posixpath.join(root, "include")]
    for base in bases:
        file = posixpath.normpath(posixpath.join(base, spec))
        if files.has(file):
            return [Target(file)]
    tail = spec[2:] if spec.startswith("./") else spec
    matches = files.ending_with(tail) if not tail.startswith("../") else []
    return [Target(matches[0])] if len(matches) == 1 else []


# Java ----------------------------------------------------------------------------------------

JAVA_SOURCE_FOLDERS = ("", "src", "src/main/java", "src/test/java")


def java(imp: Import, path: str, files: FileSet, roots: Roots) -> list[Target]:
    """A class (`com.x.Y`), a package's classes (`com.x.*`), or a static member
    (`com.x.Y.m`: the names are looked up in Y.java)."""
    folder = imp.module.replace(".", "/")
    targets: list[Target] = []
    members: list[str] = []
    for name in imp.names:
        file = _closest(files.ending_with(f"{folder}/{name}.java"), path) if name != "*" else None
        if file is not None:
            targets.append(Target(file))
        else:
            members.append(name)
    if not members:
        return targets
    owner = _closest(files.ending_with(folder + ".java"), path)
    if owner is not None:
        return targets + [Target(owner, tuple(members))]
    if "*" in members:
        targets += [Target(file) for file in _java_package(folder, path, files, roots)]
    return targets


def _closest(candidates: Sequence[str], path: str) -> str | None:
    """Of several files, the one sharing the longest leading path with the importing file."""
    if not candidates:
        return None
    return max(candidates, key=lambda file: len(posixpath.commonprefix([file, path])))


def _java_package(folder: str, path: str, files: FileSet, roots: Roots) -> list[str]:
    """The .java files of a package folder, found under a folder above the importing file (its
    source root) or the usual source folders of each workspace folder."""
    bases = _ancestors(posixpath.dirname(path), roots)
    for root in roots.folders:
        bases += [posixpath.join(root, sub) if sub else root for sub in JAVA_SOURCE_FOLDERS]
    for base in dict.fromkeys(bases):
        found = [f for f in files.listdir(posixpath.join(base, folder)) if f.endswith(".java")]
        if found:
            return sorted(found)
    return []


RESOLVERS: dict[str, Callable[[Import, str, FileSet, Roots], list[Target]]] = {
    "go": go,
    "rust": rust,
    "c": c,
    "cpp": c,
    "java": java,
}
