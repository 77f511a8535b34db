"""The definitions a cursor needs, best first: names used on and near the cursor's line,
resolved through the file's imports (then its package, then the whole workspace), then the
names it imports; rendered as the definition's signature and the start of its body."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from lsp_server.prompt.neighbors import COMMON
from lsp_server.repository.facts import Definition, FileFacts, Roots, Target
from lsp_server.repository.index import WorkspaceIndex
from lsp_server.repository.resolve import resolve, same_package

LINES_ABOVE = 30  # lines above the cursor whose names count (nearer ones first)
LINES_BELOW = 5
BODY_LINES = 4  # lines of a function's body shown after its signature
CLASS_MEMBERS = 8  # method signatures shown for a class
MAX_SNIPPET_LINES = 14
MAX_SNIPPET_CHARS = 1200
MAX_SNIPPETS = 24
SAME_NAME = 2  # definitions of one name in one file shown at most
GLOBAL_MAX = 3  # a name defined in more places than this is too ambiguous to guess
_USE = re.compile(r"(?:([A-Za-z_][A-Za-z0-9_]*)\s*(?:\.|::|->)\s*)?([A-Za-z_][A-Za-z0-9_]*)")
_CONSTANTS = frozenset({"None", "True", "False", "NULL", "Self"})


@dataclass(frozen=True, slots=True)
class Found:
    """A definition chosen for the prompt, and the file that holds it."""

    path: str
    definition: Definition


def uses_near(prefix: str, suffix: str, lines_above: int = LINES_ABOVE,
              lines_below: int = LINES_BELOW) -> list[tuple[str, str]]:  # fmt: skip
    """(qualifier, name) of the names used around the cursor, nearest first: the cursor's line
    (right to left from the cursor; not the word being typed at it), then the lines above,
    then a few below."""
    above = prefix[-20_000:].split("\n")
    line_end = suffix[:2000].split("\n", 1)[0]
    rows = [above[-1] + line_end]
    rows += above[-2 : -lines_above - 2 : -1] if lines_above else []
    rows += suffix[:20_000].split("\n")[1 : lines_below + 1]
    out: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    cursor = len(above[-1])
    for i, row in enumerate(rows):
        matches = list(_USE.finditer(row))
        if i == 0:  # the cursor's line: names before the cursor, nearest first, then after
            before = [m for m in reversed(matches) if m.end() < cursor]
            matches = before + [m for m in matches if m.start() > cursor]
        for m in matches:
            use = (m.group(1) or "", m.group(2))
            keyword = not use[0] and (use[1] in COMMON or use[1] in _CONSTANTS)
            if not keyword and len(use[1]) > 1 and use not in seen:
                seen.add(use)
                out.append(use)
    return out


class Bindings:
    """What the file's imports bind: names to the files defining them, aliases to modules."""

    def __init__(self, index: WorkspaceIndex, path: str, language: str, facts: FileFacts,
                 roots: Roots) -> None:  # fmt: skip
        self.names: dict[str, list[str]] = {}
        self.modules: dict[str, list[str]] = {}
        self.wildcards: list[str] = []
        self.imported: list[tuple[str, str]] = []  # (path, name) in import order
        for imp in facts.imports:
            for target in resolve(imp, path, language, index, roots):
                self._bind(imp.module, target)
        self.package = [p for p in same_package(path, index) if p != path]

    def _bind(self, module: str, target: Target) -> None:
        for name in target.names:
            if name == "*":
                self.wildcards.append(target.path)
            else:
                self.names.setdefault(name, []).append(target.path)
                self.imported.append((target.path, name))
        if not target.names or target.alias:
            for alias in {target.alias, module, module.rsplit(".", 1)[-1]} - {""}:
                self.modules.setdefault(alias, []).append(target.path)


def related(
    index: WorkspaceIndex, path: str, binds: Bindings, prefix: str, suffix: str
) -> list[Found]:
    """Definitions for the cursor, best first, none from the file itself."""
    out: list[Found] = []
    seen: set[tuple[str, int]] = set()

    def add(found: Iterable[Found]) -> None:
        for f in found:
            key = (f.path, f.definition.line)
            if f.path != path and key not in seen and len(out) < MAX_SNIPPETS:
                seen.add(key)
                out.append(f)

    for qualifier, name in uses_near(prefix, suffix):
        add(_lookup(index, binds, path, qualifier, name))
    for target_path, name in binds.imported:
        add(_in_file(index, target_path, name, depth=1))
    return out


