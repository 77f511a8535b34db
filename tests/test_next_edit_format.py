"""Zeta 2.1's prompt (Zed's V0318SeedMultiRegions), byte for byte, on cases from Zed's own tests.

Zed has no test that asserts a whole V0318 prompt; these are its nearest goldens at
zed-industries/zed 7eec89207ccfbef7ba366da22fc885079a5c0296, crates/zeta_prompt/src/:
- zeta_prompt.rs `test_v0420_formats_diagnostics_before_related_files`: the same cursor section
  and assembler as V0318; V0318 has no diagnostics block (and we send no related files).
- zeta_prompt.rs `test_seed_coder_basic_format` / `test_seed_coder_truncation_drops_context`:
  the same Seed-Coder SPM assembler and edit-history block (V0211's cursor section replaced by
  V0318's markers, as `build_v0318_cursor_prefix` writes it).
- multi_region.rs `test_compute_marker_offsets_*` (V0316's 3/8-line limits and V0318's 6/16)
  and `test_apply_marker_span_v0316_*` (the same parser as V0318).
"""

from __future__ import annotations

import pytest

from lsp_server.next_edit import zeta_v0318 as z
from lsp_server.next_edit.output import Malformed, edit_from, new_region


def prompt(context: str, editable: tuple[int, int], cursor: int, events=(), budget=10000) -> str:
    built = z.assemble("test.rs", context, editable, cursor, list(events), budget)
    assert built is not None
    return built.text


def test_v0420_golden_without_diagnostics() -> None:
    assert prompt("prefix\neditable\nsuffix", (7, 15), 10) == (
        "<[fim-suffix]>\nsuffix\n"
        "<[fim-prefix]><filename>test.rs\n"
        "prefix\n"
        "<|marker_1|>edi<|user_cursor|>table<|marker_2|>\n"
        "<[fim-middle]>"
    )


def test_seed_coder_basic_golden_with_history() -> None:
    events = [z.Event("a.rs", "-old\n+new\n")]
    assert prompt("prefix\neditable\nsuffix", (7, 15), 10, events) == (
        "<[fim-suffix]>\nsuffix\n"
        "<[fim-prefix]><filename>edit_history\n"
        "--- a/a.rs\n+++ b/a.rs\n-old\n+new\n"
        "\n"
        "<filename>test.rs\n"
        "prefix\n"
        "<|marker_1|>edi<|user_cursor|>table<|marker_2|>\n"
        "<[fim-middle]>"
    )


def test_truncation_drops_history_then_refuses() -> None:
    """test_seed_coder_truncation_drops_context's budgets (24: no prompt; 40: no history)."""
    events = [z.Event("a.rs", "-x\n+y\n")]
    full = prompt("code", (0, 4), 2, events)
    assert full == (
        "<[fim-suffix]>\n<[fim-prefix]><filename>edit_history\n--- a/a.rs\n+++ b/a.rs\n-x\n+y\n"
        "\n<filename>test.rs\n<|marker_1|>co<|user_cursor|>de<|marker_2|>\n<[fim-middle]>"
    )
    assert z.assemble("test.rs", "code", (0, 4), 2, events, 24) is None
    assert prompt("code", (0, 4), 2, events, 40) == (
        "<[fim-suffix]>\n<[fim-prefix]><filename>test.rs\n"
        "<|marker_1|>co<|user_cursor|>de<|marker_2|>\n<[fim-middle]>"
    )


def test_at_most_six_events_newest_kept_oldest_first() -> None:
    events = [z.Event(f"e{i}.rs", f"-{i}\n+{i}{i}\n") for i in range(8)]
    text = prompt("x", (0, 1), 0, events)
    assert [line for line in text.split("\n") if line.startswith("--- a/")] == [
        f"--- a/e{i}.rs" for i in range(2, 8)
    ]


def test_accepted_prediction_and_paths() -> None:
    event = z.Event("proj/src/a.py", "@@ -1,1 +1,1 @@\n-a\n+b\n", predicted=True)
    text = prompt("x", (0, 1), 1, [event])
    assert "// User accepted prediction:\n--- a/proj/src/a.py\n+++ b/proj/src/a.py\n" in text


def test_multi_block_region_and_cursor_on_a_boundary() -> None:
    """Blocks split at a blank line 6+ lines in, with 6+ lines left (derived with Zed's rules:
    `def load` is too close to the start, `def main` to the end); a cursor exactly on a boundary
    ends the earlier block."""
    lines = [
        "import os", "", "def load(path):", "    with open(path) as f:",
        "        data = f.read()", "    return data", "", "def save(path, data):",
        '    with open(path, "w") as f:', "        f.write(data)", "", "def main():",
        '    d = load("a.txt")', '    save("b.txt", d)', '    print("done")',
    ]  # fmt: skip
    text = "\n".join(lines)
    offsets = z.marker_offsets(text)
    assert offsets == [0, text.index("def save"), len(text)]
    marked = z.text_of(z.editable_with_markers(text, text.index("def save")))
    assert marked.startswith("<|marker_1|>import os\n")
    assert "    return data\n\n<|user_cursor|><|marker_2|>def save(path, data):" in marked
    assert marked.endswith('    print("done")<|marker_3|>')


