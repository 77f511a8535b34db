"""Imports of one file as written (resolution to files is resolve.py's job), and its package.

Encodings (Import.module / names / alias):
- Python: `import a.b` -> ("a.b", (), "") -- alias "" means the statement binds the dotted path
  itself (resolve gives the Target alias "a.b"); `import a.b as c` -> ("a.b", (), "c");
  `from ..p.m import x, y as z` -> ("..p.m", ("x", "y")) (original names); `*` -> ("*",).
- JS/TS: `import d, {a, b as c} from './x'` -> ("./x", ("default",), "d") and ("./x", ("a", "b"));
  `import * as ns` -> ("./x", (), "ns"); `export {a} from`/`export * from` -> names ("a",)/("*",);
  `const x = require('./x')` -> alias "x"; `const {a} = require(...)` -> names ("a",);
  `import './x'` and `import('./x')` -> ("./x",).
- Go: ("a/b/c", (), alias as written or ""); a dot import -> names ("*",).
- Rust: `use crate::a::B;` -> ("crate::a", ("B",)); `use super::x::{y, z};` -> ("super::x",
  ("y", "z")); `use self::m::*;` -> ("self::m", ("*",)); `use a::b as c;` -> ("a::b", (), "c");
  `mod foo;` -> ("self::foo", (), "foo"), which resolves exactly like `self::foo`.
- C/C++: `#include "x/y.h"` -> ("x/y.h",); `<...>` includes are skipped.
- Java: `import com.x.Y;` -> ("com.x", ("Y",)); `import com.x.*;` -> ("com.x", ("*",));
  `import static com.x.Y.m;` -> ("com.x.Y", ("m",)) (resolve tells a class from a package).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lsp_server.repository.facts import Import
from lsp_server.repository.syntax_tree import Node, nodes_at, text

# Statements found by their text (then their node), not by visiting the whole tree.
PYTHON_LINES = re.compile(r"^[ \t]*((?:from|import)\b)", re.M)
PYTHON_TYPES = frozenset({"import_statement", "import_from_statement"})
JS_CALLS = re.compile(r"(?<![\w$.])((?:require|import))\s*\(\s*['\"]")
RUST_LINES = re.compile(r"^[ \t]*(?:pub(?:\([^)\n]*\))?[ \t]+)?((?:use|mod)\b)", re.M)
RUST_TYPES = frozenset({"use_declaration", "mod_item"})
C_LINES = re.compile(r"^[ \t]*(#)[ \t]*include[ \t]*\"", re.M)

Reader = Callable[[Node, str], tuple[tuple[Import, ...], str]]


def extract(root: Node, source: str, language: str) -> tuple[tuple[Import, ...], str]:
    """The imports of a parsed file (source: its text), in source order, and its package ("" if
    none)."""
    reader = READERS.get(language)
    return reader(root, source) if reader is not None else ((), "")


# Python --------------------------------------------------------------------------------------


def python(root: Node, source: str) -> tuple[tuple[Import, ...], str]:
    """Every import statement, also those inside functions (lazy imports are common)."""
    out: list[Import] = []
    for node in nodes_at(root, source, PYTHON_LINES, PYTHON_TYPES):
        if node.type == "import_statement":
            for name in node.children_by_field_name("name"):
                if name.type == "aliased_import":
                    module = _dotted(name.child_by_field_name("name"))
                    out.append(Import(module, (), text(name.child_by_field_name("alias"))))
                else:
                    out.append(Import(_dotted(name)))
        else:
            module = _dotted(node.child_by_field_name("module_name"))
            names = [_py_name(name) for name in node.children_by_field_name("name")]
            if any(child.type == "wildcard_import" for child in node.named_children):
                names.append("*")
            out.append(Import(module, tuple(names)))
    return tuple(out), ""


def _dotted(node: Node | None) -> str:
    """A (relative) dotted name without the whitespace or comments it may contain."""
    return "".join(text(node).split())


def _py_name(node: Node) -> str:
    """The original name of `x` or `x as y`."""
    if node.type == "aliased_import":
        return _dotted(node.child_by_field_name("name"))
    return _dotted(node)


# JavaScript / TypeScript ---------------------------------------------------------------------


def javascript(root: Node, source: str) -> tuple[tuple[Import, ...], str]:
    """Static imports, re-exports and require()/import() calls with a literal specifier."""
    out: list[Import] = []
    for node in root.named_children:
        specifier = node.child_by_field_name("source")
        if node.type == "import_statement" and specifier is not None:
            _js_import(node, _string(specifier), out)
        elif node.type == "export_statement" and specifier is not None:
            _js_reexport(node, _string(specifier), out)
    if "require" in source or "import(" in source:
        for call in nodes_at(root, source, JS_CALLS, frozenset({"call_expression"})):
            _js_call(call, out)
    return tuple(out), ""


def _string(node: Node | None) -> str:
    """A string literal's content."""
    return text(node)[1:-1] if node is not None else ""


