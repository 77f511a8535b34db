"""Choose the prefix/suffix window: token budgets, line boundaries, boundaries that move in steps.

The window must not move on every keystroke: consecutive requests then share almost all prompt
tokens and the KV cache covers them. The prefix starts on a line whose number is a multiple of
`step` and stays there while it fits; the suffix keeps a whole number of `step`-line blocks after
the cursor's line, counted from the cursor, so pressing Enter does not shift it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Tokenize = Callable[[str], Sequence[int]]


@dataclass(frozen=True)
class Budget:
    """Token budgets for one prompt."""

    prefix: int
    suffix: int
    step: int = 16


@dataclass(frozen=True)
class Window:
    """What goes into the prompt, and where it was cut (to reuse as a hint next time)."""

    prefix: str
    suffix: str
    prefix_tokens: Sequence[int]
    suffix_tokens: Sequence[int]
    start_line: int  # first prefix line (0-based, counted in the text before the cursor)
    suffix_lines: int  # whole lines kept after the cursor's line


def budget_for(context_length: int, max_tokens: int, *, reserved: int = 8) -> Budget:
    """Split what the context leaves after generation: a quarter for the suffix, the rest prefix."""
    total = max(16, context_length - max_tokens - reserved)
    suffix = total // 4
    return Budget(prefix=total - suffix, suffix=suffix)


def _split_lines(text: str) -> list[str]:
    """Lines with their endings kept, so joining gives the text back exactly."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[-1].endswith(("\n", "\r")):
        lines.append("")
    return lines


SLACK = 0.125  # share of the prefix budget a newly chosen window leaves free for typing
MAX_CHARS_PER_TOKEN = 12  # no tokenizer packs more on average: skip tokenizing longer text


def _tail_lengths(lines: list[str]) -> list[int]:
    """Characters from each line to the end, to rule out windows too long to fit cheaply."""
    out = [0] * (len(lines) + 1)
    for i in range(len(lines) - 1, -1, -1):
        out[i] = out[i + 1] + len(lines[i])
    return out


def _largest_fitting(candidates: Sequence[int], fits: Callable[[int], bool]) -> int | None:
    """Binary search over candidates ordered so that `fits` goes True..True False..False."""
    lo, hi, best = 0, len(candidates) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if fits(candidates[mid]):
            best, lo = candidates[mid], mid + 1
        else:
            hi = mid - 1
    return best


class _Counter:
    """Tokenize each candidate text once."""

    def __init__(self, tokenize: Tokenize) -> None:
        self.tokenize = tokenize
        self.seen: dict[str, Sequence[int]] = {}

    def __call__(self, text: str) -> Sequence[int]:
        if text not in self.seen:
            self.seen[text] = self.tokenize(text)
        return self.seen[text]


def _prefix_start(
    lines: list[str], budget: int, step: int, count: _Counter, hint: int | None
) -> int:
    """First prefix line: keep the hint while it fits and fills half the budget, else search
    for the longest window that leaves SLACK of the budget free, so typing does not move it
    again soon (each move costs a KV shift)."""
    last = len(lines) - 1

    def fits(start: int, limit: int = budget) -> bool:
        return len(count("".join(lines[start:]))) <= limit

    if hint is not None and hint % step == 0 and hint <= last and fits(hint):
        filled = len(count("".join(lines[hint:])))
        if hint == 0 or filled * 2 >= budget:
            return hint
    tail_chars = _tail_lengths(lines)
    starts = [s for s in range(0, last + 1, step) if tail_chars[s] <= budget * MAX_CHARS_PER_TOKEN]
    # Descending starts: smaller windows fit; we want the smallest start that fits.
    roomy = budget - int(budget * SLACK)
    found = _largest_fitting(starts[::-1], lambda s: fits(s, roomy))
    return found if found is not None else last


