"""Registry loading, model spec resolution and GGUF file checks (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lsp_server.model_files import registry
from lsp_server.model_files.model_check import ModelError, check_model_file
from lsp_server.model_files.registry import (
    ModelEntry,
    default_model_name,
    load_registry,
    models_dir,
    resolve_model,
)


@pytest.fixture(autouse=True)
def _cache_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the model cache in tmp and ignore the user's environment."""
    monkeypatch.setenv("SEED_CODER_LSP_CACHE", str(tmp_path))
    for var in ("SEED_CODER_LSP_MODEL", "HF_ENDPOINT", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)


def exact_entry(size: int) -> ModelEntry:
    """A registry-like entry whose size is known exactly."""
    return ModelEntry("tiny", "acme/Tiny-GGUF", "Tiny.gguf", size, True, "seed-coder", "test")


def test_registry_default_is_seed_coder_q4_k_m() -> None:
    models = load_registry()
    name = default_model_name()
    assert name == "seed-coder-8b-base-q4_k_m"
    entry = models[name]
    assert entry.repo == "mradermacher/Seed-Coder-8B-Base-GGUF"
    assert entry.file == "Seed-Coder-8B-Base.Q4_K_M.gguf"


def test_registry_entries_are_sane() -> None:
    models = load_registry()
    assert {"seed-coder-8b-base-q5_k_m", "seed-coder-8b-base-q8_0"} <= set(models)
    for name, e in models.items():
        assert e.name == name
        assert e.file.endswith(".gguf") and "/" in e.repo
        assert 3e9 < e.size < 10e9
        assert e.template == "seed-coder"
        assert e.description
        assert e.role == ("next-edit" if name.startswith("zeta-2.1-") else "completion")
    assert {"zeta-2.1-q4_k_m", "zeta-2.1-q8_0"} <= set(models)


def test_load_registry_returns_fresh_dict() -> None:
    load_registry().clear()
    assert load_registry()


def test_registry_path_in_source_tree() -> None:
    assert registry.registry_path().is_file()


def test_models_dir_env_override(tmp_path: Path) -> None:
    assert models_dir() == tmp_path / "models"


def test_resolve_registry_name(tmp_path: Path) -> None:
    r = resolve_model("seed-coder-8b-base-q8_0")
    assert r.entry is not None and r.entry.name == "seed-coder-8b-base-q8_0"
    assert r.path == tmp_path / "models" / "Seed-Coder-8B-Base.Q8_0.gguf"


@pytest.mark.parametrize("spec", [None, "", "  "])
def test_resolve_default(spec: str | None) -> None:
    r = resolve_model(spec)
    assert r.entry is not None and r.entry.name == default_model_name()


def test_resolve_env_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEED_CODER_LSP_MODEL", "seed-coder-8b-base-q5_k_m")
    r = resolve_model(None)
    assert r.entry is not None and r.entry.name == "seed-coder-8b-base-q5_k_m"


def test_resolve_env_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SEED_CODER_LSP_MODEL", str(tmp_path / "m.gguf"))
    assert resolve_model(None).path == tmp_path / "m.gguf"
    assert resolve_model(None).entry is None


def test_explicit_spec_beats_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEED_CODER_LSP_MODEL", "seed-coder-8b-base-q5_k_m")
    r = resolve_model("seed-coder-8b-base-q6_k")
    assert r.entry is not None and r.entry.name == "seed-coder-8b-base-q6_k"


def test_resolve_path_expands_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    r = resolve_model("~/models/qwen2.5-coder-7b.Q4_K_M.gguf")
    assert r.path == tmp_path / "models" / "qwen2.5-coder-7b.Q4_K_M.gguf"
    assert r.entry is None


def test_resolve_bare_gguf_file_name_is_a_path() -> None:
    r = resolve_model("starcoder2-7b.gguf")
    assert r.path == Path("starcoder2-7b.gguf") and r.entry is None


def test_resolve_existing_file_without_extension(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mymodel").write_bytes(b"GGUF")
    assert resolve_model("mymodel").path == Path("mymodel")


def test_resolve_unknown_name_lists_known() -> None:
    with pytest.raises(ModelError) as exc:
        resolve_model("seed-coder-70b")
    msg = str(exc.value)
    assert "seed-coder-70b" in msg and default_model_name() in msg and "\n" not in msg


def test_registry_reexports_model_error() -> None:
    assert registry.ModelError is ModelError


def test_check_missing_registry_file_says_download() -> None:
    r = resolve_model(None)
    assert r.entry is not None
    with pytest.raises(ModelError) as exc:
        check_model_file(r.path, r.entry)
    msg = str(exc.value)
    assert f"seed-coder-lsp download {r.entry.name}" in msg
    assert "https://huggingface.co/mradermacher/Seed-Coder-8B-Base-GGUF/resolve/main/" in msg


def test_check_missing_path_says_check_path(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="check the path"):
        check_model_file(tmp_path / "nope.gguf", None)


def test_check_not_gguf(tmp_path: Path) -> None:
    p = tmp_path / "model.gguf"
    p.write_bytes(b"<html>not a model</html>")
    with pytest.raises(ModelError, match="not a GGUF"):
        check_model_file(p, None)


def test_check_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "model.gguf"
    p.write_bytes(b"")
    with pytest.raises(ModelError, match="not a GGUF"):
        check_model_file(p, None)


def test_check_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a file"):
        check_model_file(tmp_path, None)


def test_check_valid_gguf_magic(tmp_path: Path) -> None:
    p = tmp_path / "model.gguf"
    p.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 100)
    check_model_file(p, None)
    check_model_file(p, exact_entry(108))


def test_check_truncated_exact_size(tmp_path: Path) -> None:
    p = tmp_path / "Tiny.gguf"
    p.write_bytes(b"GGUF" + b"\x00" * 50)
    with pytest.raises(ModelError, match="seed-coder-lsp download tiny"):
        check_model_file(p, exact_entry(1000))


def test_check_estimated_size_not_flagged(tmp_path: Path) -> None:
    p = tmp_path / "model.gguf"
    p.write_bytes(b"GGUF" + b"\x00" * 50)
    entry = load_registry()[default_model_name()]
    assert not entry.size_exact
    check_model_file(p, entry)


def test_packaged_registry_preferred(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "registry.json").write_text(
        '{"default": "m", "models": {"m": {"repo": "a/b", "file": "m.gguf", "size": 10}}}'
    )
    registry._load.cache_clear()
    try:
        with monkeypatch.context() as m:
            m.setattr(registry.resources, "files", lambda _name: pkg)
            assert registry.registry_path() == pkg / "registry.json"
            assert default_model_name() == "m"
            assert load_registry()["m"].size_exact  # sizes are exact unless marked otherwise
    finally:
        registry._load.cache_clear()
    assert default_model_name() == "seed-coder-8b-base-q4_k_m"
