"""The HTTP dialects of inference servers: llama-server's native API (/props, /tokenize,
/completion with a slot per document) and the OpenAI-compatible /v1/completions (vLLM, or
llama-server's /v1). Prompts always travel as token ids, so document text never becomes a
control token on the server. Errors become one line naming the URL and the cause."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from typing import Any

import httpx

from lsp_server.engines import EngineError
from lsp_server.prompt import fim as fim_templates
from lsp_server.prompt.fim import ALL_MARKER_TEXTS, FimIds
from lsp_server.settings import API_KEY_ENV

LLAMA_SERVER, OPENAI = "llama-server", "openai"
NO_TOKENIZER = "none"  # no /tokenize: prompts travel as text (text_prompt.py)
PROBE_TIMEOUT = httpx.Timeout(5.0)
# Streams: connecting is quick or the server is down; the first token may wait for a prompt
# behind other users' work on a shared server.
STREAM_TIMEOUT = httpx.Timeout(connect=5.0, read=60.0, write=10.0, pool=5.0)


class RemoteError(EngineError):
    """The server cannot serve (down, refused, unauthorized, failing): one line for the user."""

    def __init__(self, message: str, *, server_down: bool = True) -> None:
        super().__init__(message)
        self.server_down = server_down  # False: only this request was wrong (a 4xx)


class EmptyAnswer(RemoteError):
    """A 200 with no event at all: a server that did not say why (a prompt over its context)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, server_down=False)


@dataclass(frozen=True)
class ServerFacts:
    """What detection learned about the server."""

    api: str  # how completions are requested: llama-server (/completion) or openai
    tokenizer: str  # which /tokenize dialect answers: llama-server or vllm
    model: str
    n_ctx: int  # per slot (llama-server) or max_model_len (vLLM); 0 = unknown
    slots: int  # llama-server's parallel slots; 0 = no slots (vLLM schedules by itself)
    build: str


def api_key() -> str:
    """The key from the environment only (never a setting, never logged); a key file's line
    ending is not part of it, and a key HTTP cannot carry is refused without showing it."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in key):
        raise RemoteError(f"${API_KEY_ENV} holds spaces, control or non-ASCII characters")
    return key


def headers() -> dict[str, str]:
    key = api_key()
    return {"Authorization": f"Bearer {key}"} if key else {}


def base_url(url: str) -> str:
    """The server's root: no trailing slash, and an OpenAI-style base ending in /v1 accepted."""
    url = url.strip().rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def explain(url: str, exc: BaseException) -> RemoteError:
    """Any failure talking to the server as one line naming the URL and the cause (the key,
    should a library quote it, is cut out)."""
    error = _explain(url, exc)
    key = os.environ.get(API_KEY_ENV, "").strip()
    if key and key in str(error):
        return RemoteError(str(error).replace(key, "***"), server_down=error.server_down)
    return error


def _explain(url: str, exc: BaseException) -> RemoteError:
    if isinstance(exc, httpx.PoolTimeout):  # our own connections were all busy
        return RemoteError(f"all connections to {url} were busy", server_down=False)
    if isinstance(exc, RemoteError):
        return exc
    if isinstance(exc, EngineError):
        return RemoteError(str(exc), server_down=False)
    if isinstance(exc, httpx.HTTPStatusError):
        return status_error(url, exc.response)
    if isinstance(exc, httpx.ConnectError):
        return RemoteError(f"cannot reach {url}: connection refused or no such host")
    if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError)):
        return RemoteError(f"lost the connection to {url} (server stopped or restarted?)")
    if isinstance(exc, httpx.TimeoutException):
        return RemoteError(f"{url} did not answer in time ({type(exc).__name__})")
    if isinstance(exc, httpx.HTTPError):
        return RemoteError(f"talking to {url} failed: {type(exc).__name__}: {exc}")
    if isinstance(exc, (ValueError, KeyError, TypeError, IndexError)):
        return RemoteError(f"{url} answered something unexpected ({type(exc).__name__}: {exc})")
    return RemoteError(f"talking to {url} failed: {type(exc).__name__}: {exc}")


