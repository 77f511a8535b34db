"""The post-processing against a model-free oracle over real code (tests/oracle.py): masked
spans of standard-library functions, the true text fed as the model's output."""

from __future__ import annotations

from typing import Any

import pytest

from lsp_server.postprocess.rules import postprocess, settled
from tests.oracle import RUN_ON_CHARS, cases, rates


def with_grammar(prefix: str, suffix: str, raw: str, run_on: bool) -> Any:
    reason = "max_tokens" if run_on else "eos"
    return postprocess(prefix, suffix, raw, stop_reason=reason, language="python")


def indentation_only(prefix: str, suffix: str, raw: str, run_on: bool) -> Any:
    return postprocess(prefix, suffix, raw)


def rate(hit_n: tuple[int, int]) -> float:
    return hit_n[0] / hit_n[1]


@pytest.mark.parametrize("run_on", [False, True], ids=["stops-at-end", "runs-on"])
def test_exact_match_rates_with_the_grammar(run_on: bool) -> None:
    got = rates(with_grammar, run_on=run_on)
    assert got["single"][1] > 300 and got["multi"][1] > 300  # enough cases to mean something
    assert rate(got["single"]) >= 0.995, got
    assert rate(got["multi"]) >= 0.95, got


def test_the_indentation_rules_alone_lose_multi_line_spans() -> None:
    """What the grammar fixes: spans that end a block and go on after it."""
    old, new = rates(indentation_only, run_on=False), rates(with_grammar, run_on=False)
    assert rate(old["multi"]) < 0.8 < rate(new["multi"])
    assert old["single"] == new["single"]


def test_settled_generation_gives_the_same_suggestion_on_real_code() -> None:
    """Stopping where settled() says, in every run-on case, changes no suggestion."""
    for case in cases():
        raw = case.middle + case.suffix[:RUN_ON_CHARS]
        final = postprocess(case.prefix, case.suffix, raw, stop_reason="max_tokens",
                            language="python")  # fmt: skip
        for end in [i + 1 for i, ch in enumerate(raw) if ch == "\n"]:
            if settled(case.prefix, case.suffix, raw[: end + 1], "python"):
                cut = raw[: end + 1]
                got = postprocess(case.prefix, case.suffix, cut, stop_reason="settled",
                                  language="python")  # fmt: skip
                assert got == final, (case.source, case.middle)
                break
