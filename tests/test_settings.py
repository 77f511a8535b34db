"""parse_settings: defaults, camelCase keys, nesting, validation that warns and keeps the base."""

from __future__ import annotations

import dataclasses

import pytest

from lsp_server.settings import (
    DEFAULTS,
    FIM_TEMPLATE_CHOICES,
    WIRE,
    Settings,
    as_wire,
    parse_settings,
    settings_field_names,
)


def test_defaults() -> None:
    assert Settings() == DEFAULTS
    assert as_wire(DEFAULTS) == {
        "model": "",
        "gpuLayers": -1,
        "contextLength": 4096,
        "maxTokens": 128,
        "maxTimeMs": 1500,
        "debounceMs": 0,
        "adaptiveDebounce": True,
        "latencyTargetMs": 500,
        "speculative": True,
        "autoDownload": False,
        "languages": ("*",),
        "extraContextTokens": 512,
        "backgroundWork": "auto",
        "repositoryContext": True,
        "excludeGlobs": (),
        "temperature": 0.0,
        "enable": True,
        "fimTemplate": "auto",
        "completionFallback": True,
        "threads": 0,
        "sharedEngine": True,
        "logLevel": "info",
        "engine": "local",
        "remoteUrl": "",
        "remoteApi": "auto",
        "nextEditModel": "",
        "nextEdit": True,
        "nextEditUrl": "",
    }


@pytest.mark.parametrize("raw", [None, {}, {"seedCoder": {}}])
def test_nothing_given_keeps_base(raw) -> None:
    assert parse_settings(raw) == (DEFAULTS, [])
    base = Settings(max_tokens=7)
    assert parse_settings(raw, base) == (base, [])


def test_camel_case_values() -> None:
    raw = {
        "model": "/models/x.gguf",
        "gpuLayers": 0,
        "contextLength": 8192,
        "maxTokens": 64,
        "maxTimeMs": 800,
        "debounceMs": 0,
        "adaptiveDebounce": False,
        "latencyTargetMs": 250,
        "speculative": False,
        "autoDownload": True,
        "languages": ["python", "rust"],
        "extraContextTokens": 0,
        "backgroundWork": "never",
        "repositoryContext": False,
        "excludeGlobs": ["secrets/**"],
        "temperature": 0.2,
        "enable": False,
        "fimTemplate": "qwen",
        "completionFallback": False,
        "threads": 4,
        "sharedEngine": False,
        "logLevel": "debug",
        "engine": "remote",
        "remoteUrl": "http://gpu-box:8080",
        "remoteApi": "openai",
        "nextEditModel": "",
        "nextEdit": True,
        "nextEditUrl": "",
    }
    settings, warnings = parse_settings(raw)
    assert warnings == []
    assert settings.gpu_layers == 0 and settings.remote_url == "http://gpu-box:8080"
    assert as_wire(settings) == {
        **raw,
        "languages": ("python", "rust"),
        "excludeGlobs": ("secrets/**",),
    }


def test_nested_seed_coder_object() -> None:
    settings, warnings = parse_settings({"seedCoder": {"maxTokens": 32, "enable": False}})
    assert warnings == []
    assert settings == dataclasses.replace(DEFAULTS, max_tokens=32, enable=False)


def test_merges_over_base() -> None:
    base = Settings(max_tokens=50, temperature=0.5)
    settings, warnings = parse_settings({"maxTokens": 60}, base)
    assert warnings == []
    assert (settings.max_tokens, settings.temperature) == (60, 0.5)


def test_integral_float_accepted_int_for_float_converted() -> None:
    settings, warnings = parse_settings({"maxTokens": 64.0, "temperature": 1})
    assert warnings == []
    assert settings.max_tokens == 64 and type(settings.max_tokens) is int
    assert settings.temperature == 1.0 and type(settings.temperature) is float


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("maxTokens", 0, "must be between 1 and 4096"),
        ("maxTokens", 5000, "must be between 1 and 4096"),
        ("maxTokens", "64", "expected an integer"),
        ("maxTokens", True, "expected an integer"),
        ("maxTokens", 1.5, "expected an integer"),
        ("contextLength", 100, "must be between 256 and 1048576"),
        ("gpuLayers", -2, "must be between -1 and 10000"),
        ("temperature", 3.0, "must be between 0 and 2"),
        ("temperature", "hot", "expected a number"),
        ("enable", "yes", "expected true or false"),
        ("enable", 1, "expected true or false"),
        ("fimTemplate", "gpt", "must be one of " + ", ".join(FIM_TEMPLATE_CHOICES)),
        ("logLevel", "verbose", "must be one of error, warning, info, debug"),
        ("languages", [1, 2], "expected a list of strings"),
        ("model", 5, "expected a string"),
        ("maxTimeMs", 1, "must be between 10 and 600000"),
        ("engine", "cloud", "must be one of local, remote"),
        ("remoteApi", "tgi", "must be one of auto, llama-server, openai"),
    ],
)
def test_invalid_values_warn_and_keep_base(key: str, value, reason: str) -> None:
    base = Settings(max_tokens=77, context_length=2048, temperature=0.3, enable=False,
                    fim_template="qwen", log_level="debug", languages=("go",), model="m",
                    gpu_layers=5)  # fmt: skip
    settings, warnings = parse_settings({key: value, "debounceMs": 99}, base)
    name = WIRE[key].name
    assert getattr(settings, name) == getattr(base, name)
    assert settings.debounce_ms == 99  # the valid key next to it still applies
    assert warnings == [
        f"invalid seedCoder.{key} = {value!r} ({reason}); using {getattr(base, name)!r}"
    ]