def status_error(url: str, response: httpx.Response) -> RemoteError:
    """A non-2xx answer as one line (401/403 say where the key comes from)."""
    code = response.status_code
    if code in (401, 403):
        given = "was refused" if API_KEY_ENV in os.environ else "is needed"
        return RemoteError(
            f"{url} answered {code}: an API key {given}; set ${API_KEY_ENV} in the environment "
            "the language server starts in"
        )
    detail = _error_text(response)
    if code == 404:
        path = response.request.url.path if response.request is not None else "that endpoint"
        return RemoteError(f"{url} has no {path} (404 Not Found): not a server this engine speaks "
                           "to, or the wrong URL" + detail)  # fmt: skip
    kind = "failed" if code >= 500 else "rejected the request"
    message = f"{url} {kind} ({code} {response.reason_phrase})" + detail
    return RemoteError(message, server_down=code >= 500 or code == 404)


def _error_text(response: httpx.Response) -> str:
    """The server's own error message, shortened (servers put it in error.message)."""
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    return f": {str(message)[:200]}" if message else ""


def stream_error(url: str, event: dict[str, Any]) -> RemoteError:
    """An error the server sent inside a stream (the request fails, the server still serves)."""
    error = event.get("error")
    message = error.get("message") if isinstance(error, dict) else error
    return RemoteError(f"{url} failed while generating: {str(message)[:200]}", server_down=False)


def _ok(url: str, response: httpx.Response) -> Any:
    if response.status_code != 200:
        raise status_error(url, response)
    return response.json()


async def detect(client: httpx.AsyncClient, url: str, wanted: str) -> ServerFacts:
    """Which server answers at url: llama-server when /props answers, else OpenAI-compatible."""
    props = await client.get(f"{url}/props", timeout=PROBE_TIMEOUT)
    if props.status_code in (401, 403):
        raise status_error(url, props)
    if props.status_code == 200 and "default_generation_settings" in (data := props.json()):
        n_ctx = int(data["default_generation_settings"].get("n_ctx") or 0)
        model = str(data.get("model_alias") or data.get("model_path") or "")
        api = OPENAI if wanted == OPENAI else LLAMA_SERVER
        slots = int(data.get("total_slots") or 1)
        return ServerFacts(api, LLAMA_SERVER, model, n_ctx, slots, str(data.get("build_info", "")))
    if wanted == LLAMA_SERVER:
        raise RemoteError(f"{url} is not a llama-server (no /props); try remoteApi openai")
    models = _ok(url, await client.get(f"{url}/v1/models", timeout=PROBE_TIMEOUT))
    first = models["data"][0]
    n_ctx = int(first.get("max_model_len") or first.get("meta", {}).get("n_ctx") or 0)
    model = str(first["id"])
    probe = await client.post(
        f"{url}/tokenize", json={"model": model, "prompt": "a"}, timeout=PROBE_TIMEOUT
    )
    tokenizer = "vllm" if probe.status_code == 200 else NO_TOKENIZER  # LM Studio, TGI, ...
    return ServerFacts(OPENAI, tokenizer, model, n_ctx, 0, str(first.get("owned_by", "")))


async def tokenize(
    client: httpx.AsyncClient,
    url: str,
    facts: ServerFacts,
    text: str,
    *,
    special: bool = False,
    add_special: bool = False,
) -> list[int]:
    """Text -> ids with the server's tokenizer; special=False keeps marker text as text
    (llama-server; vLLM's tokenizer cannot, so callers split marker text first)."""  # fmt: skip
    if facts.tokenizer == LLAMA_SERVER:
        body: dict[str, Any] = {
            "content": text,
            "add_special": add_special,
            "parse_special": special,
        }
    else:
        body = {"model": facts.model, "prompt": text, "add_special_tokens": add_special}
    data = _ok(url, await client.post(f"{url}/tokenize", json=body, timeout=PROBE_TIMEOUT))
    return [t if isinstance(t, int) else int(t["id"]) for t in data["tokens"]]


async def bind(
    client: httpx.AsyncClient, url: str, facts: ServerFacts, forced: str, gate: Any
) -> tuple[FimIds | None, str | None, int | None]:
    """The FIM template the server's vocabulary speaks (each mark one special token), with a
    warning when it differs from the one asked for, and the BOS id the tokenizer adds."""

    async def lookup(text: str) -> int | None:
        async with gate:
            ids = await tokenize(client, url, facts, text, special=True)
        return ids[0] if len(ids) == 1 else None

    ids = await asyncio.gather(*(lookup(t) for t in ALL_MARKER_TEXTS))
    fim, warning = fim_templates.detect(dict(zip(ALL_MARKER_TEXTS, ids)).get, forced)
    with_bos = await tokenize(client, url, facts, "a", add_special=True)
    plain = await tokenize(client, url, facts, "a")
    return fim, warning, with_bos[0] if len(with_bos) > len(plain) else None


