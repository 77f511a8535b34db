"""Turn a FIM model's raw infill into the edit that should land in the buffer.

Pure string functions (no editor or model imports) so that every rule can be pinned by the
golden table in tests/golden/postprocess.json. Internally all text uses "\\n"; the document's
own line ending is restored on the way out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Texts that start a control/special token in the common FIM families; the raw infill is cut at
# the first one found, whatever model is loaded (stop_texts adds the loaded model's own tokens).
CONTROL_MARKERS: tuple[str, ...] = (
    # Seed-Coder
    "<[fim-",
    "<[begin▁of▁",
    "<[end▁of▁",
    "<[PAD▁",
    # DeepSeek-Coder (full-width bars) and its ASCII EOT
    "<｜fim▁",
    "<｜begin▁of▁",
    "<｜end▁of▁",
    "<|EOT|>",
    # Qwen, CodeGemma, Llama 3
    "<|fim_",
    "<|file_sep|>",
    "<|file_separator|>",
    "<|repo_name|>",
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|eot_id|>",
    "<|begin_of_text|>",
    "<|end_of_text|>",
    # StarCoder / SantaCoder
    "<fim_",
    "<fim-",
    "<file_sep>",
    # CodeLlama (its marks are tokenized with a leading space: cut that space too)
    " <PRE>",
    " <SUF>",
    " <MID>",
    " <EOT>",
    "<PRE>",
    "<SUF>",
    "<MID>",
    "<EOT>",
    # Codestral / Mistral
    "[PREFIX]",
    "[SUFFIX]",
    "[MIDDLE]",
)

# Characters an editor auto-inserts after the cursor (closing pairs and trailing punctuation).
AUTO_CLOSED_CHARS = frozenset(")]}>\"'`;,: ")
# Characters of a line that only closes blocks, such as "});" or "],".
BLOCK_CLOSER_CHARS = frozenset(")]};, ")
BLOCK_OPENER_ENDINGS = ("{", "(", "[", ":")
OPENING_BRACKET = {")": "(", "]": "[", "}": "{"}
QUOTES = "\"'`"
TAB_WIDTH = 4
COMPLETE_STOPS = ("eos", "time", "settled")  # stops that leave the last line complete
RUN_ON_LINES = 4  # complete lines past the block's end after which generation may stop


@dataclass(frozen=True)
class Suggestion:
    """What to show: replace [cursor, cursor + replace_chars) on the cursor's line with text."""

    text: str  # text to put at the cursor
    replace_chars: int = 0  # characters after the cursor, on its line, that the text replaces


def cut_at_stop(raw: str, stop_texts: Sequence[str] = ()) -> str:
    """Cut at the first special/control token so that no marker ever leaks into the buffer."""
    end = len(raw)
    for marker in (*stop_texts, *CONTROL_MARKERS):
        if marker:
            found = raw.find(marker, 0, end)
            if found != -1:
                end = found
    return raw[:end]


def to_lf(text: str) -> str:
    """Normalize line endings so that every rule sees plain "\\n"."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def detect_eol(prefix: str, suffix: str) -> str:
    """Pick the document's line ending so the suggestion does not mix styles."""
    return "\r\n" if "\r\n" in prefix or "\r\n" in suffix else "\n"


def current_line_prefix(prefix: str) -> str:
    """Return the cursor's line up to the cursor, which sets the block the completion lives in."""
    return prefix[prefix.rfind("\n") + 1 :]


def rest_of_line(suffix: str) -> str:
    """Return the cursor's line after the cursor (no line ending): what the edit may touch."""
    end = suffix.find("\n")
    line = suffix if end == -1 else suffix[:end]
    return line[:-1] if line.endswith("\r") else line


def next_nonblank_line(suffix: str) -> str | None:
    """Return the first non-blank line below the cursor's line, the one not to repeat."""
    start = suffix.find("\n")
    while start != -1:
        end = suffix.find("\n", start + 1)
        line = suffix[start + 1 : len(suffix) if end == -1 else end].rstrip("\r")
        if line.strip():
            return line
        start = end
    return None


def first_line(text: str) -> str:
    """Return the text up to its first line break, all a mid-line completion may use."""
    return text.split("\n", 1)[0]


def leading_whitespace(line: str) -> str:
    """Return the line's indentation exactly as written, to reuse it for a new line."""
    return line[: len(line) - len(line.lstrip(" \t"))]


def indent_width(line: str) -> int:
    """Measure indentation in columns (tabs as TAB_WIDTH) so tabs and spaces compare."""
    return len(leading_whitespace(line).expandtabs(TAB_WIDTH))


def is_auto_closed(rest: str) -> bool:
    """Tell whether the rest of the line is only auto-inserted closers the edit may re-emit."""
    return bool(rest.strip()) and all(ch in AUTO_CLOSED_CHARS for ch in rest)


