"""A model-free oracle for the post-processing: mask 1-4 line spans of real source code, feed
the true text as the model's output (stopping exactly at the end with EOS, or running on and
repeating the suffix until its tokens ran out), and count exact matches per kind.

Usage: python -m tests.oracle   (prints the rates; tests/test_quality_oracle.py asserts them)
"""

from __future__ import annotations

import ast
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Real code that every Python install has: a fixed set of standard-library modules.
SOURCES = (
    "argparse", "textwrap", "json.decoder", "json.encoder", "csv", "difflib", "shlex",
    "configparser", "dataclasses", "fractions", "heapq", "ipaddress", "pprint", "string",
    "tokenize", "calendar", "gettext", "locale", "statistics", "typing",
)  # fmt: skip
SPANS_PER_FILE = 60
RUN_ON_CHARS = 200


@dataclass(frozen=True)
class Case:
    """One masked span: the cursor after the first line's indentation."""

    source: str
    kind: str  # "single" (1 line) or "multi" (2-4 lines)
    prefix: str
    middle: str
    suffix: str


def _module_path(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, name
    return Path(spec.origin)


def _function_lines(text: str) -> list[tuple[int, int]]:
    """(first, last) body line numbers (0-based) of every function."""
    out = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno:
            out.append((node.body[0].lineno - 1, node.end_lineno - 1))
    return out


def cases(seed: int = 7) -> Iterator[Case]:
    """Spans inside function bodies that start on a line with code."""
    rng = random.Random(seed)
    for name in SOURCES:
        text = _module_path(name).read_text(encoding="utf-8")
        lines = text.split("\n")
        bodies = _function_lines(text)
        for _ in range(SPANS_PER_FILE):
            first, last = rng.choice(bodies)
            k = rng.choice((1, 1, 2, 3, 4))
            i = rng.randint(first, last)
            span = lines[i : i + k]
            if len(span) < k or not span[0].strip() or not span[-1].strip() or i + k > last + 1:
                continue
            indent = len(span[0]) - len(span[0].lstrip())
            head = "\n".join(lines[:i]) + "\n" + span[0][:indent]
            middle = "\n".join(span)[indent:]
            tail = "\n" + "\n".join(lines[i + k :])
            yield Case(name, "single" if k == 1 else "multi", head, middle, tail)


Post = Callable[..., Any]


def rates(post: Post, *, run_on: bool) -> dict[str, tuple[int, int]]:
    """kind -> (exact matches, cases) with the oracle that stops (EOS) or runs on."""
    out: dict[str, list[int]] = {"single": [0, 0], "multi": [0, 0]}
    for case in cases():
        raw = case.middle + (case.suffix[:RUN_ON_CHARS] if run_on else "")
        got = post(case.prefix, case.suffix, raw, run_on)
        out[case.kind][1] += 1
        if got is not None and got.text == case.middle and got.replace_chars == 0:
            out[case.kind][0] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def main() -> int:
    from lsp_server.postprocess.rules import postprocess

    def post(prefix: str, suffix: str, raw: str, run_on: bool) -> Any:
        return postprocess(prefix, suffix, raw, **_extra(run_on))

    for run_on in (False, True):
        label = "runs on (max tokens)" if run_on else "stops at the end (EOS)"
        for kind, (hit, n) in rates(post, run_on=run_on).items():
            print(f"{label:24} {kind:6} {hit}/{n} = {100 * hit / n:.1f}%")
    return 0


def _extra(run_on: bool) -> dict[str, Any]:
    """Keyword arguments this version of postprocess understands (stop reason, language)."""
    import inspect

    from lsp_server.postprocess.rules import postprocess

    params = inspect.signature(postprocess).parameters
    extra: dict[str, Any] = {}
    if "stop_reason" in params:
        extra["stop_reason"] = "max_tokens" if run_on else "eos"
    if "language" in params:
        extra["language"] = "python"
    return extra


if __name__ == "__main__":
    sys.exit(main())
