"""Context from other open files over stdio: the prompt grows by exactly the rendered snippets,
a keystroke after a finished request still evaluates only its own few tokens, and an .env file
is never part of it."""

from __future__ import annotations

import re

import pytest
from lsprotocol import types

from lsp_server.prompt.neighbors import render_one
from tests.e2e.helpers import ROOT, Models, lsp_session

pytestmark = pytest.mark.asyncio

HELPERS = "def parse_config(path):\n    with open(path) as f:\n        return load_settings(f)\n"
SECRET = "PARSE_CONFIG_TOKEN=parse_config load_settings path\n"
MAIN = (
    "from helpers import parse_config\n\ndef main(path):\n    config = parse_config(path)\n    \n"
)
DIR = ROOT / "e2e-context"  # inside the session's workspace: only such files are candidates
MAIN_URI, HELPERS_URI, ENV_URI = (
    (DIR / name).as_uri() for name in ("main.py", "helpers.py", ".env")
)
OUTSIDE_URI = "file:///elsewhere/helpers_copy.py"
LINE = re.compile(r"prompt (\d+) tok \(reused (\d+), evaluated (\d+)\)")


def completions(lines: list[str]) -> list[tuple[int, int, int]]:
    out = []
    for line in lines:
        m = LINE.search(line)
        if line.startswith("completion:") and line.endswith("via model") and m:
            out.append((int(m[1]), int(m[2]), int(m[3])))
    return out


async def test_other_files_in_the_prompt_cost_their_bytes_once(models: Models) -> None:
    settings = {"model": str(models.tiny), "speculative": False}
    cursor = types.Position(line=4, character=4)
    async with lsp_session(settings) as alone:
        alone.open(MAIN_URI, MAIN)
        await alone.inline(MAIN_URI, cursor)
        without = completions(alone.log_lines())[-1][0]
    async with lsp_session(settings) as s:
        s.open(ENV_URI, SECRET, "dotenv")
        s.open(OUTSIDE_URI, HELPERS.replace("path", "path_outside"))  # not in the workspace
        s.open(HELPERS_URI, HELPERS)
        s.open(MAIN_URI, MAIN)
        await s.inline(MAIN_URI, cursor)
        first = completions(s.log_lines())[-1]
        prefix = MAIN[: MAIN.index("    \n") + 4]
        rendered = render_one("e2e-context/helpers.py", HELPERS.rstrip(), "python")
        assert rendered.startswith("# Compare this snippet from e2e-context/helpers.py:\n# def")
        assert first[0] - without == len(rendered.encode())  # the tiny vocabulary: a byte a token
        typed = s.insert(MAIN_URI, len(prefix), "r")
        await s.inline(MAIN_URI, typed)
        after = completions(s.log_lines())[-1]
        assert after[0] == first[0] + 1 and after[2] <= 8  # the context stayed in the cache
