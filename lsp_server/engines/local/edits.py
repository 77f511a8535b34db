"""Next-edit generation in the worker: the prompt's pieces to tokens (template marks with
special parsing on, document text as text), the KV cache brought to them (kept prefix, shifted
chunks), then greedy decoding until the end of the answer, checking the cancel flag inside every
llama.cpp decode. The same Runner (model, cache, abort callback) as completions."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from lsp_server.engines.local.decoding import Stats
from lsp_server.engines.local.runner import Outcome, Runner
from lsp_server.engines.local.sampler import Sampler

EDIT_MAX_TOKENS = 512
EDIT_BATCH = 512  # a superseded prediction finishes its batch (smaller ones cost throughput)


def edit_tokens(runner: Runner, req: dict[str, Any]) -> list[int]:
    """[BOS] <[fim-suffix]> suffix <[fim-prefix]> prefix <[fim-middle]> as ids."""
    fim = runner.fim
    if fim is None or fim.suffix is None or fim.prefix is None or fim.middle is None:
        raise ValueError("the next-edit model has no fill-in-the-middle tokens (not Zeta 2.1)")
    head = [runner.bos] if runner.bos is not None else []
    return [
        *head,
        fim.suffix,
        *pieces_to_ids(runner, req.get("edit_suffix", ())),
        fim.prefix,
        *pieces_to_ids(runner, req.get("edit_prefix", ())),
        fim.middle,
    ]


def pieces_to_ids(runner: Runner, pieces: Sequence[Sequence[str]]) -> list[int]:
    """The text between two FIM marks as one run, as Zeta 2.1 was trained on it: its markers
    are plain text in Seed-Coder's vocabulary (no token was added), so the template's text and
    the document's are tokenized together, special parsing off and the vocabulary's special
    texts split off (a document never makes a control token). Documents holding the template's
    own text are refused before this (zeta_v0318.reserved_text_in)."""
    return runner.tokenize("".join(text for _, text in pieces))


def generate_edit(
    runner: Runner,
    req: dict[str, Any],
    cancelled: Callable[[], bool],
    step: Callable[[], None],
    on_text: Callable[[str], None],
    stopped: Callable[[], bool] | None = None,
) -> Outcome:
    """Evaluate the prompt (reusing the cache), then decode greedily to EOS or max_tokens.
    `cancelled` aborts inside a decode (a keystroke's completion needs the CPU); `stopped`
    between two decodes (a newer prediction: the batch in progress is kept, cached)."""
    stopped = stopped or cancelled
    t0 = time.perf_counter()
    stats = Stats()
    prompt = edit_tokens(runner, req)
    n_ctx = runner.llm.n_ctx()
    stats.prompt_tokens = len(prompt)
    max_tokens = max(0, min(int(req.get("max_tokens", EDIT_MAX_TOKENS)), n_ctx - len(prompt)))
    if len(prompt) >= n_ctx:
        raise ValueError(f"prompt of {len(prompt)} tokens does not fit the context {n_ctx}")
    if not runner.evaluate(prompt, len(prompt) - 1, cancelled, step, stats, stopped, EDIT_BATCH):
        return runner.finish(stats, "", (0, 0), t0, t0, "cancelled")
    t1 = time.perf_counter()
    stats.prompt_ms = (t1 - t0) * 1000
    out, reason = runner.sample_loop(
        max_tokens, Sampler(0.0, 0), stopped, cancelled, step, stats, on_text
    )
    return runner.finish(stats, out.decode("utf-8", errors="ignore"), (0, 0), t0, t1, reason)
