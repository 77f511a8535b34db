"""One streamed generation from a server, stopped by the local engine's rules: the time budget
(counted from the first token, as the local engine counts from the end of the prompt) then the
next newline, and a settled suggestion. Leaving the stream early closes the connection, which is
what makes the server stop generating."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from lsp_server.engines.remote import dialects as api
from lsp_server.postprocess.rules import settled


async def stream(
    client: httpx.AsyncClient,
    url: str,
    api_name: str,
    path: str,
    body: dict[str, Any],
    req: dict[str, Any],
    on_text: Callable[[str], None],
    stats: dict[str, Any],
    *,
    rules: bool = True,
) -> tuple[str, str]:
    """POST and read the stream; (text, stop reason). `stats` is filled in as numbers arrive,
    so a caller that is cancelled midway still has the server's latest counts. `rules`: stop
    by the completion's time budget and settled rule (a next edit runs to its end). A pooled
    connection the server had closed is tried once more; a stream closed before any event is
    an empty answer (llama-cpp-python's server answers a prompt over its context so)."""
    for attempt in (1, 2):
        seen: list[int] = []  # events read, as the reader goes
        try:
            async with client.stream(
                "POST", url + path, json=body, timeout=api.STREAM_TIMEOUT
            ) as response:
                return await _read(response, url, api_name, body, req, on_text, stats, rules, seen)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            if not seen and attempt == 1:
                continue  # no answer yet: the connection, not the request
            if seen != [0]:
                raise
            raise api.EmptyAnswer(f"{url} closed the stream before any answer") from None
    raise AssertionError("unreachable")


async def _read(
    response: httpx.Response,
    url: str,
    api_name: str,
    body: dict[str, Any],
    req: dict[str, Any],
    on_text: Callable[[str], None],
    stats: dict[str, Any],
    rules: bool,
    seen: list[int],
) -> tuple[str, str]:
    """One answer's events until a stop; `seen` holds how many arrived (once it answered)."""
    if response.status_code != 200:
        await response.aread()
        raise api.status_error(url, response)
    if not body.get("stream"):
        stats.update(api.stats_of(_json(await response.aread())))
        return "", "prefilled"
    seen.append(0)
    budget_s = float(req.get("max_time_ms", 1500)) / 1000
    deadline: float | None = None
    text = ""
    async for event in _events(response, url):
        seen[0] += 1
        piece, numbers = api.parse_chunk(api_name, event)
        if numbers is not None:
            _merge(stats, numbers)
        elif finish := api.finish_reason(event):  # a server that sends no usage at all
            stats["server_stop"] = finish
        if not piece:
            continue
        now = time.perf_counter()
        deadline = deadline or now + budget_s
        text += piece
        on_text(text)
        if not rules:
            continue
        if now > deadline and "\n" in piece:
            return text[: text.rfind("\n")], "time"
        if "\n" in text and settled(
            req.get("prefix", ""), req.get("suffix", ""), text, req.get("language", "")
        ):
            return text, "settled"  # closing the stream stops the server too
    if not seen[0]:
        raise api.EmptyAnswer(f"{url} answered with an empty stream")
    server = stats.get("server_stop", "")
    return text, "max_tokens" if server in ("limit", "length") else "eos"


async def _events(response: httpx.Response, url: str) -> AsyncIterator[dict[str, Any]]:
    """The stream's server-sent events as JSON objects, until [DONE]; errors raised."""
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            if line.startswith("error:"):
                raise api.stream_error(url, {"error": line[6:].strip()})
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        event = _json(data)
        if "error" in event:
            raise api.stream_error(url, event)
        yield event


def _merge(stats: dict[str, Any], numbers: dict[str, Any]) -> None:
    """Newer counts win; a stop reason is never replaced by an empty one (vLLM's usage-only
    last chunk has none)."""
    stop = stats.get("server_stop")
    stats.update(numbers)
    if stop and not numbers.get("server_stop"):
        stats["server_stop"] = stop


def _json(data: str | bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
