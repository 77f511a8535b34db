"""End-to-end test of the VS Code extension (editors/vscode) in a real VS Code.

code-server 4.99 (VS Code 1.99) runs the packaged .vsix in headless Chromium, driven by
editors/vscode/scripts/e2e.mjs through playwright-core. The extension starts the real server
(`python -m lsp_server`) on a tiny generated GGUF model that always writes the same infill
(tests/tiny_model.py); the driver checks the ghost text, Tab and the saved file, and the status bar.

Needs `bash editors/vscode/scripts/setup-e2e.sh` (Chromium, code-server, playwright-core) and
`npm ci` in editors/vscode; runs only with SEED_CODER_VSCODE_E2E=1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hub_standin import Hub, running, use_registry

REPO = Path(__file__).resolve().parents[2]
EXT_DIR = REPO / "editors" / "vscode"
VSIX = EXT_DIR / "seed-coder-lsp.vsix"
DRIVER = EXT_DIR / "scripts" / "e2e.mjs"
CODE_SERVER = EXT_DIR / ".e2e" / "node_modules" / "code-server" / "out" / "node" / "entry.js"
TIMEOUT_S = float(os.environ.get("SEED_CODER_VSCODE_E2E_TIMEOUT", "600"))

pytestmark = pytest.mark.skipif(
    os.environ.get("SEED_CODER_VSCODE_E2E") != "1",
    reason="VS Code e2e is opt-in: run editors/vscode/scripts/setup-e2e.sh, "
    "then set SEED_CODER_VSCODE_E2E=1",
)


def indentation(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def sample_document(infill: str) -> tuple[str, int, list[int]]:
    """The file to edit, its blank line inside main() and the empty lines to type `x` on (1-based).

    The blank line is indented like the infill's later lines: the server keeps a multi-line
    infill there only while its lines are not less indented than the cursor. Typed `x` lines sit
    at module level, where every infill line is at least as deep; one is the end of the file.
    """
    rest = [line for line in infill.split("\n")[1:] if line.strip()]
    indent = min((indentation(line) for line in rest), key=len, default="    ") or "    "
    lines = [
        "def compute(n):",
        "    return n * 2",
        "",
        "",
        "def main():",
        indent,
        "",
        "",
        "",
        "print(main())",
        "",
    ]
    return "\n".join(lines), 6, [8, len(lines)]


def test_vscode_inline_completion_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found on PATH")
    if not CODE_SERVER.exists():
        pytest.fail(f"{CODE_SERVER} missing: run bash editors/vscode/scripts/setup-e2e.sh")

    from tests import tiny_model  # imported lazily: needs the gguf package

    infill = tiny_model.DEFAULT_INFILL
    model = tiny_model.write_tiny_model(tmp_path / "tiny.gguf", infill)
    # The model setting names a registry model that is not downloaded: the driver runs
    # "Seed-Coder: Download Model", which fetches it from a stand-in hub on 127.0.0.1.
    with running(Hub(files={"test/tiny-GGUF/tiny.gguf": model.read_bytes()})) as hub:
        target = use_registry(monkeypatch, tmp_path, hub)
        _drive(infill, tiny_model.write_zeta_model(tmp_path / "zeta.gguf"))
        assert target.is_file() and hub.gets() >= 1


def _drive(infill: str, zeta: Path) -> None:
    """Run the driver (code-server + Chromium) once; fail with its output."""
    if not VSIX.exists():
        if not (EXT_DIR / "node_modules").exists():
            subprocess.run(["npm", "ci"], cwd=EXT_DIR, check=True, timeout=600)
        subprocess.run(["npm", "run", "package"], cwd=EXT_DIR, check=True, timeout=600)

    from tests.tiny_model import ZETA_DOCUMENT

    document, blank_line, word_lines = sample_document(infill)
    env = {
        **os.environ,
        "SEED_CODER_E2E_SERVER": json.dumps([sys.executable, "-m", "lsp_server"]),
        "SEED_CODER_E2E_DOWNLOAD": "tiny-test",
        # (f) next edits: the user adds a parameter, the call gets its argument
        "SEED_CODER_E2E_NEXT_EDIT_MODEL": str(zeta),
        "SEED_CODER_E2E_NEXT_EDIT_BEFORE": ZETA_DOCUMENT.replace("width, height", "width"),
        "SEED_CODER_E2E_NEXT_EDIT_TYPED": ", height",
        "SEED_CODER_E2E_NEXT_EDIT_AT": f"1:{len('def area(width') + 1}",
        "SEED_CODER_E2E_NEXT_EDIT_AFTER": ZETA_DOCUMENT.replace("area(2)", "area(2, 3)"),
        "SEED_CODER_E2E_NEXT_EDIT_SHOWN": ", 3",
        "SEED_CODER_E2E_EXPECT": infill,
        # After typing "x" at module level every infill line is deeper than the cursor's block.
        "SEED_CODER_E2E_EXPECT_WORD": infill,
        "SEED_CODER_E2E_DOCUMENT": document,
        "SEED_CODER_E2E_BLANK_LINE": str(blank_line),
        "SEED_CODER_E2E_WORD_LINES": ",".join(map(str, word_lines)),
        # The server runs from the repository (python -m lsp_server) in the extension host.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.run(
        ["node", str(DRIVER)],
        cwd=EXT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    print(proc.stdout)
    print(proc.stderr, file=sys.stderr)
    assert proc.returncode == 0, (
        f"e2e.mjs exited with {proc.returncode}; artifacts (screenshot, logs) in "
        f"{EXT_DIR / 'e2e-artifacts'}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    )
