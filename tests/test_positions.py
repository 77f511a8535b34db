"""Position <-> offset conversion in every LSP encoding, including the end of a file."""

import pytest

from lsp_server.lsp.positions import UTF8, UTF16, UTF32, line_starts, offset_at, position_at

TEXT = "ab😀c\r\nxy\rz"  # CRLF, lone CR, an emoji outside the BMP, no final newline


def test_line_starts_split_only_at_lsp_line_endings() -> None:
    assert line_starts(TEXT) == (0, 6, 9)
    assert line_starts("a\x0cb\u2028c") == (0,)  # form feed and U+2028 are not LSP line breaks


@pytest.mark.parametrize(
    ("encoding", "character", "offset"),
    [(UTF16, 4, 3), (UTF16, 5, 4), (UTF8, 6, 3), (UTF8, 7, 4), (UTF32, 3, 3), (UTF32, 4, 4)],
)
def test_offset_after_emoji(encoding: str, character: int, offset: int) -> None:
    assert offset_at(TEXT, 0, character, encoding) == offset
    assert position_at(TEXT, offset, encoding) == (0, character)


@pytest.mark.parametrize(("encoding", "character"), [(UTF16, 3), (UTF8, 4), (UTF8, 5)])
def test_position_inside_a_character_is_rejected(encoding: str, character: int) -> None:
    assert offset_at(TEXT, 0, character, encoding) is None


def test_end_of_file_without_newline_is_on_the_last_line() -> None:
    assert offset_at(TEXT, 2, 1) == len(TEXT)
    assert position_at(TEXT, len(TEXT)) == (2, 1)
    assert offset_at("ab", 0, 2) == 2


def test_end_of_file_after_newline_is_a_new_empty_line() -> None:
    assert offset_at("a\n", 1, 0) == 2
    assert position_at("a\n", 2) == (1, 0)
    assert offset_at("a\n", 1, 1) is None


@pytest.mark.parametrize(("line", "character"), [(3, 0), (0, 6), (1, 3), (-1, 0), (0, -1)])
def test_outside_positions_are_rejected(line: int, character: int) -> None:
    assert offset_at(TEXT, line, character) is None


def test_empty_document() -> None:
    assert offset_at("", 0, 0) == 0
    assert offset_at("", 0, 1) is None
    assert position_at("", 0) == (0, 0)


def test_a_megabyte_single_line_takes_the_ascii_fast_path(monkeypatch) -> None:
    """Minified JS: one 1 MB line costs no walk over its characters per request."""
    from lsp_server.lsp import positions

    line = "a=1;" * 250_000
    text = line + "\n"
    calls: list[int] = []
    real = positions.units
    monkeypatch.setattr(
        positions, "units", lambda chars, enc: calls.append(len(chars)) or real(chars, enc)
    )
    for enc in (positions.UTF8, positions.UTF16):
        assert positions.offset_at(text, 0, 999_999, enc) == 999_999
        assert positions.position_at(text, 999_999, enc) == (0, 999_999)
    assert calls == []  # never counted unit by unit
    text = "é" + line + "\n"  # not ASCII: the exact walk, still right
    assert positions.offset_at(text, 0, 3, positions.UTF8) == 2


def test_line_starts_keeps_few_old_texts_alive() -> None:
    """Its cache holds texts as keys: after eight 1 MB versions only two may stay in memory."""
    import tracemalloc

    line_starts.cache_clear()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for i in range(8):
            text = f"{i}\n" + "x" * 1_000_000
            line_starts(text)
            offset_at(text, 1, 5)
        del text
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
        line_starts.cache_clear()
    assert held < 2.5e6, held
