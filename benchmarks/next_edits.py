"""Next-edit benchmark: a scripted edit session (rename a parameter, then fix the call sites) on a
Zeta-format model of realistic per-token cost, the language server against llama-server's
/v1/completions driven the way Zed drives it (the full prompt text per request, one request in
flight and the newest waiting, nothing aborted), in one run on one machine.

    python -m benchmarks.next_edits [--quick] [--cps 10] [--out benchmarks/results]

Both get a request after every key (a fast typist; editors debounce, which only lowers the
numbers of both), and the same prompts (our port of Zed's format, the same edit history). What
the editor sees: predictions shown (an edit computed for the text on screen), key -> prediction
p50/p95; what it costs: prompt tokens evaluated and decode steps (the servers' own counts);
"never seen": predictions computed to the end that were stale when they came back (work the
editor threw away; a prediction stopped early is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.typing_sessions import REPO

SETTLE_S = 20.0
ANSWER_BLOCK = "\n".join(f"    total_{i} = scale(values_{i}, ratio)" for i in range(6)) + "\n"
ANSWER = f"<|marker_1|>{ANSWER_BLOCK}<|marker_2|>"  # what the bench model always answers


def document(blocks: int = 8) -> str:
    """A module with `scale(values, factor)` and call sites spread below it."""
    head = "def scale(values, factor):\n    return [v * factor for v in values]\n\n\n"
    body = []
    for b in range(blocks):
        body.append(f"def step_{b}(values_{b}):\n")
        body += [f"    a_{b}_{i} = len(values_{b}) + {i}\n" for i in range(4)]
        body.append(f"    total_{b} = scale(values_{b}, factor)\n    return total_{b}\n\n\n")
    return head + "".join(body)


PAUSE_S = 1.5  # after each renamed place the user stops to read the suggestion


def script(text: str, quick: bool) -> list[tuple[int, int, str, float]]:
    """Keys as (offset, characters deleted before it, inserted text, pause after it): rename
    factor -> ratio in the signature and the body, then at the call sites, pausing after
    each place."""
    keys: list[tuple[int, int, str, float]] = []
    sites = [text.index("factor")] + [
        i for i in range(len(text)) if text.startswith("factor)\n", i)
    ][: 2 if quick else 6]
    shift = 0
    for site in sites:
        at = site + shift
        keys += [(at + len("factor") - n, 1, "", 0.0) for n in range(len("factor"))]
        keys += [(at + n, 0, ch, 0.0) for n, ch in enumerate("ratio")]
        keys[-1] = (*keys[-1][:3], PAUSE_S)
        shift += len("ratio") - len("factor")
    return keys


@dataclass
class Run:
    """What one contestant's editor saw and what its server did."""

    name: str
    keys: int = 0
    requests: int = 0
    shown: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    evaluated_tokens: int = 0
    decode_steps: int = 0
    never_seen: int = 0

    def row(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        p = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 1)) if lat else None
        return {
            "contestant": self.name, "keys": self.keys, "requests": self.requests,
            "shown": self.shown, "p50_ms": p(0.5) if p else None, "p95_ms": p(0.95) if p else None,
            "evaluated_tokens": self.evaluated_tokens, "decode_steps": self.decode_steps,
            "never_seen": self.never_seen,
        }  # fmt: skip


def write_model(path: Path, quick: bool) -> Path:
    from tests.tiny_model import write_tiny_model

    layers = 4 if quick else 8
    return write_tiny_model(path, ANSWER, n_layer=layers, n_embd=512, n_ff=2048, noise=0.02,
                            name="zeta-2.1-bench", n_ctx=8192)  # fmt: skip


Keys = list[tuple[int, int, str, float]]


async def run_ours(model: Path, text: str, keys: Keys, cps: float, log: Path) -> Run:
    """The language server with the model as nextEditModel, a request per key, the previous
    one cancelled ($/cancelRequest, as the VS Code extension does)."""
    from benchmarks.lsp_client import Doc, LspServer

    run = Run("seed-coder-lsp (next edits)", keys=len(keys))
    server = LspServer(model, {"nextEditModel": str(model), "enable": True}, log)
    await server.start()
    try:
        while (await server.stats())["next_edit"]["state"] != "ready":
            await asyncio.sleep(0.05)
        doc = Doc(server, "next_edit_bench.py", text, 0)
        start = (await server.stats())["next_edit"]
        pending: tuple[Any, asyncio.Future[Any]] | None = None
        for offset, delete, insert, pause in keys:
            t_key = time.perf_counter()
            doc.edit(offset - delete, offset, insert)
            if pending is not None and not pending[1].done():
                doc.cancel(pending[0])
            version = doc.version
            msg_id, fut = doc.request_next_edit(doc.cursor)
            run.requests += 1
            pending = (msg_id, fut)
            fut.add_done_callback(_on_answer(run, doc, version, t_key))
            await asyncio.sleep(1 / cps + pause)
        deadline = time.perf_counter() + SETTLE_S
        while pending is not None and not pending[1].done() and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
        end = (await server.stats())["next_edit"]
        run.evaluated_tokens = end["evaluated_tokens"] - start["evaluated_tokens"]
        run.decode_steps = end["decode_steps"] - start["decode_steps"]
        # answers computed to the end for a text the editor no longer had (stopped ones are not)
        answered = sum(end[k] - start[k] for k in ("edits", "stale", "no_edit", "malformed"))
        run.never_seen = max(0, answered - run.shown)
    finally:
        await server.stop()
    return run


