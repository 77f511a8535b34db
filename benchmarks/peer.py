"""The keystroke benchmark's peer: llama-server's `/infill` driven with llama.vim's request policy.

llama_server_binary() builds llama-server from the llama.cpp that llama-cpp-python vendors (same
kernels as the LSP server); LlamaServer runs it; LlamaVimPeer replays keystrokes as llama.vim
(ggml-org/llama.vim, autoload/llama.vim) sends and shows them. Self-check: python -m benchmarks.peer
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sys
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.llama_server import LlamaServer, http_json, llama_server_binary


@dataclass
class RequestRecord:
    """One /infill request: which keystroke's state it served and what the server reported."""

    key: int
    speculative: bool
    start: float
    end: float = 0.0
    content: str = ""
    prompt_n: int = 0
    cache_n: int | None = None
    predicted_n: int = 0
    tokens_cached: int = 0
    prompt_ms: float = 0.0
    predicted_ms: float = 0.0
    truncated: bool = False
    error: str | None = None


RESPONSE_FIELDS = (  # llama.vim's list, plus timings/cache_n (it only filters the answer)
    "content timings/prompt_n timings/prompt_ms timings/predicted_n timings/predicted_ms "
    "timings/cache_n truncated tokens_cached"
)


def _vim_hash(prefix: str, middle: str, suffix: str) -> str:
    """llama.vim's cache key: sha256(prefix . middle . 'Î' . suffix)."""
    return hashlib.sha256((prefix + middle + "Î" + suffix).encode()).hexdigest()


