"""The background budget: what each backgroundWork mode allows on which machine, and the
power state read the way each OS reports it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lsp_server import power
from lsp_server.keystroke import budget

CPU = {"backend": "CPU", "n_gpu_layers": 0, "gen_tps": 55.0, "prompt_tps": 2000.0}
SLOW_CPU = {**CPU, "gen_tps": 6.0, "prompt_tps": 90.0}
GPU = {"backend": "CUDA", "n_gpu_layers": -1, "gen_tps": 80.0, "prompt_tps": 6000.0}
REMOTE = {"server": "llama-server", "api": "llama-server"}


@pytest.mark.parametrize(
    ("mode", "info", "battery", "want"),
    [
        ("always", SLOW_CPU, True, budget.FULL),
        ("never", GPU, False, budget.NONE),
        ("auto", GPU, True, budget.FULL),  # a GPU: the work is cheap
        ("auto", REMOTE, True, budget.FULL),  # another machine's power
        ("auto", CPU, False, budget.FULL),
        ("auto", CPU, None, budget.FULL),  # a desktop without a battery
        ("auto", CPU, True, budget.MINIMAL),
        ("auto", SLOW_CPU, False, budget.MINIMAL),
        ("auto", {**GPU, "n_gpu_layers": 0}, True, budget.MINIMAL),  # a GPU build, CPU only
    ],
)
def test_the_level_for_each_mode_and_machine(
    mode: str, info: dict, battery: bool | None, want: str
) -> None:
    assert budget.level(mode, info, battery) == want


def test_what_each_level_allows() -> None:
    allowed = {
        level: [k for k in ("eager", "speculate", "grow", "warmup") if budget.allows(level, k)]
        for level in (budget.FULL, budget.MINIMAL, budget.NONE)
    }
    assert allowed == {
        budget.FULL: ["eager", "speculate", "grow", "warmup"],
        budget.MINIMAL: ["eager"],
        budget.NONE: [],
    }
    assert budget.describe("auto", SLOW_CPU, True) == (
        "background work: auto -> minimal (slow CPU, on battery)"
    )


def supply(root: Path, name: str, **files: str) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    for key, value in files.items():
        (folder / key).write_text(value + "\n", encoding="utf-8")


def test_linux_power_supplies(tmp_path: Path) -> None:
    assert power.linux(tmp_path / "none") is None
    laptop = tmp_path / "laptop"
    supply(laptop, "AC", type="Mains", online="0")
    supply(laptop, "BAT0", type="Battery", status="Discharging")
    supply(laptop, "hid-mouse", type="Battery", status="Charging", scope="Device")
    assert power.linux(laptop) is True
    (laptop / "AC" / "online").write_text("1\n", encoding="utf-8")
    assert power.linux(laptop) is False
    desktop = tmp_path / "desktop"
    desktop.mkdir()
    assert power.linux(desktop) is None
    full = tmp_path / "full"
    supply(full, "BAT0", type="Battery", status="Full")
    assert power.linux(full) is False


def test_macos_pmset_output() -> None:
    battery = "Now drawing from 'Battery Power'\n -InternalBattery-0 (id=1)\t87%; discharging;"
    assert power.macos(battery) is True
    assert power.macos("Now drawing from 'AC Power'\n -InternalBattery-0\t100%; charged;") is False
    assert power.macos("") is None
