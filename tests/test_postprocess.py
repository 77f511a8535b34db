"""Post-processing of raw infills: the golden table plus direct tests of the small helpers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from lsp_server.postprocess import rules as pp
from lsp_server.postprocess.rules import Suggestion, postprocess

GOLDEN_PATH = Path(__file__).parent / "golden" / "postprocess.json"
GOLDEN: list[dict[str, Any]] = json.loads(GOLDEN_PATH.read_text(encoding="utf-8"))


def test_golden_table_is_well_formed() -> None:
    names = [case["name"] for case in GOLDEN]
    assert len(names) == len(set(names)), "golden case names must be unique"
    assert len(GOLDEN) >= 30
    allowed = {"name", "note", "prefix", "suffix", "raw", "expected", "stop_texts", "stop_reason",
               "language"}  # fmt: skip
    for case in GOLDEN:
        assert set(case) <= allowed, case["name"]
        assert {"name", "prefix", "suffix", "raw", "expected"} <= set(case), case["name"]


def options(case: dict[str, Any]) -> dict[str, Any]:
    """A golden case's keyword arguments: stop texts, and the stop reason and language."""
    return {
        "stop_texts": case.get("stop_texts", ()),
        "stop_reason": case.get("stop_reason", ""),
        "language": case.get("language", ""),
    }


@pytest.mark.parametrize("case", GOLDEN, ids=[case["name"] for case in GOLDEN])
def test_golden(case: dict[str, Any]) -> None:
    expected = case["expected"]
    got = postprocess(case["prefix"], case["suffix"], case["raw"], **options(case))
    if expected is None:
        assert got is None
    else:
        assert got == Suggestion(expected["text"], expected["replace_chars"])


@pytest.mark.parametrize(
    "case",
    [case for case in GOLDEN if case["expected"] is not None],
    ids=[case["name"] for case in GOLDEN if case["expected"] is not None],
)
def test_golden_result_never_doubles_closers_or_leaks(case: dict[str, Any]) -> None:
    """Applying the suggestion keeps the text after the replaced range and adds no marker."""
    got = postprocess(case["prefix"], case["suffix"], case["raw"], **options(case))
    assert got is not None
    rest = pp.rest_of_line(case["suffix"])
    assert 0 <= got.replace_chars <= len(rest)
    for marker in (*pp.CONTROL_MARKERS, *case.get("stop_texts", ())):
        if marker.strip():
            assert marker not in got.text
    if "\r\n" in case["prefix"] + case["suffix"]:
        assert "\n" not in got.text.replace("\r\n", "")
    else:
        assert "\r" not in got.text


def test_suggestion_defaults_and_is_frozen() -> None:
    suggestion = Suggestion("x")
    assert suggestion.replace_chars == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        suggestion.text = "y"  # type: ignore[misc]


def test_every_fim_family_marker_is_cut_without_stop_texts() -> None:
    from lsp_server.prompt.fim import ALL_MARKER_TEXTS

    for marker in ALL_MARKER_TEXTS:
        assert pp.cut_at_stop(f"keep{marker}drop") == "keep", marker


@pytest.mark.parametrize(
    ("raw", "stops", "expected"),
    [
        ("abc", (), "abc"),
        ("a<[fim-middle]>b<|endoftext|>", (), "a"),
        ("a<|endoftext|>b<[fim-middle]>", (), "a"),
        ("ab<STOP>c", ("<STOP>",), "ab"),
        ("ab", ("",), "ab"),
        ("a [MIDDLE] b", (), "a "),
        ("x <PRE> y", (), "x"),
    ],
)
def test_cut_at_stop(raw: str, stops: tuple[str, ...], expected: str) -> None:
    assert pp.cut_at_stop(raw, stops) == expected