def _suffix_lines(
    rest: str, lines: list[str], budget: int, step: int, count: _Counter, hint: int | None
) -> int:
    """Whole lines after the cursor's line: all of them if they fit, else a multiple of step."""

    def fits(n: int) -> bool:
        return len(count(rest + "".join(lines[:n]))) <= budget

    limit = budget * MAX_CHARS_PER_TOKEN  # longer text cannot fit: never tokenize it
    if len(rest) + sum(map(len, lines)) <= limit and fits(len(lines)):
        return len(lines)
    if hint is not None and hint % step == 0 and hint < len(lines) and fits(hint):
        filled = len(count(rest + "".join(lines[:hint])))
        if filled * 2 >= budget:
            return hint
    total, candidates = len(rest), []
    for n in range(0, len(lines) + 1):
        if n % step == 0:
            candidates.append(n)
        if n < len(lines):
            total += len(lines[n])
        if total > limit:
            break
    found = _largest_fitting(candidates, fits)
    return found or 0


def _tail_fit(text: str, budget: int, count: _Counter) -> str:
    """Last resort for one huge line: keep its end, cut by characters."""
    keep = max(1, budget)
    while keep > 0 and len(count(text[-keep:])) > budget:
        keep //= 2
    return text[-keep:] if keep else ""


def _head_fit(text: str, budget: int, count: _Counter) -> str:
    """Last resort for a huge rest-of-line after the cursor: keep its start."""
    keep = max(1, budget)
    while keep > 0 and len(count(text[:keep])) > budget:
        keep //= 2
    return text[:keep] if keep else ""


def choose_window(
    prefix: str,
    suffix: str,
    tokenize: Tokenize,
    budget: Budget,
    *,
    hint: tuple[int, int] | None = None,
) -> Window:
    """Cut prefix and suffix to their budgets at line boundaries, nearest text kept."""
    count = _Counter(tokenize)
    first_nl = suffix.find("\n")
    rest, after = (suffix, "") if first_nl < 0 else (suffix[: first_nl + 1], suffix[first_nl + 1 :])
    after_lines = after.splitlines(keepends=True)
    if len(count(rest)) > budget.suffix:
        rest, after_lines = _head_fit(rest, budget.suffix, count), []
    n_after = _suffix_lines(
        rest, after_lines, budget.suffix, budget.step, count, hint[1] if hint else None
    )
    suffix_text = rest + "".join(after_lines[:n_after])
    suffix_tokens = count(suffix_text)
    # The suffix is stable while typing, so giving its leftover to the prefix stays stable too.
    prefix_budget = budget.prefix + budget.suffix - len(suffix_tokens)
    lines = _split_lines(prefix)
    start = _prefix_start(lines, prefix_budget, budget.step, count, hint[0] if hint else None)
    prefix_text = "".join(lines[start:])
    if len(count(prefix_text)) > prefix_budget:
        prefix_text = _tail_fit(prefix_text, prefix_budget, count)
    return Window(
        prefix=prefix_text,
        suffix=suffix_text,
        prefix_tokens=count(prefix_text),
        suffix_tokens=suffix_tokens,
        start_line=start,
        suffix_lines=n_after,
    )


COLD_MIN_TOKENS = 512  # below this a cold window saves little time (fixed costs) and loses context
GEN_ESTIMATE_TOKENS = 16  # what the latency target reserves for generating a first line


def cold_tokens(speed: dict[str, float], target_ms: float) -> int:
    """Prompt tokens that can be evaluated from scratch within the latency target, leaving time
    to generate a first line: the largest n with n * (a + b * n) ms within the budget."""
    gen_ms = GEN_ESTIMATE_TOKENS * 1000 / max(speed["gen_tps"], 1e-3)
    budget_ms = max(0.0, target_ms - gen_ms)
    a = speed.get("prompt_ms_per_token") or 1000 / max(speed["prompt_tps"], 1e-3)
    b = speed.get("prompt_ms_per_token2") or 0.0
    n = budget_ms / a if b <= 0 else (math.sqrt(a * a + 4 * b * budget_ms) - a) / (2 * b)
    return max(COLD_MIN_TOKENS, int(n))
