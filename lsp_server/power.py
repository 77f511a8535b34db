"""Is this machine running on battery? Read the ordinary way for each OS (Linux
/sys/class/power_supply, macOS `pmset -g batt`, Windows GetSystemPowerStatus), cached for a
while: background work asks often, the answer changes rarely."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

CACHE_S = 30.0
SUPPLIES = Path("/sys/class/power_supply")
_cached: tuple[float, bool | None] | None = None


def on_battery() -> bool | None:
    """True on battery, False on mains power, None when the OS does not say (a desktop)."""
    global _cached
    now = time.monotonic()
    if _cached is not None and now - _cached[0] < CACHE_S:
        return _cached[1]
    try:
        if sys.platform.startswith("linux"):
            state = linux(SUPPLIES)
        elif sys.platform == "darwin":
            state = macos(_pmset())
        elif sys.platform == "win32":
            state = windows()
        else:
            state = None
    except (OSError, subprocess.SubprocessError, ValueError):
        state = None
    _cached = (now, state)
    return state


def linux(root: Path) -> bool | None:
    """Mains online: not on battery; else a discharging battery: on battery; else unknown."""
    if not root.is_dir():
        return None
    batteries, mains = [], []
    for supply in sorted(root.iterdir()):
        kind = _read(supply / "type")
        if kind == "Mains":
            mains.append(_read(supply / "online") == "1")
        elif kind == "Battery" and _read(supply / "scope") != "Device":  # not a mouse's
            batteries.append(_read(supply / "status"))
    if any(mains):
        return False
    if batteries:
        return any(status == "Discharging" for status in batteries)
    return None if not mains else True


def macos(output: str) -> bool | None:
    """`pmset -g batt` says "Now drawing from 'AC Power'" or "'Battery Power'"."""
    if "'Battery Power'" in output:
        return True
    if "'AC Power'" in output:
        return False
    return None


def windows() -> bool | None:
    """GetSystemPowerStatus: ACLineStatus 0 = battery, 1 = mains, 255 = unknown."""
    import ctypes
    from ctypes import wintypes

    class Status(ctypes.Structure):
        _fields_ = [
            ("ACLineStatus", wintypes.BYTE), ("BatteryFlag", wintypes.BYTE),
            ("BatteryLifePercent", wintypes.BYTE), ("SystemStatusFlag", wintypes.BYTE),
            ("BatteryLifeTime", wintypes.DWORD), ("BatteryFullLifeTime", wintypes.DWORD),
        ]  # fmt: skip

    status = Status()
    if not ctypes.windll.kernel32.GetSystemPowerStatus(ctypes.byref(status)):  # type: ignore[attr-defined]
        return None
    line = status.ACLineStatus & 0xFF
    return None if line == 255 else line == 0


def _pmset() -> str:
    return subprocess.run(
        ["pmset", "-g", "batt"], capture_output=True, text=True, timeout=2, env=dict(os.environ)
    ).stdout


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