def test_line_helpers() -> None:
    assert pp.to_lf("a\r\nb\rc\n") == "a\nb\nc\n"
    assert pp.detect_eol("a\r\nb", "") == "\r\n"
    assert pp.detect_eol("a", "b\r\n") == "\r\n"
    assert pp.detect_eol("a\nb", "c\n") == "\n"
    assert pp.current_line_prefix("x\r\n    y") == "    y"
    assert pp.current_line_prefix("") == ""
    assert pp.rest_of_line(")\r\nz") == ")"
    assert pp.rest_of_line("abc") == "abc"
    assert pp.next_nonblank_line("rest\n\n  \r\n  next\r\nlast") == "  next"
    assert pp.next_nonblank_line("only this line") is None
    assert pp.next_nonblank_line("x\n\n   \n") is None
    assert pp.first_line("a\nb") == "a"


def test_indentation_helpers() -> None:
    assert pp.indent_width("\tx") == 4
    assert pp.indent_width("  \tx") == 4
    assert pp.indent_width("    ") == 4
    assert pp.indent_width("x") == 0
    assert pp.leading_whitespace(" \t x ") == " \t "
    assert pp.opens_block("def f():  ")
    assert pp.opens_block("if (a) {")
    assert not pp.opens_block("x = 1")
    assert pp.same_line("  return x", "  return x  ")
    assert not pp.same_line("return x", "  return x")
    assert not pp.same_line("  ", "  ")


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        (")", True),
        ("):", True),
        ("});", True),
        ('")', True),
        (" ] ", True),
        (">;", True),
        ("", False),
        ("   ", False),
        ("x)", False),
        (") {", False),
    ],
)
def test_is_auto_closed(rest: str, expected: bool) -> None:
    assert pp.is_auto_closed(rest) is expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [("}", True), ("  });", True), ("],", True), ("} else {", False), ("", False), (";", False)],
)
def test_is_block_closer_line(line: str, expected: bool) -> None:
    assert pp.is_block_closer_line(line) is expected


@pytest.mark.parametrize(
    ("text", "rest", "expected"),
    [
        ("a, b)", ")", 1),
        ("a, b", ")", 0),
        ("f(x)", ")", 0),
        ("x) -> int:", "):", 2),
        ("x:", "):", 0),
        ('a")', '")', 2),
        ("it's\"", '"', 1),
        ('\\"', '"', 0),
        ("'(' + x)", ")", 1),
        ("a }", " }", 2),
        ("\n  f();\n}", "});", 1),
    ],
)
def test_consumed_closers(text: str, rest: str, expected: int) -> None:
    assert pp.consumed_closers(text, rest) == expected


@pytest.mark.parametrize(
    ("text", "rest", "expected"),
    [("x, y)", "y)", "x, "), ("ab", "b + 1", "a"), ("a ", " b", "a "), ("abc", "", "abc")],
)
def test_trim_suffix_overlap(text: str, rest: str, expected: str) -> None:
    assert pp.trim_suffix_overlap(text, rest) == expected


@pytest.mark.parametrize(
    ("line", "below", "expected"),
    [
        ("}", None, True),
        ("  }", "}", True),
        ("}", "}", False),
        ("}", "foo();", True),
        ("}", "  x();", False),
    ],
)
def test_closer_needed(line: str, below: str | None, expected: bool) -> None:
    assert pp.closer_needed(line, below) is expected


def test_limit_to_block_strict_after_opener() -> None:
    text = "\n    body()\nsibling()"
    assert pp.limit_to_block("if x:", text, None, closers=False) == "\n    body()"
    assert pp.limit_to_block("x = 1", "\ny = 2\n  z", None, closers=False) == "\ny = 2\n  z"


def test_merge_closers() -> None:
    assert pp.merge_closers("foo(", "a", ")") == "a)"
    assert pp.merge_closers("foo(", "a)", ")") == "a)"
    assert pp.merge_closers("  x = [", "\n    1,", "]") == "\n    1,\n  ]"
    assert pp.merge_closers("", "b,", ")", "\nc") == "b,\n)"
    assert pp.merge_closers("f(", "b,", ")", "\nc") == "b,)"
