"""Repository context over stdio: the definition of the function the cursor's line calls is in
the prompt (open or not), costs its tokens once (a key after it evaluates only its own), never
comes from ignored, secret or outside files, and the index follows the disk; a large tree is
indexed while completions go on."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from lsp_server.repository.builder import GATE_ENV
from tests.e2e.helpers import DEFAULT_INFILL, Models, lsp_session
from tests.e2e.test_context_files import completions
from tests.test_repository_index import GEOMETRY, SEARCH

pytestmark = pytest.mark.asyncio

RENDERED = (
    "# Compare this snippet from geometry.py:\n"
    "# def zebra_quux_distance(a, b):\n"
    '#     """Euclidean distance between two points."""\n'
    "#     dx = a[0] - b[0]\n#     dy = a[1] - b[1]\n#     return math.hypot(dx, dy)\n"
)
INFILL_HERE = DEFAULT_INFILL.split("\n")[0]  # its first line may be answered early, alone


async def last_completion(s: Any, count: int) -> tuple[int, int, int]:
    """The prompt line of the count-th completion (logged just after its answer)."""
    for _ in range(500):
        got = completions(s.log_lines())
        if len(got) >= count:
            return got[count - 1]
        await asyncio.sleep(0.01)
    raise AssertionError(f"no log line for completion {count}: {s.log_lines()[-5:]}")


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def settings(models: Models, **more: Any) -> dict[str, Any]:
    return {"model": str(models.tiny), "speculative": False, "repositoryContext": True, **more}


async def prompt_size(models: Models, root: Path, **more: Any) -> tuple[int, int, int]:
    """The prompt for the call in search.py, with only search.py open."""
    async with lsp_session(settings(models, **more), root=root) as s:
        await s.wait_for(lambda st: st.repository.state in ("ready", "off"), what="the index")
        uri = (root / "search.py").as_uri()
        s.open(uri, SEARCH)
        items = await s.inline(uri, s.cursor(uri, len(SEARCH)))
        assert [i.insert_text[: len(INFILL_HERE)] for i in items] == [INFILL_HERE]
        return await last_completion(s, 1)


async def test_the_function_i_import_and_call_is_in_the_prompt(
    models: Models, tmp_path: Path
) -> None:
    write(tmp_path, {"geometry.py": GEOMETRY, "search.py": SEARCH})
    without = (await prompt_size(models, tmp_path, extraContextTokens=0))[0]
    async with lsp_session(settings(models), root=tmp_path) as s:
        await s.wait_for(lambda st: st.repository.files == 2, what="the index")
        geometry, search = (tmp_path / "geometry.py").as_uri(), (tmp_path / "search.py").as_uri()
        s.open(geometry, GEOMETRY)  # open, in the same folder: the case
        s.open(search, SEARCH)
        await s.inline(search, s.cursor(search, len(SEARCH)))
        first = await last_completion(s, 1)
        assert first[0] - without == len(RENDERED.encode())  # the tiny vocabulary: a byte a token
        typed = s.insert(search, len(SEARCH), "p")
        await s.inline(search, typed)
        after = await last_completion(s, 2)
        assert after[0] == first[0] + 1 and after[2] <= 8  # the context stayed in the cache
        stats = await s.stats()
        assert stats.repository.choices == 1 and stats.repository.definitions_shown == 1


async def test_a_definition_in_a_file_that_is_not_open(models: Models, tmp_path: Path) -> None:
    write(tmp_path, {"geometry.py": GEOMETRY, "search.py": SEARCH})
    without = (await prompt_size(models, tmp_path, extraContextTokens=0))[0]
    with_index = (await prompt_size(models, tmp_path))[0]
    assert with_index - without == len(RENDERED.encode())
    off = (await prompt_size(models, tmp_path, repositoryContext=False))[0]
    assert off == without  # open files only, and none is open


async def test_ignored_secret_and_outside_files_are_never_used(
    models: Models, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    write(tmp_path / "outside", {"geometry.py": GEOMETRY})
    write(
        work,
        {
            ".gitignore": "vendor/\n",
            "vendor/geometry.py": GEOMETRY,
            "credentials/geometry.py": GEOMETRY,
            "private/geometry.py": GEOMETRY,
            "search.py": SEARCH,
        },
    )
    (work / "geometry.py").symlink_to(tmp_path / "outside" / "geometry.py")
    without = (await prompt_size(models, work, extraContextTokens=0))[0]
    got = await prompt_size(models, work, excludeGlobs=["private/"])
    assert got[0] == without


async def test_the_index_follows_the_disk(models: Models, tmp_path: Path) -> None:
    write(tmp_path, {"geometry.py": GEOMETRY, "search.py": SEARCH})
    async with lsp_session(settings(models), root=tmp_path, watch_files=True) as s:
        await s.wait_for(lambda st: st.repository.files == 2, what="the index")
        assert (await s.stats()).repository.watching  # registered for file events
        assert [r.method for r in s.registrations] == ["workspace/didChangeWatchedFiles"]
        (tmp_path / "geometry.py").unlink()
        write(tmp_path, {"shapes.py": "def area(w, h):\n    return w * h\n"})
        s.client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                changes=[
                    types.FileEvent(
                        uri=(tmp_path / "geometry.py").as_uri(), type=types.FileChangeType.Deleted
                    ),
                    types.FileEvent(
                        uri=(tmp_path / "shapes.py").as_uri(), type=types.FileChangeType.Created
                    ),
                ]
            )
        )
        stats = await s.wait_for(
            lambda st: st.repository.removed == 1 and st.repository.files == 2, what="events"
        )
        assert stats.repository.definitions == 2  # nearest + area; zebra_quux_distance gone


async def test_a_large_tree_is_indexed_while_completions_go_on(
    models: Models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(100):
        folder = tmp_path / f"d{i}"
        folder.mkdir()
        for j in range(100):
            (folder / f"m{j}.py").write_text(f"def f_{i}_{j}(x):\n    return x\n")
    write(tmp_path, {"geometry.py": GEOMETRY, "search.py": SEARCH})
    gate = tmp_path / "gate"
    gate.write_text("")
    monkeypatch.setenv(GATE_ENV, str(gate))  # the walk holds until the completion is answered
    async with lsp_session(settings(models), root=tmp_path) as s:
        uri = (tmp_path / "search.py").as_uri()
        s.open(uri, SEARCH)
        items = await s.inline(uri, s.cursor(uri, len(SEARCH)))
        assert [i.insert_text[: len(INFILL_HERE)] for i in items] == [INFILL_HERE]
        during = (await s.stats()).repository
        assert during.state == "building" and during.extracted <= 1  # (search.py, open)
        os.unlink(gate)
        done = await s.wait_for(
            lambda st: st.repository.state == "ready", timeout=120, what="the index"
        )
        assert done.repository.files == 10_002 and done.repository.definitions == 10_002
        assert done.repository.build_ms is not None
        # the first build of a large workspace showed $/progress: begin, reports, end
        await s.wait_for(
            lambda _st: any(
                r and type(r[-1]).__name__ == "WorkDoneProgressEnd"
                for r in s.client.progress_reports.values()
            ),
            what="the progress end",
        )
        (reports,) = [r for r in s.client.progress_reports.values() if r]
        assert reports[0].title == "Indexing the workspace" and reports[0].message == "0/10002"
