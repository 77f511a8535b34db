"""The typing the benchmark replays, as plain data: every client policy gets the same keys.

A session opens a file at a cursor and then sends keys at a fixed pace. Texts are this
repository's sources as of f7d2e37, frozen in benchmarks/material/ (reading the live files made
every edit of them a change of the benchmark: 11 lines added to server.py moved the typed line
and cost 33 of 38 suggestions at 4 chars/s): a file larger than the context window (so the
window is cut and, while typing, must stay cheap to move), a line typed in its middle, and a
fresh file for the cold start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MATERIAL = Path(__file__).resolve().parent / "material"  # the sources, frozen
BIG_SOURCES = (
    "lsp_server/engines/local/runner.py",
    "lsp_server/keystroke/scheduler.py",
    "lsp_server/lsp/server.py",
)
COLD_SOURCES = (
    "lsp_server/prompt/window.py",
    "lsp_server/postprocess/rules.py",
    "lsp_server/prompt/fim.py",
)


@dataclass
class Session:
    """One typing session: the document, where the cursor starts, what is typed."""

    name: str  # "type", "accept"
    cps: float  # characters per second
    text: str  # the document when the session starts
    cursor: int  # character offset
    keys: list[str]  # one entry per keystroke (a character, or "<accept>")
    description: str = ""
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        return 1.0 / self.cps


def _material(path: str) -> str:
    """A source file as the benchmark types it (its frozen copy)."""
    return (MATERIAL / (Path(path).name + ".txt")).read_text(encoding="utf-8")


def big_file() -> str:
    """About 1,000 lines of Python: larger than a 4,096-token context."""
    return "\n\n".join(_material(p) for p in BIG_SOURCES)


def typed_line(text: str, near: int, *, chars: int, skip: int = 0) -> tuple[int, str]:
    """Offset of the start of a code line near character `near` (after its indentation) whose
    text is at least `chars` long, and that text; `skip` such lines are passed over."""
    lines = text.splitlines(keepends=True)
    offset, found = 0, -1
    for line in lines:
        if offset >= near and len(line.strip()) >= chars and not line.lstrip().startswith("#"):
            found += 1
            if found == skip:
                indent = len(line) - len(line.lstrip())
                return offset + indent, line.strip()[:chars]
        offset += len(line)
    raise ValueError("no line long enough")


def sessions(cps_values: tuple[float, ...], *, chars: int = 38) -> list[Session]:
    """For each pace: type a line in the middle of the big file (its original line removed,
    a new line), then ask for a suggestion, accept it and type on."""
    text = big_file()
    out: list[Session] = []
    for n, cps in enumerate(cps_values):
        start, line = typed_line(text, len(text) // 2, chars=chars, skip=2 * n)
        end = text.index("\n", start)
        doc = text[:start] + text[end:]  # the line's own text is what the user types
        out.append(
            Session(
                "type",
                cps,
                doc,
                start,
                list(line),
                f"type {len(line)} chars ({line[:24]!r}...) on a line in the middle of a "
                f"{doc.count(chr(10)) + 1}-line file, {cps:g} chars/s",
            )
        )
        at, _ = typed_line(text, len(text) // 3, chars=20, skip=n)
        indent = _indent(text, at)
        line_start = at - indent
        a_doc = text[:line_start] + text[line_start:at] + "\n" + text[line_start:]
        cursor = at  # the end of the new, indented, empty line
        keys = ["<accept>", *list("x = 1")]
        out.append(
            Session(
                "accept",
                cps,
                a_doc,
                cursor,
                keys,
                f"on a new line: accept the suggestion, then type 5 chars, {cps:g} chars/s",
            )
        )
    return out


def _indent(text: str, offset: int) -> int:
    """Indentation width of the line holding `offset`."""
    start = text.rfind("\n", 0, offset) + 1
    line = text[start:offset]
    return len(line) - len(line.lstrip())


def cold_documents() -> list[tuple[str, int]]:
    """Files not opened before, each with its cursor as cold_document places it."""
    return [cold_document(path) for path in COLD_SOURCES]


def cold_document(path: str) -> tuple[str, int]:
    """A file not opened before, the cursor on a new indented line in its second half (at the
    end of a line: llama.vim does not ask when more than 8 characters follow the cursor)."""
    text = _material(path)
    at, _ = typed_line(text, int(len(text) * 0.6), chars=10)
    line_start = at - _indent(text, at)
    return text[:at] + "\n" + text[line_start:], at