def _js_import(node: Node, source: str, out: list[Import]) -> None:
    """`import d, {a as b}, * as ns from 'x'` (and the bare `import 'x'`)."""
    clause = next((c for c in node.named_children if c.type == "import_clause"), None)
    if clause is None:
        out.append(Import(source))
        return
    names: list[str] = []
    for part in clause.named_children:
        if part.type == "identifier":
            out.append(Import(source, ("default",), text(part)))
        elif part.type == "namespace_import":
            alias = next((c for c in part.named_children if c.type == "identifier"), None)
            out.append(Import(source, (), text(alias)))
        elif part.type == "named_imports":
            names += [text(s.child_by_field_name("name")) for s in part.named_children]
    if names:
        out.append(Import(source, tuple(name for name in names if name)))


def _js_reexport(node: Node, source: str, out: list[Import]) -> None:
    """`export {a, b as c} from 'x'` -> names a, b; `export * [as ns] from 'x'` -> "*"."""
    clause = next((c for c in node.named_children if c.type == "export_clause"), None)
    if clause is None:
        out.append(Import(source, ("*",)))
        return
    names = [text(s.child_by_field_name("name")) for s in clause.named_children]
    out.append(Import(source, tuple(name for name in names if name)))


def _js_call(node: Node, out: list[Import]) -> None:
    """`require('x')` / `import('x')`, with the names a declaration destructures from it."""
    arguments = node.child_by_field_name("arguments")
    first = arguments.named_children[0] if arguments is not None else None
    if first is None or first.type != "string":
        return
    source = _string(first)
    parent = node.parent
    target = parent.child_by_field_name("name") if parent is not None else None
    if parent is None or parent.type != "variable_declarator" or target is None:
        out.append(Import(source))
    elif target.type == "identifier":
        out.append(Import(source, (), text(target)))
    elif target.type == "object_pattern":
        names = []
        for part in target.named_children:
            key = part.child_by_field_name("key") if part.type == "pair_pattern" else part
            if key is not None and key.type in _PATTERN_NAMES:
                names.append(text(key))
        out.append(Import(source, tuple(names)))
    else:
        out.append(Import(source))


_PATTERN_NAMES = frozenset({"shorthand_property_identifier_pattern", "property_identifier"})


# Go ------------------------------------------------------------------------------------------


def go(root: Node, source: str) -> tuple[tuple[Import, ...], str]:
    """Import specs (single or grouped) and the package clause."""
    out: list[Import] = []
    package = ""
    for node in root.named_children:
        if node.type == "package_clause":
            package = text(node.named_children[0]) if node.named_child_count else ""
        elif node.type == "import_declaration":
            for spec in _go_specs(node):
                path = _string(spec.child_by_field_name("path"))
                alias = text(spec.child_by_field_name("name"))
                if alias == ".":
                    out.append(Import(path, ("*",)))
                else:
                    out.append(Import(path, (), alias))
    return tuple(out), package


