"""The FIM prompt for a cursor as token ids, the same for every engine: window the document,
then lay out the template's marks around the prefix and suffix tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lsp_server.prompt.fim import FimIds, assemble
from lsp_server.prompt.window import Budget, Tokenize, choose_window


@dataclass(frozen=True)
class Prompt:
    """Token ids, where the window was cut (a hint for the next request) and how many leading
    tokens stay valid while the user types on the cursor's line."""

    tokens: list[int]
    window: tuple[int, int]
    stable: int
    capped: bool = False  # shrunk to meet the latency target (a cold start)


def build_prompt(
    req: dict[str, Any],
    tokenize: Tokenize,
    fim: FimIds | None,
    bos: int | None,
    n_ctx: int,
    cap: int | None = None,
) -> Prompt:
    """The prompt for one request (prefix, suffix, max_tokens, hint) in a context of n_ctx."""
    max_tokens = int(req.get("max_tokens", 128))
    total = max(16, n_ctx - max_tokens - 8)
    if cap is not None:
        total = min(total, cap)
    extra = _extra_tokens(req, tokenize, total) if cap is None else []
    total -= len(extra)
    suffix_share = total // 4 if fim else 0
    budget = Budget(prefix=total - suffix_share, suffix=suffix_share)
    hint = tuple(req["hint"]) if req.get("hint") and cap is None else None
    suffix = req.get("suffix", "") if fim else ""
    window = choose_window(req.get("prefix", ""), suffix, tokenize, budget, hint=hint)  # type: ignore[arg-type]
    tokens = assemble(fim, [*extra, *window.prefix_tokens], window.suffix_tokens, bos)
    line_start = window.prefix.rfind("\n") + 1
    # Tokens may merge across the line break: keep a margin of two before the line's text.
    stable_prefix = max(0, len(tokenize(window.prefix[:line_start])) - 2)
    head = (1 if bos is not None else 0) + (1 if fim else 0) + len(extra)
    if fim is not None and fim.template.spm:
        head += len(window.suffix_tokens) + 1
    return Prompt(tokens, (window.start_line, window.suffix_lines), head + stable_prefix)


def _extra_tokens(req: dict[str, Any], tokenize: Tokenize, total: int) -> list[int]:
    """Context from other files at the head of the prefix: within its token budget and at most
    a quarter of the window (a cold start's small window has none)."""
    extra = req.get("extra") or ()
    snippets = [extra] if isinstance(extra, str) else list(extra)
    limit = min(int(req.get("extra_tokens", 0)), total // 4)
    return fit_snippets(snippets, tokenize, limit)


def fit_snippets(snippets: Sequence[str], tokenize: Tokenize, limit: int) -> list[int]:
    """Snippets (best first) in the model's own tokens: whole while they fit, the first that
    does not cut at a line (its header and at least one line kept), then no more. The best
    lands last, nearest the code."""
    chosen: list[list[int]] = []
    room = limit
    for snippet in snippets:
        if room <= 0:
            break
        tokens = list(tokenize(snippet))
        if len(tokens) > room:
            tokens = _cut_at_line(snippet, tokenize, room)
            if tokens:
                chosen.append(tokens)
            break
        chosen.append(tokens)
        room -= len(tokens)
    return [t for tokens in reversed(chosen) for t in tokens]


def _cut_at_line(snippet: str, tokenize: Tokenize, room: int) -> list[int]:
    """The longest head of a snippet, in whole lines past its header line, within room."""
    lines = snippet.splitlines(keepends=True)
    lo, hi, best = 2, len(lines) - 1, []
    while lo <= hi:
        mid = (lo + hi) // 2
        tokens = list(tokenize("".join(lines[:mid])))
        if len(tokens) <= room:
            best, lo = tokens, mid + 1
        else:
            hi = mid - 1
    return best


TOKENIZE_LINES = 16  # text is tokenized in blocks of this many lines (the window's step)


def line_blocks(text: str, lines: int = TOKENIZE_LINES) -> list[str]:
    """Text cut after every `lines` line breaks: each block tokenizes the same wherever the
    window starts, so a moved window's tokens match the cached ones."""
    out, start, count = [], 0, 0
    i = text.find("\n")
    while i >= 0:
        count += 1
        if count == lines:
            out.append(text[start : i + 1])
            start, count = i + 1, 0
        i = text.find("\n", i + 1)
    if start < len(text) or not out:
        out.append(text[start:])
    return out