def test_an_api_key_is_never_a_setting() -> None:
    """The key lives in the environment only: a key in settings is refused and not echoed."""
    settings, warnings = parse_settings({"apiKey": "sk-secret-123"})
    assert settings == DEFAULTS
    assert warnings == [
        "unknown setting seedCoder.apiKey ignored "
        "(the API key is read from $SEED_CODER_LSP_API_KEY only)"
    ]


def test_unknown_keys_warn() -> None:
    settings, warnings = parse_settings({"maxTokens": 10, "colour": "blue", "max_tokens": 3})
    assert settings == dataclasses.replace(DEFAULTS, max_tokens=10)
    assert warnings == [
        "unknown setting seedCoder.colour ignored",
        "unknown setting seedCoder.max_tokens ignored",
    ]


def test_not_an_object() -> None:
    assert parse_settings(["maxTokens"]) == (
        DEFAULTS,
        ["seedCoder settings must be an object, got list"],
    )


def test_languages_accepts_a_string() -> None:
    settings, warnings = parse_settings({"languages": "python"})
    assert warnings == []
    assert settings.languages == ("python",)
    assert settings.language_enabled("python") and not settings.language_enabled("go")
    assert DEFAULTS.language_enabled("anything")


def test_null_string_keeps_default() -> None:
    settings, warnings = parse_settings({"model": None}, Settings(model="x"))
    assert warnings == []
    assert settings.model == ""  # null means "the default", not "keep the previous value"


def test_engine_key_and_field_names() -> None:
    a = Settings()
    assert a.engine_key() == ("local", "", -1, 4096, "auto", 0, True)
    assert dataclasses.replace(a, shared_engine=False).engine_key() != a.engine_key()
    assert dataclasses.replace(a, max_tokens=1).engine_key() == a.engine_key()
    assert dataclasses.replace(a, context_length=8192).engine_key() != a.engine_key()
    # the other kind's fields reload nothing
    assert dataclasses.replace(a, remote_url="http://x").engine_key() == a.engine_key()
    remote = dataclasses.replace(a, engine="remote", remote_url="http://x")
    assert remote.engine_key() == ("remote", 4096, "auto", "http://x", "auto")
    assert dataclasses.replace(remote, model="other", threads=3).engine_key() == remote.engine_key()
    assert settings_field_names()[:3] == ["model", "gpuLayers", "contextLength"]
    assert len(settings_field_names()) == 28


def test_vscode_settings_match_the_server_defaults() -> None:
    """Every server setting is a seedCoder.* setting of the extension, with the same default."""
    import json
    from pathlib import Path

    pkg = Path(__file__).resolve().parent.parent / "editors" / "vscode" / "package.json"
    props = json.loads(pkg.read_text(encoding="utf-8"))["contributes"]["configuration"][
        "properties"
    ]
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string", tuple: "array"}
    for key, f in WIRE.items():
        prop = props[f"seedCoder.{key}"]
        default = list(f.default) if isinstance(f.default, tuple) else f.default
        assert prop["default"] == default, key
        assert prop["type"] == kinds[type(f.default)], key
        assert (prop.get("minimum"), prop.get("maximum")) == (f.metadata["lo"], f.metadata["hi"]), (
            key
        )
        assert tuple(prop.get("enum", ())) == f.metadata["choices"], key
    client_only = {"seedCoder.serverCommand", "seedCoder.pythonPath"}
    assert set(props) - client_only == {f"seedCoder.{k}" for k in WIRE}


@pytest.mark.parametrize(
    ("doc", "pattern"),
    [
        ("README.md", r"^\| `(\w+)` \| `([^`]*)` \|"),
        ("editors/vscode/README.md", r"^\| `seedCoder\.(\w+)` \| `([^`]*)` \|"),
        ("editors/nvim/doc/seed_coder.txt", r"^  (\w+)\s"),
    ],
)
def test_the_docs_list_every_setting(doc: str, pattern: str) -> None:
    """The settings tables of the READMEs and :help list exactly the schema's keys (with the
    schema's defaults where the table shows them)."""
    import json
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / doc).read_text(encoding="utf-8")
    if doc.endswith(".txt"):
        text = text.split("*seed_coder-settings*", 1)[1].split("Example:", 1)[0]
    rows = {m.group(1): m.groups()[1:] for m in re.finditer(pattern, text, re.M)}
    rows = {k: v for k, v in rows.items() if k not in ("serverCommand", "pythonPath")}
    assert set(rows) == set(WIRE), doc
    for key, shown in rows.items():
        if shown:
            default = WIRE[key].default
            expected = list(default) if isinstance(default, tuple) else default
            assert json.loads(shown[0]) == expected, (doc, key)
