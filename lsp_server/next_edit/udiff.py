"""Unified diff hunks as Zed writes edit-history events: `@@ -a,b +c,d @@` (counts always
written, line numbers offset to the file's), 3 lines of context, hunks merged when their gap
is at most twice that. Port of zed `crates/language/src/text_diff.rs` (OffsetUnifiedDiffBuilder;
commit in zeta_v0318.py); Zed's own line diff is imara-diff's histogram, this uses difflib,
which finds the same lines for the small edits of an edit history."""

from __future__ import annotations

from difflib import SequenceMatcher

CONTEXT_LINES = 3


def _lines(text: str) -> list[str]:
    """Rust's str::lines(): split at \\n, drop one \\r before it, no empty last line."""
    out = text.split("\n")
    if out and out[-1] == "":
        out.pop()
    return [line[:-1] if line.endswith("\r") else line for line in out]


class _Builder:
    def __init__(self, before: list[str], after: list[str], old_start: int, new_start: int,
                 context: int) -> None:  # fmt: skip
        self.before, self.after = before, after
        self.old_start, self.new_start, self.context = old_start, new_start, context
        self.pos = self.before_start = self.after_start = 0
        self.before_len = self.after_len = 0
        self.buffer: list[str] = []
        self.out: list[str] = []

    def _print(self, lines: list[str], prefix: str) -> None:
        self.buffer += [f"{prefix}{line}\n" for line in lines]

    def _update(self, print_to: int, move_to: int) -> None:
        self._print(self.before[self.pos : print_to], " ")
        length = print_to - self.pos
        self.pos = move_to
        self.before_len += length
        self.after_len += length

    def flush(self) -> None:
        if not self.before_len and not self.after_len:
            return
        end = min(self.pos + self.context, len(self.before))
        self._update(end, end)
        self.out.append(
            f"@@ -{self.before_start + 1 + self.old_start},{self.before_len} "
            f"+{self.after_start + 1 + self.new_start},{self.after_len} @@\n"
        )
        self.out += self.buffer
        self.buffer = []
        self.before_len = self.after_len = 0

    def change(self, b0: int, b1: int, a0: int, a1: int) -> None:
        if b0 - self.pos > self.context * 2:
            self.flush()
        if not self.before_len and not self.after_len:
            self.pos = max(0, b0 - self.context)
            self.before_start = self.pos
            self.after_start = max(0, a0 - self.context)
        self._update(b0, b1)
        self.before_len += b1 - b0
        self.after_len += a1 - a0
        self._print(self.before[b0:b1], "-")
        self._print(self.after[a0:a1], "+")


def unified_diff(
    old: str, new: str, old_start_line: int = 0, new_start_line: int = 0,
    context: int = CONTEXT_LINES,
) -> str:  # fmt: skip
    """The hunks of old -> new; start lines are zero-based (the rows the texts start at)."""
    before, after = _lines(old), _lines(new)
    builder = _Builder(before, after, old_start_line, new_start_line, context)
    matcher = SequenceMatcher(None, before, after, autojunk=False)
    for tag, b0, b1, a0, a1 in matcher.get_opcodes():
        if tag != "equal":
            builder.change(b0, b1, a0, a1)
    builder.flush()
    return "".join(builder.out)
