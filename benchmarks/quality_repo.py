"""The quality benchmark's repository mode: complete the argument list of real calls, with and
without repository context, through the engine and the post-processing.

The call sites are the retrieval benchmark's (benchmarks/repo_context.py: calls of a function
or class defined in another module of an installed package, the cursor right after `(`); the
expected text is the rest of the call's line. Exact match: the suggestion's first line is that
text. Pass: the completed line parses and its call binds to the callee's parameters (enough
positional arguments, no unknown keyword): what knowing the signature buys.

Usage: python -m benchmarks.quality --repository [--model tiny|bench|PATH] [--limit N]
       [--packages httpx,click] [--quick]
"""

from __future__ import annotations

import argparse
import ast
import random
import sys
from pathlib import Path
from typing import Any

from benchmarks.repo_context import Case, build, cases, package_root

PACKAGES = ("httpx", "click", "jinja2")


def split(case: Case) -> tuple[str, str, str]:
    """(prefix, the rest of the call's line, the text after that line)."""
    text = case.file.read_text(encoding="utf-8")
    end = text.find("\n", case.offset)
    end = len(text) if end < 0 else end
    return text[: case.offset], text[case.offset : end], text[end:]


def callee(case: Case) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The function the call binds to (a class: its __init__, self dropped)."""
    tree = ast.parse(case.defined_in.read_text(encoding="utf-8"))
    for node in tree.body:
        if getattr(node, "name", None) != case.callee:
            continue
        if isinstance(node, ast.ClassDef):
            inits = [n for n in node.body if isinstance(n, ast.FunctionDef)]
            return next((n for n in inits if n.name == "__init__"), None)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return node
    return None


def binds(line: str, case: Case) -> bool:
    """Does `callee(` + the completed rest of the line parse, and bind to the signature?"""
    fn = callee(case)
    source = case.callee + "(" + line.strip().rstrip(":")
    try:
        call = ast.parse(source.strip(), mode="eval").body
    except SyntaxError:
        try:
            call = ast.parse(source.strip().rstrip(",") + ")", mode="eval").body
        except SyntaxError:
            return False
    while not isinstance(call, ast.Call):  # callee(a)[0] / callee(a).b: the call inside
        if not hasattr(call, "value"):
            return False
        call = call.value
    if fn is None:
        return True
    params = fn.args
    positional = [a.arg for a in params.posonlyargs + params.args]
    if positional[:1] in (["self"], ["cls"]):
        positional = positional[1:]
    names = set(positional) | {a.arg for a in params.kwonlyargs}
    starred = any(isinstance(a, ast.Starred) for a in call.args)
    if len(call.args) > len(positional) and params.vararg is None and not starred:
        return False
    given = {k.arg for k in call.keywords if k.arg}
    if given - names and params.kwarg is None:
        return False
    required = positional[: len(positional) - len(params.defaults)]
    covered = set(positional[: len(call.args)]) | given
    star_kw = any(k.arg is None for k in call.keywords)
    return starred or star_kw or set(required) <= covered


def run(args: argparse.Namespace, model: Path | None) -> dict[str, Any]:
    """Exact match and pass rate per package, without and with repository context."""
    from lsp_server.cli import start_engine
    from lsp_server.keystroke.completion import finish, payload
    from lsp_server.repository.context_sources import ContextSources
    from lsp_server.repository.definitions import extract
    from lsp_server.settings import parse_settings

    raw: dict[str, Any] = {"maxTimeMs": 600_000, "latencyTargetMs": 0}
    if model is not None:
        raw["model"] = str(model)
    settings, warnings = parse_settings(raw)
    assert not warnings, warnings
    engine = start_engine(settings)
    rows = []
    try:
        for name in args.packages.split(","):
            root = package_root(name)
            index, _stats = build(root)
            every = cases(root)
            chosen = random.Random(0).sample(every, min(args.limit, len(every)))
            for mode in ("open files only", "repository"):
                exact = passed = 0
                for n, case in enumerate(chosen):
                    prefix, middle, suffix = split(case)
                    extra: tuple[str, ...] = ()
                    if mode == "repository":
                        extra = ContextSources(index, extract).extra(
                            case.file.as_uri(), prefix, middle + suffix, "python", [],
                            settings.extra_context_tokens, (), str(root), [str(root)],
                        )  # fmt: skip
                    req = payload(prefix, middle + suffix, settings, doc=f"{name}{n}",
                                  language="python", extra=extra)  # fmt: skip
                    result = engine.submit(**req).future.result(600)
                    done = finish(prefix, middle + suffix, result, "python")
                    got = (done.suggestion.text if done.suggestion else "").split("\n")[0]
                    exact += got.rstrip() == middle.rstrip()
                    passed += binds(got, case)
                k = len(chosen)
                rows.append({"package": name, "context": mode, "calls": k,
                             "exact": round(exact / max(k, 1), 3),
                             "pass": round(passed / max(k, 1), 3)})  # fmt: skip
                print(rows[-1], file=sys.stderr)
    finally:
        engine.close()
    return {"rows": rows}


def markdown(result: dict[str, Any], model: str, commit: str) -> str:
    lines = [
        "# Quality benchmark, repository mode (argument lists of real calls)",
        "",
        f"Model `{model}`, commit {commit}. Exact: the suggestion's first line is the rest of "
        "the call's line. Pass: it parses and the call binds to the callee's signature.",
        "",
        "| package | context | calls | exact match | pass |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['package']} | {r['context']} | {r['calls']} | {r['exact']:.1%} "
            f"| {r['pass']:.1%} |"
        )
    return "\n".join(lines) + "\n"
