"""KV reuse: the plan as plain lists, then the real llama.cpp when the window moves or a decode
is aborted from inside."""

from __future__ import annotations

from pathlib import Path

from lsp_server.engines.local.kv_reuse import Move, plan_reuse
from lsp_server.prompt.tokens import line_blocks
from tests.conftest import RunnerFactory
from tests.tiny_model import DEFAULT_INFILL

NEVER = lambda: False  # noqa: E731


def test_plan_keeps_common_prefix_and_shifts_the_rest_back() -> None:
    head, dropped, kept, tail = [1] * 5, list(range(100, 140)), list(range(200, 260)), [7, 8]
    plan = plan_reuse(head + dropped + kept + tail, head + kept + [9], limit=100, can_shift=True)
    assert plan.common == 5
    assert plan.moves == [Move(src=45, dst=5, length=60)]
    assert plan.kept == 65 and plan.shifted == 60


def test_plan_without_shift_support_or_short_matches_keeps_only_the_prefix() -> None:
    head, dropped, kept = [1] * 5, list(range(100, 140)), list(range(200, 260))
    cache, prompt = head + dropped + kept, head + kept
    assert plan_reuse(cache, prompt, limit=100, can_shift=False).kept == 5
    short = head + dropped + kept[:10]
    assert plan_reuse(short, head + kept[:10], limit=100, can_shift=True).kept == 5


def test_plan_respects_the_limit() -> None:
    head, dropped, kept = [1] * 5, list(range(100, 140)), list(range(200, 260))
    plan = plan_reuse(head + dropped + kept, head + kept, limit=64, can_shift=True)
    assert plan.kept == 64 and plan.moves == [Move(src=45, dst=5, length=59)]
    assert plan_reuse(head + kept, head + kept, limit=64, can_shift=True).kept == 64


def test_line_blocks_cut_every_sixteen_lines() -> None:
    text = "".join(f"{i}\n" for i in range(40)) + "tail"
    blocks = line_blocks(text)
    assert "".join(blocks) == text
    assert [b.count("\n") for b in blocks] == [16, 16, 8]
    assert line_blocks("") == [""]


def test_window_move_evaluates_only_the_new_text(
    make_runner: RunnerFactory, tiny_model: Path
) -> None:
    """Typing until the prefix window's start moves: the cache is shifted, not re-evaluated."""
    runner = make_runner(tiny_model, n_ctx=512)
    runner.llm.reset()
    before = "".join(f"v_{i:03} = {i:03}\n" for i in range(60)) + "    "  # 12 bytes a line
    suffix = "\n" + "".join(f"w_{i:03} = {i:03}\n" for i in range(5))
    hint, starts, typed = None, [], ""
    for k in range(100):
        typed += "abcdefghij"[k % 10]
        req = {"prefix": before + typed, "suffix": suffix, "max_tokens": 16, "hint": hint}
        out = runner.generate(req, NEVER, lambda: None, lambda t: None)
        assert out.text == DEFAULT_INFILL[: len(out.text)] and out.text
        hint = list(out.window)
        if k > 0:  # one new byte plus <[fim-middle]>, window move or not
            assert out.stats.evaluated_tokens == 2, (k, out.stats)
        starts.append(out.window[0])
        if starts[-1] != starts[0] and len(starts) > 1 and starts[-2] == starts[0]:
            moved = out.stats
    # 427 prefix tokens; a new window fills at most 7/8: line 32 (28 lines, 340 tokens), and
    # after 88 typed bytes line 48, dropping 16 lines (192 tokens) from the middle of the prompt.
    assert starts == [32] * 87 + [48] * 13
    assert moved.evaluated_tokens == 2
    assert moved.reused_tokens == moved.prompt_tokens - 2
    # Lines 48-59, the indent and the 87 bytes typed before, less "v_0": lines 32 and 48 start
    # alike, so those 3 bytes stay in place.
    assert moved.shifted_tokens == 12 * 12 + 4 + 87 - 3
    # The moved window generates what a cold start of the same prompt generates.
    runner.llm.reset()
    cold = runner.generate(
        {"prefix": before + typed, "suffix": suffix, "max_tokens": 16, "hint": hint},
        NEVER,
        lambda: None,
        lambda t: None,
    )
    assert cold.stats.evaluated_tokens == cold.stats.prompt_tokens
    assert cold.text == out.text


def test_cancel_aborts_inside_a_decode(make_runner: RunnerFactory, tiny_model: Path) -> None:
    """llama.cpp asks the abort callback during a decode: a cancel that arrives then stops it
    with no decode step completed, and the cache stays consistent."""
    runner = make_runner(tiny_model, n_ctx=2048)
    runner.llm.reset()
    prefix = "".join(f"line_{i} = {i}\n" for i in range(100)) + "    "
    asked = []

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) > 2  # false before the decode starts (twice), true from inside it

    steps: list[int] = []
    req = {"prefix": prefix, "suffix": "\n"}
    out = runner.generate(req, cancelled, lambda: steps.append(1), print)
    assert out.cancelled and out.text == ""
    assert steps == [] and out.stats.decode_steps == 0 and out.stats.evaluated_tokens == 0
    assert len(asked) > 3  # asked again from inside llama_decode
    assert runner.llm.n_tokens == 0
    again = runner.generate({"prefix": prefix, "suffix": "\n"}, NEVER, lambda: None, print)
    assert again.text == DEFAULT_INFILL
    assert again.stats.evaluated_tokens == again.stats.prompt_tokens


