"""Keystroke benchmark: what the editor shows while the user types, against llama.vim's engine.

One run, one model, one machine, the same typing for every contestant:

  vscode  this language server under VS Code's policy (a request per key, the previous one
          cancelled; client-side typing-through of the suggestion on screen)
  nvim    this language server under Neovim 0.12's policy (a request after a 200 ms pause
          timer, never cancelled)
  remote  (--remote) this language server under VS Code's policy with engine remote: the same
          token-exact prompts streamed from a llama-server on this machine (same model)
  peer    llama-server's /infill under llama.vim's policy (one request in flight, the newest
          keystroke waits, never aborted; its own cache with 128 chars of look-back), built from
          the llama.cpp that llama-cpp-python vendors (benchmarks/peer.py)

Sessions (benchmarks/typing_sessions.py), at each pace (--cps, default 4 and 10 chars/s):
  cold    a file not opened before: one request, time to the first suggestion
  type    a line typed in the middle of a file larger than the context window
  accept  ask for a suggestion, accept it, type on

Per session: suggestions shown while typing, key -> suggestion p50/p95 as the client sees it,
the last key's suggestion, prompt tokens evaluated (prefills included), decode steps, generated
tokens. Results: results.md, results.json, latency.png under benchmarks/results/ (or --out).

Usage:
  python -m benchmarks.keystrokes [--model bench|tiny|PATH] [--quick] [--no-peer] [--remote]
                                  [--cps 4,10] [--out DIR] [--threads N]
  --quick   tiny model, 10 chars/s only, no peer: what CI runs (tests/test_benchmark_quick.py)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.lsp_client import Driver, LspServer, SessionResult
from benchmarks.typing_sessions import REPO, cold_documents, sessions

POLICIES = ("vscode", "nvim")


def resolve_model(spec: str, workdir: Path) -> Path:
    """tiny / bench / a path -> a GGUF file."""
    if spec in ("tiny", "bench"):
        from tests.tiny_model import write_bench_model, write_tiny_model

        path = workdir / f"{spec}-seed-coder.gguf"
        (write_tiny_model if spec == "tiny" else write_bench_model)(path)
        return path
    path = Path(spec).expanduser()
    if not path.is_file():
        raise SystemExit(f"model file {path} not found (use tiny, bench or a GGUF path)")
    return path


async def run_lsp(
    model: Path,
    policy: str,
    settings: dict[str, Any],
    cps: tuple[float, ...],
    log: Path,
    name: str | None = None,
) -> dict[str, Any]:
    """A fresh server for one policy: the cold start, then every session."""
    server = LspServer(model, settings, log)
    await server.start()
    try:
        cold = await _cold(server)
        results = []
        for n, session in enumerate(sessions(cps)):
            results.append(await Driver(server, policy).run(session, f"{session.name}{n}.py"))
        final = await server.stats()
    finally:
        await server.stop()
    return {
        "policy": name or policy,
        "cold": cold,
        "sessions": [asdict(r) for r in results],
        "counters": final,
    }


async def _cold(server: LspServer) -> dict[str, Any]:
    """Open files not seen before and ask once in each: the first suggestion's latency, its
    prompt, and the generation's share of it (from the server's log line)."""
    from benchmarks.lsp_client import Doc

    samples = []
    for n, (text, cursor) in enumerate(cold_documents()):
        doc = Doc(server, f"cold{n}.py", text, cursor)
        t0 = time.perf_counter()
        result = await asyncio.wait_for(doc.request(f"cold{n}", invoked=True), 120)
        ms = (time.perf_counter() - t0) * 1000
        line = [x for x in server.logs if x.endswith("via model")][-1]
        samples.append(
            {
                "ms": round(ms, 1),
                "prompt_tokens": int(line.split("prompt ", 1)[1].split(" tok", 1)[0]),
                "generate_ms": float(line.split("generate ", 2)[1].split(" ms", 1)[0]),
                "shown": bool(getattr(result, "items", None)),
            }
        )
        await asyncio.sleep(1.5)  # reading: the window grows in the background
    return report.median_cold(samples)


async def run_remote(
    model: Path, settings: dict[str, Any], cps: tuple[float, ...], log: Path
) -> dict[str, Any]:
    """engine remote under VS Code's policy against a llama-server with the same model."""
    from benchmarks import llama_server as peer

    binary = peer.llama_server_binary(log=lambda line: print(line, file=sys.stderr))
    if binary is None:
        raise SystemExit("--remote: llama-server could not be built or found")
    ctx = int(settings.get("contextLength", 4096))
    async with peer.LlamaServer(binary, model, ctx=ctx, threads=settings.get("threads")) as srv:
        remote = {**settings, "engine": "remote", "remoteUrl": srv.url}
        return await run_lsp(model, "vscode", remote, cps, log, name="remote")