def _lookup(
    index: WorkspaceIndex, binds: Bindings, path: str, qualifier: str, name: str
) -> Iterator[Found]:
    """One use: through a module alias, an imported name, the package, then the workspace."""
    if qualifier and qualifier in binds.modules:
        for target in binds.modules[qualifier]:
            yield from _in_file(index, target, name, depth=1)
        return
    hits = [f for t in binds.names.get(name, ()) for f in _in_file(index, t, name, 1)]
    hits += [f for t in binds.wildcards for f in _in_file(index, t, name, 0)]
    hits += [f for t in binds.package for f in _in_file(index, t, name, 0)]
    if not hits:
        hits = _anywhere(index, path, qualifier, name)
    yield from hits


def _in_file(index: WorkspaceIndex, target: str, name: str, depth: int) -> list[Found]:
    """A name's definitions in one file; a package's __init__ / index file that only
    re-exports it is followed one step."""
    defs = [d for d in index.definitions_in(target, name) if not d.container]
    defs = defs[::-1][:SAME_NAME]  # overloads: the last is the implementation (Python's rule)
    if defs or depth <= 0:
        return [Found(target, d) for d in defs]
    entry = index.entry(target)
    if entry is None:
        return []
    roots = Roots([entry.folder])
    out: list[Found] = []
    for imp in entry.facts.imports:
        if name in imp.names or "*" in imp.names:
            for t in resolve(imp, target, entry.language, index, roots):
                if t.path != target:
                    out += _in_file(index, t.path, name, depth - 1)
    return out


def _anywhere(index: WorkspaceIndex, path: str, qualifier: str, name: str) -> list[Found]:
    """A name no import explains: its definitions elsewhere in the workspace, when few."""
    defs = [(p, d) for p, d in index.defined(name) if p != path]
    if qualifier:  # obj.method / Type::method: members first, a module's function otherwise
        members = [(p, d) for p, d in defs if d.container]
        exact = [(p, d) for p, d in members if d.container == qualifier]
        defs = exact or members or defs
    else:
        defs = [(p, d) for p, d in defs if not d.container] or defs
    if not defs or len(defs) > GLOBAL_MAX:
        return []
    here = os.path.dirname(path)
    defs.sort(key=lambda pd: (os.path.dirname(pd[0]) != here, _distance(path, pd[0]), pd[0]))
    return [Found(p, d) for p, d in defs]


def _distance(a: str, b: str) -> int:
    """Folders between two files: nearer code is likelier the one meant."""
    common = os.path.commonpath([a, b])
    return a.count(os.sep) + b.count(os.sep) - 2 * common.count(os.sep)


def render_definition(index: WorkspaceIndex, found: Found, lines: list[str]) -> str | None:
    """A definition's signature and the start of its body (a class: its members' signatures)
    from its file's lines; None when they no longer have it where the index says (stale)."""
    d = found.definition
    if d.line >= len(lines) or d.name not in lines[d.line]:
        return None
    header = lines[d.line : max(d.body_line, d.line + 1)]
    if d.kind in ("class", "type") and d.end_line - d.line > 1:
        members = [m for m in _members(index, found) if m.line < len(lines)][:CLASS_MEMBERS]
        body = lines[d.body_line : min(d.end_line, d.body_line + 2)]
        for m in members:
            body += lines[m.line : max(m.body_line, m.line + 1)]
    else:
        body = lines[max(d.body_line, d.line + 1) : min(d.end_line, d.body_line + BODY_LINES)]
    out = "\n".join((header + body)[:MAX_SNIPPET_LINES]).rstrip()
    return out[:MAX_SNIPPET_CHARS]


def _members(index: WorkspaceIndex, found: Found) -> list[Definition]:
    """A class's methods in its file, in order."""
    entry = index.entry(found.path)
    if entry is None:
        return []
    d = found.definition
    return [
        m for m in entry.facts.definitions if m.container == d.name and d.line < m.line < d.end_line
    ]