def is_block_closer_line(line: str) -> bool:
    """Tell whether a line only closes blocks ("}", "});", "],"), which may end a completion."""
    body = line.strip()
    return bool(body) and body[0] in OPENING_BRACKET and all(c in BLOCK_CLOSER_CHARS for c in body)


def opens_block(line: str) -> bool:
    """Tell whether a line ends by opening a block, so only deeper lines belong to it."""
    return line.rstrip().endswith(BLOCK_OPENER_ENDINGS)


def same_line(line: str, other: str) -> bool:
    """Tell whether two non-blank lines hold the same code at the same indentation."""
    body = line.strip()
    return bool(body) and body == other.strip() and indent_width(line) == indent_width(other)


def trim_suffix_overlap(text: str, rest: str) -> str:
    """Drop the longest tail of a one-line completion that re-types the start of the line."""
    for size in range(min(len(text), len(rest)), 0, -1):
        overlap = rest[:size]
        if overlap.strip() and text.endswith(overlap):
            return text[:-size]
    return text


def closer_needed(line: str, below: str | None) -> bool:
    """Tell whether a dedented closing line closes a block that the code below leaves open."""
    if below is None:
        return True
    width, below_width = indent_width(line), indent_width(below)
    if below_width != width:
        return below_width < width
    return not is_block_closer_line(below)


def limit_to_block(before: str, text: str, below: str | None, *, closers: bool) -> str:
    """Keep only the lines inside the cursor's block, so a completion never spills outwards."""
    lines = text.split("\n")
    head = before + lines[0]
    # After an opener ("def f():", "if (a) {") or in front of auto-closed brackets, the block is
    # the new inner one: its lines are deeper than the cursor's line.
    strict = closers or (bool(before.strip()) and opens_block(head))
    base = indent_width(head if head.strip() and not strict else before)
    kept = [lines[0]]
    for line in lines[1:]:
        width = indent_width(line)
        if not line.strip() or width > base or (width == base and not strict):
            kept.append(line)
            continue
        if is_block_closer_line(line) and (closers or closer_needed(line, below)):
            kept.append(line)
        break
    return "\n".join(kept)


def cut_repeated_line(before: str, text: str, below: str | None) -> str:
    """Stop before a completion line that re-types the next line already in the document."""
    if below is None:
        return text
    lines = text.split("\n")
    # The first line only stands alone when the cursor's line is blank so far.
    start = 0 if not before.strip() else 1
    for index in range(start, len(lines)):
        line = before + lines[index] if index == 0 else lines[index]
        if same_line(line, below):
            return "\n".join(lines[:index])
    return text


def consumed_closers(text: str, rest: str) -> int:
    """Return how much of the auto-closed rest of line the completion itself already closes."""
    pos = len(rest) - len(rest.lstrip(" "))
    consumed = 0
    stack: list[str] = []
    quote = ""
    escaped = False
    for ch in text:
        if pos >= len(rest):
            break
        expected = rest[pos]
        in_string = bool(quote) or expected in QUOTES
        if escaped or (ch == "\\" and in_string):
            escaped = not escaped
            continue
        if quote:
            if ch == quote or (ch == "\n" and quote != "`"):
                quote = ""
            continue
        if (expected in QUOTES or not stack) and ch == expected:
            consumed = pos + 1
            pos = consumed + len(rest[consumed:]) - len(rest[consumed:].lstrip(" "))
        elif expected in QUOTES:
            continue
        elif ch in QUOTES:
            quote = ch
        elif ch in "([{":
            stack.append(ch)
        elif stack and OPENING_BRACKET.get(ch) == stack[-1]:
            stack.pop()
    return consumed


def closers_on_new_line(before: str, kept: str, tail: str) -> bool:
    """Tell whether re-emitted closers belong on a line of their own below the completion."""
    last = (before + kept).rsplit("\n", 1)[-1]
    if last.strip() and indent_width(last) > indent_width(before):
        return True
    # In front of closers on an otherwise blank line, follow the model's own line break.
    return not before.strip() and tail.lstrip(" \t").startswith("\n")


def merge_closers(before: str, kept: str, rest: str, tail: str = "") -> str:
    """Append the auto-closed rest of line exactly once, minus what the completion closed."""
    remaining = rest[consumed_closers(kept, rest) :]
    if remaining.strip() and closers_on_new_line(before, kept, tail):
        return kept + "\n" + leading_whitespace(before) + remaining.lstrip(" ")
    return kept + remaining


def is_noise(text: str, below: str | None) -> bool:
    """Tell whether a completion is blank or just repeats the next line of the document."""
    body = text.strip()
    return not body or (below is not None and body == below.strip())


def stays_on_line(before: str, first: str, rest: str) -> bool:
    """Tell whether a completion in front of auto-closed text ends with its first line.

    It does when that line closes everything auto-closed and opens no block; on a blank line,
    after an opener or with brackets still open, the following (deeper) lines may continue it.
    """
    if not before.strip() or opens_block(before + first):
        return False
    return not rest[consumed_closers(first, rest) :].strip()


