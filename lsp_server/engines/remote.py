"""The remote engine: the same token-exact FIM prompts, streamed from a shared inference server.

Everything runs on one asyncio loop in a thread of its own, so the CLI and the language server
use it alike. The window and prompt are built here with the server's tokenizer (document text
block by block, cached); generation streams and stops by the same rules as the local engine;
cancelling a job closes its stream, which makes the server stop generating. When the server
cannot serve, requests fail at once and a probe brings the engine back when the server does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import httpx

from ..fim import ALL_MARKER_TEXTS, FimIds, detect
from ..postprocess import settled
from ..prompt import Prompt
from . import EngineError, EventSink, Job
from . import remote_api as api
from .remote_prompt import RemotePrompts

log = logging.getLogger("seed_coder_lsp.remote")
PROBE_INTERVAL_S = 2.0
# llama-server serves each connection on a thread of its own (about slots + 2 threads) and holds
# it for keep-alive: a client with many idle connections starves the server. Few connections,
# one kept idle.
LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=1)
FETCH_PARALLEL = 2


@dataclass(frozen=True)
class RemoteConfig:
    """Where the server is and how to talk to it."""

    url: str
    api: str = "auto"  # auto | llama-server | openai
    context_length: int = 4096  # the window never exceeds this, nor the server's context
    fim_template: str = "auto"


class RemoteEngine:
    """Client side of a llama-server / vLLM / OpenAI-compatible server."""

    kind = "remote"

    def __init__(self, config: RemoteConfig, on_event: EventSink | None = None) -> None:
        self.config = config
        self.url = config.url.rstrip("/")
        self.on_event = on_event or _log_event
        self.facts: api.ServerFacts | None = None
        self.fim: FimIds | None = None
        self.bos: int | None = None
        self.info: dict[str, Any] = {}
        self.load_error: str | None = None
        self.starts = 0  # successful connections: a reconnect means an unknown server cache
        self.crashes = 0  # times the server stopped serving while we used it
        self.decode_steps = 0  # tokens the server generated for us
        self.evaluated_tokens = 0  # prompt tokens the server evaluated for us
        self.pid = None
        self._up = False
        self._closed = False
        self._seq = itertools.count(1)
        self._ready = threading.Event()
        self._tasks: dict[int, Any] = {}
        self.prompts: RemotePrompts | None = None
        self._slots: OrderedDict[str, int] = OrderedDict()
        self._probe: asyncio.Task[None] | None = None
        self._gate: asyncio.Semaphore
        self._loop = asyncio.new_event_loop()
        self._client: httpx.AsyncClient | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="remote")
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background: detect the server, its model and FIM tokens."""
        if self._started:
            return
        self._started = True
        self._thread.start()
        self._call(self._connect_until_up())

    def wait_loaded(self, timeout: float | None = None) -> bool:
        """Block until the first connection attempt has succeeded or failed (see load_error)."""
        return self._ready.wait(timeout)

    def wait_ready(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until connected; raise EngineError with the reason if the server cannot serve."""
        self.start()
        if not self._ready.wait(timeout):
            raise EngineError(f"{self.url} did not answer within {timeout:g} s")
        if self.load_error:
            raise EngineError(self.load_error)
        return self.info

    @property
    def ready(self) -> bool:
        return self._up and not self._closed

    @property
    def restartable(self) -> bool:
        return False  # the probe reconnects by itself; requests meanwhile are answered empty

    def close(self, timeout: float = 1.0) -> None:
        """Close every stream (the server stops those generations) and the connection pool."""
        if self._closed:
            return
        self._closed = True
        self._ready.set()
        if self._started and self._loop.is_running():
            with contextlib.suppress(Exception):  # closing never raises
                self._call(self._shutdown()).result(timeout)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    async def _shutdown(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        if self._probe is not None:
            self._probe.cancel()
        if self._client is not None:
            await self._client.aclose()

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    # -- connecting --------------------------------------------------------------------------
    async def _connect_until_up(self) -> None:
        """Try now; on failure report once and probe until the server serves again."""
        self._client = httpx.AsyncClient(
            headers=api.headers(), timeout=api.PROBE_TIMEOUT, limits=LIMITS
        )
        self._gate = asyncio.Semaphore(FETCH_PARALLEL)
        if await self._connect():
            return
        self._start_probe()

    def _start_probe(self) -> None:
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._probe_loop())

    async def _probe_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(PROBE_INTERVAL_S)
            if await self._connect():
                return

    async def _connect(self) -> bool:
        """Detect the server and bind the FIM template; True when it can serve."""
        assert self._client is not None
        try:
            facts = await api.detect(self._client, self.url, self.config.api)
            lookups = await asyncio.gather(*(self._lookup(t, facts) for t in ALL_MARKER_TEXTS))
            special = dict(zip(ALL_MARKER_TEXTS, lookups))
            fim, warning = detect(special.get, self.config.fim_template)
            with_bos = await api.tokenize(self._client, self.url, facts, "a", add_special=True)
            plain = await api.tokenize(self._client, self.url, facts, "a")
        except Exception as exc:  # noqa: BLE001 - every failure becomes one clear line
            self._went_down(api.explain(self.url, exc), during_connect=True)
            return False
        self.facts, self.fim = facts, fim
        self.bos = with_bos[0] if len(with_bos) > len(plain) else None
        self._slots.clear()
        self.starts += 1
        self.info = self._describe(facts)
        self.prompts = RemotePrompts(fim, self.bos, self.info["n_ctx"])
        self.load_error = None
        self._up = True
        self._ready.set()
        for text in filter(None, [warning, self._fim_warning()]):
            self.on_event("warning", text)
        self.on_event("ready", f"connected to {self.url} ({facts.api}, {facts.model})")
        return True

    async def _lookup(self, text: str, facts: api.ServerFacts) -> int | None:
        """The id of a marker when the server's tokenizer makes it one special token."""
        assert self._client is not None
        async with self._gate:
            ids = await api.tokenize(self._client, self.url, facts, text, special=True)
        return ids[0] if len(ids) == 1 else None

    def _fim_warning(self) -> str | None:
        if self.fim is not None:
            return None
        model = self.facts.model if self.facts else "?"
        return (
            f"the model on {self.url} ({model}) has no fill-in-the-middle tokens: completing "
            "from the text before the cursor only (serve a FIM model such as Seed-Coder-8B-Base)"
        )

    def _describe(self, facts: api.ServerFacts) -> dict[str, Any]:
        return {
            "backend": f"remote {facts.api}",
            "server": self.url,
            "api": facts.api,
            "model": facts.model,
            "name": facts.model,
            "n_ctx": self._n_ctx(facts),
            "n_ctx_server": facts.n_ctx,
            "slots": facts.slots,
            "build": facts.build,
            "fim_template": self.fim.template.name if self.fim else None,
            "fim_ids": list(self.fim.ids()) if self.fim else [],
            "add_bos": self.bos is not None,
            "warnings": [w for w in [self._fim_warning()] if w],
        }

    def _n_ctx(self, facts: api.ServerFacts) -> int:
        ours = self.config.context_length
        return min(ours, facts.n_ctx) if facts.n_ctx > 0 else ours

    def _went_down(self, error: EngineError, *, during_connect: bool = False) -> None:
        """Stop serving: one report per outage, then probe until the server is back."""
        was_up = self._up
        self._up = False
        first = not self._ready.is_set()
        self.load_error = str(error)
        self._ready.set()
        if was_up:
            self.crashes += 1
            self.on_event("crashed", f"{error} - retrying every {PROBE_INTERVAL_S:g} s")
        elif first and during_connect:
            self.on_event("load_error", str(error))
        if not self._closed:
            self._start_probe()

    # -- requests ----------------------------------------------------------------------------
    def submit(self, op: str = "complete", **payload: Any) -> Job:
        """Start a request; a server that cannot serve fails it at once."""
        job = Job(seq=next(self._seq), worker=self.starts)
        if op not in ("complete", "prefill"):
            job.future.set_exception(EngineError(f"unknown op {op!r}"))
        elif not self.ready:
            job.future.set_exception(EngineError(self.load_error or f"{self.url} not connected"))
        else:
            task = self._call(self._run(job, op, payload))
            # Cancelled before it ran: the coroutine never resolves the job, this does.
            task.add_done_callback(lambda t: _settle(job, _cancelled()) if t.cancelled() else None)
            self._tasks[job.seq] = task
            if task.done():
                self._tasks.pop(job.seq, None)
        return job

    def cancel(self, job: Job) -> None:
        """Close the job's stream: the server stops generating for it."""
        task = self._tasks.get(job.seq)
        if task is not None:
            task.cancel()

    def wasted_steps(self, job: Job, result: dict[str, Any]) -> int:
        """The server's steps after a cancel are not visible to a client."""
        return 0

    def prompt_for(self, req: dict[str, Any], timeout: float = 30.0) -> Prompt:
        """The prompt the server gets for a request (doctor, tests)."""
        return self._call(self._prompt(req)).result(timeout)  # type: ignore[no-any-return]

    async def _run(self, job: Job, op: str, req: dict[str, Any]) -> None:
        """One request from prompt to result; every outcome resolves the job."""
        t0 = time.perf_counter()
        try:
            prompt = await self._prompt(req)
            result = await self._generate(job, prompt, req, prefill=op == "prefill")
        except asyncio.CancelledError:
            result = _cancelled()
        except Exception as exc:  # noqa: BLE001 - the server went away or answered nonsense
            error = api.explain(self.url, exc)
            if error.server_down:
                self._went_down(error)
            _settle(job, error)
            return
        finally:
            self._tasks.pop(job.seq, None)
        result["stats"]["total_ms"] = (time.perf_counter() - t0) * 1000
        _settle(job, result)

    async def _generate(
        self, job: Job, prompt: Prompt, req: dict[str, Any], *, prefill: bool
    ) -> dict[str, Any]:
        """Stream the generation; stop early by the local engine's rules (closing the stream)."""
        assert self._client is not None and self.facts is not None
        facts = self.facts
        tokens = prompt.tokens[: prompt.stable] if prefill else prompt.tokens
        if prefill and facts.api != api.LLAMA_SERVER:
            return {"text": "", "stats": {"stop_reason": "prefilled"}}  # prefix caching does it
        assert self.prompts is not None
        self.prompts.sending(self._slot_key(req), tokens)
        path, body = api.completion_request(facts, tokens, req, self._slot(req), prefill=prefill)
        deadline = time.perf_counter() + float(req.get("max_time_ms", 1500)) / 1000
        text, reason = "", ""
        stats: dict[str, Any] = {}
        async with self._client.stream(
            "POST", self.url + path, json=body, timeout=api.STREAM_TIMEOUT
        ) as response:
            if response.status_code != 200:
                await response.aread()
                raise api.status_error(self.url, response)
            if not body.get("stream"):
                final = api.stats_of(_json(await response.aread()))
                return self._result("", final, "prefilled", prompt, len(tokens))
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                piece, last = api.parse_chunk(facts.api, _json(data))
                if last is not None:
                    stats = last
                if piece:
                    text += piece
                    job.partial = text
                    if time.perf_counter() > deadline and "\n" in piece:
                        text, reason = text[: text.rfind("\n")], "time"
                        break
                    if "\n" in text and settled(req.get("prefix", ""), req.get("suffix", ""), text):
                        reason = "settled"  # closing the stream stops the server too
                        break
        if not reason:
            server = stats.get("server_stop", "")
            reason = "max_tokens" if server in ("limit", "length") else "eos"
        return self._result(text, stats, reason, prompt, len(tokens))

    def _result(
        self, text: str, stats: dict[str, Any], reason: str, prompt: Prompt, sent: int
    ) -> dict[str, Any]:
        """The server's numbers; what it had cached is what it did not evaluate of what we sent
        (llama-server's cache_n counts only the kept prefix, not chunks it shifted into place)."""
        stats = {**stats, "prompt_tokens": sent}
        if "evaluated_tokens" in stats:  # a stream closed before its first numbers has none
            stats["reused_tokens"] = max(0, sent - int(stats["evaluated_tokens"]))
        stats["stop_reason"] = reason
        stats["capped"] = prompt.capped
        stats.setdefault("generated_tokens", 0)
        if self.prompts is not None:
            self.prompts.learn(stats)
        self.decode_steps += int(stats.get("decode_steps", 0))
        self.evaluated_tokens += int(stats.get("evaluated_tokens", 0))
        return {"text": text, "stats": stats, "window": list(prompt.window), "cancelled": False}

    def _slot_key(self, req: dict[str, Any]) -> Any:
        """Where the server keeps this document's cache: its slot, or the document (vLLM)."""
        slot = self._slot(req)
        return slot if slot >= 0 else str(req.get("doc", ""))

    def _slot(self, req: dict[str, Any]) -> int:
        """A stable llama-server slot per document (least recently used one for a new one)."""
        slots = self.facts.slots if self.facts else 0
        if slots <= 0:
            return -1
        doc = str(req.get("doc", ""))
        if doc in self._slots:
            self._slots.move_to_end(doc)
            return self._slots[doc]
        taken = set(self._slots.values())
        free = [s for s in range(slots) if s not in taken]
        if free:
            slot = free[0]
        else:
            _, slot = self._slots.popitem(last=False)
        self._slots[doc] = slot
        return slot

    # -- prompts -----------------------------------------------------------------------------
    async def _prompt(self, req: dict[str, Any]) -> Prompt:
        assert self.prompts is not None and self.facts is not None
        return await self.prompts.build(req, self._slot_key(req), self._tokenize_piece)

    async def _tokenize_piece(self, text: str) -> list[int]:
        """Document text with special parsing off, a few requests at a time."""
        assert self._client is not None and self.facts is not None
        async with self._gate:
            return await api.tokenize(self._client, self.url, self.facts, text)


def _json(data: str | bytes) -> dict[str, Any]:
    value = json.loads(data)
    return value if isinstance(value, dict) else {}


def _cancelled() -> dict[str, Any]:
    return {"text": "", "cancelled": True, "stats": {"stop_reason": "cancelled"}}


def _settle(job: Job, outcome: dict[str, Any] | BaseException) -> None:
    if job.future.done():
        return
    if isinstance(outcome, BaseException):
        job.future.set_exception(outcome)
    else:
        job.future.set_result(outcome)


def _log_event(kind: str, message: str) -> None:
    """Without a listener (CLI, tests) problems still reach the log, once."""
    if kind in ("crashed", "warning"):
        log.warning(message)
