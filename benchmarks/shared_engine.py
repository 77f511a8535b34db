"""Editor windows typing at once: one shared engine (`sharedEngine: true`) against one worker
per window (`false`), with 1, 2 and 4 windows.

Each window is a real language server over stdio (the bench model) with its own document: the
big file, a different line of it typed at 4 chars/s under VS Code's policy (a request per key,
the previous one cancelled); all windows type at the same time. Reported per configuration:
total resident memory (PSS, from /proc/PID/smaps_rollup) of every process involved -- servers,
engine, llama.cpp workers -- read while the last keys are answered, the llama.cpp model loads,
suggestions shown per window, and key -> suggestion latency (p50, p95) over all windows.

Usage: python -m benchmarks.shared_engine [--model bench|tiny|PATH] [--windows 1,2,4]
           [--cps 4] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.keystrokes import _git_head, resolve_model
from benchmarks.lsp_client import Driver, LspServer
from benchmarks.typing_sessions import sessions


def pss_mb(pid: int) -> float:
    """Proportional set size of a process in MB (0 when gone): shared pages count once."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def processes(servers: list[LspServer], stats: list[dict[str, Any]]) -> set[int]:
    """Every process the windows use: servers, shared engine, llama.cpp workers."""
    pids = {s.client._server.pid for s in servers}
    for st in stats:
        pids.add(st.get("engine_pid") or 0)
        pids.add((st.get("shared_engine") or {}).get("engine_pid") or 0)
    return pids - {0}


async def run(model: Path, shared: bool, windows: int, cps: float, log: Path) -> dict[str, Any]:
    """Start the windows, type in all of them at once, measure."""
    os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="sc-bench-")  # a fresh engine
    os.environ["SEED_CODER_LSP_ENGINE_GRACE"] = "1"
    settings = {"sharedEngine": shared, "repositoryContext": False}
    servers = [LspServer(model, settings, log.with_suffix(f".{n}.log")) for n in range(windows)]
    for server in servers:
        await server.start()
    typing = sessions(tuple([cps] * windows))[::2]  # "type" sessions: a different line each
    try:
        drivers = [Driver(server, "vscode") for server in servers]
        runs = [d.run(typing[n], f"window{n}.py") for n, d in enumerate(drivers)]
        peak = [0.0]
        sampler = asyncio.create_task(_sample_pss(servers, peak))
        results = await asyncio.gather(*runs)
        sampler.cancel()
        stats = [await server.stats() for server in servers]
        peak[0] = max(peak[0], _sum_pss(processes(servers, stats)))
        servers_mb = _sum_pss({s.client._server.pid for s in servers})
    finally:
        for server in servers:
            await server.stop()
    # The engine leaves 1 s after its last window: wait, so that no process of this run maps the
    # model file during the next one (mapped pages count shared in PSS).
    await _gone(processes(servers, stats))
    keys = [k for r in results for k in r.keys]
    lat = [(k.shown_at - k.t_key) * 1000 for k in keys if k.shown_at is not None]
    return {
        "shared": shared,
        "windows": windows,
        "pss_mb": round(peak[0], 1),
        "servers_pss_mb": round(servers_mb, 1),  # the language servers (at the end)
        "workers": len({st.get("engine_pid") for st in stats}),
        "shown": [sum(k.shown_at is not None for k in r.keys) for r in results],
        "keys": [len(r.keys) for r in results],
        "p50_ms": report._r(report.percentile(lat, 50)),
        "p95_ms": report._r(report.percentile(lat, 95)),
        "evaluated_tokens": sum(r.evaluated_tokens for r in results),
        "sessions": [asdict(r) for r in results],
    }


async def _gone(pids: set[int], timeout: float = 30.0) -> None:
    """Wait until these processes have exited."""
    deadline = time.monotonic() + timeout
    while any(os.path.exists(f"/proc/{p}/smaps_rollup") and pss_mb(p) for p in pids):
        if time.monotonic() > deadline:
            raise SystemExit(f"processes {sorted(pids)} outlived their windows")
        await asyncio.sleep(0.1)


def _sum_pss(pids: set[int]) -> float:
    return sum(pss_mb(p) for p in pids)


async def _sample_pss(servers: list[LspServer], peak: list[float]) -> None:
    """Keep the highest total PSS seen while typing (KV caches fill as prompts evaluate)."""
    while True:
        stats = [await s.stats() for s in servers]
        peak[0] = max(peak[0], _sum_pss(processes(servers, stats)))
        await asyncio.sleep(0.5)


def markdown(rows: list[dict[str, Any]], model: str, cps: float, commit: str) -> str:
    lines = [
        f"Model `{model}`, commit `{commit}`; every window types a different line of the "
        f"{len(sessions((cps,))[0].text.splitlines())}-line file at {cps:g} chars/s at the same "
        "time (VS Code's policy). PSS: all processes together, peak while typing.",
        "",
        "| windows | engine | PSS MB | of which servers | llama.cpp workers | shown per window "
        "| p50 ms | p95 ms | prompt tokens evaluated |",
        "| ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        shown = ", ".join(f"{s}/{k}" for s, k in zip(r["shown"], r["keys"]))
        lines.append(
            f"| {r['windows']} | {'shared' if r['shared'] else 'one per window'} "
            f"| {r['pss_mb']} | {r['servers_pss_mb']} | {r['workers']} | {shown} "
            f"| {r['p50_ms']} | {r['p95_ms']} "
            f"| {r['evaluated_tokens']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.shared_engine", description=__doc__)
    ap.add_argument("--model", default="bench", help="tiny | bench | GGUF path")
    ap.add_argument("--windows", default="1,2,4")
    ap.add_argument("--cps", type=float, default=4.0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    rows = []
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="shared-") as tmp:
        model = resolve_model(args.model, Path(tmp))
        for windows in (int(w) for w in args.windows.split(",")):
            for shared in (True, False):
                log = (args.out or Path(tmp)) / f"w{windows}-{'shared' if shared else 'own'}"
                row = asyncio.run(run(model, shared, windows, args.cps, log))
                rows.append(row)
                brief = {k: v for k, v in row.items() if k != "sessions"}
                print(json.dumps(brief), file=sys.stderr)
    text = markdown(rows, args.model, args.cps, _git_head())
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "shared_engine.json").write_text(json.dumps(rows, indent=1))
        (args.out / "shared_engine.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
