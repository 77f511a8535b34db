"""The one settings schema: typed fields with defaults, limits, choices and help in one place.

Python reads snake_case attributes; editors and initializationOptions send camelCase keys (the
`wire` name, derived from the field name); CLI flags are the kebab-case field names. Validation,
the CLI's flags and the test that pins VS Code's package.json all follow from the fields below.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from lsp_server.prompt.fim import TEMPLATES_BY_NAME

FIM_TEMPLATE_CHOICES = ("auto", *TEMPLATES_BY_NAME)
LOG_LEVELS = ("error", "warning", "info", "debug")
ENGINES = ("local", "remote")
REMOTE_APIS = ("auto", "llama-server", "openai")
BACKGROUND_MODES = ("auto", "always", "never")
LOCAL, REMOTE, BOTH = ("local",), ("remote",), ("local", "remote")  # whose reload a field needs
NEXT = ("next",)  # fields whose change sets up the next-edit engine again
API_KEY_ENV = "SEED_CODER_LSP_API_KEY"  # the remote server's key: never a setting, never logged


def setting(
    default: Any,
    help: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[str, ...] = (),
    reload: tuple[str, ...] = (),
) -> Any:
    """A field of Settings with what validation, flags and docs need to know about it."""
    meta = {"help": help, "lo": lo, "hi": hi, "choices": choices, "reload": reload}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    """What a user can set: initializationOptions, didChangeConfiguration or CLI flags."""

    model: str = setting(
        "",
        "registry name, .gguf path or owner/repo:FILE.gguf; empty: the default",
        reload=LOCAL,
    )
    gpu_layers: int = setting(
        -1, "layers on the GPU: -1 all when the build can, 0 CPU only", lo=-1, hi=10_000,
        reload=LOCAL,
    )  # fmt: skip
    context_length: int = setting(
        4096, "context window in tokens", lo=256, hi=1_048_576, reload=BOTH
    )
    max_tokens: int = setting(128, "most tokens generated per suggestion", lo=1, hi=4096)
    max_time_ms: int = setting(
        1500, "generation time budget; once spent, stop at the next newline", lo=10, hi=600_000
    )
    debounce_ms: int = setting(
        0, "extra wait after a key (the engine paces requests already)", lo=0, hi=5000
    )
    adaptive_debounce: bool = setting(
        True, "wait for a pause when a generation costs more than the gap between keys"
    )
    latency_target_ms: int = setting(
        500, "cold start: shrink the first window to answer within this (0: off)", lo=0,
        hi=600_000,
    )  # fmt: skip
    speculative: bool = setting(True, "compute the next suggestion as if this one was accepted")
    auto_download: bool = setting(False, "download a missing registry model without asking")
    languages: tuple[str, ...] = setting(("*",), "language ids to complete in (* = all)")
    extra_context_tokens: int = setting(
        512,
        "tokens of context from other files: definitions the code uses, similar open files"
        " (0: none)",
        lo=0,
        hi=8192,
    )
    background_work: str = setting(
        "auto",
        "work no keystroke waits for: auto (all of it on a GPU or mains power; on battery or"
        " a slow CPU only what the client is about to ask for), always, never",
        choices=BACKGROUND_MODES,
    )
    repository_context: bool = setting(
        True, "index the workspace's definitions for context (false: other open files only)"
    )
    exclude_globs: tuple[str, ...] = setting(
        (), "files never sent as context (.env and key files never are; nor gitignored ones)"
    )
    temperature: float = setting(0.0, "sampling temperature (0 = greedy)", lo=0.0, hi=2.0)
    enable: bool = setting(True, "offer completions")
    fim_template: str = setting(
        "auto", "FIM token layout", choices=FIM_TEMPLATE_CHOICES, reload=BOTH
    )
    completion_fallback: bool = setting(
        True, "serve textDocument/completion to clients without inline completion"
    )
    threads: int = setting(
        0, "CPU threads (0 = one per physical core)", lo=0, hi=1024, reload=LOCAL
    )
    shared_engine: bool = setting(
        True,
        "one llama.cpp engine per model for all editor windows of this user (false: one each)",
        reload=LOCAL,
    )
    log_level: str = setting("info", "log detail on stderr", choices=LOG_LEVELS)
    engine: str = setting(
        "local", "local: llama.cpp in a worker; remote: a server", choices=ENGINES
    )
    remote_url: str = setting(
        "", "base URL of the remote server, e.g. http://gpu-box:8080", reload=REMOTE
    )
    remote_api: str = setting(
        "auto", "the remote server's API (auto: detect)", choices=REMOTE_APIS, reload=REMOTE
    )
    next_edit_model: str = setting(
        "",
        "next-edit model (Zeta 2.1): registry name, .gguf path or owner/repo:QUANT; with the "
        "remote engine, the model name the server knows; empty: no next edits",
        reload=NEXT,
    )
    next_edit: bool = setting(True, "offer next edits (when a next-edit model is set)", reload=NEXT)
    next_edit_url: str = setting(
        "", "server for next edits with the remote engine (empty: remoteUrl)", reload=NEXT
    )

    def engine_key(self) -> tuple[Any, ...]:
        """Fields whose change needs the engine set up again: the model's for the local engine,
        the server's for the remote one (editing the other kind's fields reloads nothing)."""
        fields = [f for f in dataclasses.fields(self) if self.engine in f.metadata["reload"]]
        return (self.engine, *(getattr(self, f.name) for f in fields))

    def next_edit_key(self) -> tuple[Any, ...] | None:
        """What the next-edit engine depends on; None when next edits are off."""
        if not (self.next_edit and self.next_edit_model.strip()):
            return None
        if self.engine == "remote":
            shared: tuple[Any, ...] = (self.remote_url, self.remote_api)
        else:
            shared = (self.gpu_layers, self.threads, self.shared_engine)
        return (self.engine, self.next_edit_model.strip(), self.next_edit_url, *shared)

    def language_enabled(self, language_id: str) -> bool:
        """Whether completions are on for this language id ("*" means all)."""
        return "*" in self.languages or language_id in self.languages


DEFAULTS = Settings()


def wire_name(name: str) -> str:
    """snake_case field -> the camelCase key editors send (gpu_layers -> gpuLayers)."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def schema() -> list[dataclasses.Field[Any]]:
    """Every setting's field, in declaration order."""
    return list(dataclasses.fields(Settings))


