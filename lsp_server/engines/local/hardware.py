"""Facts about the machine that the engine tunes itself to: cores, AMX, measured speed."""

from __future__ import annotations

import glob
import os
import time
from typing import Any

WARMUP_LENGTHS = (384, 1536)  # prompt lengths of the warm-up's speed fit ...
WARMUP_BUDGET_MS = 1500.0  # ... measured only if a 64-token probe says they fit in this


def has_amx() -> bool:
    """Whether this CPU reports AMX, whose llama.cpp kernels crash on quantized weights."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return any(line.startswith("flags") and " amx" in line for line in f)
    except OSError:
        return False


def physical_cores() -> int:
    """Cores without their hyperthread siblings, as llama.cpp (and llama-server) count them:
    llama-cpp-python's own default (half the logical CPUs) halves generation speed on machines
    without hyperthreading."""
    siblings = set()
    for path in glob.glob("/sys/devices/system/cpu/cpu[0-9]*/topology/thread_siblings_list"):
        try:
            with open(path, encoding="ascii") as f:
                siblings.add(f.read().strip())
        except OSError:
            continue
    if siblings:
        return len(siblings)
    return max(1, (os.cpu_count() or 2) // 2)


def measure_speed(llm: Any, sample: list[int]) -> dict[str, float]:
    """A short warm-up: prompt cost at two lengths (per-token cost grows with the length,
    attention) and generation speed, to size cold windows to a latency target. Slow hardware
    gets one short probe only (the longer prompts would take seconds at every load)."""
    probe_n = max(8, min(len(sample), 64, llm.n_ctx() // 8))
    lengths = [max(16, min(len(sample), n, llm.n_ctx() // 2)) for n in WARMUP_LENGTHS]
    llm.reset()
    llm.eval(sample[:8])  # the first decodes pay one-time setup (threads, graph allocation)
    points = [(probe_n, _timed_eval(llm, sample[:probe_n]))]
    if points[0][1] * WARMUP_LENGTHS[-1] / probe_n <= WARMUP_BUDGET_MS and lengths[0] < lengths[1]:
        points = [(n, _timed_eval(llm, sample[:n])) for n in lengths]
    t1 = time.perf_counter()
    gen = 8
    for token in sample[:gen]:
        llm.eval([token])
    gen_ms = (time.perf_counter() - t1) * 1000
    llm.reset()
    # ms per token at length n: a + b * n, through the two longest points
    (n1, t1_ms), (n2, t2_ms) = points[0], points[-1]
    slope = max(0.0, (t2_ms / n2 - t1_ms / n1) / (n2 - n1)) if n2 > n1 else 0.0
    base = max(1e-6, t1_ms / n1 - slope * n1)
    return {
        "prompt_tps": round(1000 / (base + slope * 512), 1),  # at a 512-token prompt
        "prompt_ms_per_token": round(base, 6),
        "prompt_ms_per_token2": round(slope, 9),
        "gen_tps": round(gen * 1000 / max(gen_ms, 1e-3), 1),
    }


def _timed_eval(llm: Any, tokens: list[int]) -> float:
    """Milliseconds to evaluate `tokens` from an empty cache."""
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(tokens)
    return (time.perf_counter() - t0) * 1000
