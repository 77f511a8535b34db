"""Summaries, targets, Markdown, JSON and the latency plot of a keystroke run."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from statistics import median
from typing import Any

KEYS = ("type", "type-through")
ANSWERED = ("model", "attached", "cache")


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    vals = sorted(values)
    k = max(0, min(len(vals) - 1, int(round(q / 100 * len(vals) + 0.5)) - 1))
    return vals[k]


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def machine(model: Path, ready: dict[str, Any]) -> dict[str, Any]:
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    try:
        import llama_cpp

        llama_version = llama_cpp.__version__
    except Exception:  # noqa: BLE001
        llama_version = "?"
    info = ready.get("info", {})
    return {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "llama_cpp_python": llama_version,
        "model_file": model.name,
        "model_mb": round(model.stat().st_size / 1e6, 1),
        "model_name": info.get("name", ""),
        "backend": info.get("backend", ""),
        "fim_template": info.get("fim_template"),
        "n_ctx": info.get("n_ctx"),
        "model_load_ms": info.get("load_ms"),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "server_code": _server_code(),
    }


def _server_code() -> str:
    """Commit of the server code measured, and whether lsp_server/ had local changes."""
    import subprocess

    repo = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "lsp_server"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' + uncommitted lsp_server changes' if dirty else ''}" if head else "unknown"


def delta(a: dict[str, Any], b: dict[str, Any], key: str) -> int:
    return int(b.get(key, 0) or 0) - int(a.get(key, 0) or 0)


def summarize(
    rows: list[Any], before: dict[str, Any], after: dict[str, Any], debounce_ms: float
) -> dict[str, Any]:
    """Numbers for one session (or all of them)."""
    by = {
        k: [r for r in rows if r.source == k]
        for k in ("model", "attached", "cache", "superseded", "empty", "error")
    }
    counters = {
        k: delta(before, after, k)
        for k in (
            "requests",
            "generations",
            "cache_hits",
            "attached",
            "superseded",
            "cancelled",
            "not_ready",
            "wasted_steps",
            "errors",
            "decode_steps",
        )
    }
    answered_lat = [r.latency_ms for r in rows if r.source in ANSWERED and r.latency_ms]
    model_lat = [r.latency_ms for r in by["model"] if r.latency_ms]
    logged = [r for r in rows if r.log]
    reuse = [
        r.log["reused_tokens"] / r.log["prompt_tokens"] for r in logged if r.log["prompt_tokens"]
    ]
    key_eval = [
        r.log["evaluated_tokens"] / r.log["prompt_tokens"]
        for r in logged
        if r.action in KEYS and r.log["prompt_tokens"]
    ]
    idle_eval = [
        r.log["evaluated_tokens"] / r.log["prompt_tokens"]
        for r in logged
        if r.action in KEYS and r.idle_before and r.log["prompt_tokens"]
    ]
    delivered = len(logged)
    superseded_gens = max(0, counters["generations"] - delivered)
    typed_hits = [r for r in by["cache"] if r.action in KEYS]
    hits_zero = [r for r in typed_hits if r.decode_delta == 0]
    base = [r for r in by["model"] if r.baseline.get("exact_tokens") and r.latency_ms]
    client_ratio = [r.latency_ms / r.baseline["warm_ms"] for r in base if r.baseline["warm_ms"]]
    worker_ratio = [
        r.log["total_ms"] / r.baseline["warm_ms"] for r in base if r.baseline["warm_ms"]
    ]
    overhead = [r.latency_ms - r.log["total_ms"] for r in by["model"] if r.latency_ms]
    cold = [r.baseline["cold_ms"] for r in rows if "cold_ms" in r.baseline]
    warm_keys = [
        r.latency_ms
        for r in by["model"]
        if r.action in KEYS and r.latency_ms and r.log.get("reused_tokens", 0) > 0
    ]
    out = {
        "requests": len(rows),
        "generations": counters["generations"],
        "model": len(by["model"]),
        "attached": len(by["attached"]),
        "cache_hits": len(by["cache"]),
        "superseded": len(by["superseded"]),
        "empty": len(by["empty"]),
        "errors": len(by["error"]),
        "cancelled": counters["cancelled"],
        "counters": counters,
        "cache_hit_rate": len(by["cache"]) / len(rows) if rows else None,
        "generations_per_request": counters["generations"] / len(rows) if rows else None,
        "p50_ms": pct(answered_lat, 50),
        "p95_ms": pct(answered_lat, 95),
        "model_p50_ms": pct(model_lat, 50),
        "model_p95_ms": pct(model_lat, 95),
        "mean_reuse": mean(reuse),
        "eval_per_key": mean(key_eval),
        "eval_per_key_after_idle": mean(idle_eval),
        "eval_per_key_after_idle_max": max(idle_eval) if idle_eval else None,
        "eval_after_idle_n": len(idle_eval),
        "delivered_generations": delivered,
        "superseded_generations": superseded_gens,
        "wasted_steps": counters["wasted_steps"],
        "wasted_per_superseded": (
            counters["wasted_steps"] / superseded_gens if superseded_gens else None
        ),
        "typed_through_hits": len(typed_hits),
        "typed_through_hits_zero_steps": len(hits_zero),
        "baseline_rows": len(base),
        "ratio_client_raw_p50": median(client_ratio) if client_ratio else None,
        "client_overhead_p50_ms": pct(overhead, 50),
        "ratio_worker_raw_p50": median(worker_ratio) if worker_ratio else None,
        "raw_warm_p50_ms": pct([r.baseline["warm_ms"] for r in base], 50),
        "worker_p50_ms": pct([r.log["total_ms"] for r in base], 50),
        "raw_cold_p50_ms": pct(cold, 50),
        "cold_samples": len(cold),
        "warm_key_p50_ms": pct(warm_keys, 50),
        "ratio_warm_key_cold": _ratio(pct(warm_keys, 50), pct(cold, 50)),
    }
    return out


def targets(o: dict[str, Any], through: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The five targets: met / not met with the number."""
    res = []

    def add(name: str, met: bool | None, value: str) -> None:
        res.append({"target": name, "met": met, "value": value})

    mx, avg, n = (
        o["eval_per_key_after_idle_max"],
        o["eval_per_key_after_idle"],
        o["eval_after_idle_n"],
    )
    add(
        "keystroke after a finished request evaluates < 2% of prompt tokens",
        None if mx is None else mx < 0.02,
        "no such keystroke" if mx is None else f"max {mx:.2%}, mean {avg:.2%} over {n} keystrokes",
    )
    w, sg = o["wasted_per_superseded"], o["superseded_generations"]
    add(
        "superseded generation runs at most one more decode step",
        None if w is None else w <= 1.0,
        "no generation was superseded"
        if w is None
        else f"{o['wasted_steps']} wasted steps / {sg} superseded generations = {w:.2f}",
    )
    th, zero = o["typed_through_hits"], o["typed_through_hits_zero_steps"]
    seg = sum(t.get("decode_steps", 0) for t in through)
    seg_chars = sum(t.get("chars", 0) for t in through)
    add(
        "typed-through characters cost zero decode steps",
        None if th == 0 else (zero == th and seg == 0),
        "no typed-through cache hit"
        if th == 0
        else f"{zero}/{th} typed-through cache hits saw 0 decode steps; type-through segment: "
        f"{seg} decode steps for {seg_chars} chars",
    )
    r, wr, oh = o["ratio_client_raw_p50"], o["ratio_worker_raw_p50"], o["client_overhead_p50_ms"]
    add(
        "server latency within 10% of raw llama-cpp-python (same tokens)",
        None if wr is None else wr <= 1.10,
        "no baseline"
        if wr is None or r is None
        else f"worker-side p50 x{wr:.2f} (judged: same tokens, both timed from the first prompt "
        f"token to the last sampled one); client-observed p50 x{r:.2f}: the editor also waits "
        f"for the debounce and the JSON-RPC/pipe hops, p50 {oh:.0f} ms over the worker's time",
    )
    g = o["generations_per_request"]
    add(
        "generations started far fewer than requests (<= 50%)",
        None if g is None else g <= 0.5,
        f"{o['generations']} generations / {o['requests']} requests = {g:.0%}"
        if g is not None
        else "no requests",
    )
    return res


