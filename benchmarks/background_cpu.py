"""CPU time the server spends while the user types and after the user stops, per backgroundWork.

For each mode: the real server over stdio (bench model, repository context on), the benchmark's
big file opened (a cold start: its window is grown in the background), 9 characters typed at
4 chars/s with an inline request after each (VS Code's policy), then nothing for --after
seconds. CPU time is read from /proc (user + system) for the language server, its llama.cpp
worker and the shared engine process (sharedEngine, the default) together, so it counts
everything: completions, speculation, the cold window's growth, the workspace index.

Usage: python -m benchmarks.background_cpu [--model bench|tiny|PATH] [--after 30] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.keystrokes import resolve_model
from benchmarks.lsp_client import Doc, LspServer
from benchmarks.typing_sessions import big_file

MODES = ("always", "auto", "never")
TYPED = "total = 1"
CPS = 4.0


def cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process (0 when gone)."""
    if not pid:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_mode(model: Path, mode: str, after: float, log: Path) -> dict[str, Any]:
    """One mode: CPU while typing and after the last key, and the server's counts."""
    os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="sc-bgcpu-")  # its own engine
    server = LspServer(model, {"backgroundWork": mode}, log)
    ready = await server.start()
    shared = (ready.get("shared_engine") or {}).get("engine_pid")  # the shared engine process
    pids = (server.client._server.pid, ready.get("engine_pid"), shared)
    try:
        text = big_file()
        cursor = text.index("\n", len(text) // 2) + 1
        text = text[:cursor] + "\n" + text[cursor:]
        doc = Doc(server, f"background-{mode}.py", text, cursor)
        start = sum(cpu_s(p) for p in pids)
        for n, ch in enumerate(TYPED):
            doc.edit(doc.cursor, doc.cursor, ch)
            doc.request(f"k{n}")
            await asyncio.sleep(1 / CPS)
        typed = sum(cpu_s(p) for p in pids)
        await asyncio.sleep(after)
        stats = await server.stats()
        end = sum(cpu_s(p) for p in pids)
    finally:
        await server.stop()
    return {
        "mode": mode,
        "level": stats["background"]["level"],
        "typing_cpu_s": round(typed - start, 2),
        "after_cpu_s": round(end - typed, 2),
        "background_worker_cpu_s": stats["background"]["cpu_s"],
        "speculations": stats["speculations"],
        "eager": stats["eager"],
        "grows": stats["grows"],
        "held_back": stats["held_back"],
    }


def markdown(rows: list[dict[str, Any]], model: str, after: float) -> str:
    lines = [
        f"Model `{model}`; 9 characters typed at 4/s into a cold {len(big_file().splitlines())}"
        f"-line file, then {after:g} s of nothing. CPU seconds of the server, the engine and "
        "its llama.cpp worker.",
        "",
        "| backgroundWork | level here | CPU s while typing | CPU s after the last key "
        "| of which background jobs | speculations | eager | grows | held back |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['mode']} | {r['level']} | {r['typing_cpu_s']} | {r['after_cpu_s']} "
            f"| {r['background_worker_cpu_s']} | {r['speculations']} | {r['eager']} "
            f"| {r['grows']} | {r['held_back']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.background_cpu", description=__doc__)
    ap.add_argument("--model", default="bench", help="tiny | bench | GGUF path")
    ap.add_argument("--after", type=float, default=30.0, help="seconds after the last key")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bgcpu-") as tmp:
        model = resolve_model(args.model, Path(tmp))
        for mode in MODES:
            rows.append(asyncio.run(run_mode(model, mode, args.after, Path(tmp) / f"{mode}.log")))
            print(json.dumps(rows[-1]), file=sys.stderr)
    text = markdown(rows, args.model, args.after)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "background_cpu.json").write_text(json.dumps(rows, indent=1))
        (args.out / "background_cpu.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