def run_peer(model: Path, cps: tuple[float, ...], settings: dict[str, Any]) -> dict[str, Any]:
    """llama-server with llama.vim's policy on the same sessions (skipped if it cannot run)."""
    from benchmarks import peer_driver

    return peer_driver.run(model, cps, settings)


def _git_head() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "lsp_server"], cwd=REPO, capture_output=True, text=True
    )
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.keystrokes",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(__doc__ or "").split("\n\n", 1)[1],
    )
    ap.add_argument("--model", default="bench", help="tiny | bench | GGUF path")
    ap.add_argument("--quick", action="store_true", help="tiny model, 10 chars/s, no peer (CI)")
    ap.add_argument("--no-peer", action="store_true", help="skip llama-server")
    ap.add_argument("--remote", action="store_true", help="also: engine remote on llama-server")
    ap.add_argument("--cps", default="4,10", help="typing paces, chars/s (comma-separated)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--context-length", type=int, default=None)
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument(
        "--no-repository", action="store_true", help="repositoryContext off (the A/B baseline)"
    )
    ap.add_argument(
        "--no-shared-engine", action="store_true", help="sharedEngine off: a worker per server"
    )
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    spec = "tiny" if args.quick else args.model
    cps = (10.0,) if args.quick else tuple(float(x) for x in args.cps.split(","))
    settings: dict[str, Any] = {}
    if args.threads:
        settings["threads"] = args.threads
    if args.context_length:
        settings["contextLength"] = args.context_length
    if args.no_repository:
        settings["repositoryContext"] = False
    if args.no_shared_engine:
        settings["sharedEngine"] = False
    out = args.out or (REPO / "benchmarks" / "results" / ("quick" if args.quick else ""))
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    commit = _git_head()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kbench-") as tmp:
        model = resolve_model(spec, Path(tmp))
        print(
            f"model {model} ({model.stat().st_size / 1e6:.0f} MB), commit {commit}", file=sys.stderr
        )
        for policy in POLICIES:
            log = Path(tmp) / f"server-{policy}.log"
            try:
                runs.append(asyncio.run(run_lsp(model, policy, settings, cps, log)))
            except BaseException:
                sys.stderr.write(log.read_text(errors="replace")[-4000:] if log.exists() else "")
                raise
            print(f"{policy}: done", file=sys.stderr)
        if args.remote:
            log = Path(tmp) / "server-remote.log"
            runs.append(asyncio.run(run_remote(model, settings, cps, log)))
            print("remote: done", file=sys.stderr)
        peer_run: dict[str, Any] = {"skipped": "--no-peer" if args.no_peer or args.quick else ""}
        if not peer_run["skipped"]:
            peer_run = run_peer(model, cps, settings)
            print(f"peer: {peer_run.get('skipped') or 'done'}", file=sys.stderr)
        result = report.build(spec, model, commit, cps, runs, peer_run)
    result["wall_s"] = round(time.perf_counter() - t_start, 1)
    (out / "results.json").write_text(json.dumps(result, indent=1, default=str))
    report.write(result, out, with_plot=not args.no_plot)
    print(f"wrote {out / 'results.md'} ({result['wall_s']} s)", file=sys.stderr)
    return 0


__all__ = ["SessionResult", "main"]

if __name__ == "__main__":
    sys.exit(main())