@pytest.mark.parametrize(
    ("text", "check"),
    [
        ("aaa\nbbb\nccc\n", lambda t, o: o == [0, len(t)]),
        ("aaa\nbbb\nccc\n\nddd\neee\nfff\n", lambda t, o: 13 in o and o[-1] == len(t)),
        ("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", lambda t, o: len(o) >= 3),
        ("a1\na2\na3\na4\na5\na6\na7\na8\n}\ncase 'x': {\nbody\n",
         lambda t, o: t.index("case 'x': {") in o),
        ("a1\na2\na3\na4\na5\na6\na7\na8\n}\n}\n}\n}\n}\ncase 'x': {\nbody\n",
         lambda t, o: t.index("case 'x': {") not in o),
        ("", lambda t, o: o == [0, 0]),
    ],
)  # fmt: skip
def test_marker_offsets_v0316_limits(text: str, check) -> None:  # type: ignore[no-untyped-def]
    assert check(text, z.marker_offsets(text, 3, 8))


def test_v0318_uses_larger_blocks_than_v0316() -> None:
    text = "l1\nl2\nl3\n\nl5\nl6\nl7\nl8\nl9\nl10\nl11\nl12\nl13\n"
    v0316, v0318 = z.marker_offsets(text, 3, 8), z.marker_offsets(text)
    assert len(v0318) < len(v0316) and v0318[0] == 0 and v0318[-1] == len(text)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("<|marker_1|>aaa\nBBB\nccc\n<|marker_2|>", "aaa\nBBB\nccc\n"),
        ("<|marker_1|><|marker_1|>", "aaa\nbbb\nccc\n"),
        ("<|marker_2|>ignored content<|marker_2|>", "aaa\nbbb\nccc\n"),
        ("<|marker_1|>aaa\nBBB\nccc<|marker_2|>", "aaa\nBBB\nccc"),  # byte exact
        ("<|marker_1|>aaa\nBBB\nccc\n<|marker_2|><[end\u2581of\u2581sentence]>", "aaa\nBBB\nccc\n"),
    ],
)
def test_apply_marker_span(output: str, expected: str) -> None:
    assert new_region("aaa\nbbb\nccc\n", output)[0] == expected


@pytest.mark.parametrize(
    "output",
    [
        "",
        "no markers",
        "<|marker_1|>only one",
        "<|marker_1|>x<|marker_9|>",
        "<|marker_0|>x<|marker_1|>",
    ],
)
def test_malformed_answers(output: str) -> None:
    with pytest.raises(Malformed):
        new_region("aaa\nbbb\nccc\n", output)


def test_the_edit_is_minimal_with_a_cursor_after_it() -> None:
    text = "def f(a, b):\n    return a + b\n\nprint(f(1))\n"
    editable = (0, len(text) - 1)
    answer = (
        "<|marker_1|>def f(a, b):\n    return a + b\n\nprint(f(1, 2<|user_cursor|>))<|marker_2|>"
    )
    edit = edit_from(text, editable, answer)
    assert edit is not None
    assert (edit.start, edit.end, edit.text) == (
        text.index("1))") + 1,
        text.index("1))") + 1,
        ", 2",
    )
    assert edit.cursor == text.index("1))") + 4
    assert edit_from(text, editable, "<|marker_1|><|marker_1|>") is None  # no edit
    same = "<|marker_1|>" + text[:-1] + "<|marker_2|>"
    assert edit_from(text, editable, same) is None  # changes nothing
    with pytest.raises(Malformed):  # template text left inside the new text: never shown
        edit_from(text, editable, "<|marker_1|>a<|user_cursor|>b<|user_cursor|><|marker_2|>")
    # intermediate markers are dropped, as Zed does (best effort on a non-consecutive sequence)
    loose = edit_from(text, editable, "<|marker_1|>x<|marker_3|>y<|marker_2|>")
    assert loose is not None and loose.text.startswith("xy")


def test_putting_back_what_was_just_deleted_is_no_edit() -> None:
    text = "x = compute()\n"
    answer = "<|marker_1|>x = compute(1)<|marker_2|>"
    assert edit_from(text, (0, 13), answer, undo_of=(12, "1")) is None
    assert edit_from(text, (0, 13), answer, undo_of=(3, "1")) is not None


def test_reserved_text() -> None:
    assert z.reserved_text_in("a <|marker_3|> b") == "<|marker_"
    assert z.reserved_text_in("x = '<|user_cursor|>'") == "<|user_cursor|>"
    assert z.reserved_text_in("plain code") is None


def test_a_history_larger_than_every_budget_is_left_out() -> None:
    """Events that cannot fit are dropped (newest first, up to the first that does not fit);
    the cursor's section is never cut, and a file too large for any prompt gives none."""
    huge = [z.Event("a.py", "+" + "x" * 20_000 + "\n")]
    text = prompt("prefix\neditable\nsuffix", (7, 15), 10, huge, budget=4096)
    assert "edit_history" not in text and "<|marker_1|>edi<|user_cursor|>table" in text
    small = z.Event("b.py", "-a\n+b\n")
    text = prompt("prefix\neditable\nsuffix", (7, 15), 10, [small, *huge], budget=4096)
    assert "edit_history" not in text  # the newest does not fit: nothing older is shown
    text = prompt("prefix\neditable\nsuffix", (7, 15), 10, [*huge, small], budget=4096)
    assert "--- a/b.py" in text and "x" * 100 not in text
    big = "y = 1\n" * 5000
    assert z.assemble("big.py", big, (0, 600), 3, []) is None
