"""Loading the model never leaves the server stuck at "loading": any failure is one message."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lsp_server.lsp import model_life as lsp_models
from lsp_server.lsp.server import SeedCoderServer


def test_an_unexpected_failure_ends_in_the_error_status_and_one_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ls = SeedCoderServer()
    statuses: list[tuple[str, str]] = []
    told: list[str] = []
    ls.set_status = lambda state, message, **_: statuses.append((state, message))  # type: ignore[method-assign]
    ls.tell_once = lambda message, kind=None: told.append(message)  # type: ignore[method-assign]

    def broken(_spec: Any) -> Any:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(lsp_models, "resolve_model", broken)
    asyncio.run(ls.load_model())
    assert statuses[0][0] == "loading"
    assert statuses[-1] == ("error", "could not load the model: the disk is on fire")
    assert told == ["could not load the model: the disk is on fire"]
