"""settled(): the engine may stop generating once more text cannot change the suggestion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lsp_server.postprocess.rules import postprocess, settled
from tests.conftest import RunnerFactory
from tests.tiny_model import write_tiny_model

GOLDEN = json.loads((Path(__file__).parent / "golden" / "postprocess.json").read_text("utf-8"))


@pytest.mark.parametrize("case", GOLDEN, ids=[c["name"] for c in GOLDEN])
def test_stopping_where_settled_gives_the_same_suggestion(case: dict[str, Any]) -> None:
    """Every golden case, cut at every point where settled() says stop: same suggestion."""
    prefix, suffix, raw = case["prefix"], case["suffix"], case["raw"]
    stops, language = case.get("stop_texts", ()), case.get("language", "")
    reason = case.get("stop_reason", "")
    final = postprocess(
        prefix, suffix, raw, stop_texts=stops, stop_reason=reason, language=language
    )
    for end in range(1, len(raw) + 1):
        if settled(prefix, suffix, raw[:end], language):
            cut = raw[:end]
            got = postprocess(
                prefix, suffix, cut, stop_texts=stops, stop_reason="settled", language=language
            )
            assert got == final, end
            break


@pytest.mark.parametrize(
    ("prefix", "suffix", "raw", "expected"),
    [
        ("x = ", ")\n", "f(1", False),  # auto-closed rest: wait for the end
        ("x = ", "y\n", "1 +", False),
        ("x = ", "y\n", "1 +\n", True),  # mid-line: the first line is all that is kept
        ("def f():\n    ", "\n", "a = 1\n    b = 2", False),  # still inside the block
        ("def f():\n    ", "\n", "a = 1\nre", True),  # a dedented word ends the block
        ("if x {\n    ", "\n", "a()\n}", False),  # a closer might follow: "}" or "} else"
        ("if x {\n    ", "\n", "a()\n}\nfoo", True),  # the closer line is complete
        ("def f():\n    ", "\n", "a = 1", False),  # one line: anything may follow
    ],
)
def test_settled_cases(prefix: str, suffix: str, raw: str, expected: bool) -> None:
    assert settled(prefix, suffix, raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a = 1\nre", False),  # with a grammar a dedented line may still belong to the infill
        ("a = 1\nreturn a\n", False),
        ("a = 1\n    return total", False),  # re-typing the next line: not finished yet
        ("a = 1\n    return total\n", True),  # the document's next line re-typed: done
        ("a = 1\n\n    return total\nmore", True),
        ("a = 1\ndef h():\n    b = 2\n    c = 3\n    d", False),  # 3 lines past the block
        ("a = 1\ndef h():\n    b = 2\n    c = 3\n    d = 4\n", True),  # 4: a run-on
    ],
)
def test_settled_with_a_grammar_waits_for_the_suffix(raw: str, expected: bool) -> None:
    prefix, suffix = "def f():\n    ", "\n    return total\n"
    assert settled(prefix, suffix, raw, "python") is expected


def test_generation_stops_once_the_block_ended(make_runner: RunnerFactory, tmp_path: Path) -> None:
    """A model that writes past the block: the engine stops at the dedented line instead of
    generating on to the end, and the suggestion is the same."""
    model = write_tiny_model(tmp_path / "past.gguf", "a = 1\nprint(a)\nprint(a)\nprint(a)")
    runner = make_runner(model)
    runner.llm.reset()
    req = {"prefix": "def f():\n    ", "suffix": "\n", "max_tokens": 64}
    out = runner.generate(req, lambda: False, lambda: None, lambda t: None)
    assert out.stats.stop_reason == "settled"
    assert out.text.startswith("a = 1\nprint")
    assert postprocess(req["prefix"], "\n", out.text) == postprocess(
        req["prefix"], "\n", "a = 1\nprint(a)\nprint(a)\nprint(a)"
    )
    assert out.stats.generated_tokens < 6