def syntax_cut(
    prefix: str, suffix: str, full: str, below: str | None, stop_reason: str, language: str
) -> str | None:
    """The longest candidate, cut at a line end, that adds no syntax errors to the region
    around the cursor and does not re-type the next line; None without a grammar, over the
    time budget, or when no candidate parses (the indentation rules decide then).

    A model that ended with EOS chose its end: its text may go on past the cursor's block. One
    that was stopped (tokens, time) goes past the block only when it ran on into the text after
    the cursor (its infill ends there); otherwise the block's end caps it, and a last line it may
    have left unfinished is no candidate."""
    from lsp_server.postprocess.syntax import Checker, parser_for

    parser = parser_for(language) if language else None
    if parser is None:
        return None
    before = current_line_prefix(prefix)
    text = cut_repeated_line(before, full, below)
    reached_suffix = text != full
    lines = text.split("\n")
    if stop_reason != "eos" and not reached_suffix:
        if stop_reason not in COMPLETE_STOPS and len(lines) > 1:
            lines = lines[:-1]
        block = limit_to_block(before, "\n".join(lines), below, closers=False)
        lines = block.split("\n")
    checker = Checker(parser, prefix, suffix)
    seen: set[str] = set()
    for end in range(len(lines), 0, -1):
        candidate = "\n".join(lines[:end]).rstrip()
        if not candidate.strip() or candidate in seen:
            continue
        seen.add(candidate)
        adds = checker.adds_errors(candidate)
        if adds is None:
            return None
        if not adds:
            return candidate
    return None


def postprocess(
    prefix: str,
    suffix: str,
    raw: str,
    *,
    stop_texts: Sequence[str] = (),
    stop_reason: str = "",
    language: str = "",
) -> Suggestion | None:
    """Turn the model's raw infill into what should land in the buffer, or None to show nothing.
    `stop_reason` (eos, max_tokens, time, settled) and the LSP `language` id let a multi-line
    infill end where the syntax says, not only where the indentation falls."""
    before = current_line_prefix(prefix)
    rest = rest_of_line(suffix)
    below = next_nonblank_line(suffix)
    full = to_lf(cut_at_stop(raw, stop_texts))
    closers = is_auto_closed(rest)
    if rest.strip() and (not closers or stays_on_line(before, first_line(full), rest)):
        text = first_line(full)
        if not closers:
            text = trim_suffix_overlap(text, rest)
    else:
        cut = None if closers else syntax_cut(prefix, suffix, full, below, stop_reason, language)
        if cut is not None:
            text = cut
        else:
            text = limit_to_block(before, full, below, closers=closers)
            text = cut_repeated_line(before, text, below).rstrip()
    if is_noise(text, below):
        return None
    eol = detect_eol(prefix, suffix)
    if not closers:
        return Suggestion(text.replace("\n", eol), 0)
    merged = merge_closers(before, text, rest, full[len(text) :])
    if merged == rest:
        return None
    return Suggestion(merged.replace("\n", eol), len(rest))


def settled(prefix: str, suffix: str, raw: str, language: str = "") -> bool:
    """Whether more generated text can no longer change the suggestion (or hardly can), so
    generation may stop early: mid-line, once the first line is complete; on a line of its own,
    with a grammar, once the model has re-typed the document's next line or written
    RUN_ON_LINES lines past the block's end (text after a dedent may still belong to the infill:
    "return True", then "return False" one level out), without one, once a later line has begun
    that ends the cursor's block."""
    rest = rest_of_line(suffix)
    if is_auto_closed(rest):
        return False  # closers may be merged from the text that follows: wait for the end
    full = to_lf(raw)
    if rest.strip():
        return "\n" in full
    lines = full.split("\n")
    if len(lines) < 2:
        return False
    before = current_line_prefix(prefix)
    below = next_nonblank_line(suffix)
    if language and has_grammar(language):
        kept = cut_repeated_line(before, full, below).split("\n")
        if full != "\n".join(kept) and len(lines) > len(kept) + 1:
            return True  # the document's next line re-typed: the infill ended before it
        # Far past the block's end without EOS: a run-on that will be capped at the block.
        block = limit_to_block(before, full, below, closers=False).split("\n")
        past = [line for line in lines[len(block) : -1] if line.strip()]
        return len(past) >= RUN_ON_LINES
    kept = limit_to_block(before, full, below, closers=False).split("\n")
    if len(kept) >= len(lines):
        return False
    cut = lines[len(kept)]
    complete = len(kept) < len(lines) - 1
    return complete or bool(cut.strip()) and (cut.strip()[0].isalnum() or cut.strip()[0] == "_")


def has_grammar(language: str) -> bool:
    """Whether the syntax decides where this language's multi-line infills end."""
    from lsp_server.postprocess.syntax import parser_for

    return parser_for(language) is not None
