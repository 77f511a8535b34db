"""Shared fixtures: tiny deterministic GGUF models and an in-process Runner for prompt tests."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.tiny_model import TOKEN_TYPE_USER_DEFINED, write_tiny_model

# Shared engines started by tests (servers, editors) live in a runtime dir of this test run, and
# leave soon after their last client: never the user's engines, never lingering after the run.
os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="seed-coder-lsp-tests-")
os.environ["SEED_CODER_LSP_ENGINE_GRACE"] = "2"


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_model(model_dir: Path) -> Path:
    """FIM model (control-typed markers) that writes DEFAULT_INFILL then EOS."""
    return write_tiny_model(model_dir / "tiny.gguf")


@pytest.fixture(scope="session")
def loop_model(model_dir: Path) -> Path:
    """Like tiny_model, but the infill repeats forever (never EOS)."""
    return write_tiny_model(model_dir / "loop.gguf", loop=True)


@pytest.fixture(scope="session")
def nofim_model(model_dir: Path) -> Path:
    """No FIM tokens at all: the server must fall back to prefix-only prompts."""
    return write_tiny_model(model_dir / "nofim.gguf", fim=False)


@pytest.fixture(scope="session")
def userdef_model(model_dir: Path) -> Path:
    """FIM markers typed USER_DEFINED: llama.cpp matches them even with special parsing off."""
    return write_tiny_model(model_dir / "userdef.gguf", fim_type=TOKEN_TYPE_USER_DEFINED)


@pytest.fixture(scope="session")
def bos_model(model_dir: Path) -> Path:
    """A model whose metadata asks for BOS at the start of every prompt."""
    return write_tiny_model(model_dir / "bos.gguf", add_bos=True)


RunnerFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def make_runner() -> Iterator[RunnerFactory]:
    """Build a worker Runner in this process (milliseconds for a tiny model); cached per config."""
    from lsp_server.engines.local.runner import Runner, WorkerConfig

    cache: dict[tuple[Any, ...], Any] = {}

    def build(model: Path, **config: Any) -> Any:
        key = (str(model), tuple(sorted(config.items())))
        if key not in cache:
            config.setdefault("n_ctx", 512)
            config.setdefault("gpu_layers", 0)
            cache[key] = Runner(WorkerConfig(model_path=str(model), **config))
        return cache[key]

    yield build
    for runner in cache.values():
        runner.llm.close()
