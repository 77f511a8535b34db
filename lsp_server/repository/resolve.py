"""Where an import leads: the indexed files (and names in them) an Import refers to, by each
language's lookup rules. Pure path logic over a FileSet: only files the index holds are ever
returned, so imports of the standard library or of packages outside the workspace give []."""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from lsp_server.repository import resolve_native
from lsp_server.repository.facts import FileSet, Import, Roots, Target

Resolver = Callable[[Import, str, FileSet, Roots], list[Target]]


def resolve(imp: Import, path: str, language: str, files: FileSet, roots: Roots) -> list[Target]:
    """The files (with the names to look up in them) that an import in the file at path (an
    absolute POSIX path) refers to; [] when none of them is indexed."""
    resolver = RESOLVERS.get(language)
    return resolver(imp, path, files, roots) if resolver is not None else []


def same_package(path: str, files: FileSet) -> list[str]:
    """The other files of the importing file's Go package or Java package (whose names are used
    without imports): its folder's .go files (tests only from tests) or .java files."""
    folder, name = posixpath.split(path)
    if name.endswith(".go"):
        test = name.endswith("_test.go")
        return [
            other
            for other in files.listdir(folder)
            if other != path and other.endswith(".go") and (test or not other.endswith("_test.go"))
        ]
    if name.endswith(".java"):
        return [
            other for other in files.listdir(folder) if other != path and other.endswith(".java")
        ]
    return []


# Python --------------------------------------------------------------------------------------

PY_SUFFIXES = (".py", ".pyi", "/__init__.py", "/__init__.pyi")


def python(imp: Import, path: str, files: FileSet, roots: Roots) -> list[Target]:
    """Relative imports from the file's package; absolute ones from the first base (the file's
    package root, each workspace folder, its src/) where the module or a named submodule is."""
    module = imp.module
    if module.startswith("."):
        dots = len(module) - len(module.lstrip("."))
        base = posixpath.dirname(path)
        for _ in range(dots - 1):
            base = posixpath.dirname(base)
        return _py_from(base, module[dots:], imp, files)
    for base in _py_bases(path, files, roots):
        found = _py_from(base, module, imp, files)
        if found:
            return found
    return []


def _py_bases(path: str, files: FileSet, roots: Roots) -> list[str]:
    """Folders absolute module names start from, most specific first."""
    folder = posixpath.dirname(path)
    top = folder
    while files.has(top + "/__init__.py") or files.has(top + "/__init__.pyi"):
        parent = posixpath.dirname(top)
        if parent == top:
            break
        top = parent
    bases = [top]
    for root in roots.folders:
        bases += [root.rstrip("/") or "/", root.rstrip("/") + "/src"]
    return list(dict.fromkeys(bases))


def _py_module(base: str, dotted: str, files: FileSet) -> str | None:
    """The file of module `dotted` under base (a package's __init__), if indexed."""
    stem = posixpath.join(base, *dotted.split(".")) if dotted else base
    for suffix in PY_SUFFIXES if dotted else PY_SUFFIXES[2:]:
        if files.has(stem + suffix):
            return stem + suffix
    return None


def _py_from(base: str, dotted: str, imp: Import, files: FileSet) -> list[Target]:
    """`import dotted` or `from dotted import names` under one base: names that are submodules
    lead to their own file, the rest are looked up in the module's file."""
    module = _py_module(base, dotted, files)
    if not imp.names:
        return [Target(module, (), imp.alias or dotted)] if module else []
    targets: list[Target] = []
    rest: list[str] = []
    for name in imp.names:
        sub = (
            _py_module(base, f"{dotted}.{name}" if dotted else name, files) if name != "*" else None
        )
        if sub is not None:
            targets.append(Target(sub, (), name))
        else:
            rest.append(name)
    if module is not None and rest:
        targets.insert(0, Target(module, tuple(rest)))
    return targets


# JavaScript / TypeScript ---------------------------------------------------------------------

JS_EXTENSIONS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
TS_FOR_JS = {".js": (".ts", ".tsx"), ".jsx": (".tsx",), ".mjs": (".mts",), ".cjs": (".cts",)}


def javascript(imp: Import, path: str, files: FileSet, roots: Roots) -> list[Target]:
    """Relative specifiers only (bare package names live outside the workspace index)."""
    spec = imp.module
    if not (spec.startswith("./") or spec.startswith("../") or spec in (".", "..")):
        return []
    stem = posixpath.normpath(posixpath.join(posixpath.dirname(path), spec))
    found = _js_file(stem, files)
    return [Target(found, imp.names, imp.alias)] if found else []


def _js_file(stem: str, files: FileSet) -> str | None:
    """The file a specifier names: as written, with an extension added, `./x.js` written for
    `x.ts`, or the folder's index file."""
    if files.has(stem):
        return stem
    for extension in JS_EXTENSIONS:
        if files.has(stem + extension):
            return stem + extension
    root, extension = posixpath.splitext(stem)
    for replacement in TS_FOR_JS.get(extension, ()):
        if files.has(root + replacement):
            return root + replacement
    for extension in JS_EXTENSIONS:
        if files.has(stem + "/index" + extension):
            return stem + "/index" + extension
    return None


RESOLVERS: dict[str, Resolver] = {
    "python": python,
    "javascript": javascript,
    "javascriptreact": javascript,
    "typescript": javascript,
    "typescriptreact": javascript,
    **resolve_native.RESOLVERS,
}
