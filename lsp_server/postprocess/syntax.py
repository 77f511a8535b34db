"""Syntax checks with tree-sitter: does inserting a candidate at the cursor add syntax errors?

Only the region around the cursor is parsed (from the start of the enclosing top-level
construct to the next one), within a character and time budget; languages without an installed
grammar, or a parse over budget, answer None and the caller falls back to indentation rules.
"""

from __future__ import annotations

import importlib
import time
from functools import cache
from typing import Any

# LSP language id -> (grammar module, function returning its language pointer)
GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "javascriptreact": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "typescriptreact": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "java": ("tree_sitter_java", "language"),
}
EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript",
    ".cjs": "javascript", ".jsx": "javascriptreact", ".ts": "typescript", ".mts": "typescript",
    ".tsx": "typescriptreact", ".go": "go", ".rs": "rust", ".c": "c", ".h": "c", ".cc": "cpp",
    ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".java": "java",
}  # fmt: skip
REGION_CHARS = 16_000  # at most this much text on each side of the cursor is parsed
BUDGET_S = 0.02  # parsing a suggestion's candidates may take this long, then give up
CLOSERS = ")]}"


@cache
def parser_for(language: str) -> Any | None:
    """A tree-sitter parser for an LSP language id, or None (no grammar installed)."""
    spec = GRAMMARS.get(language)
    if spec is None:
        return None
    try:
        import tree_sitter

        module = importlib.import_module(spec[0])
        return tree_sitter.Parser(tree_sitter.Language(getattr(module, spec[1])()))
    except (ImportError, AttributeError, ValueError, TypeError):
        return None


def language_of_path(path: str) -> str:
    """The LSP language id of a file name ("" when unknown), for the CLI."""
    dot = path.rfind(".")
    return EXTENSIONS.get(path[dot:].lower(), "") if dot >= 0 else ""


def _indent(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())


def region(prefix: str, suffix: str) -> tuple[str, str]:
    """The text around the cursor that decides whether an insertion parses: back to the
    outermost line near the cursor, forward to the next line at that depth that starts new
    code (closing brackets stay in)."""
    head = prefix[-REGION_CHARS:]
    if len(head) < len(prefix):
        head = head[head.find("\n") + 1 :]
    lines = head.split("\n")
    code = [(i, _indent(x)) for i, x in enumerate(lines[:-1]) if x.strip()]
    depth = min((d for _, d in code), default=0)
    # Start at the last line at the outermost depth that starts new code: the enclosing
    # construct (a closing bracket there belongs to the one before).
    starts = [i for i, d in code if d == depth and lines[i].strip()[0] not in CLOSERS]
    head = "\n".join(lines[starts[-1] if starts else len(lines) - 1 :])
    tail = suffix[:REGION_CHARS]
    pos = tail.find("\n")
    while pos != -1:
        end = tail.find("\n", pos + 1)
        line = tail[pos + 1 : end if end != -1 else len(tail)]
        body = line.strip()
        if body and _indent(line) <= depth and body[0] not in CLOSERS:
            return head, tail[:pos]
        pos = end
    return head, tail if len(tail) == len(suffix) else tail[: tail.rfind("\n") + 1]


def errors(parser: Any, text: str) -> int:
    """ERROR and MISSING nodes in the parse of text."""
    tree = parser.parse(text.encode("utf-8"))
    count, stack = 0, [tree.root_node]
    while stack:
        node = stack.pop()
        if not node.has_error and not node.is_missing:
            continue
        if node.type == "ERROR" or node.is_missing:
            count += 1
        stack.extend(node.children)
    return count


class Checker:
    """Compare insertions at one cursor against the text without them, within a time budget."""

    def __init__(self, parser: Any, prefix: str, suffix: str) -> None:
        self.parser = parser
        self.head, self.tail = region(prefix, suffix)
        self.deadline = time.perf_counter() + BUDGET_S
        self.base = errors(parser, self.head + self.tail)

    def adds_errors(self, middle: str) -> bool | None:
        """Whether inserting middle adds syntax errors; None once over the time budget."""
        if time.perf_counter() > self.deadline:
            return None
        return errors(self.parser, self.head + middle + self.tail) > self.base
