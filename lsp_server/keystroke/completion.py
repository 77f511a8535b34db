"""The completion pipeline as plain data: the worker request for a cursor, the final result,
the log line. Nothing here knows about model files or worker processes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lsp_server.postprocess.rules import Suggestion, postprocess
from lsp_server.prompt.fim import ALL_MARKER_TEXTS
from lsp_server.settings import Settings


def payload(
    prefix: str,
    suffix: str,
    settings: Settings,
    hint: tuple[int, int] | None = None,
    doc: str = "",
    language: str = "",
    extra: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The engine request for one cursor (doc: which document, for per-document caches;
    language: its LSP id, which decides when a multi-line infill is complete)."""
    return {
        "doc": doc,
        "language": language,
        "extra": list(extra),  # snippets of other files, best first (repository/)
        "extra_tokens": settings.extra_context_tokens,
        "prefix": prefix,
        "suffix": suffix,
        "max_tokens": settings.max_tokens,
        "max_time_ms": settings.max_time_ms,
        "temperature": settings.temperature,
        "hint": list(hint) if hint else None,
        "latency_target_ms": settings.latency_target_ms,
    }


@dataclass
class Outcome:
    """What one generation produced, after post-processing."""

    suggestion: Suggestion | None
    raw: str
    stats: dict[str, Any] = field(default_factory=dict)
    window: tuple[int, int] | None = None
    cancelled: bool = False


def finish(prefix: str, suffix: str, result: dict[str, Any], language: str = "") -> Outcome:
    """Post-process the engine's raw text for this cursor."""
    raw = result.get("text", "")
    window = result.get("window")
    stop = str(result.get("stats", {}).get("stop_reason", ""))
    suggestion = (
        None
        if result.get("cancelled")
        else postprocess(
            prefix, suffix, raw, stop_texts=ALL_MARKER_TEXTS, stop_reason=stop, language=language
        )
    )
    return Outcome(
        suggestion=suggestion,
        raw=raw,
        stats=result.get("stats", {}),
        window=tuple(window) if window else None,  # type: ignore[arg-type]
        cancelled=bool(result.get("cancelled")),
    )


def stats_line(stats: dict[str, Any]) -> str:
    """One log line with the numbers every completion reports."""
    return (
        "prompt {prompt_tokens} tok (reused {reused_tokens}, evaluated {evaluated_tokens}) "
        "generated {generated_tokens} tok, {decode_steps} decode steps; "
        "prompt {prompt_ms:.1f} ms, generate {generate_ms:.1f} ms, total {total_ms:.1f} ms "
        "[{stop_reason}]"
    ).format(**{**_EMPTY_STATS, **stats})


_EMPTY_STATS: dict[str, Any] = {
    "prompt_tokens": 0,
    "reused_tokens": 0,
    "evaluated_tokens": 0,
    "generated_tokens": 0,
    "decode_steps": 0,
    "prompt_ms": 0.0,
    "generate_ms": 0.0,
    "total_ms": 0.0,
    "stop_reason": "",
}