def build(
    spec: str,
    model: Path,
    plan: Any,
    settings: dict[str, Any],
    bench: Any,
    ready: dict[str, Any],
    base: dict[str, Any],
) -> dict[str, Any]:
    from dataclasses import asdict

    from .keystrokes import row_dict

    debounce = float(settings.get("debounceMs", 30))
    sessions = []
    for s in bench.sessions:
        rows = [r for r in bench.rows if r.session == s.name]
        sessions.append(
            {
                "name": s.name,
                "doc": s.doc,
                "description": s.description,
                "notes": s.notes,
                "through": s.through,
                "duration_s": round(s.t_end - s.t_start, 2),
                "summary": summarize(rows, s.stats_before, s.stats_after, debounce),
            }
        )
    overall = summarize(
        bench.rows, bench.sessions[0].stats_before, bench.sessions[-1].stats_after, debounce
    )
    through = [s.through for s in bench.sessions if s.through]
    return {
        "model_spec": spec,
        "machine": machine(model, ready),
        "plan": asdict(plan),
        "settings": {"debounceMs": debounce, **settings},
        "load_wall_s": ready.get("load_wall_s"),
        "sessions": sessions,
        "overall": overall,
        "targets": targets(overall, through),
        "baseline": base,
        "final_stats": {k: v for k, v in ready.get("final", {}).items() if k != "info"},
        "rows": [row_dict(r) for r in bench.rows],
    }


