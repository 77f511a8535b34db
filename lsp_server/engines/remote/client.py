"""The remote engine: the same token-exact FIM prompts, streamed from a shared inference server.

Everything runs on one asyncio loop in a thread of its own, so the CLI and the language server
use it alike. The window and prompt are built here with the server's tokenizer (document text
block by block, cached); generation streams and stops by the same rules as the local engine;
cancelling a job closes its stream, which makes the server stop generating. When the server
cannot serve, requests fail at once and a probe brings the engine back when the server does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import itertools
import logging
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import httpx

from lsp_server.engines import OPS, EngineError, EventSink, Job, Waits
from lsp_server.engines.remote import dialects as api
from lsp_server.engines.remote import text_prompt
from lsp_server.engines.remote.prompt import RemotePrompts
from lsp_server.engines.remote.stream import stream
from lsp_server.prompt.fim import FimIds
from lsp_server.prompt.tokens import Prompt

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


class RemoteEngine(Waits):
    """Client side of a llama-server / vLLM / OpenAI-compatible server."""

    kind = "remote"

    def __init__(self, config: RemoteConfig, on_event: EventSink | None = None) -> None:
        self.config = config
        self.url = api.base_url(config.url)
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
        self.cpu_ms = {"foreground": 0.0, "background": 0.0}  # none here: the server works
        self.pid = None
        self._up = False
        self._closed = False
        self._seq = itertools.count(1)
        self._ready = threading.Event()
        self._tasks: dict[int, Any] = {}
        self._own: set[asyncio.Task[Any]] = set()  # every task of ours on the loop
        self.prompts: RemotePrompts | None = None
        self._models: set[str] = set()  # model names the server's answers used
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

    def _late(self, timeout: float | None) -> str:
        return f"{self.url} did not answer within {timeout:g} s"

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
        if not self._loop.is_running():
            self._loop.close()

    async def _shutdown(self) -> None:
        """Cancel our requests and the probe, let them unwind (streams closed), then close.
        Only our own tasks: cancelling a library's inner task directly (anyio's connection
        attempts, started but not yet run) leaves a coroutine that was never awaited."""
        me = asyncio.current_task()
        pending = [t for t in self._own if t is not me]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
        await self._loop.shutdown_asyncgens()

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(self._tracked(coro), self._loop)

    async def _tracked(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run coro as one of our tasks (the ones close() cancels)."""
        task = asyncio.current_task()
        assert task is not None
        self._own.add(task)
        try:
            return await coro
        finally:
            self._own.discard(task)

    # -- connecting --------------------------------------------------------------------------
    async def _connect_until_up(self) -> None:
        """Try now; on failure report once and probe until the server serves again. A client
        that cannot even be made (a bad key, a proxy setting) is a load error, never a hang."""
        self._gate = asyncio.Semaphore(FETCH_PARALLEL)
        try:
            self._client = httpx.AsyncClient(
                headers=api.headers(), timeout=api.PROBE_TIMEOUT, limits=LIMITS
            )
        except Exception as exc:  # noqa: BLE001 - every failure becomes one clear line
            self.load_error = str(api.explain(self.url, exc))
            self._ready.set()
            return
        if await self._connect():
            return
        self._start_probe()

    def _start_probe(self) -> None:
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._tracked(self._probe_loop()))

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
            fim: FimIds | None
            if facts.tokenizer == api.NO_TOKENIZER:  # text prompts: marks written as text
                fim, warning = text_prompt.template_for(self.config.fim_template, facts.model), None
                self.bos = None
            else:
                fim, warning, self.bos = await api.bind(
                    self._client, self.url, facts, self.config.fim_template, self._gate
                )
        except Exception as exc:  # noqa: BLE001 - every failure becomes one clear line
            self._went_down(api.explain(self.url, exc), during_connect=True)
            return False
        self.facts, self.fim = facts, fim
        self._models = {facts.model}
        self.starts += 1
        self.info = api.describe(self.url, facts, fim, self.bos, self.config.context_length)
        self.prompts = RemotePrompts(fim, self.bos, self.info["n_ctx"])
        self.load_error = None
        self._up = True
        self._ready.set()
        for text in filter(None, [warning, *self.info["warnings"]]):
            self.on_event("warning", text)
        self.on_event("ready", f"connected to {self.url} ({facts.api}, {facts.model})")
        return True

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
        job = Job(seq=next(self._seq), worker=self.starts, owner=id(self))
        if op not in OPS:
            job.future.set_exception(EngineError(f"unknown op {op!r}"))
        elif not self.ready:
            job.future.set_exception(EngineError(self.load_error or f"{self.url} not connected"))
        else:
            try:
                task = self._call(self._run(job, op, payload))
            except RuntimeError:  # the loop closed under us (close() raced this submit)
                job.future.set_exception(EngineError("engine shut down"))
                return job
            self._tasks[job.seq] = task
            task.add_done_callback(functools.partial(self._task_done, job))
        return job

    def _task_done(self, job: Job, task: Any) -> None:
        """Forget the task; one cancelled before it ran never resolved its job: do it here."""
        self._tasks.pop(job.seq, None)
        if task.cancelled():
            _settle(job, _cancelled({}))

    def cancel(self, job: Job, soft: bool = False) -> None:
        """Close the job's stream: the server stops generating for it (soft or not: the
        server's slot keeps what it evaluated of the prompt either way)."""
        if job.owner != id(self):
            return  # a job of the engine this one replaced
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
        stats: dict[str, Any] = {}  # the server's latest numbers, kept if we are cancelled
        try:
            prompt = await (self._edit_prompt(req) if op == "edit" else self._prompt(req))
            result = await self._generate(job, prompt, req, stats, op=op)
        except asyncio.CancelledError:
            result = _cancelled(stats)
            self._count(stats)
        except Exception as exc:  # noqa: BLE001 - the server went away or answered nonsense
            error = api.explain(self.url, exc)
            if error.server_down and job.worker == self.starts:  # not a stale connection's
                self._went_down(error)
            _settle(job, error)
            return
        result["stats"]["total_ms"] = (time.perf_counter() - t0) * 1000
        _settle(job, result)

    async def _generate(
        self,
        job: Job,
        prompt: Prompt,
        req: dict[str, Any],
        stats: dict[str, Any],
        *,
        op: str,
    ) -> dict[str, Any]:
        """Stream the generation; stop early by the local engine's rules (closing the stream)."""
        assert self._client is not None and self.facts is not None and self.prompts is not None
        facts = self.facts
        prefill = op == "prefill"
        tokens = prompt.tokens[: prompt.stable] if prefill else prompt.tokens
        if prefill and facts.api != api.LLAMA_SERVER:
            return {"text": "", "stats": {"stop_reason": "prefilled"}}  # prefix caching does it
        self.prompts.sending(self._slot_key(req), tokens)
        as_text = facts.tokenizer == api.NO_TOKENIZER and self.fim is not None
        sent = text_prompt.decode(tokens, self.fim) if as_text else tokens  # type: ignore[arg-type]
        path, body = api.completion_request(facts, sent, req, prefill=prefill)
        try:
            text, reason = await stream(
                self._client, self.url, facts.api, path, body, req, job.stream, stats,
                rules=op == "complete",
            )  # fmt: skip
        except api.EmptyAnswer as exc:  # over the server's context, most likely: shrink ours
            n_ctx = text_prompt.smaller_context(self.prompts.n_ctx, len(tokens))
            self.prompts.n_ctx = self.info["n_ctx"] = n_ctx
            raise api.RemoteError(f"{exc}: the prompt was probably longer than its context; "
                                  f"using {n_ctx} tokens now (set contextLength to the "
                                  "server's)", server_down=False) from None  # fmt: skip
        self._check_model(stats)
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
        self._count(stats)
        return {"text": text, "stats": stats, "window": list(prompt.window), "cancelled": False}

    def _count(self, stats: dict[str, Any]) -> None:
        self.decode_steps += int(stats.get("decode_steps", 0))
        self.evaluated_tokens += int(stats.get("evaluated_tokens", 0))

    def _check_model(self, stats: dict[str, Any]) -> None:
        """A model name we have not seen from this server: check whether it was restarted with
        another model (our vocabulary and FIM ids would be stale) and connect again if so."""
        model = stats.get("model")
        if model and self._up and model not in self._models:
            self._models.add(model)
            asyncio.get_running_loop().create_task(self._tracked(self._recheck()))

    async def _recheck(self) -> None:
        assert self._client is not None and self.facts is not None
        try:
            facts = await api.detect(self._client, self.url, self.config.api)
        except Exception:  # noqa: BLE001 - a failing server shows in the next request
            return
        if facts.model != self.facts.model:
            self._up = False
            self.on_event("warning", f"{self.url} now serves {facts.model}: connecting again")
            if not await self._connect():
                self._start_probe()

    @staticmethod
    def _slot_key(req: dict[str, Any]) -> Any:
        """Whose cache a prompt builds on: the document's (llama-server gives a request the
        idle slot whose cached prompt is most similar, so a document returns to its slot)."""
        return str(req.get("doc", ""))

    # -- prompts -----------------------------------------------------------------------------
    async def _prompt(self, req: dict[str, Any]) -> Prompt:
        assert self.prompts is not None and self.facts is not None
        if self.facts.tokenizer == api.NO_TOKENIZER and self.fim is not None:
            return text_prompt.build(req, self.fim, self.prompts.n_ctx)[0]
        return await self.prompts.build(req, self._slot_key(req), self._tokenize_piece)

    async def _edit_prompt(self, req: dict[str, Any]) -> Prompt:
        assert self.prompts is not None and self.facts is not None
        if self.facts.tokenizer == api.NO_TOKENIZER:
            raise EngineError(f"next edits need token-exact prompts: {self.url} has no /tokenize")
        return await self.prompts.edit_prompt(req, self._tokenize_piece)

    async def _tokenize_piece(self, text: str) -> list[int]:
        """Document text with special parsing off, a few requests at a time."""
        assert self._client is not None and self.facts is not None
        async with self._gate:
            return await api.tokenize(self._client, self.url, self.facts, text)


def _cancelled(stats: dict[str, Any]) -> dict[str, Any]:
    return {"text": "", "cancelled": True, "stats": {**stats, "stop_reason": "cancelled"}}


def _settle(job: Job, outcome: dict[str, Any] | BaseException) -> None:
    """Resolve a job once (the loop thread and a cancel callback may both try)."""
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        if isinstance(outcome, BaseException):
            job.future.set_exception(outcome)
        else:
            job.future.set_result(outcome)


def _log_event(kind: str, message: str) -> None:
    """Without a listener (CLI, tests) problems still reach the log, once."""
    if kind in ("crashed", "warning"):
        log.warning(message)