class LlamaVimPeer:
    """Replays keystrokes as llama.vim (ggml-org/llama.vim autoload/llama.vim, auto_fim) does."""

    n_prefix, n_suffix, n_predict = 256, 64, 128  # g:llama_config defaults that matter here
    t_max_prompt_ms, t_max_predict_ms = 500, 1000  # a position's first request gets 250 ms
    max_line_suffix, max_cache_keys = 8, 250
    retry_ms = 100.0  # llama#fim's timer while a request is in flight

    def __init__(self, url: str, speculative: bool = True) -> None:
        self.url = url.rstrip("/") + "/infill"
        self.speculative = speculative  # after showing a hint, ask for the text after accepting it
        self.cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.lines: list[str] = [""]
        self.pos = (0, 0)  # (column, line), 0-based
        self.key_times: list[float] = []
        self.shown_at: list[float | None] = []
        self.hints: list[str | None] = []
        self.requests: list[RequestRecord] = []
        self._busy = False
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._shown = False
        self._shown_content: list[str] = []
        self._can_accept = False
        self._indent_last = -1

    # -- the editor side ----------------------------------------------------------------------
    async def key(self, text: str, cursor: int) -> None:
        """A keystroke left `text` with the cursor at character `cursor`: CursorMovedI."""
        self.key_times.append(time.perf_counter())
        self.shown_at.append(None)
        self.hints.append(None)
        before = text[:cursor]
        self.lines = text.split("\n")
        if text.endswith("\n") and len(self.lines) > 1:
            self.lines.pop()  # vim has no empty line after the final newline
        self.pos = (len(before) - before.rfind("\n") - 1, before.count("\n"))
        self._shown = False  # s:on_move: llama#fim_hide, then s:fim_try_hint
        self._try_hint(*self.pos)
        self._fim(None, prev=[])

    async def settle(self) -> None:
        """Wait until no request is in flight and none is waiting on llama.vim's retry timer."""
        while self._busy or self._timer is not None or self._tasks:
            await asyncio.sleep(0.005)

    def _line(self, y: int) -> str:
        """getline(): out-of-range lines read as empty."""
        return self.lines[y] if 0 <= y < len(self.lines) else ""

    # -- llama.vim, function by function ------------------------------------------------------
    def _ctx_local(self, x: int, y: int, prev: list[str]) -> dict[str, Any]:
        """s:fim_ctx_local: prefix lines, cursor line split at the cursor, suffix lines."""
        lines_suffix = self.lines[y + 1 : y + 1 + self.n_suffix]
        if not prev:
            line_cur = self._line(y)
            cur_prefix, cur_suffix = line_cur[:x], line_cur[x:]
            lines_prefix = self.lines[max(0, y - self.n_prefix) : y]
            indent = len(line_cur) - len(line_cur.lstrip())
            if not line_cur.strip():
                indent, cur_prefix, cur_suffix = 0, "", ""
        else:
            line_cur = self._line(y) + prev[0] if len(prev) == 1 else prev[-1]
            cur_prefix, cur_suffix, indent = line_cur, "", self._indent_last
            lines_prefix = self.lines[max(0, y - self.n_prefix + len(prev) - 1) : y]
            if len(prev) > 1:
                lines_prefix += [self._line(y) + prev[0], *prev[1:-1]]
        return {
            "prefix": "\n".join(lines_prefix) + "\n",
            "middle": cur_prefix,
            "suffix": cur_suffix + "\n" + "\n".join(lines_suffix) + "\n",
            "indent": indent,
            "line_cur_suffix": cur_suffix,
        }

    def _cache_get(self, key: str) -> dict[str, Any] | None:
        """s:cache_get, which also refreshes the key's LRU position."""
        if key in self.cache:
            self.cache.move_to_end(key)
        return self.cache.get(key)

    def _fim(self, pos: tuple[int, int] | None, prev: list[str]) -> None:
        """llama#fim(is_auto=true, use_cache=true): one request in flight, the rest retry."""
        if self._busy:  # "avoid sending repeated requests too fast": retry on a 100 ms timer
            if self._timer is not None:
                self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_later(
                self.retry_ms / 1000, self._retry, pos, prev
            )
            return
        x, y = pos or self.pos
        c = self._ctx_local(x, y, prev)
        if len(c["line_cur_suffix"]) > self.max_line_suffix:
            return
        hashes = [_vim_hash(c["prefix"], c["middle"], c["suffix"])]
        prefix_trim = c["prefix"]
        for _ in range(3):
            prefix_trim = re.sub(r"^[^\n]*\n", "", prefix_trim, count=1)
            if not prefix_trim:
                break
            hashes.append(_vim_hash(prefix_trim, c["middle"], c["suffix"]))
        if any(self._cache_get(h) is not None for h in hashes):
            return
        self._indent_last = c["indent"]
        t_max_predict_ms = self.t_max_predict_ms if prev else 250  # first: quick
        body = {"id_slot": 0, "input_prefix": c["prefix"], "input_suffix": c["suffix"]}
        body |= {"input_extra": [], "prompt": c["middle"], "n_predict": self.n_predict}
        body |= {"stop": [], "n_indent": c["indent"], "top_k": 1, "top_p": 0.90}  # top_k 1: greedy
        body |= {"samplers": ["top_k", "top_p", "infill"], "stream": False, "cache_prompt": True}
        body |= {"t_max_prompt_ms": self.t_max_prompt_ms, "t_max_predict_ms": t_max_predict_ms}
        body["response_fields"] = RESPONSE_FIELDS.split()
        rec = RequestRecord(len(self.key_times) - 1, bool(prev), time.perf_counter())
        self._busy = True
        task = asyncio.get_running_loop().create_task(self._request(body, hashes, rec))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _retry(self, pos: tuple[int, int] | None, prev: list[str]) -> None:
        """The retry timer fired: llama#fim again, for the cursor position as it is now."""
        self._timer = None
        self._fim(pos, prev)

    async def _request(self, body: dict[str, Any], hashes: list[str], rec: RequestRecord) -> None:
        """POST /infill, then s:fim_on_response (cache it, maybe show it), then s:fim_on_exit."""
        self.requests.append(rec)
        try:
            r = await asyncio.to_thread(http_json, self.url, body)
            rec.end = time.perf_counter()
            rec.content, rec.truncated = r.get("content", ""), r.get("truncated", False)
            rec.tokens_cached = r.get("tokens_cached", 0)
            for name in ("prompt_n", "cache_n", "predicted_n", "prompt_ms", "predicted_ms"):
                setattr(rec, name, r.get(f"timings/{name}", getattr(rec, name)))
            for h in hashes:
                self.cache[h] = r
                self.cache.move_to_end(h)
                if len(self.cache) > self.max_cache_keys:
                    self.cache.popitem(last=False)
            if not self._shown or not self._can_accept:
                self._try_hint(*self.pos)
        except (OSError, ValueError) as exc:
            rec.end, rec.error = time.perf_counter(), str(exc)
        finally:
            self._busy = False

    def _try_hint(self, x: int, y: int) -> None:
        """s:fim_try_hint: exact cache hit, or a cached answer the user has typed into."""
        c = self._ctx_local(x, y, [])
        content: str | None = None
        hit = self._cache_get(_vim_hash(c["prefix"], c["middle"], c["suffix"]))
        if hit is not None:
            content = hit.get("content", "")
        else:
            pm, best = c["prefix"] + c["middle"], 0
            for i in range(min(128, len(pm))):
                cached = self._cache_get(_vim_hash(pm[: len(pm) - 1 - i], "", c["suffix"]))
                if cached is None or cached.get("content", "")[: i + 1] != pm[len(pm) - 1 - i :]:
                    continue
                rest = cached.get("content", "")[i + 1 :]
                if rest and (content is None or len(rest) > best):
                    best = best if content is None else len(rest)
                    content = rest
        if content is not None:
            self._render(x, y, content)
            if self._shown and self.speculative:
                self._fim((x, y), prev=self._shown_content)

    def _render(self, x: int, y: int, text: str) -> None:
        """s:fim_render: drop suggestions that repeat existing text, then show the rest."""
        content = text.split("\n")
        while content and content[-1] == "":
            content.pop()
        can_accept = bool(content)
        content = content or [""]
        line_cur = self._line(y)
        if not line_cur.strip():
            lead = min(len(content[0]) - len(content[0].lstrip()), len(line_cur))
            line_cur, content[0] = content[0][:lead], content[0][lead:]
        cur_prefix, cur_suffix = line_cur[:x], line_cur[x:]
        n = len(content)
        if n > 1 and content[0] == "" and content[1:] == self.lines[y + 1 : y + n]:
            content = [""]
        if n == 1 and content[0] == cur_suffix:
            content = [""]
        cmp_y = y + 1
        while cmp_y < len(self.lines) - 1 and not self._line(cmp_y).strip():
            cmp_y += 1
        if cur_prefix + content[0] == self._line(cmp_y) and (
            n == 1
            or (n == 2 and self._line(cmp_y + 1).startswith(content[-1]))
            or (n > 2 and content[1:] == self.lines[cmp_y + 1 : cmp_y + n])
        ):
            content = [""]
        content[-1] += cur_suffix
        can_accept = can_accept and bool("\n".join(content).strip())
        self._shown, self._can_accept, self._shown_content = True, can_accept, content
        if can_accept and self.shown_at and self.shown_at[-1] is None:
            self.shown_at[-1], self.hints[-1] = time.perf_counter(), "\n".join(content)


