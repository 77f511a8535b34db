"""Prefill: the stable part of a prompt is evaluated while the user types; the completion
after the pause then evaluates only the cursor's line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import RunnerFactory

PREFIX = "def f():\n    x = 1\n    y"  # 9 + 10 + 5 = 24 byte tokens
SUFFIX = "\n"
NEVER = lambda: False  # noqa: E731


def fresh(make_runner: RunnerFactory, model: Path, **config: Any):
    """The shared in-process runner with an empty KV cache, so counts are exact."""
    runner = make_runner(model, **config)
    runner.llm.reset()
    return runner


def test_prefill_stops_before_the_cursor_line(make_runner: RunnerFactory, tiny_model: Path):
    runner = fresh(make_runner, tiny_model)
    stats = runner.prefill({"prefix": PREFIX, "suffix": SUFFIX}, NEVER, lambda: None)
    # <suf> "\n" <pre> + the 19 bytes before the cursor line, less a 2-token margin
    assert (stats.prompt_tokens, stats.evaluated_tokens, stats.stop_reason) == (20, 20, "prefilled")
    out = runner.generate({"prefix": PREFIX, "suffix": SUFFIX}, NEVER, lambda: None, lambda t: None)
    # prompt = 3 + 24 + <mid> = 28: only the cursor line's tail and <mid> are evaluated
    assert (out.stats.prompt_tokens, out.stats.reused_tokens, out.stats.evaluated_tokens) == (
        28,
        20,
        8,
    )


def test_prefill_is_idempotent_while_typing_on_the_line(
    make_runner: RunnerFactory, tiny_model: Path
):
    runner = fresh(make_runner, tiny_model)
    runner.prefill({"prefix": PREFIX, "suffix": SUFFIX}, NEVER, lambda: None)
    again = runner.prefill({"prefix": PREFIX + "yz", "suffix": SUFFIX}, NEVER, lambda: None)
    assert (again.reused_tokens, again.evaluated_tokens) == (20, 0)


def test_cancelled_prefill_keeps_what_it_evaluated(make_runner: RunnerFactory, tiny_model: Path):
    runner = fresh(make_runner, tiny_model, n_ctx=2048)
    long_prefix = "".join(f"line_{i} = {i}\n" for i in range(120)) + "    y"
    calls = []
    stats = runner.prefill(
        {"prefix": long_prefix, "suffix": SUFFIX},
        lambda: len(calls) >= 1,  # cancelled inside the second batch of 512 tokens
        lambda: calls.append(1),
    )
    assert stats.stop_reason == "cancelled" and stats.decode_steps == 1
    assert stats.evaluated_tokens == 512
    assert runner.llm.n_tokens == 512  # what was evaluated before the cancel stays cached
    out = runner.generate(
        {"prefix": long_prefix, "suffix": SUFFIX}, NEVER, lambda: None, lambda t: None
    )
    assert out.stats.reused_tokens == 512
