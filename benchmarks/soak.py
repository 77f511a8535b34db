"""Soak: memory of the language server and its worker over a long typing session.

Starts the real server over stdio with the tiny test model, types KEYS keystrokes (each an
incremental didChange plus an inline completion request, answered before the next key) across a
few documents that are opened, typed into and closed in turn, and samples the resident memory of
both processes (VmRSS from /proc). Reports the growth over the second half of the run and the
server's own bounded structures (pending futures, caches, per-document state).

Usage: python -m benchmarks.soak [--keys 20000] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.lsp_client import Doc, LspServer
from benchmarks.typing_sessions import REPO

LINE = "    total = compute(items, limit=10)\n"


def rss_mb(pid: int | None) -> float:
    """Resident memory of a process, MB (Linux /proc)."""
    if not pid:
        return 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def soak(model: Path, keys: int, log: Path, samples: int = 20) -> dict[str, Any]:
    """Type `keys` keystrokes; sample RSS `samples` times; return the series and the internals."""
    server = LspServer(model, {"speculative": True}, log)
    await server.start()
    server_pid = server.client._server.pid
    series: list[dict[str, float]] = []
    base = (REPO / "lsp_server" / "prompt" / "window.py").read_text(encoding="utf-8")
    try:
        typed, n_doc, doc = 0, 0, None
        while typed < keys:
            if doc is None or typed % 500 == 0:  # a new document every 500 keys
                if doc is not None:
                    server.client.text_document_did_close(_close(doc.uri))
                cursor = base.index("\n\n\n") + 1
                doc = Doc(server, f"soak{n_doc}.py", base, cursor)
                n_doc += 1
            key = LINE[typed % len(LINE)]
            doc.edit(doc.cursor, doc.cursor, key)
            await asyncio.wait_for(doc.request(f"k{typed}"), 30)
            typed += 1
            if typed % max(1, keys // samples) == 0:
                stats = await server.stats()
                series.append(
                    {
                        "keys": typed,
                        "server_mb": round(rss_mb(server_pid), 2),
                        "worker_mb": round(rss_mb(stats.get("engine_pid")), 2),
                    }
                )
        internals = (await server.stats()).get("internals", {})
    finally:
        await server.stop()
    half = [s for s in series if s["keys"] >= keys // 2]
    return {
        "keys": keys,
        "series": series,
        "internals": internals,
        "server_growth_second_half_mb": round(half[-1]["server_mb"] - half[0]["server_mb"], 2),
        "worker_growth_second_half_mb": round(half[-1]["worker_mb"] - half[0]["worker_mb"], 2),
    }


def _close(uri: str) -> Any:
    from lsprotocol import types

    return types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    ap.add_argument("--keys", type=int, default=20000)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args(argv)
    from tests.tiny_model import write_tiny_model

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        model = write_tiny_model(Path(tmp) / "tiny.gguf")
        result = asyncio.run(soak(model, args.keys, Path(tmp) / "server.log"))
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(result, indent=1))
    first, last = result["series"][0], result["series"][-1]
    print(
        f"{args.keys} keystrokes in {result['wall_s']} s: server {first['server_mb']} -> "
        f"{last['server_mb']} MB (second half {result['server_growth_second_half_mb']:+} MB), "
        f"worker {first['worker_mb']} -> {last['worker_mb']} MB (second half "
        f"{result['worker_growth_second_half_mb']:+} MB); internals {result['internals']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
