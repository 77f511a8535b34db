"""choose_window with fake tokenizers: budgets, line boundaries, stable boundaries, hints."""

from __future__ import annotations

import re

import pytest

from lsp_server.prompt.window import SLACK, Budget, budget_for, choose_window


def per_char(text: str) -> list[int]:
    """One token per character."""
    return [ord(c) for c in text]


def per_word(text: str) -> list[str]:
    """One token per word, run of spaces, newline or punctuation mark."""
    return re.findall(r"\n|[ \t]+|\w+|[^\w\s]", text)


class Recorder:
    """A tokenizer that remembers what it was asked to tokenize."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, text: str) -> list[int]:
        self.calls.append(text)
        return per_char(text)


# 16 characters per line, so character budgets translate into line counts exactly.
LINES = [f"value_{i:03} = {i:03}\n" for i in range(300)]
BEFORE = "".join(LINES[:200])  # the cursor sits on line 200
AFTER = "".join(LINES[201:])


def test_budget_for() -> None:
    assert budget_for(4096, 128) == Budget(prefix=2970, suffix=990, step=16)
    assert budget_for(100, 500) == Budget(prefix=12, suffix=4)  # never below 16 in total


def test_empty_prefix_and_suffix() -> None:
    w = choose_window("", "", per_char, Budget(100, 50))
    assert (w.prefix, w.suffix, list(w.prefix_tokens), list(w.suffix_tokens)) == ("", "", [], [])
    assert (w.start_line, w.suffix_lines) == (0, 0)
    w = choose_window("", "x\ny\n", per_char, Budget(100, 50))
    assert (w.prefix, w.suffix, w.start_line, w.suffix_lines) == ("", "x\ny\n", 0, 1)
    w = choose_window("a\nb", "", per_char, Budget(100, 50))
    assert (w.prefix, w.suffix, w.start_line, w.suffix_lines) == ("a\nb", "", 0, 0)


def test_everything_fits() -> None:
    w = choose_window(BEFORE[:160] + "    ", "\n" + AFTER[:160], per_char, Budget(1000, 500))
    assert w.prefix == BEFORE[:160] + "    "
    assert w.suffix == "\n" + AFTER[:160]
    assert (w.start_line, w.suffix_lines) == (0, 10)
    assert list(w.prefix_tokens) == per_char(w.prefix)
    assert list(w.suffix_tokens) == per_char(w.suffix)


def test_budgets_respected_and_cut_at_lines_nearest_kept() -> None:
    prefix, suffix = BEFORE + "    x = ", "y\n" + AFTER
    budget = Budget(prefix=625, suffix=300, step=16)
    w = choose_window(prefix, suffix, per_char, budget)
    # suffix: "y\n" (2) + 16 whole lines (256) = 258 <= 300; 32 lines would not fit
    assert w.suffix == "y\n" + "".join(LINES[201:217])
    assert w.suffix_lines == 16
    # prefix gets the suffix's leftover: 625 + 300 - 258 = 667, of which a new window fills at
    # most 7/8 (584, leaving room to type): (200 - s) * 16 + 8 <= 584 -> s >= 164 -> 176
    assert w.start_line == 176
    assert w.prefix == "".join(LINES[176:200]) + "    x = "
    assert len(w.prefix_tokens) == 392
    assert len(w.prefix_tokens) + len(w.suffix_tokens) <= budget.prefix + budget.suffix
    assert prefix.endswith(w.prefix) and suffix.startswith(w.suffix)


@pytest.mark.parametrize("prefix_budget", [50, 100, 333, 700, 2000])
@pytest.mark.parametrize("suffix_budget", [10, 60, 300])
def test_budgets_in_words(prefix_budget: int, suffix_budget: int) -> None:
    prefix, suffix = BEFORE + "    total = ", "compute(x)\n" + AFTER
    budget = Budget(prefix_budget, suffix_budget, step=4)
    w = choose_window(prefix, suffix, per_word, budget)
    assert len(w.suffix_tokens) <= suffix_budget
    assert len(w.prefix_tokens) + len(w.suffix_tokens) <= prefix_budget + suffix_budget
    assert prefix.endswith(w.prefix) and suffix.startswith(w.suffix)
    # cut at line boundaries: the prefix starts a line, the suffix ends one (or the rest-of-line)
    start = len(prefix) - len(w.prefix)
    assert start == 0 or prefix[start - 1] == "\n"
    assert w.suffix.endswith("\n")
    assert w.start_line % 4 == 0 and w.suffix_lines % 4 == 0
    # the largest window that leaves SLACK free: one more block of lines would not
    lines = prefix.splitlines(keepends=True)
    if w.start_line >= 4:
        wider = "".join(lines[w.start_line - 4 :])
        room = prefix_budget + suffix_budget - len(w.suffix_tokens)
        assert len(per_word(wider)) > room - int(room * SLACK)
    more = "compute(x)\n" + "".join(LINES[201 : 201 + w.suffix_lines + 4])
    assert len(per_word(more)) > suffix_budget


def test_window_start_stable_while_typing() -> None:
    budget = Budget(prefix=625, suffix=300, step=16)
    suffix = "\n" + AFTER
    hint = None
    windows = []
    typed = ""
    for k in range(301):  # the empty line, then 300 keystrokes
        w = choose_window(BEFORE + "    " + typed, suffix, per_char, budget, hint=hint)
        windows.append(w)
        hint = (w.start_line, w.suffix_lines)
        typed += "abcdefghij"[k % 10]
    starts = [w.start_line for w in windows]
    # A new window fills at most 584 of the prefix's 667 tokens: line 176 (24 lines, 388 tokens
    # with the indent). It stays while it fits: 281 typed make 669 > 667, and the new window
    # again leaves room: (200 - s) * 16 + 4 + 281 <= 584 -> s = 192.
    assert sorted(set(starts)) == [176, 192]
    assert starts == [176] * 281 + [192] * 20
    assert all((b - a) % budget.step == 0 for a, b in zip(starts, starts[1:]))
    # while the start stays, each prompt's prefix extends the previous one (KV cache reuse)
    for old, new in zip(windows, windows[1:]):
        if old.start_line == new.start_line:
            assert new.prefix.startswith(old.prefix)
    # the suffix never changes while typing on the cursor line
    assert {w.suffix for w in windows} == {windows[0].suffix}
    assert {w.suffix_lines for w in windows} == {16}


def test_backspace_keeps_start_with_hint() -> None:
    budget = Budget(prefix=625, suffix=300, step=16)
    suffix = "\n" + AFTER
    texts = ["x" * n for n in list(range(301)) + list(range(299, -1, -1))]  # type, erase 300
    with_hint, without, hint = [], [], None
    for typed in texts:
        w = choose_window(BEFORE + "    " + typed, suffix, per_char, budget, hint=hint)
        hint = (w.start_line, w.suffix_lines)
        with_hint.append(w.start_line)
        without.append(choose_window(BEFORE + "    " + typed, suffix, per_char, budget).start_line)
    # moves once and stays until the window is under half full (132 + 201 < 667 / 2)
    assert with_hint == [176] * 281 + [192] * 122 + [176] * 198
    assert without == [176] * 198 + [192] * 205 + [176] * 198  # a fresh search jumps back


def test_enter_does_not_change_suffix() -> None:
    budget = Budget(prefix=625, suffix=300, step=16)
    before, suffix = BEFORE + "    x = f(a,", " b)\n" + AFTER
    w0 = choose_window(before, suffix, per_char, budget)
    w1 = choose_window(before + "\n", suffix, per_char, budget, hint=(w0.start_line, 16))
    w2 = choose_window(before + "\n          ", suffix, per_char, budget)
    assert w0.suffix == w1.suffix == w2.suffix == " b)\n" + "".join(LINES[201:217])
    assert w0.suffix_lines == w1.suffix_lines == w2.suffix_lines == 16
    assert list(w0.suffix_tokens) == list(w2.suffix_tokens)


def test_huge_single_line_prefix_cut_by_characters() -> None:
    line = "".join(chr(ord("a") + i % 26) for i in range(10_000))
    w = choose_window(line, "", per_char, Budget(100, 50))
    assert w.prefix == line[-150:]  # the suffix is empty: its budget goes to the prefix
    assert w.start_line == 0 and w.suffix == ""
    w = choose_window("import os\n" + line, ")\n", per_char, Budget(100, 50))
    assert w.prefix == line[-148:]
    assert w.suffix == ")\n"


def test_huge_rest_of_line_suffix_cut_by_characters() -> None:
    rest = "".join(chr(ord("a") + i % 26) for i in range(10_000))
    w = choose_window("x = ", rest + "\nmore\n", per_char, Budget(100, 50))
    assert w.suffix == rest[:50]
    assert w.suffix_lines == 0
    assert w.prefix == "x = "


def test_huge_line_in_words_is_cut_to_budget() -> None:
    line = " ".join(f"w{i}" for i in range(5000))
    w = choose_window(line, "", per_word, Budget(100, 20))
    assert len(w.prefix_tokens) <= 120
    # the character cut keeps `budget` characters (at least one character per token)
    assert w.prefix == line[-120:]
    assert len(w.prefix_tokens) == 40  # 20 " wNNNN" pieces of 2 tokens: a third of the budget


def test_hint_reuse_tokenizes_prefix_once() -> None:
    budget = Budget(prefix=625, suffix=300, step=16)
    prefix, suffix = BEFORE + "    ", "\n" + AFTER
    fresh = Recorder()
    w = choose_window(prefix, suffix, fresh, budget)
    hinted = Recorder()
    w2 = choose_window(prefix, suffix, hinted, budget, hint=(w.start_line, w.suffix_lines))
    assert w2 == w
    prefix_calls = [t for t in hinted.calls if t.endswith("    ")]
    assert prefix_calls == ["".join(LINES[176:200]) + "    "]
    assert len([t for t in fresh.calls if t.endswith("    ")]) > 1  # a search without the hint
    assert len(hinted.calls) < len(fresh.calls)


@pytest.mark.parametrize("hint", [(7, 16), (0, 5), (400, 16), (144, 400), (192, 0)])
def test_bad_or_stale_hints_are_ignored(hint: tuple[int, int]) -> None:
    budget = Budget(prefix=625, suffix=300, step=16)
    prefix, suffix = BEFORE + "    ", "\n" + AFTER
    expected = choose_window(prefix, suffix, per_char, budget)
    assert (expected.start_line, expected.suffix_lines) == (176, 16)
    # not a multiple of step, past the end, too big to fit, or too small (under half full)
    assert choose_window(prefix, suffix, per_char, budget, hint=hint) == expected


def test_text_too_long_to_fit_is_never_tokenized() -> None:
    """A 20,000-line file: the tokenizer only sees text that could fit the budget (the remote
    engine pays an HTTP request per block it sees)."""
    from lsp_server.prompt.window import MAX_CHARS_PER_TOKEN

    seen: list[int] = []

    def tokenize(text: str) -> list[int]:
        seen.append(len(text))
        return list(text.encode())

    lines = "".join(f"line {i} = {i}\n" for i in range(20_000))
    budget = Budget(prefix=300, suffix=100)
    choose_window(lines, "\n" + lines, tokenize, budget)
    assert max(seen) <= (budget.prefix + budget.suffix) * MAX_CHARS_PER_TOKEN