def test_cold_start_window_meets_the_latency_target_then_grows(
    make_runner: RunnerFactory, tiny_model: Path
) -> None:
    """A newly opened file on slow hardware: the first window is what the measured speed can
    evaluate within latencyTargetMs; a background prefill grows it, after which keystrokes use
    the full window and evaluate only their own tokens."""
    runner = make_runner(tiny_model, n_ctx=2048)
    runner.llm.reset()
    saved = runner.speed
    runner.speed = {"prompt_tps": 600.0, "gen_tps": 1000.0}  # as if measured on a slow machine
    try:
        prefix = "".join(f"line_{i:03} = {i:03}\n" for i in range(150)) + "    "  # 2,404 bytes
        req = {"prefix": prefix, "suffix": "\n", "latency_target_ms": 1000, "max_tokens": 16}
        first = runner.generate(req, NEVER, lambda: None, lambda t: None)
        # 1000 ms less 16 tokens at 1000/s leaves 984 ms: 590 tokens at 600 tokens/s
        assert first.stats.capped and first.stats.prompt_tokens <= 590
        assert first.stats.evaluated_tokens == first.stats.prompt_tokens
        assert first.text == DEFAULT_INFILL[: len(first.text)] and first.text
        grow = runner.prefill({**req, "uncapped": True}, NEVER, lambda: None)
        assert grow.stop_reason == "prefilled" and grow.prompt_tokens > 1500
        nxt = runner.generate({**req, "prefix": prefix + "x"}, NEVER, lambda: None, lambda t: None)
        assert not nxt.stats.capped and nxt.stats.prompt_tokens > 1500
        # the prefill stops two tokens before the cursor's line (tokens may merge across it)
        assert nxt.stats.evaluated_tokens == 2 + len("    x") + 1  # and <[fim-middle]>
    finally:
        runner.speed = saved


def test_the_cursor_block_is_not_cached(make_runner: RunnerFactory, tiny_model: Path) -> None:
    """Typing changes the last block on every key: only complete blocks are kept."""
    runner = make_runner(tiny_model, n_ctx=2048)
    words = runner.words
    words.tok_cache.clear()
    head = "".join(f"v_{i:03} = {i:03}\n" for i in range(32))  # two complete blocks
    for k in range(50):
        assert words.tokenize(head + "    " + "x" * k) == words.tokenize(head) + [
            t for c in "    " + "x" * k for t in words.tokenize(c)
        ]
    assert len(words.tok_cache) == 2


def test_the_decode_that_applies_a_shift_is_not_aborted(
    make_runner: RunnerFactory, tiny_model: Path
) -> None:
    """An abort in the middle of llama.cpp's key rotation would leave layers rotated and the
    shift applied again later: that one decode runs to its end, and the result is exact."""
    runner = make_runner(tiny_model, n_ctx=512)
    runner.llm.reset()
    before = "".join(f"v_{i:03} = {i:03}\n" for i in range(60)) + "    "
    suffix = "\n" + "".join(f"w_{i:03} = {i:03}\n" for i in range(5))
    hint, typed = None, ""
    for k in range(87):  # up to the keystroke before the window moves
        typed += "abcdefghij"[k % 10]
        req = {"prefix": before + typed, "suffix": suffix, "max_tokens": 16, "hint": hint}
        hint = list(runner.generate(req, NEVER, lambda: None, lambda t: None).window)
    typed += "h"
    req = {"prefix": before + typed, "suffix": suffix, "max_tokens": 16, "hint": hint}
    asked: list[int] = []

    def cancelled() -> bool:  # true from inside the first decode on
        asked.append(1)
        return len(asked) > 2

    out = runner.generate(req, cancelled, lambda: None, lambda t: None)
    assert out.stats.shifted_tokens > 0 and out.window[0] == 48  # the move happened
    assert out.stats.evaluated_tokens == 2  # the shifting decode finished despite the cancel
    assert not runner.shift_pending
    again = runner.generate(req, NEVER, lambda: None, lambda t: None)
    assert again.text == DEFAULT_INFILL and again.stats.evaluated_tokens == 1


def test_a_keystroke_plans_the_cache_reuse_once(
    make_runner: RunnerFactory, tiny_model: Path, monkeypatch
) -> None:
    """With the latency target on, a warm keystroke does not plan the reuse twice (once to
    size the window, once to evaluate it): the sizing check is a vectorized prefix compare."""
    import lsp_server.engines.local.decoding as decoding_module
    import lsp_server.engines.local.runner as runner_module

    runner = make_runner(tiny_model, n_ctx=512)
    runner.llm.reset()
    req = {"prefix": "def f():\n    ", "suffix": "\n", "latency_target_ms": 500}
    runner.generate(req, NEVER, lambda: None, lambda t: None)
    calls: list[int] = []
    real = runner_module.plan_reuse
    for module in (runner_module, decoding_module):  # sizing the window, evaluating it
        monkeypatch.setattr(
            module, "plan_reuse", lambda *a, **k: calls.append(1) or real(*a, **k)
        )
    out = runner.generate(
        {**req, "prefix": req["prefix"] + "x"}, NEVER, lambda: None, lambda t: None
    )
    assert out.stats.evaluated_tokens == 2 and not out.stats.capped
    assert calls == [1]