def _f(v: Any, kind: str = "") -> str:
    if v is None:
        return "-"
    if kind == "%":
        return f"{v:.1%}"
    if kind == "x":
        return f"x{v:.2f}"
    if kind == "ms":
        return f"{v:.0f}" if v >= 10 else f"{v:.1f}"
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    lines = [
        f"# Keystroke benchmark: `{res['model_spec']}` ({m['model_file']}, {m['model_mb']} MB)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['backend']}; Python {m['python']}, "
        f"llama-cpp-python {m['llama_cpp_python']}. Model `{m['model_name']}`, FIM template "
        f"{m['fim_template']}, context {m['n_ctx']}, loaded in {m['model_load_ms']} ms. "
        f"Server code: {m.get('server_code', 'unknown')}. "
        f"Load average when the report was written: {m['load_average_1m']} (other work "
        "shares the cores: latencies are noisy).",
        f"Pace {res['plan']['pace_ms']:g} ms/key, pauses {res['plan']['pause_ms']:g} ms, "
        f"server settings {json.dumps(res['settings'])}; one inline request per keystroke, "
        "never cancelled (Neovim 0.12 behaviour). Wall time of the whole run "
        f"{res.get('wall_s', '?')} s.",
        "",
        "## Sessions",
        "",
    ]
    for s in res["sessions"]:
        note = ("; " + "; ".join(s["notes"])) if s["notes"] else ""
        lines.append(f"- **{s['name']}** ({s['duration_s']} s): {s['description']}{note}")
    lines += [
        "",
        "## Requests",
        "",
        "| session | requests | generations started | model | attached | cache hits | "
        "superseded | empty | cache-hit rate | p50 ms | p95 ms | model p50 ms | mean reuse | "
        "evaluated / prompt per keystroke | ... after a finished request | decode steps | "
        "wasted steps / superseded generation |",
        "|---|" + "---:|" * 16,
    ]
    for name, o in [(s["name"], s["summary"]) for s in res["sessions"]] + [
        ("**overall**", res["overall"])
    ]:
        w = o["wasted_per_superseded"]
        wasted = (
            "-" if w is None else f"{o['wasted_steps']}/{o['superseded_generations']} = {w:.2f}"
        )
        lines.append(
            f"| {name} | {o['requests']} | {o['generations']} | {o['model']} | {o['attached']} "
            f"| {o['cache_hits']} | {o['superseded']} | {o['empty']} | "
            f"{_f(o['cache_hit_rate'], '%')} | {_f(o['p50_ms'], 'ms')} | "
            f"{_f(o['p95_ms'], 'ms')} | {_f(o['model_p50_ms'], 'ms')} | "
            f"{_f(o['mean_reuse'], '%')} | {_f(o['eval_per_key'], '%')} | "
            f"{_f(o['eval_per_key_after_idle'], '%')} | {o['counters']['decode_steps']} | "
            f"{wasted} |"
        )
    lines += [
        "",
        "Latency = request sent -> response received at the client; p50/p95 over requests "
        "answered with a suggestion (model, attached, cache). *superseded* = answered empty "
        "because a newer keystroke arrived. *generations started* and *decode steps* (llama.cpp "
        "decode calls: 64-token prompt chunks and generated tokens) come from the server's "
        "`seedCoder/stats` counters. Reuse and evaluated tokens come from the log lines of "
        "answered generations (superseded ones log nothing).",
        "",
        "## Against raw llama-cpp-python (same prompt tokens, same generated count)",
        "",
        "| session | model answers compared | raw warm p50 ms | server worker p50 ms | "
        "client p50 / raw | client - worker p50 ms | worker / raw | raw cold p50 ms | "
        "warm keystroke p50 ms | warm keystroke / cold |",
        "|---|" + "---:|" * 9,
    ]
    for name, o in [(s["name"], s["summary"]) for s in res["sessions"]] + [
        ("**overall**", res["overall"])
    ]:
        lines.append(
            f"| {name} | {o['baseline_rows']} | {_f(o['raw_warm_p50_ms'], 'ms')} | "
            f"{_f(o['worker_p50_ms'], 'ms')} | {_f(o['ratio_client_raw_p50'], 'x')} | "
            f"{_f(o['client_overhead_p50_ms'], 'ms')} | "
            f"{_f(o['ratio_worker_raw_p50'], 'x')} | {_f(o['raw_cold_p50_ms'], 'ms')} | "
            f"{_f(o['warm_key_p50_ms'], 'ms')} | {_f(o['ratio_warm_key_cold'], 'x')} |"
        )
    b = res.get("baseline") or {}
    lines += [
        "",
        "Raw warm: the KV cache holds exactly the prefix the server reused, then "
        "`Llama.generate` (greedy). Raw cold: after `Llama.reset()` (sampled on "
        f"{b.get('cold_samples', 0)} requests). Prompts rebuilt with `Runner.prompt_for`: "
        f"{b.get('exact_token_matches', 0)}/{b.get('rows', 0)} matched the server's prompt "
        "token count exactly (only exact ones are compared). Worker = the server's own "
        "`total ms` from its log line; client = what the editor waits (adds the debounce, "
        f"debounceMs {res['settings']['debounceMs']:g} or more where the server stretches it "
        "to the typing pace, and the JSON-RPC/pipe hops). *warm keystroke* = model answers "
        "to typed keys that reused part of the KV cache.",
        "",
        "## Targets",
        "",
        "| target | met | measured |",
        "|---|---|---|",
    ]
    for t in res["targets"]:
        met = {True: "met", False: "**not met**", None: "n/a"}[t["met"]]
        lines.append(f"| {t['target']} | {met} | {t['value']} |")
    lines += ["", "![latency per keystroke](latency.png)", ""]
    return "\n".join(lines)


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sessions = res["sessions"]
    fig, axes = plt.subplots(len(sessions), 1, figsize=(11, 2.6 * len(sessions)), squeeze=False)
    styles = {
        "model": ("o", "tab:blue", "model answer"),
        "attached": ("^", "tab:orange", "attached"),
        "cache": ("s", "tab:green", "cache hit"),
        "empty": ("D", "tab:purple", "model, empty"),
        "superseded": ("x", "tab:gray", "superseded (empty)"),
        "error": ("*", "tab:red", "error"),
    }
    for ax, s in zip(axes[:, 0], sessions):
        rows = [r for r in res["rows"] if r["session"] == s["name"] and r["latency_ms"]]
        t0 = min((r["t_send"] for r in rows), default=0.0)
        for src, (marker, color, label) in styles.items():
            pts = [r for r in rows if r["source"] == src]
            if pts:
                ax.scatter(
                    [r["t_send"] - t0 for r in pts],
                    [r["latency_ms"] for r in pts],
                    marker=marker,
                    color=color,
                    s=18,
                    label=f"{label} ({len(pts)})",
                )
        ax.set_yscale("log")
        ax.set_ylabel("latency ms")
        ax.set_title(f"{s['name']}: {s['description']}", fontsize=9, loc="left")
        ax.legend(fontsize=7, loc="upper right", ncol=3)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("seconds since session start (request sent)")
    fig.suptitle(
        f"seed-coder-lsp keystroke latency: {res['model_spec']} ({res['machine']['model_file']})",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(res: dict[str, Any], out: Path, *, with_plot: bool = True) -> None:
    out.mkdir(parents=True, exist_ok=True)
    # Compact: one line per request row, so the file stays commit-sized and diffable.
    head = {k: v for k, v in res.items() if k != "rows"}
    rows = [{k: v for k, v in r.items() if v not in ("", None, {}, [])} for r in res["rows"]]
    text = (
        json.dumps(head, indent=1, default=str)[:-2]
        + ',\n "rows": [\n'
        + ",\n".join(json.dumps(r, default=str, separators=(",", ":")) for r in rows)
        + "\n ]\n}\n"
    )
    (out / "results.json").write_text(text, encoding="utf-8")
    (out / "results.md").write_text(markdown(res), encoding="utf-8")
    if with_plot:
        plot(res, out / "latency.png")
