"""Raw llama-cpp-python baseline for the prompts the server evaluated during a keystroke run.

The prompts are rebuilt with the server's own `Runner.prompt_for` (same window, same hint chain,
so the same token ids) and then run through plain llama-cpp-python in this process:

  warm  the KV cache holds exactly the prefix the server reused (positioned untimed), then
        `Llama.generate` evaluates the rest and samples greedily the same number of tokens
        (median of 3 runs)
  cold  `Llama.reset()` first: the whole prompt evaluated, same number of generated tokens
        (only for a few requests: a cold evaluation of a long prompt takes seconds)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lsp_server.kv_reuse import common_prefix

COLD_SAMPLES = 6
WARM_REPEATS = 3


def raw_generate(llm: Any, tokens: list[int], samples: int) -> float:
    """Llama.generate (greedy) until `samples` tokens were sampled; milliseconds."""
    t0 = time.perf_counter()
    stream = llm.generate(
        tokens, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0, reset=True
    )
    for n, _ in enumerate(stream, 1):
        if n >= samples:
            break
    return (time.perf_counter() - t0) * 1000


def position(llm: Any, tokens: list[int], keep: int) -> None:
    """Make the KV cache hold exactly tokens[:keep] (evaluating what is missing, untimed)."""
    have = common_prefix(llm.input_ids[: llm.n_tokens], tokens[:keep])
    llm.n_tokens = have
    if have < keep:
        llm.eval(tokens[have:keep])


def run(model: Path, bench: Any, ready: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Fill row.baseline for every request that ran the model; return a summary."""
    from lsp_server.completion import payload, worker_config
    from lsp_server.runner import Runner
    from lsp_server.settings import parse_settings

    s, _ = parse_settings(settings)
    config = worker_config(s, str(model))
    t0 = time.perf_counter()
    runner = Runner(config)
    load_ms = (time.perf_counter() - t0) * 1000
    llm = runner.llm
    hints: dict[str, tuple[int, int] | None] = {}
    rows = [r for r in bench.rows if r.log]
    first_of_session: set[int] = set()
    seen: set[str] = set()
    for r in rows:
        if r.session not in seen:
            seen.add(r.session)
            first_of_session.add(r.i)
    cold_budget = COLD_SAMPLES
    matched = 0
    for r in rows:
        want = int(r.log["prompt_tokens"])
        hint = hints.get(r.doc)
        # The request that started this generation: itself, or (attached) an earlier one.
        sources = (
            [r]
            if r.log.get("via") != "attached"
            else [
                q
                for q in reversed(bench.rows[: r.i + 1])
                if q.doc == r.doc and q._suffix == r._suffix and r._prefix.startswith(q._prefix)
            ][:40]
        )
        tokens: list[int] | None = None
        window: tuple[int, int] | None = None
        for q in sources:
            for h in (hint, None):
                cand, win = runner.prompt_for(payload(q._prefix, q._suffix, s, h))
                if len(cand) == want:
                    tokens, window = cand, win
                    break
            if tokens is not None:
                break
        exact = tokens is not None
        if tokens is None:
            tokens, window = runner.prompt_for(payload(r._prefix, r._suffix, s, hint))
        matched += exact
        hints[r.doc] = window
        gen = int(r.log["generated_tokens"])
        samples = max(1, gen + (1 if r.log.get("stop_reason") == "eos" else 0))
        reused = min(int(r.log["reused_tokens"]), len(tokens) - 1)
        out: dict[str, Any] = {
            "exact_tokens": exact,
            "prompt_tokens": len(tokens),
            "reused": reused,
            "samples": samples,
        }
        if cold_budget > 0 and (r.i in first_of_session or cold_budget > len(seen)):
            cold_budget -= 1
            llm.reset()
            out["cold_ms"] = round(raw_generate(llm, tokens, samples), 2)
        warm = []
        for _ in range(WARM_REPEATS):  # median of a few: other processes share the cores
            position(llm, tokens, reused)
            warm.append(raw_generate(llm, tokens, samples))
        out["warm_ms"] = round(sorted(warm)[len(warm) // 2], 2)
        r.baseline = out
    llm.close()
    return {
        "load_ms": round(load_ms, 1),
        "rows": len(rows),
        "exact_token_matches": matched,
        "cold_samples": sum(1 for r in rows if "cold_ms" in r.baseline),
    }