def completion_request(
    facts: ServerFacts, tokens: list[int] | str, req: dict[str, Any], *, prefill: bool
) -> tuple[str, dict[str, Any]]:
    """Path and JSON body of one streamed generation (prefill: evaluate only, cache it); the
    prompt as token ids, or as text for a server without a tokenizer."""
    n = 0 if prefill else int(req.get("max_tokens", 128))
    temperature = float(req.get("temperature", 0.0))
    # Seed-Coder's marks are not end-of-generation on servers; a next edit ends at EOS only
    stop = list(req.get("stop_texts") or ALL_MARKER_TEXTS)
    body: dict[str, Any]
    if facts.api == LLAMA_SERVER:
        body = {"prompt": tokens, "n_predict": n, "temperature": temperature, "stop": stop}
        body |= {"cache_prompt": True, "stream": not prefill}
        body["timings_per_token"] = True  # numbers on every chunk: a stream we close early too
        return "/completion", body
    body = {"model": facts.model, "prompt": tokens, "max_tokens": max(n, 1), "stop": stop}
    body |= {"temperature": temperature, "stream": True}
    body["stream_options"] = {"include_usage": True, "continuous_usage_stats": True}
    if facts.tokenizer == LLAMA_SERVER:  # llama-server's /v1 keeps its slot cache too
        body |= {"cache_prompt": True, "timings_per_token": True}
    return "/v1/completions", body


def parse_chunk(api: str, event: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """One streamed event -> (text, the server's numbers so far when the event has them)."""
    if api == LLAMA_SERVER:
        text = str(event.get("content") or "")
    else:
        choices = event.get("choices") or []
        text = str(choices[0].get("text") or "") if choices else ""
    numbers = bool(event.get("usage")) or bool(event.get("timings"))
    return text, (stats_of(event) if numbers else None)


def stats_of(event: dict[str, Any]) -> dict[str, Any]:
    """The server's own timings/usage as the stats every completion reports."""
    t = event.get("timings") or {}
    usage = event.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    reused = int(t.get("cache_n", details.get("cached_tokens", 0)) or 0)
    evaluated = int(t.get("prompt_n", usage.get("prompt_tokens", 0) - reused) or 0)
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    generated = int(t.get("predicted_n", usage.get("completion_tokens", 0)) or 0)
    return {
        "prompt_tokens": prompt_tokens or reused + evaluated,
        "reused_tokens": reused,
        "evaluated_tokens": evaluated,
        "generated_tokens": generated,
        "decode_steps": generated,
        "prompt_ms": float(t.get("prompt_ms", 0.0)),
        "generate_ms": float(t.get("predicted_ms", 0.0)),
        "server_stop": str(event.get("stop_type") or finish_reason(event)),
        "model": str(event.get("model") or ""),
    }


def finish_reason(event: dict[str, Any]) -> str:
    """The OpenAI stop reason of a chunk ("" until the last): servers without usage send it too."""
    choices = event.get("choices") or [{}]
    return str(choices[0].get("finish_reason") or "")


def describe(
    url: str, facts: ServerFacts, fim: FimIds | None, bos: int | None, context_length: int
) -> dict[str, Any]:
    """What doctor, the status and seedCoder/stats report about the server."""
    n_ctx = min(context_length, facts.n_ctx) if facts.n_ctx > 0 else context_length
    warning = (
        None
        if fim is not None
        else f"the model on {url} ({facts.model}) has no fill-in-the-middle tokens: completing "
        "from the text before the cursor only (serve a FIM model such as Seed-Coder-8B-Base)"
    )
    return {
        "backend": f"remote {facts.api}",
        "server": url,
        "api": facts.api,
        "model": facts.model,
        "name": facts.model,
        "n_ctx": n_ctx,
        "n_ctx_server": facts.n_ctx,
        "slots": facts.slots,
        "build": facts.build,
        "fim_template": fim.template.name if fim else None,
        "tokenizer": facts.tokenizer if facts.tokenizer != NO_TOKENIZER else "none: text prompts",
        "fim_ids": list(fim.ids()) if fim else [],
        "add_bos": bos is not None,
        "warnings": [warning] if warning else [],
    }
