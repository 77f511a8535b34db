"""The workspace index: what it reads (never gitignored, excluded, secret, oversized or linked
files), how it stays fresh (deleted files leave it, open documents' text wins), and what the
context sources choose from it for a cursor, fitted to the budget in tokens."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lsp_server.prompt.tokens import build_prompt, fit_snippets
from lsp_server.repository import scan
from lsp_server.repository.builder import IndexBuilder
from lsp_server.repository.context_sources import ContextSources
from lsp_server.repository.definitions import extract
from lsp_server.repository.index import WorkspaceIndex

GEOMETRY = (
    "import math\n\n\n"
    "def zebra_quux_distance(a, b):\n"
    '    """Euclidean distance between two points."""\n'
    "    dx = a[0] - b[0]\n    dy = a[1] - b[1]\n    return math.hypot(dx, dy)\n"
)
SEARCH = (
    "from geometry import zebra_quux_distance\n\n\n"
    "def nearest(points, target):\n"
    "    best = None\n"
    "    for p in points:\n"
    "        d = zebra_quux_distance("
)


def tokenize(text: str) -> list[int]:
    return list(text.encode("utf-8"))


def built(root: Path, globs: tuple[str, ...] = ()) -> tuple[WorkspaceIndex, IndexBuilder]:
    index = WorkspaceIndex()
    builder = IndexBuilder(index)
    builder.configure([str(root)], globs, None)
    assert builder.wait_idle(30)
    return index, builder


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def context(index: WorkspaceIndex, root: Path, name: str, text: str, **kw: object) -> str:
    sources = kw.pop("sources", None) or ContextSources(index, extract)
    others = kw.pop("others", [])
    snippets = sources.extra(  # type: ignore[union-attr]
        (root / name).as_uri(), text, "\n", "python", others, 512, (), str(root), [str(root)]
    )
    return "".join(snippets)


def test_a_definition_in_a_file_that_is_not_open(tmp_path: Path) -> None:
    write(tmp_path, {"geometry.py": GEOMETRY, "search.py": SEARCH})
    index, builder = built(tmp_path)
    got = context(index, tmp_path, "search.py", SEARCH)
    assert got.startswith(
        "# Compare this snippet from geometry.py:\n"
        "# def zebra_quux_distance(a, b):\n"
        '#     """Euclidean distance between two points."""\n'
    )
    builder.stop()


def test_relative_imports_and_packages(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "from .shapes import area_of\n",
            "pkg/shapes.py": "def area_of(shape):\n    return shape.w * shape.h\n",
            "pkg/sub/__init__.py": "",
            "pkg/sub/use.py": "from .. import area_of\n\nx = area_of(",
            "other/shapes.py": "def area_of(thing, scale):\n    return 0\n",
        },
    )
    index, builder = built(tmp_path)
    got = context(index, tmp_path, "pkg/sub/use.py", "from .. import area_of\n\nx = area_of(")
    # through pkg/__init__.py's re-export to pkg/shapes.py, not the other area_of
    assert got.startswith("# Compare this snippet from pkg/shapes.py:\n# def area_of(shape):")
    assert "other/shapes.py" not in got
    builder.stop()


def test_gitignored_secret_excluded_and_large_files_are_never_indexed(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            ".gitignore": "build/\ngen_*.py\n",
            "build/geometry.py": GEOMETRY,
            "gen_geometry.py": GEOMETRY,
            "secrets.py": GEOMETRY,
            "private/geometry.py": GEOMETRY,
            "big.py": "x = 1\n" * (scan.MAX_FILE_BYTES // 6 + 1),
            "ok.py": "def fine():\n    pass\n",
        },
    )
    index, builder = built(tmp_path, ("private/",))
    assert sorted(os.path.relpath(p, tmp_path) for p in index.paths()) == ["ok.py"]
    assert context(index, tmp_path, "search.py", SEARCH) == ""
    builder.stop()


def test_links_are_never_followed_and_a_loop_ends(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside, {"geometry.py": GEOMETRY})
    work = tmp_path / "work"
    write(work, {"search.py": SEARCH, "pkg/a.py": "def a_fn():\n    pass\n"})
    (work / "linked").symlink_to(outside, target_is_directory=True)
    (work / "geometry.py").symlink_to(outside / "geometry.py")
    (work / "pkg" / "loop").symlink_to(work, target_is_directory=True)
    index, builder = built(work)
    assert sorted(os.path.relpath(p, work) for p in index.paths()) == ["pkg/a.py", "search.py"]
    assert context(index, work, "search.py", SEARCH) == ""
    builder.stop()


def test_a_deleted_file_leaves_the_index_and_an_open_text_wins(tmp_path: Path) -> None:
    write(tmp_path, {"geometry.py": GEOMETRY, "search.py": SEARCH})
    index, builder = built(tmp_path)
    geometry = str(tmp_path / "geometry.py")
    assert [d.name for d in index.definitions_in(geometry, "zebra_quux_distance")]
    builder.open_text(geometry, GEOMETRY.replace("zebra_quux_distance", "renamed_distance"))
    assert builder.wait_idle(30)
    assert not index.definitions_in(geometry, "zebra_quux_distance")
    assert index.definitions_in(geometry, "renamed_distance")
    builder.closed(geometry)  # the disk's text counts again
    assert builder.wait_idle(30)
    assert index.definitions_in(geometry, "zebra_quux_distance")
    os.unlink(geometry)
    builder.changed_on_disk([geometry])
    assert builder.wait_idle(30)
    assert index.entry(geometry) is None and not index.defined("zebra_quux_distance")
    assert builder.counts["removed"] == 1
    builder.stop()


def test_the_choice_is_sticky_in_its_block_until_a_definition_shown_changes(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "geometry.py": GEOMETRY + "\n\ndef other_metric(a):\n    return a\n",
            "search.py": SEARCH,
        },
    )
    index, builder = built(tmp_path)
    sources = ContextSources(index, extract)
    first = context(index, tmp_path, "search.py", SEARCH, sources=sources)
    assert sources.counts["choices"] == 1
    # typing on, even a call of something else: the same snippets (the KV cache keeps them)
    typed = SEARCH + "p, target) + other_metric("
    assert context(index, tmp_path, "search.py", typed, sources=sources) == first
    # the index changes in the background (a file nothing shown comes from): still the same
    write(tmp_path, {"unrelated.py": "def zzz():\n    pass\n"})
    builder.changed_on_disk([str(tmp_path / "unrelated.py")])
    assert builder.wait_idle(30)
    assert context(index, tmp_path, "search.py", typed, sources=sources) == first
    assert sources.counts["choices"] == 1
    # a definition shown changed on disk: chosen again
    changed = GEOMETRY.replace("(a, b)", "(a, b, norm=2)") + "\n\ndef other_metric(a):\n    pass\n"
    write(tmp_path, {"geometry.py": changed})
    builder.changed_on_disk([str(tmp_path / "geometry.py")])
    assert builder.wait_idle(30)
    again = context(index, tmp_path, "search.py", typed, sources=sources)
    assert sources.counts["choices"] == 2 and "zebra_quux_distance(a, b, norm=2)" in again
    # the next 16-line block: chosen again, the line's own call first
    moved = typed + "\n" * 16 + "        y = other_metric("
    later = context(index, tmp_path, "search.py", moved, sources=sources)
    assert sources.counts["choices"] == 3
    assert later.startswith("# Compare this snippet from geometry.py:\n# def other_metric(a):")
    builder.stop()


def test_snippets_fit_the_budget_in_tokens_and_the_last_is_cut_at_a_line() -> None:
    snippets = ["# A:\n# 1\n# 2\n", "# B:\n# 3\n# 4\n# 5\n", "# C:\n# 6\n"]
    whole = fit_snippets(snippets, tokenize, 100)
    assert bytes(whole).decode() == "# C:\n# 6\n# B:\n# 3\n# 4\n# 5\n# A:\n# 1\n# 2\n"
    # A (13 bytes) fits, B (17) does not: B is cut after its header and two lines, C dropped
    cut = fit_snippets(snippets, tokenize, 13 + 13)
    assert bytes(cut).decode() == "# B:\n# 3\n# 4\n# A:\n# 1\n# 2\n"
    assert fit_snippets(snippets, tokenize, 0) == []
    assert bytes(fit_snippets(snippets, tokenize, 16)).decode() == "# A:\n# 1\n# 2\n"


def test_the_prompt_takes_snippets_within_a_quarter_of_the_window() -> None:
    snippets = ["# S:\n" + "# line\n" * 200]
    req = {"prefix": "x = 1\n", "suffix": "", "extra": snippets, "extra_tokens": 4096}
    prompt = build_prompt(req, tokenize, None, None, 1024)
    total = 1024 - 128 - 8
    assert total // 4 - 7 <= len(prompt.tokens) - len(b"x = 1\n") <= total // 4
    text = bytes(prompt.tokens).decode()
    assert text.startswith("# S:\n# line\n") and text.endswith("# line\nx = 1\n")


@pytest.mark.parametrize("files", [10_000])
def test_an_index_of_many_files_builds_in_the_background(tmp_path: Path, files: int) -> None:
    for i in range(files // 100):
        folder = tmp_path / f"d{i}"
        folder.mkdir()
        for j in range(100):
            (folder / f"m{j}.py").write_text(f"def f_{i}_{j}(x):\n    return x\n")
    index = WorkspaceIndex()
    builder = IndexBuilder(index)
    builder.configure([str(tmp_path)], (), None)
    # the caller is not blocked: the build is under way on its own thread
    sources = ContextSources(index, extract)
    context(index, tmp_path, "d0/m0.py", "y = f_99_99(", sources=sources)
    assert builder.wait_idle(300)
    assert index.stats() == {"files": files, "definitions": files}
    assert builder.status()["state"] == "ready"
    got = context(index, tmp_path, "d0/m1.py", "y = f_99_99(")
    assert got.startswith("# Compare this snippet from d99/m99.py:\n# def f_99_99(x):")
    builder.stop()


def test_every_workspace_folder_is_indexed_and_resolved(tmp_path: Path) -> None:
    app, lib = tmp_path / "app", tmp_path / "lib"
    write(lib, {"shapes/__init__.py": "", "shapes/area.py": "def area_of(w, h):\n    return 0\n"})
    write(app, {"main.py": "from shapes.area import area_of\n\nx = area_of("})
    index = WorkspaceIndex()
    builder = IndexBuilder(index)
    builder.configure([str(app), str(lib)], (), None)
    assert builder.wait_idle(30)
    assert index.stats()["files"] == 3
    sources = ContextSources(index, extract)
    snippets = sources.extra(
        (app / "main.py").as_uri(), "from shapes.area import area_of\n\nx = area_of(", "\n",
        "python", [], 512, (), str(app), [str(app), str(lib)],
    )  # fmt: skip
    assert snippets[0] == (
        "# Compare this snippet from shapes/area.py:\n# def area_of(w, h):\n#     return 0\n"
    )
    builder.configure([str(app)], (), None)  # a folder removed: its files leave the index
    assert builder.wait_idle(30)
    assert [os.path.relpath(p, app) for p in index.paths()] == ["main.py"]
    builder.stop()


def test_the_index_stops_growing_at_its_cap_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lsp_server.repository import index as index_module

    monkeypatch.setattr(index_module, "MAX_DEFINITIONS", 5)
    write(tmp_path, {f"m{i}.py": "def a():\n    pass\n\n\ndef b():\n    pass\n" for i in range(4)})
    index, builder = built(tmp_path)
    assert index.stats() == {"files": 2, "definitions": 4} and index.full
    assert builder.status()["full"] is True
    builder.stop()


def test_a_gitignore_written_later_takes_files_out(tmp_path: Path) -> None:
    write(tmp_path, {"geometry.py": GEOMETRY, "search.py": SEARCH})
    index, builder = built(tmp_path)
    assert index.stats()["files"] == 2
    write(tmp_path, {".gitignore": "geometry.py\n"})  # read again: its mtime changed
    builder.changed_on_disk([str(tmp_path / ".gitignore")])
    assert builder.wait_idle(30)
    assert [os.path.relpath(p, tmp_path) for p in index.paths()] == ["search.py"]
    sources = ContextSources(index, extract)
    others = [((tmp_path / "geometry.py").as_uri(), GEOMETRY, 1)]
    assert context(index, tmp_path, "search.py", SEARCH, sources=sources, others=others) == ""
    builder.stop()
