"""Fixtures for the end-to-end tests (helpers live in tests/e2e/helpers.py)."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import OTHER_INFILL, PAREN_INFILL, Models
from tests.tiny_model import write_tiny_model


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    base = tmp_path_factory.mktemp("e2e-models")
    return Models(
        tiny=write_tiny_model(base / "tiny.gguf"),
        loop=write_tiny_model(base / "loop.gguf", loop=True),
        other=write_tiny_model(base / "other.gguf", OTHER_INFILL),
        paren=write_tiny_model(base / "paren.gguf", PAREN_INFILL),
        missing=base / "nowhere" / "missing.gguf",
    )
