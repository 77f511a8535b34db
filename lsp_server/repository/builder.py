"""Keeps the workspace index built and fresh on a thread of its own, at low priority, never on
the keystroke path: a full walk when the folders or rules change, open documents' text (a pause
after their last change), files the editor saw change on disk, and a slow rescan where the
editor reports no file changes."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from lsp_server.postprocess.syntax import language_of_path
from lsp_server.repository.facts import FileFacts
from lsp_server.repository.index import WorkspaceIndex
from lsp_server.repository.scan import Found, Rules, check_file, walk

log = logging.getLogger("seed_coder_lsp.repository")
OPEN_PAUSE_S = 0.75  # an open document is indexed again this long after its last change
PROGRESS_EVERY_S = 0.5
NICE = 10  # the index thread's priority below the server's (Linux: per thread)
GATE_ENV = "SEED_CODER_LSP_INDEX_GATE"  # tests: a walk holds while this file exists
Extract = Callable[[str, str], FileFacts]
Report = Callable[[dict[str, Any]], None]


def _default_extract(text: str, language: str) -> FileFacts:
    from lsp_server.repository.definitions import extract

    return extract(text, language)


class IndexBuilder:
    """One thread that owns every write to the index."""

    def __init__(
        self,
        index: WorkspaceIndex,
        extract: Extract = _default_extract,
        report: Report | None = None,
    ) -> None:
        self.index, self.extract, self.report = index, extract, report
        self._cond = threading.Condition()
        self._rules: Rules | None = None
        self._build = False  # a full walk is wanted
        self._texts: dict[str, tuple[float, str]] = {}  # open document -> (changed at, text)
        self._open: dict[str, str] = {}  # open documents' latest text, read instead of the disk
        self._disk: set[str] = set()  # paths to check on disk
        self._rescan_s: float | None = None
        self._stopped = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self.state = "off"
        self.counts = {"read": 0, "extracted": 0, "removed": 0, "walks": 0}
        self.build_ms: float | None = None  # the first full walk
        self.cpu_s = 0.0

    # -- what the LSP layer tells it -----------------------------------------------------
    def configure(
        self, folders: Sequence[str], exclude_globs: tuple[str, ...], rescan_s: float | None
    ) -> None:
        """Index these folders with these rules (a walk when they changed); no folders: off."""
        with self._cond:
            old = self._rules
            same = old is not None and (old.folders, old.exclude_globs) == (
                [os.path.abspath(f) for f in folders],
                exclude_globs,
            )
            self._rescan_s = rescan_s
            if not folders:
                self._rules, self._build = None, False
                self._cond.notify()
                self.state = "off"
                return
            if not same:
                self._rules, self._build = Rules(folders, exclude_globs), True
                self.state = "building"
            self._cond.notify()
        self._start()

    def open_text(self, path: str, text: str) -> None:
        """An open document's text changed (indexed after a pause in its changes)."""
        with self._cond:
            self._open[path] = text
            self._texts[path] = (time.monotonic(), text)
            self._cond.notify()

    def closed(self, path: str) -> None:
        """An open document was closed: the disk's text counts again."""
        with self._cond:
            self._open.pop(path, None)
            self._texts.pop(path, None)
            self._disk.add(path)
            self._cond.notify()

    def changed_on_disk(self, paths: Iterable[str]) -> None:
        """Files created, changed or deleted (workspace/didChangeWatchedFiles, or a stale
        entry seen while retrieving)."""
        with self._cond:
            self._disk.update(os.path.abspath(p) for p in paths)
            self._cond.notify()

    def ignores_changed(self) -> None:
        """A .gitignore changed: walk again with the new rules."""
        with self._cond:
            if self._rules is not None:
                self._rules.forget_ignores()
                self._build = True
                self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Until nothing is pending (tests and benchmarks)."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._busy or self._build or self._texts or self._disk:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def status(self) -> dict[str, Any]:
        """What doctor and seedCoder/stats show."""
        out: dict[str, Any] = {"state": self.state, **self.index.stats(), **self.counts}
        out["build_ms"] = None if self.build_ms is None else round(self.build_ms)
        out["cpu_s"] = round(self.cpu_s, 3)
        out["full"] = self.index.full
        return out

    # -- the thread ------------------------------------------------------------------------
    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="workspace-index", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
        started = time.thread_time()
        next_rescan = time.monotonic() + (self._rescan_s or 1e9)
        while True:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
                while not self._stopped and not self._ready_work(next_rescan):
                    self._cond.wait(self._wait_s(next_rescan))
                if self._stopped:
                    return
                self._busy = True
                if time.monotonic() >= next_rescan:
                    self._build = True
                    next_rescan = time.monotonic() + (self._rescan_s or 1e9)
            try:
                self._step()
            except Exception:  # the index must never take the server down
                log.exception("workspace index: a step failed")
            self.cpu_s = time.thread_time() - started

    def _ready_work(self, next_rescan: float) -> bool:
        """Something to do now (open texts wait for a pause in their changes)."""
        if self._rules is None:
            return False
        now = time.monotonic()
        due = any(now - t >= OPEN_PAUSE_S for t, _ in self._texts.values())
        return self._build or bool(self._disk) or due or now >= next_rescan

    def _wait_s(self, next_rescan: float) -> float | None:
        now = time.monotonic()
        waits = [next_rescan - now] if self._rules is not None else []
        waits += [OPEN_PAUSE_S - (now - t) for t, _ in self._texts.values()]
        return max(0.01, min(waits)) if waits else None

    def _step(self) -> None:
        """Open texts first, then files seen changing, then a full walk."""
        self._index_open_texts()
        with self._cond:
            disk, self._disk = self._disk, set()
            build, self._build = self._build, False
            rules = self._rules
        if rules is None:
            return
        for path in sorted(disk):
            self._refresh(rules, path)
        if build:
            self._walk(rules)

    def _index_open_texts(self) -> None:
        now = time.monotonic()
        with self._cond:
            due = {p: text for p, (t, text) in self._texts.items() if now - t >= OPEN_PAUSE_S}
            for p in due:
                del self._texts[p]
            rules = self._rules
        for path, text in due.items():
            found = check_file(rules, path) if rules is not None else None
            if found is not None:
                self._put(found, text, -1)

    def _refresh(self, rules: Rules, path: str) -> None:
        """One file seen changing: read it again, or forget it."""
        if os.path.basename(path) in (".gitignore", ".ignore"):
            self.ignores_changed()
            return
        found = check_file(rules, path)
        if found is None:
            if self.index.entry(path) is not None:
                self.index.remove(path)
                self.counts["removed"] += 1
            return
        self._read(found)

    def _walk(self, rules: Rules) -> None:
        """Every file under the folders; unchanged ones (same mtime) are not read again."""
        started = time.perf_counter()
        files = list(walk(rules, stop=lambda: self._stopped))
        total, done, last = len(files), 0, 0.0
        self._progress("begin", 0, total)
        gate = os.environ.get(GATE_ENV)
        for found in files:
            while gate and os.path.exists(gate) and not self._stopped:
                time.sleep(0.02)
            if self._stopped:
                return
            if self._texts:
                self._index_open_texts()
            entry = self.index.entry(found.path)
            if entry is None or (entry.mtime_ns != found.mtime_ns and entry.mtime_ns != -1):
                self._read(found)
            done += 1
            if time.monotonic() - last >= PROGRESS_EVERY_S:
                last = time.monotonic()
                self._progress("report", done, total)
        removed = self.index.retain(f.path for f in files)
        self.counts["removed"] += removed
        self.counts["walks"] += 1
        if self.build_ms is None:
            self.build_ms = (time.perf_counter() - started) * 1000
        self.state = "ready"
        self._progress("end", done, total)

    def _read(self, found: Found) -> None:
        """Index a file from the open document's text, or from the disk."""
        text = self._open.get(found.path)
        if text is None:
            try:
                with open(found.path, "rb") as f:
                    text = f.read().decode("utf-8", errors="replace")
            except OSError:
                return
            self.counts["read"] += 1
        self._put(found, text, found.mtime_ns if found.path not in self._open else -1)

    def _put(self, found: Found, text: str, mtime_ns: int) -> None:
        language = language_of_path(found.path)
        facts = self.extract(text, language)
        self.counts["extracted"] += 1
        self.index.put(found.path, found.folder, language, mtime_ns, facts)

    def _progress(self, kind: str, done: int, total: int) -> None:
        if self.report is not None:
            with contextlib.suppress(Exception):
                self.report({"kind": kind, "done": done, "total": total})
