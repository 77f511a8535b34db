"""Parsing for the index: one tree-sitter parser per language per thread,
since extraction runs on a background thread while the keystroke path parses too, plus the
small node helpers the per-language extractors share."""

from __future__ import annotations

import importlib
import re
import sys
import threading
from functools import cache
from typing import Any

from lsp_server.postprocess.syntax import GRAMMARS
from lsp_server.repository.facts import Definition

Node = Any  # tree_sitter.Node (the binding ships no stubs mypy can rely on)

LANGUAGES: frozenset[str] = frozenset(GRAMMARS)
# Body nodes that open with "{": the signature runs through the line holding it.
BRACED = frozenset(
    {
        "statement_block", "class_body", "block", "compound_statement", "declaration_list",
        "field_declaration_list", "interface_body", "enum_body", "object_type", "constructor_body",
        "enum_variant_list", "annotation_type_body", "enumerator_list",
    }
)  # fmt: skip

MAX_ASCENT = 4  # from the token a text match lands on up to its statement
_local = threading.local()


@cache
def grammar(language: str) -> Any | None:
    """The tree-sitter Language for an LSP language id (shared: Language objects are
    immutable), or None when its grammar is not installed."""
    spec = GRAMMARS.get(language)
    if spec is None:
        return None
    try:
        import tree_sitter

        module = importlib.import_module(spec[0])
        return tree_sitter.Language(getattr(module, spec[1])())
    except (ImportError, AttributeError, ValueError, TypeError):
        return None


def _thread_cache() -> dict[str, Any]:
    """This thread's parsers: tree-sitter parsers must not be shared between threads."""
    found: dict[str, Any] | None = getattr(_local, "cache", None)
    if found is None:
        found = _local.cache = {}
    return found


def parse(text: str, language: str) -> Any | None:
    """The syntax tree of text (None when the language has no grammar)."""
    cached = _thread_cache()
    parser = cached.get(language)
    if parser is None:
        lang = grammar(language)
        if lang is None:
            return None
        import tree_sitter

        parser = cached[language] = tree_sitter.Parser(lang)
    # Parsing bytes holds the GIL (about 0.1 s per MB: the event loop waits that long while a
    # large file is indexed). A read callback would let the loop run between chunks, but
    # py-tree-sitter 0.26 never frees what the callback returns (the file's size, per parse).
    return parser.parse(text.encode("utf-8", "surrogatepass"))


def nodes_at(
    root: Node, source: str, pattern: re.Pattern[str], types: frozenset[str]
) -> list[Node]:
    """The nodes of the given types where pattern's group 1 matches in source, in source
    order: finding a few statements by text is far cheaper than visiting every node."""
    out: list[Node] = []
    row = last = 0
    for match in pattern.finditer(source):
        start = match.start(1)
        row += source.count("\n", last, start)
        last = start
        column = len(
            source[source.rfind("\n", 0, start) + 1 : start].encode("utf-8", "surrogatepass")
        )
        node = root.descendant_for_point_range((row, column), (row, column))
        for _ in range(MAX_ASCENT):
            if node is None or node.type in types:
                break
            node = node.parent
        if node is not None and node.type in types and (not out or out[-1] != node):
            out.append(node)
    return out


def members(block: Node) -> list[Node]:
    """A block's named children, with those of ERROR nodes in their place: where a parse
    failed, the definitions tree-sitter recovered sit inside ERROR nodes."""
    children: list[Node] = block.named_children
    if not block.has_error:
        return children
    out: list[Node] = []
    for child in children:
        if child.type == "ERROR":
            out += members(child)
        else:
            out.append(child)
    return out


def text(node: Node | None) -> str:
    """A node's source text ("" for a missing node)."""
    return node.text.decode("utf-8", "replace") if node is not None else ""


def end_line(node: Node) -> int:
    """One past the node's last line (a node ending at column 0 ends on the line before)."""
    row, column = node.end_point
    start = node.start_point.row
    return row + 1 if column > 0 or row == start else row


def define(
    name: str, kind: str, node: Node, body_line: int | None, container: str = "", line: int = -1
) -> Definition:
    """A Definition spanning node; body_line None means the header is the whole node."""
    first = node.start_point.row if line < 0 else line
    last = max(end_line(node), first + 1)
    body = last if body_line is None else min(max(body_line, first + 1), last)
    # Interned: the same names (__init__, a class's name for each method) repeat by thousands.
    return Definition(sys.intern(name), kind, first, body, last, sys.intern(container))


def brace_body_line(body: Node | None, line: int) -> int | None:
    """The line after the header of a definition whose body is body: after the "{" line for
    braced bodies, the line where an expression body starts otherwise."""
    if body is None:
        return None
    row = body.start_point.row
    if body.type in BRACED:
        return row + 1
    return row if row > line else line + 1


def value_body_line(value: Node | None) -> int | None:
    """For constants, aliases and types: the header ends on the line where the value starts."""
    return value.start_point.row + 1 if value is not None else None


def keyword_line(node: Node, skipped: frozenset[str]) -> int:
    """The first line of node that is not a decorator/annotation (Java puts annotations inside
    `modifiers`, TypeScript puts decorators first among a class's children)."""
    for child in node.children:
        if child.type == "modifiers":
            for modifier in child.children:
                if modifier.type not in skipped:
                    return int(modifier.start_point.row)
            continue
        if child.type not in skipped:
            return int(child.start_point.row)
    return int(node.start_point.row)
