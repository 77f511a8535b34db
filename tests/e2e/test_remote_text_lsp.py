"""The language server over stdio with `engine: remote` on a server that has no /tokenize
(llama-cpp-python's): the exact ghost text, and a document holding marker text answered empty
with one message while the server goes on serving."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lsprotocol import types

from tests.e2e.helpers import DEFAULT_INFILL, Models, lsp_session

pytestmark = pytest.mark.asyncio
pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python's [server] extra")


@pytest.fixture(scope="module")
def text_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.test_remote_text import LlamaCppPythonServer
    from tests.tiny_model import write_tiny_model

    model = write_tiny_model(Path(tmp_path_factory.mktemp("text-server")) / "tiny.gguf")
    server = LlamaCppPythonServer(model)
    yield server.url
    server.stop()


async def test_ghost_text_through_a_server_without_a_tokenizer(
    models: Models, text_url: str
) -> None:
    settings = {"engine": "remote", "remoteUrl": text_url, "contextLength": 512}
    async with lsp_session(settings) as s:
        stats = await s.stats()
        assert (stats.info.api, stats.info.tokenizer) == ("openai", "none: text prompts")
        uri = "file:///e2e/text/a.py"
        s.open(uri, "def f():\n    \n")
        items = await s.inline(uri, types.Position(line=1, character=4))
        assert [i.insert_text for i in items] == [DEFAULT_INFILL]
        bad = "file:///e2e/text/marks.py"
        s.open(bad, 'M = "<[fim-middle]>"\ndef g():\n    \n')
        assert await s.inline(bad, types.Position(line=2, character=4), invoked=True) == []
        shown = [m.message for m in s.shown()]
        assert sum("contains '<[fim-middle]>'" in m for m in shown) == 1, shown
        again = await s.inline(uri, types.Position(line=1, character=4))
        assert [i.insert_text for i in again] == [DEFAULT_INFILL]  # still serving
        await s.inline(bad, types.Position(line=2, character=4), invoked=True)
        shown = [m.message for m in s.shown()]
        assert sum("contains '<[fim-middle]>'" in m for m in shown) == 1  # said once