def _on_answer(run: Run, doc: Any, version: int, t_key: float) -> Any:
    def done(fut: asyncio.Future[Any]) -> None:
        if fut.cancelled() or fut.exception() is not None or doc.version != version:
            return
        edits = getattr(fut.result(), "edits", None) or []
        if edits:
            run.shown += 1
            run.latencies_ms.append((time.perf_counter() - t_key) * 1000)

    return done


async def run_peer(model: Path, text: str, keys: Keys, cps: float) -> Run:
    """llama-server /v1/completions with the prompt as text, the way Zed's OpenAI-compatible
    provider sends it: one request in flight, the newest state waits, none aborted."""
    from benchmarks import llama_server as ls
    from lsp_server.next_edit import regions
    from lsp_server.next_edit.history import EditHistory
    from lsp_server.next_edit.output import Malformed, edit_from
    from lsp_server.next_edit.zeta_v0318 import END_MARKER, assemble

    run = Run("peer: llama-server /v1/completions, Zed's policy", keys=len(keys))
    binary = ls.llama_server_binary(log=lambda line: print(line, file=sys.stderr))
    if binary is None:
        raise SystemExit("llama-server could not be built or found")
    history = EditHistory()
    state = {"text": text, "version": 1}
    async with ls.LlamaServer(binary, model, ctx=8192, spm_infill=False) as srv:
        busy: asyncio.Future[None] | None = None
        waiting: dict[str, Any] | None = None

        async def send(req: dict[str, Any]) -> None:
            nonlocal busy, waiting
            body = {"prompt": req["prompt"], "max_tokens": 512, "stop": [END_MARKER],
                    "temperature": 0.0, "cache_prompt": True}  # fmt: skip
            answer = await asyncio.to_thread(ls.http_json, srv.url + "/v1/completions", body, 120.0)
            run.requests += 1
            timings = answer.get("timings") or {}
            run.evaluated_tokens += int(timings.get("prompt_n") or 0)
            run.decode_steps += int(timings.get("predicted_n") or 0)
            fresh = state["version"] == req["version"]
            try:
                edit = edit_from(req["text"], req["editable"], answer["choices"][0]["text"])
            except Malformed:
                edit = None
            if fresh and edit is not None:
                run.shown += 1
                run.latencies_ms.append((time.perf_counter() - req["t_key"]) * 1000)
            else:
                run.never_seen += 1
            nxt, waiting = waiting, None
            busy = asyncio.ensure_future(send(nxt)) if nxt is not None else None

        for offset, delete, insert, pause in keys:
            t_key = time.perf_counter()
            old = state["text"]
            new = old[: offset - delete] + insert + old[offset:]
            at = offset - delete
            history.record("u", "proj/bench.py", old, new, (at, at + len(insert)), t_key)
            state["text"], state["version"] = new, state["version"] + 1
            cursor = at + len(insert)
            region = regions.region(new, cursor)
            lo, hi = region.context
            editable = (region.editable[0] - lo, region.editable[1] - lo)
            prompt = assemble(
                "proj/bench.py", new[lo:hi], editable, cursor - lo, history.snapshot()
            )
            assert prompt is not None
            req = {"prompt": prompt.text, "text": new, "editable": region.editable,
                   "version": state["version"], "t_key": t_key}  # fmt: skip
            if busy is None or busy.done():
                busy = asyncio.ensure_future(send(req))
            else:
                waiting = req  # the newest replaces the one that waited
            await asyncio.sleep(1 / cps + pause)
        deadline = time.perf_counter() + SETTLE_S
        while (busy is not None and not busy.done()) and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
    return run


def report(rows: list[dict[str, Any]], cps: float, commit: str) -> str:
    lines = [
        f"# Next-edit benchmark ({commit}, {cps:g} keys/s)",
        "",
        "| contestant | keys | requests | shown | p50 / p95 ms | prompt tokens evaluated "
        "| decode steps | never seen |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['contestant']} | {r['keys']} | {r['requests']} | {r['shown']} | "
            f"{r['p50_ms']} / {r['p95_ms']} | {r['evaluated_tokens']} | {r['decode_steps']} | "
            f"{r['never_seen']} |"
        )
    return "\n".join(lines) + "\n"


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    import subprocess

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = write_model(out / "zeta-bench.gguf", args.quick)
    text = document(3 if args.quick else 8)
    keys = script(text, args.quick)
    ours = await run_ours(model, text, keys, args.cps, out / "next_edits_server.log")
    peer = await run_peer(model, text, keys, args.cps)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    rows = [ours.row(), peer.row()]
    result = {"commit": commit, "cps": args.cps, "quick": args.quick, "rows": rows,
              "runs": [asdict(ours), asdict(peer)]}  # fmt: skip
    (out / "next_edits.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    (out / "next_edits.md").write_text(report(rows, args.cps, commit), encoding="utf-8")
    model.unlink(missing_ok=True)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.next_edits", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="a short session on a smaller model")
    ap.add_argument("--cps", type=float, default=10.0, help="keys per second")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    result = asyncio.run(main_async(args))
    print(report(result["rows"], args.cps, result["commit"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
