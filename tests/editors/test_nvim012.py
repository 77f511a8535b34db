"""The Neovim plugin on a real Neovim 0.12.4: the built-in `vim.lsp.inline_completion` path.

Neovim 0.12 shows and requests the suggestions itself (a request 200 ms after the cursor moves);
the plugin scopes it to our client and adds accept word / accept line, dismiss and trigger. The
0.12 binary is the relocatable bundle in ../shared/vendor/nvim (unpacked once into the user cache
dir) or $SEED_CODER_NVIM012; always started through its bin/nvim.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.editors.nvim_binaries import BUNDLE, NVIM012
from tests.editors.test_nvim import BLANK_ROW, SAMPLE, Editor, _start

pytestmark = pytest.mark.skipif(NVIM012 is None, reason=f"Neovim 0.12 not found ({BUNDLE})")


@pytest.fixture(scope="module")
def infill() -> str:
    from tests.tiny_model import DEFAULT_INFILL

    return DEFAULT_INFILL


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_model import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("model012") / "tiny.gguf")


@pytest.fixture
def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: Path) -> Iterator[Editor]:
    with _start(tmp_path, monkeypatch, model, nvim=NVIM012) as ed:
        assert ed.lua("return require('seed_coder').uses_builtin()") is True
        yield ed


def _shown(ed: Editor) -> str:
    """The built-in ghost text as one string ("" when none)."""
    marks = ed.ghost()
    if not marks:
        return ""
    return "\n".join([marks[0]["inline"], *marks[0]["lines"]])


def _wait_shown(ed: Editor, want: str) -> None:
    ed.wait(lambda: _shown(ed) == want, f"ghost text {want!r}")


def test_ghost_text_and_tab_accept_exactly(editor: Editor, infill: str) -> None:
    editor.insert_at(BLANK_ROW)
    _wait_shown(editor, infill)
    assert editor.ghost()[0]["hl"] == "ComplHint"  # drawn by Neovim's own client
    editor.feed("<Tab>")
    lines = SAMPLE.split("\n")
    want = lines[: BLANK_ROW - 1] + ("    " + infill).split("\n") + lines[BLANK_ROW:]
    editor.wait(lambda: editor.lines() == want[:-1], "the infill in the buffer")
    assert editor.cursor() == (BLANK_ROW + 1, len("    return ok_42"))


def test_accept_word_and_line_insert_their_part_and_the_rest_comes_from_the_cache(
    editor: Editor, infill: str
) -> None:
    editor.insert_at(BLANK_ROW)
    _wait_shown(editor, infill)
    before = editor.lua("return T.stats()")
    editor.feed("<M-Right>")  # accept word
    editor.wait(lambda: editor.lines()[BLANK_ROW - 1] == "    ok_42", "the first word")
    assert editor.cursor() == (BLANK_ROW, len("    ok_42"))
    _wait_shown(editor, infill[len("ok_42") :])  # the rest, asked again by Neovim
    editor.feed("<M-C-Right>")  # accept line
    editor.wait(
        lambda: editor.lines()[BLANK_ROW - 1 : BLANK_ROW + 1] == ["    ok_42 = compute(1)", ""],
        "the rest of the line",
    )
    assert editor.cursor() == (BLANK_ROW + 1, 0)
    _wait_shown(editor, "    return ok_42")
    after = editor.lua("return T.stats()")
    # Both rests were answered from the server's typed-through cache: no generation. (Decode
    # steps may still come from background work -- a prefill or a speculation once the user
    # pauses -- whose timing depends on the machine, so they are not counted here.)
    assert after["generations"] == before["generations"]
    assert after["cache_hits"] - before["cache_hits"] >= 2


def test_dismiss_then_trigger(editor: Editor, infill: str) -> None:
    editor.insert_at(BLANK_ROW)
    _wait_shown(editor, infill)
    editor.feed("<C-]>")
    editor.wait(lambda: not editor.ghost(), "the ghost text to go")
    assert editor.lines() == SAMPLE.split("\n")[:-1]  # nothing inserted
    editor.feed("<M-\\>")  # trigger: ask now
    _wait_shown(editor, infill)


def test_toggle_leaves_another_servers_inline_completion_alone(editor: Editor) -> None:
    other = editor.lua(
        """
        local id = vim.lsp.start({ name = 'other', cmd = { ... }, root_dir = vim.fn.getcwd() })
        vim.lsp.inline_completion.enable(true, { client_id = id })
        return id
        """,
        [sys.executable, "-m", "lsp_server"],
    )
    ours = editor.lua("return vim.lsp.get_clients({ name = 'seed_coder' })[1].id")

    def enabled(client_id: int) -> bool:
        return editor.lua(
            "return vim.lsp.inline_completion.is_enabled({ client_id = ... })", client_id
        )

    assert enabled(ours) and enabled(other)
    editor.nv.command("SeedCoderDisable")
    assert not enabled(ours) and enabled(other)
    editor.nv.command("SeedCoderEnable")
    assert enabled(ours) and enabled(other)
    editor.nv.command("SeedCoderToggle")
    assert not enabled(ours) and enabled(other)


def test_checkhealth_reports_the_builtin_path_and_keymaps(editor: Editor) -> None:
    editor.nv.command("checkhealth seed_coder")
    text = "\n".join(editor.nv.current.buffer[:])
    assert "using the built-in vim.lsp.inline_completion" in text
    assert "keymap accept_word: <M-Right>" in text
    assert "keymap trigger: <M-\\>" in text
    for command in ("SeedCoderEnable", "SeedCoderDisable", "SeedCoderToggle", "SeedCoderDownload"):
        assert editor.lua("return vim.fn.exists(':' .. ...)", command) == 2


def test_remote_engine_settings_reach_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: Path, infill: str
) -> None:
    """`settings = { engine = 'remote', remoteUrl = ... }`: the same ghost text, computed by a
    real llama-server."""
    from tests.remote_server import Server

    with Server(model, slots=1) as server:
        remote = {"engine": "remote", "remoteUrl": server.url}
        with _start(tmp_path, monkeypatch, model, settings=remote, nvim=NVIM012) as ed:
            ed.insert_at(BLANK_ROW)
            _wait_shown(ed, infill)
            stats = ed.lua(
                "return vim.lsp.get_clients({ name = 'seed_coder' })[1]"
                ".request_sync('seedCoder/stats', {}, 5000).result"
            )
            assert stats["engine_kind"] == "remote" and stats["info"]["server"] == server.url
