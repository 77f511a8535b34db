"""Typed settings with their defaults in one place, read from camelCase dictionaries."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .fim import TEMPLATES_BY_NAME

FIM_TEMPLATE_CHOICES = ("auto", *TEMPLATES_BY_NAME)


@dataclass(frozen=True)
class Settings:
    """What a user can set: initializationOptions, didChangeConfiguration or CLI flags."""

    model: str = ""  # registry name or path; "" = $SEED_CODER_LSP_MODEL, then the registry default
    gpuLayers: int = -1  # -1 = every layer when the build can offload, 0 = CPU only
    contextLength: int = 4096
    maxTokens: int = 128
    maxTimeMs: int = 1500  # generation time budget; once spent, stop at the next newline
    debounceMs: int = 0  # the engine paces requests: idle -> start at once
    adaptiveDebounce: bool = True  # wait for a pause when a generation costs more than a key gap
    latencyTargetMs: int = 500  # cold start: shrink the first window to answer within this
    speculative: bool = True  # compute the next suggestion as if the shown one was accepted
    autoDownload: bool = False  # download a missing registry model without asking first
    languages: tuple[str, ...] = ("*",)
    temperature: float = 0.0
    enable: bool = True
    fimTemplate: str = "auto"
    completionFallback: bool = True  # textDocument/completion for clients without inline completion
    threads: int = 0  # 0 = one per physical core (what llama.cpp itself picks)
    logLevel: str = "info"

    def engine_key(self) -> tuple[Any, ...]:
        """Fields whose change needs the model reloaded."""
        return (self.model, self.gpuLayers, self.contextLength, self.fimTemplate, self.threads)

    def language_enabled(self, language_id: str) -> bool:
        """Whether completions are on for this language id ("*" means all)."""
        return "*" in self.languages or language_id in self.languages


_LIMITS: dict[str, tuple[float, float]] = {
    "gpuLayers": (-1, 10_000),
    "contextLength": (256, 1_048_576),
    "maxTokens": (1, 4096),
    "maxTimeMs": (10, 600_000),
    "debounceMs": (0, 5_000),
    "latencyTargetMs": (0, 600_000),
    "temperature": (0.0, 2.0),
    "threads": (0, 1024),
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "fimTemplate": FIM_TEMPLATE_CHOICES,
    "logLevel": ("error", "warning", "info", "debug"),
}
DEFAULTS = Settings()


def _check_value(name: str, value: Any, default: Any) -> Any:
    """Coerce one value to the type of its default, or raise ValueError with a readable reason."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ValueError("expected true or false")
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ValueError("expected an integer")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("expected a number")
        value = float(value)
    elif isinstance(default, tuple):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ValueError("expected a list of strings")
        return tuple(value)
    elif isinstance(default, str):
        if value is None:
            return default
        if not isinstance(value, str):
            raise ValueError("expected a string")
    lo_hi = _LIMITS.get(name)
    if lo_hi and not lo_hi[0] <= value <= lo_hi[1]:
        lo, hi = (f"{x:g}" if isinstance(x, float) else str(x) for x in lo_hi)  # not 1.04858e+06
        raise ValueError(f"must be between {lo} and {hi}")
    if name in _CHOICES and value not in _CHOICES[name]:
        raise ValueError("must be one of " + ", ".join(_CHOICES[name]))
    return value


def parse_settings(raw: Any, base: Settings = DEFAULTS) -> tuple[Settings, list[str]]:
    """Merge user values over `base`; invalid or unknown keys keep the base value and warn."""
    if raw is None:
        return base, []
    if not isinstance(raw, dict):
        return base, [f"seedCoder settings must be an object, got {type(raw).__name__}"]
    if isinstance(raw.get("seedCoder"), dict):
        raw = raw["seedCoder"]
    known = {f.name: f for f in dataclasses.fields(Settings)}
    changes: dict[str, Any] = {}
    warnings: list[str] = []
    for key, value in raw.items():
        if key not in known:
            warnings.append(f"unknown setting seedCoder.{key} ignored")
            continue
        default = getattr(DEFAULTS, key)
        try:
            changes[key] = _check_value(key, value, default)
        except ValueError as exc:
            warnings.append(
                f"invalid seedCoder.{key} = {value!r} ({exc}); using {getattr(base, key)!r}"
            )
    return dataclasses.replace(base, **changes), warnings


def settings_field_names() -> list[str]:
    """The public camelCase keys, for docs and editor clients."""
    return [f.name for f in dataclasses.fields(Settings)]