# -- self-check -------------------------------------------------------------------------------
async def _self_check() -> int:
    """Type 20 characters at 10/s into a new line in the middle of the local engine's
    supervisor.py."""
    from statistics import median

    from tests.tiny_model import write_bench_model

    binary = llama_server_binary()
    if binary is None:
        return 1
    lines = (
        (Path(__file__).resolve().parent.parent / "lsp_server/engines/local/supervisor.py")
        .read_text()
        .split("\n")
    )
    y = next(i for i in range(len(lines) // 2, len(lines)) if lines[i].startswith(" " * 8))
    indent = lines[y][: len(lines[y]) - len(lines[y].lstrip())]
    head, tail = "\n".join(lines[: y + 1]) + "\n" + indent, "\n" + "\n".join(lines[y + 1 :])
    typed = "total = len(items) +"
    with tempfile.TemporaryDirectory() as tmp:
        model = write_bench_model(Path(tmp) / "bench.gguf")
        async with LlamaServer(binary, model) as server:
            print(f"llama-server {server.url}, log {server.log_path}")
            peer = LlamaVimPeer(server.url)
            await peer.key(head + tail, len(head))  # the Enter that opened the line: warm-up
            await peer.settle()
            warm = len(peer.requests)
            t0 = time.perf_counter()
            for i in range(1, len(typed) + 1):
                await asyncio.sleep(max(0.0, t0 + i * 0.1 - time.perf_counter()))
                await peer.key(head + typed[:i] + tail, len(head) + i)
            await peer.settle()
    print(f"warm-up: {peer.requests[0]}")
    for r in peer.requests[warm:]:
        print(
            f"  key {r.key:2d} spec={int(r.speculative)} {1000 * (r.end - r.start):6.1f} ms "
            f"prompt_n={r.prompt_n} cache_n={r.cache_n} predicted_n={r.predicted_n} "
            f"tokens_cached={r.tokens_cached} content={r.content!r}"
        )
    lat = [1000 * (s - t) for t, s in zip(peer.key_times[1:], peer.shown_at[1:]) if s is not None]
    p50 = f"{median(lat):.0f} ms" if lat else "n/a"
    print(
        f"{len(lat)}/{len(typed)} keystrokes showed a hint; p50 key->hint {p50}; "
        f"{len(peer.requests) - warm} requests ({sum(r.speculative for r in peer.requests)} "
        f"speculative)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_self_check()))
