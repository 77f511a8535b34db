"""The initialize result as raw JSON, as each editor's client reads it: Emacs lsp-mode turns on
inline completion only for `inlineCompletionProvider: true` (an options object `{}` is not
enough there); VS Code's languageclient, Neovim 0.12, coc.nvim and JetBrains' LSP4IJ accept
`true` as well. Clients without inline completion get textDocument/completion."""

from __future__ import annotations

from tests.e2e.helpers import Models
from tests.e2e.raw_client import RawServer


def test_the_capabilities_every_editor_reads(models: Models) -> None:
    with RawServer() as server:
        result = server.initialize({"model": str(models.tiny)})
        caps = result["capabilities"]
        assert caps["inlineCompletionProvider"] is True  # not {}: lsp-mode, coc.nvim, LSP4IJ
        assert caps["completionProvider"] == {"resolveProvider": False}  # Helix, Sublime
        sync = caps["textDocumentSync"]
        assert sync["openClose"] is True and sync["change"] == 2  # incremental
        assert sorted(caps["executeCommandProvider"]["commands"]) == [
            "seedCoder.server.acceptNextEdit",
            "seedCoder.server.downloadModel",
        ]
        assert caps["experimental"]["nextEdits"]["request"] == "textDocument/copilotInlineEdit"
        assert result["serverInfo"]["name"] == "seed-coder-lsp"
