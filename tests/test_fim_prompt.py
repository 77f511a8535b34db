"""Exact FIM prompt tokens from a real llama.cpp vocabulary, and template detection.

Tiny-model ids: 0 BOS, 1 PAD, 2 EOS, 3 <[fim-prefix]>, 4 <[fim-suffix]>, 5 <[fim-middle]>, then
byte b is id 6 + b (3 + b for the model without FIM tokens).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lsp_server.prompt import fim
from lsp_server.prompt.fim import (
    TEMPLATES,
    TEMPLATES_BY_NAME,
    FimIds,
    assemble,
    detect,
    split_markers,
)

PRE, SUF, MID, BOS = 3, 4, 5, 0


def b(text: str, offset: int = 6) -> list[int]:
    """Byte-token ids of text in the tiny vocabulary."""
    return [offset + x for x in text.encode("utf-8")]


def spm(prefix: str, suffix: str) -> list[int]:
    """Seed-Coder layout: <[fim-suffix]>SUFFIX<[fim-prefix]>PREFIX<[fim-middle]>."""
    return [SUF, *b(suffix), PRE, *b(prefix), MID]


def prompt(runner, prefix: str, suffix: str, max_tokens: int = 16) -> list[int]:
    return runner.prompt_for({"prefix": prefix, "suffix": suffix, "max_tokens": max_tokens})[0]


# -- real vocabulary ---------------------------------------------------------------------------
def test_known_document_hand_computed(make_runner, tiny_model: Path) -> None:
    runner = make_runner(tiny_model)
    # "def f():\n    " | "\n"; d=100 e=101 f=102 ' '=32 '('=40 ')'=41 ':'=58 '\n'=10
    expected = [4, 16, 3, 106, 107, 108, 38, 108, 46, 47, 64, 16, 38, 38, 38, 38, 5]
    assert prompt(runner, "def f():\n    ", "\n") == expected
    assert runner.fim.template.name == "seed-coder"
    assert runner.fim.ids() == (3, 4, 5)
    assert runner.bos is None
    assert runner.warnings == []


def test_window_hint_returned(make_runner, tiny_model: Path) -> None:
    runner = make_runner(tiny_model)
    tokens, window = runner.prompt_for({"prefix": "a\nb", "suffix": "c\nd\ne\n", "max_tokens": 16})
    assert tokens == spm("a\nb", "c\nd\ne\n")
    assert window == (0, 2)  # prefix from line 0; both whole lines after the cursor's line


@pytest.mark.parametrize("model", ["tiny_model", "userdef_model"])
def test_marker_text_in_document_stays_bytes(make_runner, request, model: str) -> None:
    runner = make_runner(request.getfixturevalue(model))
    prefix = 'x = "<[fim-middle]>"\n# <[fim-prefix]><[fim-suffix]> [PREFIX] <fim_middle>\n'
    suffix = "<[fim-suffix]>\n<[fim-middle]>y\n"
    tokens = prompt(runner, prefix, suffix)
    assert tokens == spm(prefix, suffix)
    # The only marker ids are the three the layout puts there.
    body = tokens[1 : len(b(suffix)) + 1] + tokens[len(b(suffix)) + 2 : -1]
    assert not {PRE, SUF, MID} & set(body)
    assert [i for i, t in enumerate(tokens) if t in (PRE, SUF, MID)] == [
        0,
        len(b(suffix)) + 1,
        len(tokens) - 1,
    ]


def test_userdef_model_is_the_worst_case(make_runner, userdef_model: Path) -> None:
    """Raw llama.cpp tokenization matches a USER_DEFINED mark even with special parsing off."""
    runner = make_runner(userdef_model)
    raw = runner.llm.tokenize(b"a<[fim-middle]>b", add_bos=False, special=False)
    assert raw == [b("a")[0], MID, b("b")[0]]
    assert runner.tokenize("a<[fim-middle]>b") == b("a<[fim-middle]>b")
    assert runner.fim.template.name == "seed-coder"


def test_multibyte_before_cursor(make_runner, tiny_model: Path) -> None:
    runner = make_runner(tiny_model)
    prefix, suffix = "s = 'é😀", "'\n"
    tokens = prompt(runner, prefix, suffix)
    # é = C3 A9, 😀 = F0 9F 98 80
    assert tokens == [4, 6 + 0x27, 16, 3, *b("s = '"), 6 + 0xC3, 6 + 0xA9,
                      6 + 0xF0, 6 + 0x9F, 6 + 0x98, 6 + 0x80, 5]  # fmt: skip
    assert tokens == spm(prefix, suffix)


def test_crlf_kept(make_runner, tiny_model: Path) -> None:
    runner = make_runner(tiny_model)
    prefix, suffix = "a = 1\r\nb = ", "2\r\nc = 3\r\n"
    tokens = prompt(runner, prefix, suffix)
    assert tokens == spm(prefix, suffix)
    assert tokens[1:5] == [6 + ord("2"), 6 + 13, 6 + 10, 6 + ord("c")]
    assert tokens.count(6 + 13) == 3 and tokens.count(6 + 10) == 3


def test_empty_file(make_runner, tiny_model: Path) -> None:
    assert prompt(make_runner(tiny_model), "", "") == [4, 3, 5]


def test_cursor_at_end_of_file(make_runner, tiny_model: Path) -> None:
    doc = "import os\n\nprint(os.getcwd())\n"
    assert prompt(make_runner(tiny_model), doc, "") == [4, 3, *b(doc), 5]


def test_cursor_at_start_of_file(make_runner, tiny_model: Path) -> None:
    doc = "x = 1\n"
    assert prompt(make_runner(tiny_model), "", doc) == [4, *b(doc), 3, 5]


def test_bos_only_with_bos_model(make_runner, tiny_model: Path, bos_model: Path) -> None:
    with_bos = make_runner(bos_model)
    assert with_bos.bos == BOS
    assert prompt(with_bos, "ab", "c") == [BOS, 4, *b("c"), 3, *b("ab"), 5]
    without = make_runner(tiny_model)
    tokens = prompt(without, "ab", "c")
    assert tokens == [4, *b("c"), 3, *b("ab"), 5]
    assert BOS not in tokens


def test_no_fim_model_prefix_only(make_runner, nofim_model: Path) -> None:
    runner = make_runner(nofim_model)
    assert runner.fim is None
    # ids shift by 3: no FIM tokens before the bytes; the suffix is left out entirely
    assert prompt(runner, "def f():\n    ", "\nprint(f())\n") == b("def f():\n    ", 3)
    assert prompt(runner, "ab", "cd") == [3 + 97, 3 + 98]
    assert len(runner.warnings) == 1
    assert "no fill-in-the-middle tokens" in runner.warnings[0]


def test_long_document_windowed_at_line_boundary(make_runner, tiny_model: Path) -> None:
    runner = make_runner(tiny_model)  # n_ctx 512
    lines = [f"line {i:02}\n" for i in range(100)]  # 8 bytes each
    prefix, suffix = "".join(lines) + "    ", "\n"
    tokens, window = runner.prompt_for({"prefix": prefix, "suffix": suffix, "max_tokens": 16})
    # budget: 512 - 16 - 8 = 488 -> suffix 122, prefix 366; the 1-token suffix leaves 487.
    # (100 - s) * 8 + 4 <= 487 -> s >= 39.6; starts move in steps of 16 -> line 48.
    assert window == (48, 0)
    assert tokens == spm("".join(lines[48:]) + "    ", suffix)
    assert len(tokens) == 3 + 52 * 8 + 4 + 1


def test_forced_template_that_does_not_fit(make_runner, tiny_model: Path) -> None:
    runner = make_runner(tiny_model, fim_template="qwen")
    assert runner.fim.template.name == "seed-coder"
    assert len(runner.warnings) == 1
    assert "'qwen' does not fit" in runner.warnings[0]
    assert "using seed-coder" in runner.warnings[0]
    assert prompt(runner, "a", "b") == spm("a", "b")


def test_forced_template_that_fits(make_runner, tiny_model: Path) -> None:
    runner = make_runner(tiny_model, fim_template="seed-coder")
    assert runner.warnings == []
    assert runner.fim.ids() == (3, 4, 5)


# -- detection with fake vocabularies ----------------------------------------------------------
def fake_lookup(*templates: str, start: int = 100):
    """A vocabulary holding every marker of the named templates as single tokens."""
    vocab: dict[str, int] = {}
    for name in templates:
        for marker in TEMPLATES_BY_NAME[name].markers():
            vocab.setdefault(marker, start + len(vocab))
    return vocab.get


def test_templates_cover_the_expected_families() -> None:
    assert [t.name for t in TEMPLATES] == [
        "seed-coder",
        "qwen",
        "starcoder",
        "codellama",
        "deepseek",
        "codestral",
    ]


@pytest.mark.parametrize(
    ("name", "markers", "spm_order"),
    [
        ("seed-coder", ("<[fim-prefix]>", "<[fim-suffix]>", "<[fim-middle]>"), True),
        ("qwen", ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"), False),
        ("starcoder", ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"), False),
        ("codellama", ("<PRE>", "<SUF>", "<MID>"), False),
        ("deepseek", ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"), False),
        ("codestral", ("[PREFIX]", "[SUFFIX]"), True),
    ],
)
def test_detect_each_family(name: str, markers: tuple[str, ...], spm_order: bool) -> None:
    vocab = {m: 1000 + i for i, m in enumerate(markers)}
    vocab.update({"<|endoftext|>": 7, "hello": 8})  # unrelated tokens do not matter
    found, warning = detect(vocab.get)
    assert warning is None
    assert found is not None
    assert found.template.name == name
    assert found.template.spm is spm_order
    assert found.prefix == 1000 and found.suffix == 1001
    assert found.middle == (1002 if len(markers) == 3 else None)


def test_detect_needs_every_marker() -> None:
    vocab = {"<|fim_prefix|>": 1, "<|fim_suffix|>": 2}  # no middle
    assert detect(vocab.get) == (None, None)


def test_no_fim_is_none() -> None:
    assert detect({"<s>": 1, "</s>": 2}.get) == (None, None)
    assert detect(lambda _t: None) == (None, None)


def test_detect_prefers_seed_coder() -> None:
    found, warning = detect(fake_lookup("qwen", "seed-coder"))
    assert warning is None and found is not None
    assert found.template.name == "seed-coder"


def test_forced_template() -> None:
    found, warning = detect(fake_lookup("seed-coder", "starcoder"), "starcoder")
    assert warning is None and found is not None
    assert found.template.name == "starcoder"
    assert found.ids() == (103, 104, 105)


def test_forced_template_missing_falls_back() -> None:
    found, warning = detect(fake_lookup("seed-coder"), "codellama")
    assert found is not None and found.template.name == "seed-coder"
    assert warning == (
        "FIM template 'codellama' does not fit this model (no single token for "
        "<PRE>, <SUF>, <MID>); using seed-coder"
    )


def test_forced_template_on_no_fim_model() -> None:
    found, warning = detect(lambda _t: None, "qwen")
    assert found is None
    assert warning is not None and warning.endswith("using prefix-only completion")


def test_unknown_forced_template_detects() -> None:
    found, warning = detect(fake_lookup("qwen"), "nonsense")
    assert found is not None and found.template.name == "qwen"
    assert warning == "unknown FIM template 'nonsense'; detecting from the vocabulary"


# -- assembly and marker splitting -------------------------------------------------------------
def test_assemble_layouts() -> None:
    seed = FimIds(TEMPLATES_BY_NAME["seed-coder"], 3, 4, 5)
    qwen = FimIds(TEMPLATES_BY_NAME["qwen"], 30, 40, 50)
    codestral = FimIds(TEMPLATES_BY_NAME["codestral"], 300, 400, None)
    assert assemble(seed, [10, 11], [20], None) == [4, 20, 3, 10, 11, 5]
    assert assemble(seed, [10], [20], 0) == [0, 4, 20, 3, 10, 5]
    assert assemble(qwen, [10, 11], [20], None) == [30, 10, 11, 40, 20, 50]
    assert assemble(codestral, [10], [20], 1) == [1, 400, 20, 300, 10]
    assert assemble(None, [10, 11], [20], 1) == [1, 10, 11]
    assert assemble(None, [], [20], None) == []


def test_split_markers() -> None:
    text = "a<[fim-middle]>b<|fim_prefix|>c"
    pieces = split_markers(text, fim.ALL_MARKER_TEXTS)
    assert "".join(pieces) == text
    assert pieces == ["a", "<[fim-m", "iddle]>", "b", "<|fim_p", "refix|>", "c"]
    for piece in pieces:
        assert not any(m in piece for m in fim.ALL_MARKER_TEXTS)
    assert split_markers("plain", fim.ALL_MARKER_TEXTS) == ["plain"]
    assert split_markers("", fim.ALL_MARKER_TEXTS) == []


def test_markers_in_finds_only_present_marks_among_thousands() -> None:
    many = tuple(f"<[PLHD{i}]>" for i in range(1000)) + fim.ALL_MARKER_TEXTS
    text = "if a < b and c[1] > 2: <[PLHD7]> and <|fim_prefix|>\n"
    assert sorted(fim.markers_in(text, many)) == ["<[PLHD7]>", "<|fim_prefix|>"]
    assert fim.markers_in("x = [1, 2] < 3", many) == []
    assert not any("<[PLHD7]>" in piece for piece in split_markers(text, many))
