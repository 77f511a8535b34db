"""Next-edit generation in the real worker (llama.cpp) on a tiny Zeta-format model: the prompt's
pieces become the exact tokens (FIM marks as control tokens, everything else as text), the
answer comes back whole, a cancel stops it within a decode step, the KV cache is reused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lsp_server.engines.local.runner import WorkerConfig
from lsp_server.engines.local.supervisor import LocalEngine
from lsp_server.next_edit.zeta_v0318 import assemble
from tests.tiny_model import ZETA_ANSWER, ZETA_DOCUMENT, write_zeta_model

TIMEOUT = 20.0


@pytest.fixture(scope="module")
def zeta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_zeta_model(tmp_path_factory.mktemp("zeta") / "zeta.gguf")


@pytest.fixture(scope="module")
def zeta_loop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_zeta_model(tmp_path_factory.mktemp("zeta") / "loop.gguf", loop=True)


@pytest.fixture
def engine(zeta: Path) -> Iterator[LocalEngine]:
    e = LocalEngine(WorkerConfig(model_path=str(zeta), n_ctx=2048, gpu_layers=0))
    e.wait_ready(TIMEOUT)
    yield e
    e.close()


def payload(text: str = ZETA_DOCUMENT, cursor: int | None = None) -> dict:
    cursor = text.index("(2)") + 2 if cursor is None else cursor
    prompt = assemble("proj/area.py", text, (0, len(text)), cursor, [])
    assert prompt is not None
    return {
        "edit_suffix": [list(p) for p in prompt.suffix],
        "edit_prefix": [list(p) for p in prompt.prefix],
        "max_tokens": 200,
    }


def test_the_answer_comes_back_whole(engine: LocalEngine) -> None:
    result = engine.submit("edit", **payload()).future.result(TIMEOUT)
    assert result["text"] == ZETA_ANSWER
    stats = result["stats"]
    assert stats["stop_reason"] == "eos" and stats["generated_tokens"] >= 5
    again = engine.submit("edit", **payload()).future.result(TIMEOUT)
    assert again["stats"]["evaluated_tokens"] == 1  # the same prompt: all but its last token kept


def test_prompt_tokens_are_exact(engine: LocalEngine, zeta: Path) -> None:
    """FIM marks are their control tokens; template and document text are bytes (the tiny
    vocabulary's text tokens), so a document holding '<[fim-middle]>' stays text."""
    from lsp_server.engines.local.edits import edit_tokens
    from lsp_server.engines.local.runner import Runner

    runner = Runner(WorkerConfig(model_path=str(zeta), n_ctx=2048, gpu_layers=0))
    fim = runner.fim
    assert fim is not None
    doc = "x = '<[fim-middle]>'\nprint(x)\n"
    ids = edit_tokens(runner, payload(doc, 3))
    assert ids.count(fim.middle) == 1 and ids[-1] == fim.middle
    assert ids[0] == fim.suffix and ids.count(fim.suffix) == 1 and ids.count(fim.prefix) == 1
    text = runner.llm.detokenize(ids, special=True).decode("utf-8")
    expected = assemble("proj/area.py", doc, (0, len(doc)), 3, [])
    assert expected is not None and text == expected.text


def test_a_cancel_stops_it_within_a_decode_step(zeta_loop: Path) -> None:
    e = LocalEngine(WorkerConfig(model_path=str(zeta_loop), n_ctx=4096, gpu_layers=0))
    try:
        e.wait_ready(TIMEOUT)
        job = e.submit("edit", **{**payload(), "max_tokens": 3000})
        while len(job.partial) < 200:
            assert not job.done
        e.cancel(job)
        result = job.future.result(TIMEOUT)
        assert result["cancelled"] and result["stats"]["stop_reason"] == "cancelled"
        assert e.wasted_steps(job, result) <= 1
    finally:
        e.close()
