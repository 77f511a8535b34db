"""End-to-end tests of the Neovim plugin (editors/nvim) on Neovim 0.10/0.11.

A real headless Neovim (`nvim --embed`, driven through pynvim) runs the plugin, which starts the
real server (`python -m lsp_server`) on a tiny generated GGUF model that always writes the same
infill (tests/tiny_model.py). The tests assert buffer contents, the cursor and the ghost-text
extmarks -- no screenshots.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pynvim = pytest.importorskip("pynvim")

REPO = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO / "editors" / "nvim"
HELPERS = Path(__file__).resolve().parent / "nvim" / "helpers.lua"
from tests.editors.nvim_binaries import NVIM012  # noqa: E402  (0.12.4, or None)

TIMEOUT = float(os.environ.get("SEED_CODER_NVIM_TIMEOUT", "30"))

SAMPLE = "def main():\n    value = 1\n    \n    print(value)\n"
BLANK_ROW = 3  # 1-based: the blank indented line "    " inside main()


def _find_nvim() -> str | None:
    candidates = [Path(sys.executable).parent / "nvim", shutil.which("nvim")]
    for cand in candidates:
        if not cand or not Path(cand).exists():
            continue
        try:
            out = subprocess.run(
                [str(cand), "--version"], capture_output=True, text=True, timeout=20
            ).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        first = out.splitlines()[0] if out else ""
        # NVIM v0.11.4
        try:
            major, minor = (int(x) for x in first.split("v", 1)[1].split(".")[:2])
        except (IndexError, ValueError):
            continue
        if (major, minor) >= (0, 10):
            return str(cand)
    return None


NVIM = _find_nvim()
pytestmark = pytest.mark.skipif(NVIM is None, reason="Neovim >= 0.10 not found")


def _tiny() -> Any:
    from tests import tiny_model  # imported lazily: needs the gguf package

    return tiny_model


@pytest.fixture(scope="module")
def infill() -> str:
    return _tiny().DEFAULT_INFILL


@pytest.fixture(scope="module")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny().write_tiny_model(tmp_path_factory.mktemp("model") / "tiny.gguf")


@pytest.fixture(scope="module")
def loop_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny().write_tiny_model(tmp_path_factory.mktemp("loop") / "loop.gguf", loop=True)


class Editor:
    """A headless Neovim with the plugin set up and a Python file open."""

    def __init__(self, nv: Any, path: Path) -> None:
        self.nv = nv
        self.path = path

    def lua(self, code: str, *args: Any) -> Any:
        return self.nv.exec_lua(code, *args)

    def wait(self, pred: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = pred()
            if value:
                return value
            if time.monotonic() > deadline:
                status = self.lua("return require('seed_coder').status_line()")
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}; "
                    f"buffer={self.lines()!r} ghost={self.ghost()!r} "
                    f"status={status!r}"
                )
            time.sleep(0.02)

    def ghost(self) -> list[dict[str, Any]]:
        return self.lua("return T.ghost()")

    def wait_ghost(self, pred: Callable[[list[dict[str, Any]]], bool] | None = None) -> dict:
        def check() -> Any:
            marks = self.ghost()
            if marks and (pred is None or pred(marks)):
                return marks
            return None

        marks = self.wait(check, "ghost text")
        assert len(marks) == 1, marks
        return marks[0]

    def lines(self) -> list[str]:
        return list(self.nv.current.buffer[:])

    def cursor(self) -> tuple[int, int]:
        """(1-based row, 0-based byte column), like nvim_win_get_cursor."""
        row, col = self.nv.current.window.cursor
        return row, col

    def mode(self) -> str:
        return self.lua("return T.mode()")

    def pending(self) -> int:
        return self.lua("return T.pending()")

    def feed(self, keys: str) -> None:
        """Types keys as the user would (nvim_input) and waits until Neovim has taken them."""
        self.nv.input(keys)
        # an RPC request is answered only after the typeahead queued before it was consumed
        self.wait(lambda: self.lua("return vim.fn.getchar(1) == 0"), "typeahead consumed", 5)

    def insert_at(self, row: int, col: int | None = None) -> None:
        """Enters Insert mode at (row, byte col); col None = end of line."""
        if col is None:
            self.nv.current.window.cursor = (row, 0)
            self.feed("A")
        else:
            self.nv.current.window.cursor = (row, col)
            self.feed("i")
        self.wait(lambda: self.mode().startswith("i"), "Insert mode", 5)


@contextlib.contextmanager
def _start(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    model: Path,
    *,
    text: str = SAMPLE,
    settings: dict[str, Any] | None = None,
    opts: dict[str, Any] | None = None,
    encodings: list[str] | None = None,
    legacy_start: bool = False,
    nvim: str | None = None,
    wait_ready: bool = True,
) -> Iterator[Editor]:
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "xdg" / var.lower()))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    proj = tmp_path / "proj"
    proj.mkdir()
    path = proj / "sample.py"
    path.write_text(text, encoding="utf-8")

    argv = [nvim or NVIM, "--embed", "--headless", "--clean", "-u", "NONE", "-i", "NONE", "-n"]
    nv = pynvim.attach("child", argv=argv)
    ed = Editor(nv, path)
    try:
        nv.command(f"cd {proj}")
        server_settings: dict[str, Any] = {"model": str(model), "debounceMs": 0}
        server_settings.update(settings or {})
        setup = {
            "cmd": [sys.executable, "-m", "lsp_server"],
            "settings": server_settings,
        }
        setup.update(opts or {})
        ed.lua(
            """
            local plugin_dir, helpers, opts, legacy = ...
            if legacy then
              vim.lsp.config = nil -- take the Neovim 0.10 path: vim.lsp.start() on FileType
            end
            vim.opt.rtp:append(plugin_dir)
            vim.cmd('runtime! plugin/seed_coder.lua')
            dofile(helpers)
            require('seed_coder').setup(opts)
            """,
            str(PLUGIN_DIR),
            str(HELPERS),
            setup,
            legacy_start,
        )
        if encodings:
            # what the client offers as general.positionEncodings (the server picks one)
            ed.lua(
                "vim.lsp.config('seed_coder', { capabilities = { general ="
                " { positionEncodings = ... } } })",
                encodings * 3,  # x3: deep-extend merges lists index by index
            )
        nv.command(f"edit {path}")
        if wait_ready:
            ed.wait(lambda: ed.lua("return T.status()") == "ready", "seedCoder/status ready")
        yield ed
    finally:
        with contextlib.suppress(Exception):  # Neovim exits under our feet
            nv.command("qa!")
        with contextlib.suppress(Exception):
            nv.close()


@pytest.fixture
def editor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model_path: Path
) -> Iterator[Editor]:
    with _start(tmp_path, monkeypatch, tiny_model_path) as ed:
        yield ed


def _expected_after_accept(lines: list[str], row: int, col: int, text: str) -> list[str]:
    """`lines` with `text` inserted at (1-based row, byte col)."""
    line = lines[row - 1].encode("utf-8")
    before, after = line[:col].decode("utf-8"), line[col:].decode("utf-8")
    new = (before + text + after).split("\n")
    return lines[: row - 1] + new + lines[row:]


def _end_cursor(row: int, col: int, text: str) -> tuple[int, int]:
    parts = text.split("\n")
    if len(parts) == 1:
        return row, col + len(parts[0].encode("utf-8"))
    return row + len(parts) - 1, len(parts[-1].encode("utf-8"))


# --------------------------------------------------------------------------------------------


def test_ghost_text_shows_infill(editor: Editor, infill: str) -> None:
    editor.insert_at(BLANK_ROW)
    mark = editor.wait_ghost()
    first, *rest = infill.split("\n")
    assert (mark["row"], mark["col"]) == (BLANK_ROW - 1, 4)
    assert mark["pos"] == "inline"
    assert mark["hl"] == "SeedCoderGhost"
    assert mark["inline"] == first
    assert mark["lines"] == rest
    # the buffer itself is untouched by ghost text
    assert editor.lines() == SAMPLE.rstrip("\n").split("\n")
    assert editor.lua("return vim.fn.hlexists('SeedCoderGhost')") == 1
    # settings reached the client: initializationOptions and workspace/configuration section
    client_cfg = editor.lua(
        "local c = vim.lsp.get_clients({name='seed_coder'})[1];"
        " return { c.config.init_options.model, c.settings.seedCoder.model }"
    )
    model = editor.lua("return require('seed_coder.config').options.settings.model")
    assert client_cfg == [model, model]


def test_tab_accepts_whole_suggestion(editor: Editor, infill: str) -> None:
    before = editor.lines()
    editor.insert_at(BLANK_ROW)
    editor.wait_ghost()
    editor.feed("<Tab>")
    assert editor.lines() == _expected_after_accept(before, BLANK_ROW, 4, infill)
    assert editor.cursor() == _end_cursor(BLANK_ROW, 4, infill)
    assert editor.mode().startswith("i")
    assert editor.ghost() == []
    # <Tab> without a suggestion is a normal <Tab>
    editor.feed("<Esc>")
    editor.nv.command("SeedCoderDisable")
    editor.nv.command("set noexpandtab softtabstop=0 tabstop=8 nosmarttab")
    editor.feed("o<Tab>")
    line = editor.lines()[editor.cursor()[0] - 1]
    assert line.endswith("\t"), line


def test_accept_word_then_line_then_rest(editor: Editor, infill: str) -> None:
    before = editor.lines()
    editor.insert_at(BLANK_ROW)
    editor.wait_ghost()
    first, *rest = infill.split("\n")
    word = first.split(" ")[0]  # "ok_42"
    editor.feed("<M-Right>")
    assert editor.lines()[BLANK_ROW - 1] == "    " + word
    assert editor.cursor() == (BLANK_ROW, 4 + len(word))
    mark = editor.wait_ghost()
    assert mark["inline"] == first[len(word) :]
    assert mark["lines"] == rest
    assert (mark["row"], mark["col"]) == (BLANK_ROW - 1, 4 + len(word))

    # accept line: the rest of the first line including its newline
    editor.feed("<M-C-Right>")
    assert editor.lines()[BLANK_ROW - 1] == "    " + first
    assert editor.cursor() == (BLANK_ROW + 1, 0)
    if rest:
        mark = editor.wait_ghost()
        assert mark["inline"] == rest[0]
        assert (mark["row"], mark["col"]) == (BLANK_ROW, 0)
        editor.feed("<Tab>")
    assert editor.lines() == _expected_after_accept(before, BLANK_ROW, 4, infill)
    assert editor.cursor() == _end_cursor(BLANK_ROW, 4, infill)
    assert editor.ghost() == []


def test_neovim_010_start_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model_path: Path, infill: str
) -> None:
    """Without vim.lsp.config (Neovim 0.10) the plugin starts the server with vim.lsp.start()."""
    with _start(tmp_path, monkeypatch, tiny_model_path, legacy_start=True) as ed:
        before = ed.lines()
        assert ed.lua("return vim.fn.exists('#seed_coder_start#FileType')") == 1
        assert ed.lua("return #vim.lsp.get_clients({ bufnr = 0, name = 'seed_coder' })") == 1
        ed.insert_at(BLANK_ROW)
        mark = ed.wait_ghost()
        assert mark["inline"] == infill.split("\n")[0]
        ed.feed("<Tab>")
        assert ed.lines() == _expected_after_accept(before, BLANK_ROW, 4, infill)
        # a second file of the same project reuses the client
        other = ed.path.parent / "other.py"
        other.write_text("x = 1\n", encoding="utf-8")
        ed.feed("<Esc>")
        ed.nv.command(f"edit {other}")
        ed.wait(
            lambda: ed.lua("return #vim.lsp.get_clients({ bufnr = 0, name = 'seed_coder' })"),
            "the client to attach to the second file",
        )
        assert ed.lua("return #vim.lsp.get_clients({ name = 'seed_coder' })") == 1


BOTH = [n for n in (NVIM, NVIM012) if n]


@pytest.mark.parametrize("nvim", BOTH)
def test_help_tags(tmp_path: Path, nvim: str) -> None:
    doc = tmp_path / "doc"
    shutil.copytree(PLUGIN_DIR / "doc", doc)
    out = subprocess.run(
        [nvim, "--headless", "--clean", "-c", f"helptags {doc}", "-c", "qa!"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr
    tags = {line.split("\t")[0] for line in (doc / "tags").read_text().splitlines()}
    assert {"seed_coder", "seed_coder-options", ":SeedCoderStatus", "SeedCoderGhost"} <= tags


def test_dismiss_clears_ghost(editor: Editor) -> None:
    before = editor.lines()
    editor.insert_at(BLANK_ROW)
    editor.wait_ghost()
    editor.feed("<C-]>")
    assert editor.ghost() == []
    assert editor.pending() == -1
    assert editor.lines() == before
    assert editor.mode().startswith("i")


def test_typing_the_suggestion_keeps_the_rest(editor: Editor, infill: str) -> None:
    before = editor.lines()
    editor.insert_at(BLANK_ROW)
    editor.wait_ghost()
    editor.feed(infill[:2])
    mark = editor.wait_ghost(lambda m: m[0]["col"] == 6)
    first = infill.split("\n")[0]
    assert mark["inline"] == first[2:]
    editor.feed("<Tab>")
    assert editor.lines() == _expected_after_accept(before, BLANK_ROW, 4, infill)


def test_typing_a_different_character_hides_ghost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model_path: Path, infill: str
) -> None:
    # a long client debounce: only the trigger key asks, so nothing redraws behind our back
    with _start(tmp_path, monkeypatch, tiny_model_path, opts={"debounce_ms": 60000}) as ed:
        ed.insert_at(BLANK_ROW)
        assert ed.ghost() == []
        ed.feed("<M-\\>")  # trigger: asks now (triggerKind Invoked)
        mark = ed.wait_ghost()
        assert mark["inline"] == infill.split("\n")[0]
        assert infill[0] != "z"
        ed.feed("z")
        assert ed.lines()[BLANK_ROW - 1] == "    z"
        assert ed.ghost() == []
        assert ed.pending() == -1


def test_multibyte_text_before_cursor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model_path: Path, infill: str
) -> None:
    text = 'def main():\n    label = "é😀" + \n    return label\n'
    # cursor right after 'label = "é😀" + ' on row 2, with code after it on the next line
    with _start(tmp_path, monkeypatch, tiny_model_path, text=text) as ed:
        before = ed.lines()
        ed.insert_at(2)
        col = len(before[1].encode("utf-8"))
        mark = ed.wait_ghost()
        assert (mark["row"], mark["col"]) == (1, col)
        assert mark["inline"] == infill.split("\n")[0]
        shown = "\n".join([mark["inline"], *mark["lines"]])
        ed.feed("<Tab>")
        assert ed.lines() == _expected_after_accept(before, 2, col, shown)
        assert ed.cursor() == _end_cursor(2, col, shown)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_multibyte_text_around_cursor_single_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tiny_model_path: Path,
    infill: str,
    encoding: str,
) -> None:
    # text after the cursor on its line: the server sends one line; the range must be mapped
    # through the negotiated position encoding for the ghost to sit at the cursor
    text = 'def main():\n    label = "é😀" +  # ü\n'
    with _start(tmp_path, monkeypatch, tiny_model_path, text=text, encodings=[encoding]) as ed:
        client_enc = ed.lua("return vim.lsp.get_clients({name='seed_coder'})[1].offset_encoding")
        assert client_enc == encoding
        before = ed.lines()
        col = len('    label = "é😀" + '.encode())
        ed.insert_at(2, col)
        mark = ed.wait_ghost()
        assert (mark["row"], mark["col"]) == (1, col)
        assert mark["inline"] == infill.split("\n")[0]
        assert mark["lines"] == []
        ed.feed("<Tab>")
        assert ed.lines() == _expected_after_accept(before, 2, col, mark["inline"])
        assert ed.cursor() == _end_cursor(2, col, mark["inline"])


def test_leaving_insert_mode_cancels_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loop_model_path: Path
) -> None:
    # the loop model never stops writing: left alone, a request runs to maxTokens (seconds)
    settings = {"maxTimeMs": 60000, "maxTokens": 4096}
    with _start(tmp_path, monkeypatch, loop_model_path, settings=settings) as ed:
        ed.insert_at(BLANK_ROW)
        req_id = ed.wait(lambda: max(ed.pending(), 0), "a request in flight")
        time.sleep(0.1)  # let the server start generating
        assert ed.lua("return T.client_requests()") == [req_id], "answered too early"
        ed.feed("<Esc>")
        assert ed.mode() == "n"
        assert ed.pending() == -1
        assert req_id in ed.lua("return T.cancelled_ids()")  # $/cancelRequest was sent
        # the server answers the cancelled request at once (Neovim drops the entry from
        # client.requests when the answer comes) and with no suggestion: left to run, the
        # loop model would answer with a long text after seconds
        ed.wait(lambda: ed.lua("return T.client_requests()") == [], "the server to drop it", 10)
        resp = ed.lua("return T.responses[tostring(...)] or vim.NIL", req_id)
        assert resp is None or resp["err"] == -32800 or resp["items"] == 0, resp
        assert ed.ghost() == []


def test_disable_enable_and_status(editor: Editor) -> None:
    editor.nv.command("SeedCoderDisable")
    sent = editor.lua("return T.inline_requests_sent()")
    editor.insert_at(BLANK_ROW)
    editor.feed("x<BS>")
    time.sleep(0.3)
    assert editor.lua("return T.inline_requests_sent()") == sent
    assert editor.ghost() == []
    editor.feed("<Esc>")
    editor.nv.command("SeedCoderEnable")
    editor.insert_at(BLANK_ROW)
    editor.wait_ghost()
    status = editor.nv.command_output("SeedCoderStatus")
    assert "ready" in status and "plugin inline completion" in status
    editor.feed("<Esc>")
    editor.nv.command("checkhealth seed_coder")
    report = "\n".join(editor.lines())
    assert "ERROR" not in report, report
    assert "state: ready" in report, report
    assert "inlineCompletionProvider: true" in report, report


@pytest.mark.parametrize("nvim", BOTH)
def test_download_command_fetches_the_model_and_completions_follow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nvim: str, infill: str
) -> None:
    """`model = 'tiny-test'` is a registry model that is not on disk (a stand-in hub serves it):
    the server waits for the user; :SeedCoderDownload fetches it, loads it, ghost text follows."""
    from tests.hub_standin import Hub, running, use_registry

    data = _tiny().write_tiny_model(tmp_path / "hub.gguf").read_bytes()
    with running(Hub(files={"test/tiny-GGUF/tiny.gguf": data})) as hub:
        target = use_registry(monkeypatch, tmp_path, hub)
        with _start(tmp_path, monkeypatch, Path("tiny-test"), nvim=nvim, wait_ready=False) as ed:
            ed.wait(lambda: ed.lua("return T.status()") == "error", "the not-downloaded status")
            assert hub.gets() == 0 and not target.exists()
            ed.nv.command("SeedCoderDownload")
            ed.wait(lambda: ed.lua("return T.status()") == "ready", "the downloaded model")
            assert target.is_file() and hub.gets() >= 1
            result = ed.wait(  # the answer comes after the ready status
                lambda: ed.lua("return require('seed_coder').last_download"), "the answer"
            )
            assert result["result"] == {"ok": True, "model": "tiny-test"}
            ed.nv.command("SeedCoderDownload no-such-model")
            ed.wait(lambda: ed.lua("return require('seed_coder').last_download.result.ok")
                    is False, "the refusal")  # fmt: skip
            ed.feed("<Esc>")  # past the notifications' prompt
            assert ed.mode() == "n"
            ed.insert_at(BLANK_ROW)
            mark = ed.wait_ghost()
            assert mark["inline"] == infill.split("\n")[0]


@pytest.mark.parametrize("nvim", BOTH)
def test_next_edit_overlay_tab_jumps_then_applies_and_dismiss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nvim: str, tiny_model_path: Path
) -> None:
    """The user adds a parameter; the next edit (the call gets its argument) is drawn where it
    is, <Tab> jumps there, <Tab> applies it exactly; <C-]> hides it and changes nothing."""
    from tests.tiny_model import ZETA_DOCUMENT, write_zeta_model

    zeta = write_zeta_model(tmp_path / "zeta.gguf")
    before = ZETA_DOCUMENT.replace("width, height", "width")
    settings = {"nextEditModel": str(zeta)}
    with _start(tmp_path, monkeypatch, tiny_model_path, text=before, settings=settings,
                nvim=nvim) as ed:  # fmt: skip
        ed.wait(lambda: ed.lua("return T.stats().next_edit.state") == "ready", "next edits ready")
        ed.nv.current.window.cursor = (1, len("def area(width") - 1)
        ed.feed("a, height<Esc>")  # the user's edit, in Insert mode, then back to Normal
        assert ed.lines()[0] == "def area(width, height):"
        marks = ed.wait(lambda: ed.lua("return T.next_edit()"), "the next-edit overlay")
        assert [(m["row"], m["col"], m["text"], m["hl"]) for m in marks] == [
            (4, 12, ", 3", "SeedCoderNextEditAdd")
        ]
        assert ed.lines()[4] == "print(area(2))"  # drawn, not applied
        ed.feed("<C-]>")  # dismissed: nothing changes
        assert ed.lua("return T.next_edit()") == [] and ed.lines()[4] == "print(area(2))"
        ed.nv.command("SeedCoderNextEdit")  # asked for again
        ed.wait(lambda: ed.lua("return T.next_edit()"), "the overlay again")
        ed.feed("<Tab>")
        assert ed.cursor() == (5, 12) and ed.lua("return T.next_edit()")  # jumped, still shown
        ed.feed("<Tab>")
        assert ed.lines() == (ZETA_DOCUMENT.replace("area(2)", "area(2, 3)")).split("\n")[:-1]
        assert ed.lua("return T.next_edit()") == []
        assert ed.cursor() == (5, 15)  # after the new text
        ed.wait(lambda: ed.lua("return T.stats().next_edit.accepted") == 1, "the accept command")
        ed.feed("u")  # one undo step takes the whole edit back
        assert ed.lines()[4] == "print(area(2))"
        # the edit the user just took back is not proposed again
        seen = ed.lua("return T.stats().next_edit.no_edit")
        ed.nv.command("SeedCoderNextEdit")
        ed.wait(lambda: ed.lua("return T.stats().next_edit.no_edit") > seen, "the answer")
        assert ed.lua("return T.next_edit()") == []
        ed.nv.command("checkhealth seed_coder")
        assert any("next edits: ready" in line for line in ed.lines()), ed.lines()


@pytest.mark.parametrize("nvim", BOTH)
def test_setup_rejects_bad_options(tmp_path: Path, nvim: str) -> None:
    nv = pynvim.attach(
        "child", argv=[nvim, "--embed", "--headless", "--clean", "-u", "NONE", "-i", "NONE", "-n"]
    )
    try:
        nv.exec_lua("vim.opt.rtp:append(...)", str(PLUGIN_DIR))
        for bad, needle in [
            ("{ debounce_ms = 'soon' }", "debounce_ms"),
            ("{ cmd = 'seed-coder-lsp' }", "cmd"),
            ("{ keymaps = { accept = 1 } }", "keymaps.accept"),
            ("{ keymaps = { acept = '<Tab>' } }", "acept"),
            ("{ settings = 3 }", "settings"),
            ("{ filetype = { 'python' } }", "filetype"),
        ]:
            err = nv.exec_lua(
                f"local ok, e = pcall(require('seed_coder').setup, {bad}); return ok and '' or e"
            )
            assert err.startswith("seed_coder.setup:") and needle in err, (bad, err)
        # false disables a keymap; the result is merged with the defaults
        cfg = nv.exec_lua(
            "return require('seed_coder.config').set({ keymaps = { dismiss = false } })"
        )
        assert cfg["keymaps"]["dismiss"] is False
        assert cfg["keymaps"]["accept"] == "<Tab>"
        assert cfg["cmd"] == ["seed-coder-lsp"]
    finally:
        with contextlib.suppress(Exception):
            nv.command("qa!")


def test_plugin_declares_inline_completion_so_no_completion_fallback(editor: Editor) -> None:
    """The server serves textDocument/completion only to clients without inline completion:
    the plugin declares it, so nvim-cmp & co. never get a second, undebounced suggestion."""
    caps = editor.lua(
        "return vim.lsp.get_clients({ name = 'seed_coder' })[1].capabilities.textDocument"
        ".inlineCompletion ~= nil"
    )
    assert caps is True
    editor.insert_at(BLANK_ROW)
    result = editor.lua(
        """
        local client = vim.lsp.get_clients({ name = 'seed_coder' })[1]
        local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
        local res = client:request_sync('textDocument/completion', params, 5000, 0)
        return res and res.result or vim.NIL
        """
    )
    assert result is None