def _go_specs(declaration: Node) -> list[Node]:
    """The import_spec nodes of `import "x"` or `import ( ... )`."""
    specs = []
    for child in declaration.named_children:
        if child.type == "import_spec":
            specs.append(child)
        elif child.type == "import_spec_list":
            specs += [spec for spec in child.named_children if spec.type == "import_spec"]
    return specs


# Rust ----------------------------------------------------------------------------------------


def rust(root: Node, source: str) -> tuple[tuple[Import, ...], str]:
    """`use` trees flattened to one Import per module path, and `mod foo;` declarations."""
    out: list[Import] = []
    for node in nodes_at(root, source, RUST_LINES, RUST_TYPES):
        if node.type == "mod_item":
            if node.child_by_field_name("body") is not None:
                continue
            name = text(node.child_by_field_name("name"))
            out.append(Import("self::" + name, (), name))
            continue
        grouped: dict[str, list[str]] = {}
        _use_tree(node.child_by_field_name("argument"), [], grouped, out)
        out += [Import(module, tuple(names)) for module, names in grouped.items()]
    return tuple(out), ""


def _path(node: Node | None) -> list[str]:
    """The segments of a Rust path node (`crate::a::b` -> ["crate", "a", "b"])."""
    return [part for part in "".join(text(node).split()).split("::") if part]


def _use_tree(
    node: Node | None, prefix: list[str], grouped: dict[str, list[str]], out: list[Import]
) -> None:
    """Collect the leaves of a use tree: names grouped under their module path; aliased
    paths as their own Import."""
    if node is None:
        return
    kind = node.type
    if kind == "use_list":
        for child in node.named_children:
            _use_tree(child, prefix, grouped, out)
    elif kind == "scoped_use_list":
        path = prefix + _path(node.child_by_field_name("path"))
        _use_tree(node.child_by_field_name("list"), path, grouped, out)
    elif kind == "use_wildcard":
        inner = node.named_children[0] if node.named_child_count else None
        grouped.setdefault("::".join(prefix + _path(inner)), []).append("*")
    elif kind == "use_as_clause":
        path = prefix + _path(node.child_by_field_name("path"))
        alias = text(node.child_by_field_name("alias"))
        out.append(Import("::".join(path), (), alias))
    else:
        path = prefix + _path(node)
        if path and path[-1] == "self":
            path.pop()
        if len(path) == 1:
            grouped.setdefault(path[0], [])
        elif path:
            grouped.setdefault("::".join(path[:-1]), []).append(path[-1])


# C / C++ -------------------------------------------------------------------------------------


def c(root: Node, source: str) -> tuple[tuple[Import, ...], str]:
    """Local `#include "..."` lines, also inside #if blocks."""
    nodes = nodes_at(root, source, C_LINES, frozenset({"preproc_include"}))
    includes = [_string(node.child_by_field_name("path")) for node in nodes]
    return tuple(Import(path) for path in includes if path), ""


# Java ----------------------------------------------------------------------------------------


def java(root: Node, source: str) -> tuple[tuple[Import, ...], str]:
    """Imports (static ones name a class, not a package) and the package declaration."""
    out: list[Import] = []
    package = ""
    for node in root.named_children:
        if node.type == "package_declaration":
            named = [
                c for c in node.named_children if c.type in ("scoped_identifier", "identifier")
            ]
            package = _dotted(named[0]) if named else ""
        elif node.type == "import_declaration":
            path = next((c for c in node.named_children if c.type != "asterisk"), None)
            full = _dotted(path)
            if any(child.type == "asterisk" for child in node.named_children):
                out.append(Import(full, ("*",)))
            elif "." in full:
                module, _, name = full.rpartition(".")
                out.append(Import(module, (name,)))
    return tuple(out), package


READERS: dict[str, Reader] = {
    "python": python,
    "javascript": javascript,
    "javascriptreact": javascript,
    "typescript": javascript,
    "typescriptreact": javascript,
    "go": go,
    "rust": rust,
    "c": c,
    "cpp": c,
    "java": java,
}
