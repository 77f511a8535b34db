"""The peer's side of the keystroke benchmark: the same sessions through llama.vim's policy on
llama-server, recorded in the shape benchmarks/lsp_client.py records ours."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

from benchmarks.lsp_client import SETTLE_S
from benchmarks.typing_sessions import Session, cold_documents, sessions

PEER_BATCH = 2048  # llama-server's default -b: /infill keeps 3/4 of it as prefix, 1/4 as suffix
UBATCH = 512


def run(model: Path, cps: tuple[float, ...], settings: dict[str, Any]) -> dict[str, Any]:
    """Build or find llama-server, then the cold start and every session; or why it skipped."""
    from benchmarks import llama_server as peer

    binary = peer.llama_server_binary(log=lambda line: print(line, flush=True))
    if binary is None:
        return {"skipped": "llama-server could not be built or found (see the log above)"}
    if peer.fim_token_ids(model) is None:
        return {"skipped": "the model has no FIM tokens for /infill"}
    ctx = int(settings.get("contextLength", 4096))
    server = peer.LlamaServer(
        binary, model, ctx=ctx, threads=settings.get("threads"), batch=PEER_BATCH
    )
    return asyncio.run(_run(server, cps))


async def _run(server: Any, cps: tuple[float, ...]) -> dict[str, Any]:
    async with server:
        cold = await _cold(server.url)
        results = [await _session(server.url, s) for s in sessions(cps)]
    return {"policy": "peer", "cold": cold, "sessions": results, "counters": {}}


async def _cold(url: str) -> dict[str, Any]:
    """The same files as ours, each asked once as llama.vim asks when the cursor arrives."""
    from benchmarks.peer import LlamaVimPeer
    from benchmarks.report import median_cold

    samples = []
    for text, cursor in cold_documents():
        vim = LlamaVimPeer(url)
        await vim.key(text, cursor)
        await _settle(vim)
        shown = vim.shown_at[0]
        first = vim.requests[0] if vim.requests else None
        end = shown if shown is not None else (first.end if first else time.perf_counter())
        samples.append(
            {
                "ms": round((end - vim.key_times[0]) * 1000, 1),
                "prompt_tokens": first.prompt_n if first else 0,
                "generate_ms": first.predicted_ms if first else 0.0,
                "shown": shown is not None,
            }
        )
    return median_cold(samples)


async def _session(url: str, session: Session) -> dict[str, Any]:
    """Look at the file (a first hint, everything settled), then type at the session's pace."""
    from benchmarks.peer import LlamaVimPeer

    vim = LlamaVimPeer(url)
    text, cursor = session.text, session.cursor
    await vim.key(text, cursor)
    await _settle(vim)
    k0, r0 = len(vim.key_times), len(vim.requests)
    due = time.perf_counter()
    for key in session.keys:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        if key == "<accept>":
            hint = vim.hints[-1] if vim.shown_at[-1] is not None else None
            key = hint or ""
        text, cursor = text[:cursor] + key + text[cursor:], cursor + len(key)
        await vim.key(text, cursor)
        due += session.gap
    await _settle(vim)
    reqs = vim.requests[r0:]
    keys = [
        {"t_key": t, "t_asked": t, "shown_at": s, "text": h or ""}
        for t, s, h in zip(vim.key_times[k0:], vim.shown_at[k0:], vim.hints[k0:])
    ]
    return {
        "policy": "peer",
        "session": session.name,
        "cps": session.cps,
        "keys": keys,
        "requests": len(reqs),
        "answered": sum(1 for r in reqs if r.end > 0 and not r.error),
        "evaluated_tokens": sum(r.prompt_n for r in reqs),
        "decode_steps": sum(r.predicted_n + math.ceil(r.prompt_n / UBATCH) for r in reqs),
        "generations": len(reqs),
        "notes": [],
    }


async def _settle(vim: Any) -> None:
    """Until nothing is in flight, and the newest key's hint is shown or SETTLE_S passed."""
    deadline = time.perf_counter() + SETTLE_S
    await vim.settle()
    while vim.shown_at and vim.shown_at[-1] is None and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
        await vim.settle()
    await asyncio.sleep(0.05)
