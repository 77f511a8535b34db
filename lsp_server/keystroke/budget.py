"""One budget for work no keystroke waits for (growing a cold window, speculation, eager
generation, next-edit warm-ups): how much of it to do, from the `backgroundWork` setting, the
engine's device and speed, and the power state. Plain data in, a level out."""

from __future__ import annotations

from typing import Any

FULL = "full"  # everything that may make a later suggestion faster
MINIMAL = "minimal"  # only a generation for an edit the client is about to ask for
NONE = "none"  # nothing after the last key
SLOW_GEN_TPS = 16.0  # a first line of a suggestion takes over a second
SLOW_PROMPT_TPS = 400.0  # a 4,096-token window takes over ten seconds


def level(mode: str, info: dict[str, Any] | None, battery: bool | None) -> str:
    """always -> full, never -> none; auto: full on a GPU (or a remote server, whose power
    is not this machine's) or on mains power with a CPU fast enough, else minimal."""
    if mode == "never":
        return NONE
    if mode == "always":
        return FULL
    info = info or {}
    if on_gpu(info):
        return FULL
    if battery:
        return MINIMAL
    return MINIMAL if slow(info) else FULL


def on_gpu(info: dict[str, Any]) -> bool:
    """The work runs on a GPU, or on another machine."""
    if info.get("server") or info.get("api"):
        return True
    return (
        str(info.get("backend", "CPU")).upper() != "CPU" and int(info.get("n_gpu_layers", 0)) != 0
    )


def slow(info: dict[str, Any]) -> bool:
    """Generating on this CPU is slow (measured at load)."""
    gen, prompt = info.get("gen_tps"), info.get("prompt_tps")
    return bool((gen and gen < SLOW_GEN_TPS) or (prompt and prompt < SLOW_PROMPT_TPS))


def allows(current: str, kind: str) -> bool:
    """eager: at minimal or full; speculation, grow, warm-up: full only."""
    if kind == "eager":
        return current in (FULL, MINIMAL)
    return current == FULL


def describe(mode: str, info: dict[str, Any] | None, battery: bool | None) -> str:
    """One line for doctor: the mode, what decides it, the level."""
    power = {True: "on battery", False: "on mains power", None: "power state unknown"}[battery]
    device = "GPU/remote" if on_gpu(info or {}) else ("slow CPU" if slow(info or {}) else "CPU")
    return f"background work: {mode} -> {level(mode, info, battery)} ({device}, {power})"
