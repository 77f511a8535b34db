"""`seed-coder-lsp next-edit FILE:LINE:COL`: the edit Zeta 2.1 predicts for a cursor, printed
as a unified diff. The edit history is the working tree's `git diff` of the file (or
`--history DIFF_FILE`, any unified diff); the model is `--next-edit-model` (local) or the server
at `--next-edit-url` / `--remote-url` with `--engine remote`."""

from __future__ import annotations

import asyncio
import difflib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from lsp_server.next_edit.zeta_v0318 import Event
from lsp_server.settings import Settings

HUNK = re.compile(r"^@@ ", re.M)


class NextEditError(Exception):
    """A problem the user can fix; one line."""


def events_from_diff(diff: str, root_name: str) -> list[Event]:
    """A unified diff (git's or any) as edit-history events, one per file, hunks kept;
    paths as Zed writes them (the workspace folder's name, then the path in it)."""
    events: list[Event] = []
    for section in re.split(r"^(?=diff --git |--- )", diff, flags=re.M):
        new = re.search(r"^\+\+\+ (?:b/)?(.+?)\t?$", section, re.M)
        hunk = HUNK.search(section)
        if new is None or hunk is None or new.group(1) == "/dev/null":
            continue
        body = section[hunk.start() :]
        events.append(Event(f"{root_name}/{new.group(1).strip()}", body.rstrip("\n") + "\n"))
    return events


def git_history(path: Path) -> tuple[list[Event], Path]:
    """The working tree's changes to the file, and the repository root (or the folder)."""
    folder = path.resolve().parent
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=folder, capture_output=True,
            text=True, timeout=20,
        )  # fmt: skip
        if top.returncode != 0:
            return [], folder
        root = Path(top.stdout.strip())
        diff = subprocess.run(
            ["git", "diff", "--no-color", "--no-ext-diff", "-U3", "--", str(path.resolve())],
            cwd=root, capture_output=True, text=True, timeout=20,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return [], folder
    return events_from_diff(diff.stdout, root.name), root


def next_edit_engine(settings: Settings) -> Any:
    """The next-edit model loaded (or its server connected), or a NextEditError."""
    from lsp_server.engines import EngineError
    from lsp_server.engines.remote.client import RemoteConfig, RemoteEngine
    from lsp_server.engines.shared import local_engine
    from lsp_server.model_files.model_check import ModelError
    from lsp_server.model_files.model_setup import (
        NEXT_EDIT_CONTEXT,
        locate_model_named,
        next_edit_config,
    )

    name = settings.next_edit_model.strip()
    if not name:
        raise NextEditError("no next-edit model: pass --next-edit-model (e.g. zeta-2.1-q4_k_m)")
    engine: Any
    if settings.engine == "remote":
        url = (settings.next_edit_url or settings.remote_url).strip()
        if not url.startswith(("http://", "https://")):
            raise NextEditError("--engine remote needs --next-edit-url or --remote-url http(s)://")
        config = RemoteConfig(url, settings.remote_api, NEXT_EDIT_CONTEXT, "seed-coder")
        engine = RemoteEngine(config, on_event=lambda kind, msg: None)
    else:
        try:
            model = locate_model_named(name)
        except ModelError as exc:
            raise NextEditError(str(exc)) from None
        engine = local_engine(next_edit_config(settings, str(model.path)), settings.shared_engine)
    try:
        engine.wait_ready(timeout=600)
    except EngineError as exc:
        engine.close()
        raise NextEditError(f"the next-edit model could not start: {exc}") from None
    if engine.info.get("fim_template") != "seed-coder":
        engine.close()
        raise NextEditError("the next-edit model has no Seed-Coder FIM tokens: not Zeta 2.1")
    return engine


def predict(
    settings: Settings, path: Path, text: str, offset: int, history: Path | None
) -> str | None:
    """The predicted edit of the file as a unified diff, or None (no edit)."""
    from lsp_server.next_edit.history import EditHistory
    from lsp_server.next_edit.predictor import Predictor, Request
    from lsp_server.postprocess.syntax import language_of_path

    if history is not None:
        try:
            diff = history.read_text(encoding="utf-8")
        except OSError as exc:
            raise NextEditError(f"cannot read {history}: {exc.strerror or exc}") from None
        root = Path.cwd()
        events = events_from_diff(diff, root.name)
    else:
        events, root = git_history(path)
    try:
        rel = path.resolve().relative_to(root).as_posix()
    except ValueError:
        rel = path.name
    shown = f"{root.name}/{rel}"
    store = EditHistory()
    store.events.extend(events)
    engine = next_edit_engine(settings)
    try:
        predictor = Predictor(lambda: engine, store, lambda uri: (text, 0))
        request = Request(path.as_uri(), 0, text, offset, shown, language_of_path(str(path)))
        prediction = asyncio.run(predictor.predict(request))
    finally:
        engine.close()
    if prediction is None:
        return None
    edit = prediction.edit
    after = text[: edit.start] + edit.text + text[edit.end :]
    lines = difflib.unified_diff(
        text.splitlines(keepends=True), after.splitlines(keepends=True),
        f"a/{rel}", f"b/{rel}",
    )  # fmt: skip
    return "".join(lines)


def run(settings: Settings, path: Path, text: str, offset: int, history: Path | None) -> int:
    """The command: the diff on stdout, or a note on stderr when there is no edit."""
    try:
        diff = predict(settings, path, text, offset, history)
    except NextEditError as exc:
        print(f"seed-coder-lsp: {exc}", file=sys.stderr)
        return 1
    if diff is None:
        print("seed-coder-lsp: no next edit predicted", file=sys.stderr)
        return 0
    sys.stdout.write(diff if diff.endswith("\n") else diff + "\n")
    return 0


def doctor(settings: Settings) -> None:
    """doctor's next-edit section: the model and one timed prediction."""
    import time

    if settings.next_edit_key() is None:
        print("next edits: off (no --next-edit-model)")
        return
    print(f"next edits: model {settings.next_edit_model}")
    try:
        engine = next_edit_engine(settings)
    except NextEditError as exc:
        print(f"next edits: {exc}")
        return
    try:
        info = engine.info
        print(f"next edits: {info.get('name') or info.get('model')} on {info.get('backend')}, "
              f"context {info.get('n_ctx')}")  # fmt: skip
    finally:
        engine.close()
    t0 = time.perf_counter()
    sample = "def area(width, height):\n    return width * height\n\n\nprint(area(2))\n"
    try:
        diff = predict(settings, Path(os.devnull), sample, sample.index("(2)") + 2, None)
    except NextEditError as exc:
        print(f"next edits: {exc}")
        return
    ms = (time.perf_counter() - t0) * 1000
    print(f"next edits: smoke prediction in {ms:.0f} ms: {'an edit' if diff else 'no edit'}")
