"""Context from other files in the prompt: where it goes (head of the prefix, after the SPM
suffix), what it costs, and when it is left out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsp_server.prompt.tokens import build_prompt

EXTRA = "# Compare this snippet from helpers.py:\n# def parse_config(path):\n#     return path\n"
PREFIX = "def main(path):\n    config = "
SUFFIX = "\n    return config\n"


def text_of(runner: Any, tokens: list[int]) -> str:
    return runner.llm.detokenize(tokens, special=True).decode("utf-8")


def test_the_exact_layout_with_context_from_another_file(
    make_runner: Any, tiny_model: Path
) -> None:
    runner = make_runner(tiny_model)
    req = {"prefix": PREFIX, "suffix": SUFFIX, "extra": EXTRA, "extra_tokens": 512}
    tokens, _window = runner.prompt_for(req)
    assert text_of(runner, tokens) == (
        "<[fim-suffix]>" + SUFFIX + "<[fim-prefix]>" + EXTRA + PREFIX + "<[fim-middle]>"
    )
    # one token per byte in the tiny vocabulary: the context costs exactly its bytes
    plain, _ = runner.prompt_for({**req, "extra": ""})
    assert len(tokens) - len(plain) == len(EXTRA.encode())


def test_context_over_its_budget_is_cut_at_a_line_and_a_cold_window_has_none(
    make_runner: Any, tiny_model: Path
) -> None:
    runner = make_runner(tiny_model)
    req = {"prefix": PREFIX, "suffix": SUFFIX, "extra": [EXTRA]}
    cut, _ = runner.prompt_for({**req, "extra_tokens": len(EXTRA) - 1})
    head = EXTRA[: EXTRA.index("#     return")]  # its header and the signature: whole lines
    assert text_of(runner, cut) == (
        "<[fim-suffix]>" + SUFFIX + "<[fim-prefix]>" + head + PREFIX + "<[fim-middle]>"
    )
    plain = runner.prompt_for({**req, "extra": []})[0]
    assert runner.prompt_for({**req, "extra_tokens": len(head) - 1})[0] == plain
    count = runner.tokenize
    capped = build_prompt({**req, "extra_tokens": 512}, count, runner.fim, runner.bos, 512, 200)
    assert (
        capped.tokens
        == build_prompt(req | {"extra": ""}, count, runner.fim, runner.bos, 512, 200).tokens
    )


def test_the_context_is_part_of_the_stable_head(make_runner: Any, tiny_model: Path) -> None:
    """Typing on the cursor's line keeps every token before it, the context included."""
    runner = make_runner(tiny_model)
    req = {"prefix": PREFIX, "suffix": SUFFIX, "extra": EXTRA, "extra_tokens": 512}
    _tokens, _window, stable = runner._prompt(req, None)
    _plain, _window, stable_plain = runner._prompt({**req, "extra": ""}, None)
    assert stable - stable_plain == len(EXTRA.encode())