WIRE = {wire_name(f.name): f for f in schema()}


def _check_value(f: dataclasses.Field[Any], value: Any) -> Any:
    """Coerce one value to the type of its default, or raise ValueError with a readable reason."""
    default = f.default
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
    lo, hi, choices = f.metadata["lo"], f.metadata["hi"], f.metadata["choices"]
    if lo is not None and not lo <= value <= hi:
        lo_s, hi_s = (f"{x:g}" if isinstance(x, float) else str(x) for x in (lo, hi))
        raise ValueError(f"must be between {lo_s} and {hi_s}")
    if choices and value not in choices:
        raise ValueError("must be one of " + ", ".join(choices))
    return value


def parse_settings(raw: Any, base: Settings = DEFAULTS) -> tuple[Settings, list[str]]:
    """Merge user values (camelCase keys) over `base`; invalid or unknown keys keep the base
    value and warn."""
    if raw is None:
        return base, []
    if not isinstance(raw, dict):
        return base, [f"seedCoder settings must be an object, got {type(raw).__name__}"]
    if isinstance(raw.get("seedCoder"), dict):
        raw = raw["seedCoder"]
    changes: dict[str, Any] = {}
    warnings: list[str] = []
    for key, value in raw.items():
        f = WIRE.get(key)
        if f is None:
            hint = (
                f" (the API key is read from ${API_KEY_ENV} only)" if "key" in key.lower() else ""
            )
            warnings.append(f"unknown setting seedCoder.{key} ignored{hint}")
            continue
        try:
            changes[f.name] = _check_value(f, value)
        except ValueError as exc:
            warnings.append(
                f"invalid seedCoder.{key} = {value!r} ({exc}); using {getattr(base, f.name)!r}"
            )
    return dataclasses.replace(base, **changes), warnings


def settings_field_names() -> list[str]:
    """The public camelCase keys, for docs and editor clients."""
    return list(WIRE)


def as_wire(settings: Settings) -> dict[str, Any]:
    """The settings as editors send them (camelCase keys)."""
    return {wire_name(f.name): getattr(settings, f.name) for f in schema()}
