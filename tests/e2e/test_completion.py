"""The keystroke path against one shared server (tiny model, UTF-16 client, no debounce).

Every test uses its own document text (the typed-through cache is keyed by text, not URI) and
asserts counter deltas, so the tests do not depend on each other's order. Tests that change
settings restore them in `finally`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types

from tests.e2e.helpers import (
    DEFAULT_INFILL,
    STATS_LINE,
    Models,
    Session,
    lsp_session,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
COUNTERS = ("requests", "generations", "cache_hits", "superseded", "not_ready", "cancelled")


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=[False, True], ids=["own-worker", "shared"]
)
async def server(models: Models, request: pytest.FixtureRequest) -> AsyncIterator[Session]:
    # Speculation off: these tests count decode steps between two requests exactly. Every test
    # runs twice: with a worker of the server's own and through the shared engine.
    settings = {
        "model": str(models.tiny),
        "debounceMs": 0,
        "speculative": False,
        "sharedEngine": request.param,
    }
    async with lsp_session(settings) as s:
        s.model = str(models.tiny)  # type: ignore[attr-defined]
        yield s


def delta(before: Any, after: Any) -> dict[str, int]:
    return {k: getattr(after, k) - getattr(before, k) for k in (*COUNTERS, "decode_steps")}


def completion_logs(server: Session) -> list[tuple[int, int, int]]:
    """(prompt, reused, evaluated) of every completion logged so far."""
    out = []
    for line in server.log_lines():
        match = STATS_LINE.search(line)
        if line.startswith("completion:") and line.endswith("via model") and match:
            out.append(tuple(int(g) for g in match.groups()))
    return out  # type: ignore[return-value]


async def test_typing_through_a_suggestion_costs_no_decode_step(server: Session) -> None:
    uri = "file:///e2e/completion/typing.py"
    server.open(uri, "def typing_through():\n    \n")
    items = await server.inline(uri, types.Position(line=1, character=4))
    assert [i.insert_text for i in items] == [DEFAULT_INFILL]
    before = await server.stats()

    cursor = server.insert(uri, len("def typing_through():\n    "), "ok")
    assert (cursor.line, cursor.character) == (1, 6)
    items = await server.inline(uri, cursor)

    assert len(items) == 1
    assert items[0].insert_text == "_42 = compute(1)\n    return ok_42"
    assert items[0].range == types.Range(start=cursor, end=cursor)
    after = await server.stats()
    d = delta(before, after)
    assert d["cache_hits"] == 1
    assert d["generations"] == 0
    assert d["decode_steps"] == 0


async def test_keystroke_after_finished_request_evaluates_only_new_tokens(
    server: Session,
) -> None:
    uri = "file:///e2e/completion/keystroke.py"
    server.open(uri, "def keystroke():\n    \n")
    items = await server.inline(uri, types.Position(line=1, character=4))
    assert [i.insert_text for i in items] == [DEFAULT_INFILL]
    logged = len(completion_logs(server))
    first_prompt = completion_logs(server)[-1][0]

    # "z" diverges from the suggestion ("ok_42..."): a new generation, but on a warm cache.
    cursor = server.insert(uri, len("def keystroke():\n    "), "z")
    before = await server.stats()
    items = await server.inline(uri, cursor)
    after = await server.stats()

    assert [i.insert_text for i in items] == [DEFAULT_INFILL]
    assert delta(before, after)["generations"] == 1
    assert delta(before, after)["cache_hits"] == 0
    logs = completion_logs(server)
    assert len(logs) == logged + 1
    prompt, reused, evaluated = logs[-1]
    print(
        f"keystroke after a finished request: prompt {prompt}, reused {reused}, "
        f"evaluated {evaluated}"
    )
    assert prompt == first_prompt + 1  # one more byte in the prefix
    assert evaluated == 2  # the new byte + the FIM middle token
    assert reused == prompt - 2


async def test_burst_of_requests_is_superseded_to_one_generation(server: Session) -> None:
    uri = "file:///e2e/completion/burst.py"
    text = "def burst():\n    \n"
    server.open(uri, text)
    server.configure({"model": server.model, "debounceMs": 100})  # type: ignore[attr-defined]
    try:
        before = await server.stats()
        futures = []
        offset = len("def burst():\n    ")
        for n, ch in enumerate("value"):
            cursor = server.insert(uri, offset + n, ch)  # didChange, then the request at once
            futures.append(server.send_inline(uri, cursor))
        results = await asyncio.wait_for(asyncio.gather(*futures), 10)
        after = await server.stats()
    finally:
        server.configure({"model": server.model, "debounceMs": 0})  # type: ignore[attr-defined]

    assert all(r is not None for r in results)
    answers = [[i.insert_text for i in r.items] for r in results]
    assert answers == [[], [], [], [], [DEFAULT_INFILL]]
    last = results[-1].items[0]
    assert last.range == types.Range(
        start=types.Position(line=1, character=9), end=types.Position(line=1, character=9)
    )
    d = delta(before, after)
    print(
        f"burst: {d['requests']} requests -> {d['generations']} generation(s), "
        f"{d['superseded']} superseded"
    )
    assert d["requests"] == 5
    assert d["generations"] == 1
    assert d["superseded"] == 4
    assert d["cache_hits"] == 0


async def test_unknown_document_is_empty_and_server_still_serves(server: Session) -> None:
    items = await server.inline(
        "file:///e2e/completion/never-opened.py", types.Position(line=0, character=0)
    )
    assert items == []
    uri = "file:///e2e/completion/after-unknown.py"
    server.open(uri, "def after_unknown():\n    \n")
    items = await server.inline(uri, types.Position(line=1, character=4))
    assert [i.insert_text for i in items] == [DEFAULT_INFILL]


@pytest.mark.parametrize(
    ("line", "character"),
    [(5, 0), (2, 1), (0, 99), (1, 5)],
    ids=["line-beyond-last", "past-final-empty-line", "char-beyond-line-0", "char-beyond-line-1"],
)
async def test_position_past_the_end_is_empty(server: Session, line: int, character: int) -> None:
    uri = f"file:///e2e/completion/past-{line}-{character}.py"
    server.open(uri, "def past():\n    \n")  # lines: "def past():", "    ", ""
    before = await server.stats()
    items = await server.inline(uri, types.Position(line=line, character=character))
    assert items == []
    assert delta(before, await server.stats())["generations"] == 0


async def test_closed_document_is_empty(server: Session) -> None:
    uri = "file:///e2e/completion/closed.py"
    server.open(uri, "def closed_doc():\n    \n")
    server.close(uri)
    before = await server.stats()
    items = await server.inline(uri, types.Position(line=1, character=4))
    assert items == []
    assert delta(before, await server.stats())["generations"] == 0


async def test_languages_setting_limits_completions(server: Session) -> None:
    py_uri = "file:///e2e/completion/lang.py"
    rs_uri = "file:///e2e/completion/lang.rs"
    server.open(py_uri, "def languages():\n    \n", "python")
    server.open(rs_uri, "fn languages() {\n    \n}\n", "rust")
    server.configure(
        {"model": server.model, "debounceMs": 0, "languages": ["rust"]}  # type: ignore[attr-defined]
    )
    try:
        assert await server.inline(py_uri, types.Position(line=1, character=4)) == []
        items = await server.inline(rs_uri, types.Position(line=1, character=4))
        # the tiny model writes Python: in Rust its second line (no `;`) breaks the file, so
        # the syntax check keeps the first (a valid tail expression)
        assert [i.insert_text for i in items] == [DEFAULT_INFILL.split("\n")[0]]
    finally:
        server.configure({"model": server.model, "debounceMs": 0})  # type: ignore[attr-defined]
    items = await server.inline(py_uri, types.Position(line=1, character=4))
    assert [i.insert_text for i in items] == [DEFAULT_INFILL]


async def test_completion_request_from_an_inline_client_is_empty(server: Session) -> None:
    uri = "file:///e2e/completion/inline-client.py"
    server.open(uri, "def inline_client():\n    \n")
    before = await server.stats()
    result = await server.client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=1, character=4),
        )
    )
    assert result is None or not (
        result.items if isinstance(result, types.CompletionList) else result
    )
    assert delta(before, await server.stats())["requests"] == 0


async def test_accepting_a_suggestion_shows_the_next_one_from_speculation(models: Models) -> None:
    """A shown suggestion gets a speculative generation for the state after accepting it, so
    accepting and continuing needs no generation and no decode step."""
    async with lsp_session({"model": str(models.tiny), "debounceMs": 0}) as server:
        uri = "file:///e2e/completion/speculate.py"
        server.open(uri, "def speculate():\n    \n")
        items = await server.inline(uri, types.Position(line=1, character=4))
        assert [i.insert_text for i in items] == [DEFAULT_INFILL]
        for _ in range(200):  # the speculative generation runs once the answer is out
            if any(line.endswith("via speculative") for line in server.log_lines()):
                break
            await asyncio.sleep(0.02)
        before = await server.stats()
        assert before.speculations == 1
        models_logged = len(completion_logs(server))
        cursor = server.insert(uri, len("def speculate():\n    "), DEFAULT_INFILL)  # Tab
        items = await server.inline(uri, cursor)
        after = await server.stats()
        assert len(items) == 1 and items[0].insert_text
        assert items[0].range == types.Range(start=cursor, end=cursor)
        d = delta(before, after)
        assert (d["cache_hits"], d["generations"]) == (1, 0)
        assert len(completion_logs(server)) == models_logged  # no generation for the answer
        # Any decode steps since are the next speculation's, which starts after a short pause.
        later = await server.wait_for(
            lambda st: st.speculations == before.speculations + 1, 5, "the next speculation"
        )
        assert later.generations == after.generations


async def test_completion_after_an_edit_in_a_file_with_a_form_feed(server: Session) -> None:
    """pygls's own copy splits lines at the form feed and drifts after an incremental edit
    (here its line 1 stays empty, so the cursor below would be "outside the document"); the
    server keeps the editor's text and completes at the right place."""
    uri = "file:///e2e/completion/formfeed.py"
    text = "import os\f\ndef f():\n    pass\n"
    server.open(uri, text)
    server.insert(uri, text.index("def"), "x = 2\n")  # a new line 1 under the form feed
    cursor = types.Position(line=1, character=5)  # the end of "x = 2"
    items = await server.inline(uri, cursor)
    assert [i.insert_text for i in items] == [DEFAULT_INFILL]
    assert items[0].range == types.Range(start=cursor, end=cursor)
