"""Zeta 2.1's prompt, byte for byte: Zed's `ZetaFormat::V0318SeedMultiRegions` ("Zeta2.1").

Ported from zed-industries/zed `crates/zeta_prompt/src/zeta_prompt.rs` and `multi_region.rs` at
7eec89207ccfbef7ba366da22fc885079a5c0296 (2026-08-22; V0318's layout is unchanged since
b4bd3ff, 2026-03-23, the format of the model card's "0323-multi-region-filtered-r3"). Seed-Coder
SPM: the code after the editable region first, then the edit history and the cursor's file,
whose editable region is cut into `<|marker_N|>` blocks at line starts with `<|user_cursor|>`
at the cursor. Budgets count UTF-8 bytes / 3, as Zed does. Plain data in and out.

The prompt comes as pieces: ("mark", text) for the template's own text (`<filename>`, markers,
the cursor, diff headers), ("text", text) for what documents hold. Zeta 2.1 added no tokens to
Seed-Coder's vocabulary, so its markers are plain text: engines tokenize the text between two FIM
marks as one run (as in training), with special-token parsing off; the kinds tell what came from
a document (text holding template text is refused: reserved_text_in).
"""

from __future__ import annotations

from dataclasses import dataclass

FIM_SUFFIX, FIM_PREFIX, FIM_MIDDLE = "<[fim-suffix]>", "<[fim-prefix]>", "<[fim-middle]>"
FILE_MARKER = "<filename>"
CURSOR_MARKER = "<|user_cursor|>"
MARKER_PREFIX, MARKER_SUFFIX = "<|marker_", "|>"
END_MARKER = "<[end\u2581of\u2581sentence]>"  # Seed-Coder's EOS text: the only stop string
EDIT_HISTORY_NAME = "edit_history"
ACCEPTED_PREFIX = "// User accepted prediction:\n"
MAX_PROMPT_TOKENS = 4096
EDITABLE_TOKENS, CONTEXT_TOKENS = 350, 150
MAX_EVENTS = 6
MIN_BLOCK_LINES, MAX_BLOCK_LINES, MAX_NUDGE_LINES = 6, 16, 5
# Template text a document must not hold: sent as text, the model could not tell it from ours.
RESERVED_TEXTS = (FIM_SUFFIX, FIM_PREFIX, FIM_MIDDLE, FILE_MARKER, END_MARKER, CURSOR_MARKER,
                  MARKER_PREFIX)  # fmt: skip


Piece = tuple[str, str]  # ("mark" | "text", text)


@dataclass(frozen=True)
class Event:
    """One edit-history entry: the hunks of a unified diff of one file."""

    path: str
    diff: str
    old_path: str = ""
    predicted: bool = False  # the user accepted a prediction
    uri: str = ""  # the document it belongs to (dropped when it closes)


@dataclass(frozen=True)
class Prompt:
    """FIM_SUFFIX + suffix + FIM_PREFIX + prefix + FIM_MIDDLE: the three FIM marks are the
    model's control tokens; suffix and prefix are pieces (see above)."""

    suffix: tuple[Piece, ...]
    prefix: tuple[Piece, ...]

    @property
    def text(self) -> str:
        return f"{FIM_SUFFIX}{text_of(self.suffix)}{FIM_PREFIX}{text_of(self.prefix)}{FIM_MIDDLE}"


def text_of(pieces: tuple[Piece, ...] | list[Piece]) -> str:
    return "".join(text for _, text in pieces)


def estimate_tokens(text: str) -> int:
    """Zed's estimate: UTF-8 bytes / 3."""
    return len(text.encode("utf-8", "surrogatepass")) // 3


def marker_tag(number: int) -> str:
    return f"{MARKER_PREFIX}{number}{MARKER_SUFFIX}"


# -- marker blocks (multi_region.rs) ----------------------------------------------------------
def _structural_tail(trimmed: str) -> bool:
    return trimmed.startswith(("}", "]", ")")) or trimmed.rstrip(";") in (
        "break", "continue", "return", "throw", "end",
    )  # fmt: skip


def _line_info(text: str) -> list[tuple[int, bool, bool]]:
    """(start, blank, good start) per line; a final newline adds no line."""
    out, offset = [], 0
    for line in text.split("\n"):
        trimmed = line.strip()
        out.append((offset, not trimmed, bool(trimmed) and not _structural_tail(trimmed)))
        offset += len(line) + 1
    if text.endswith("\n") and len(out) > 1:
        out.pop()
    return out


def _good_start(lines: list[tuple[int, bool, bool]], start: int) -> int | None:
    end = min(len(lines), start + MAX_NUDGE_LINES)
    return next((i for i in range(start, end) if lines[i][2]), None)


def marker_offsets(
    editable: str, min_lines: int = MIN_BLOCK_LINES, max_lines: int = MAX_BLOCK_LINES
) -> list[int]:
    """Block boundaries: 0, line starts (6 to 16 lines a block for V0318, at a blank line when
    it can, nudged past closers), the length."""
    if not editable:
        return [0, 0]
    lines = _line_info(editable)
    offsets, last, i = [0], 0, 0
    while i < len(lines):
        gap = i - last
        if gap >= min_lines and not lines[i][1] and i > 0 and lines[i - 1][1]:
            target = i if lines[i][2] else _or(_good_start(lines, i), i)
            if len(lines) - target >= min_lines and lines[target][0] > offsets[-1]:
                offsets.append(lines[target][0])
                last, i = target, target + 1
                continue
        if gap >= max_lines:
            target = _or(_good_start(lines, i), i)
            if lines[target][0] > offsets[-1]:
                offsets.append(lines[target][0])
                last, i = target, target + 1
                continue
        i += 1
    if offsets[-1] != len(editable):
        offsets.append(len(editable))
    return offsets


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def editable_with_markers(editable: str, cursor: int) -> list[Piece]:
    """A marker at every boundary; the cursor in the first block that holds it (a cursor on a
    boundary ends the earlier block)."""
    offsets = marker_offsets(editable)
    out: list[Piece] = []
    placed = False
    for i, start in enumerate(offsets):
        out.append(("mark", marker_tag(i + 1)))
        if i + 1 < len(offsets):
            block = editable[start : offsets[i + 1]]
            if not placed and start <= cursor <= offsets[i + 1]:
                placed = True
                at = cursor - start
                out += [("text", block[:at]), ("mark", CURSOR_MARKER), ("text", block[at:])]
            else:
                out.append(("text", block))
    return out


def _closed(pieces: list[Piece]) -> list[Piece]:
    """Drop empty pieces; end with a newline."""
    pieces = [p for p in pieces if p[1]]
    if not text_of(pieces).endswith("\n"):
        pieces.append(("mark", "\n"))
    return pieces


# -- sections (zeta_prompt.rs) ---------------------------------------------------------------
def cursor_section(path: str, context: str, editable: tuple[int, int], cursor: int) -> list[Piece]:
    """`<filename>PATH`, the context before the editable region, the marked region."""
    start, end = editable
    pieces: list[Piece] = [("mark", f"{FILE_MARKER}{path}\n"), ("text", context[:start])]
    pieces += editable_with_markers(context[start:end], cursor - start)
    return _closed(pieces)


def suffix_section(context: str, editable_end: int) -> list[Piece]:
    """The context after the editable region, ending with a newline (after FIM_SUFFIX)."""
    text = context[editable_end:]
    return _closed([("text", text)]) if text else [("mark", "\n")]


def event_pieces(event: Event) -> list[Piece]:
    """`--- a/PATH` / `+++ b/PATH` then the hunks; accepted predictions say so first."""
    head = ACCEPTED_PREFIX if event.predicted else ""
    old = _unix(event.old_path or event.path)
    return [("mark", f"{head}--- a{old}\n+++ b{_unix(event.path)}\n"), ("text", event.diff)]


def _unix(path: str) -> str:
    """Zed writes `/` + each path component."""
    return "".join("/" + part for part in path.replace("\\", "/").split("/") if part)


def edit_history_section(events: list[Event], budget: int) -> list[Piece]:
    """The newest events (at most 6) that fit, oldest first, under `<filename>edit_history`."""
    header = f"{FILE_MARKER}{EDIT_HISTORY_NAME}\n"
    total = estimate_tokens(header)
    if total >= budget:
        return []
    chosen: list[list[Piece]] = []
    for event in list(reversed(events))[:MAX_EVENTS]:
        pieces = event_pieces(event)
        cost = estimate_tokens(text_of(pieces))
        if total + cost > budget:
            break
        total += cost
        chosen.append(pieces)
    if not chosen:
        return []
    return [("mark", header), *(p for pieces in reversed(chosen) for p in pieces)]


def assemble(
    path: str,
    context: str,
    editable: tuple[int, int],
    cursor: int,
    events: list[Event],
    max_tokens: int = MAX_PROMPT_TOKENS,
) -> Prompt | None:
    """The prompt (no related files: the server sends none), or None when it does not fit
    (Zed then sends no request). `editable` and `cursor` are offsets into `context`."""
    budget = int(max_tokens * 0.9)  # Zed leaves 10% slack
    cursor_pieces = cursor_section(path, context, editable, cursor)
    suffix = suffix_section(context, editable[1])
    used = estimate_tokens(FIM_SUFFIX + text_of(suffix) + FIM_PREFIX)
    used += estimate_tokens(text_of(cursor_pieces) + FIM_MIDDLE)
    history = edit_history_section(events, max(0, budget - used))
    if history:
        history.append(("mark", "\n"))
    prompt = Prompt(tuple(suffix), tuple(history + cursor_pieces))
    return None if estimate_tokens(prompt.text) > max_tokens else prompt


def reserved_text_in(text: str) -> str | None:
    """The first template text `text` holds (it could not be sent token-exact), or None."""
    return next((t for t in RESERVED_TEXTS if t in text), None)
