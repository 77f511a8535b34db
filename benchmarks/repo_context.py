"""Repository-context retrieval benchmark: is the callee's signature in the prompt at a call?

Real code nobody here wrote: the source trees of packages this project's environment installs.
The workspace is the package's root (indexed by the server's own builder); only the call-site
file is open. Every call `name(` or `module.name(` of a top-level function or class defined in
exactly one other module of the same package (found with Python's `ast`, independently of the
server's tree-sitter index) is a case: the cursor goes right after its `(` and the server's
context sources choose snippets, fitted to the budget in tokens as the engines fit them. A case
counts when the callee's `def`/`class` line is in the fitted context.

Tokens: the test models' byte-level vocabulary (one token per UTF-8 byte), the worst case; a
real BPE vocabulary (Seed-Coder's) fits about 3-4 times more text into the same budget.

Usage:
  python -m benchmarks.repo_context [--packages httpx,jinja2,...] [--budget 512] [--quick]
                                    [--limit N] [--out DIR]
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import random
import sys
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsp_server.prompt.tokens import fit_snippets
from lsp_server.repository.builder import IndexBuilder
from lsp_server.repository.context_sources import ContextSources
from lsp_server.repository.definitions import extract
from lsp_server.repository.index import WorkspaceIndex

PACKAGES = ("httpx", "jinja2", "huggingface_hub", "click", "pygls")
N_CTX, MAX_TOKENS = 4096, 128  # the server's defaults: the context's cap is a quarter of this


@dataclass(frozen=True)
class Case:
    """A call of a function or class defined in another module of the package."""

    file: Path
    offset: int  # right after the call's "("
    callee: str
    signature: str  # the callee's def/class line, stripped
    defined_in: Path


def package_root(name: str) -> Path:
    """Where an installed package's source tree is."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {name} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def top_level(tree: ast.Module) -> dict[str, int]:
    """Top-level functions and classes of a module: name -> line (1-based)."""
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {n.name: n.lineno for n in tree.body if isinstance(n, kinds)}


def cases(root: Path) -> list[Case]:
    """Every qualifying call site in the package (ast: independent of the index). The callee
    is the definition the call's import names when it has one (a name defined in several
    modules counts too), else the only top-level definition of that name in the package."""
    trees: dict[Path, tuple[str, ast.Module]] = {}
    for path in sorted(root.rglob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
            trees[path] = (text, ast.parse(text))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
    tops = {path: top_level(tree) for path, (_text, tree) in trees.items()}
    where: dict[str, list[Path]] = {}
    for path, names in tops.items():
        for name in names:
            where.setdefault(name, []).append(path)
    out = []
    for path, (text, tree) in trees.items():
        names, modules = _bindings(tree, path, root)
        starts = _line_starts(text)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            target = _callee(node.func, names, modules, where)
            if target is None or target[1] == path or target[0] in tops[path]:
                continue
            name, def_path = target
            if name not in tops.get(def_path, {}):
                continue
            offset = _after_paren(text, starts, node.func)
            if offset is None:
                continue
            signature = trees[def_path][0].split("\n")[tops[def_path][name] - 1].strip()
            out.append(Case(path, offset, name, signature, def_path))
    return out


def _callee(
    func: ast.expr,
    names: dict[str, Path],
    modules: dict[str, Path],
    where: dict[str, list[Path]],
) -> tuple[str, Path] | None:
    """(name, defining file) of a call `name(` or `module.name(` of the package's code."""
    if isinstance(func, ast.Name):
        if func.id in names:
            return func.id, names[func.id]
        found = where.get(func.id, [])
        return (func.id, found[0]) if len(found) == 1 else None
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        module = modules.get(func.value.id)
        return (func.attr, module) if module is not None else None
    return None


def _bindings(tree: ast.Module, path: Path, root: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """Names imported from the package's modules (local name -> module file) and local names
    bound to its modules (from . import m, import pkg.a as c): `subprocess.run(` is not a call
    of the package's `run`."""
    names: dict[str, Path] = {}
    modules: dict[str, Path] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                file = _module_file(root, a.name.split(".")[1:]) if _ours(a.name, root) else None
                if file is not None and a.asname:
                    modules[a.asname] = file
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = path.parent
                for _ in range(node.level - 1):
                    base = base.parent
                parts = (node.module or "").split(".") if node.module else []
                rel = [*base.relative_to(root).parts, *parts] if base.is_relative_to(root) else None
            elif _ours(node.module or "", root):
                rel = (node.module or "").split(".")[1:]
            else:
                continue
            if rel is None:
                continue
            for a in node.names:
                sub = _module_file(root, [*rel, a.name])
                if sub is not None:
                    modules[a.asname or a.name] = sub
                elif (file := _module_file(root, rel)) is not None:
                    names[a.asname or a.name] = file
    return names, modules


def _ours(module: str, root: Path) -> bool:
    return module.split(".")[0] == root.name


def _module_file(root: Path, parts: list[str]) -> Path | None:
    """The file of a module of the package (parts below its root)."""
    base = root.joinpath(*parts) if parts else root
    for candidate in (base.with_suffix(".py") if parts else None, base / "__init__.py"):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def _line_starts(text: str) -> list[int]:
    starts, at = [0], text.find("\n")
    while at >= 0:
        starts.append(at + 1)
        at = text.find("\n", at + 1)
    return starts


def _after_paren(text: str, starts: list[int], func: ast.expr) -> int | None:
    """The offset right after the call's "(" (ast columns are UTF-8 byte offsets)."""
    if func.end_lineno is None or func.end_col_offset is None:
        return None
    line_start = starts[func.end_lineno - 1]
    line = text[line_start : text.find("\n", line_start) if "\n" in text[line_start:] else None]
    col = len(line.encode("utf-8")[: func.end_col_offset].decode("utf-8", errors="replace"))
    at = line_start + col
    while at < len(text) and text[at] in " \t":
        at += 1
    return at + 1 if at < len(text) and text[at] == "(" else None


def tokenize(text: str) -> list[int]:
    """The test models' vocabulary: one token per UTF-8 byte."""
    return list(text.encode("utf-8"))


def build(root: Path) -> tuple[WorkspaceIndex, dict[str, Any]]:
    """The index of one package, built by the server's builder; its time and memory."""
    index = WorkspaceIndex()
    builder = IndexBuilder(index)
    started = time.perf_counter()
    builder.configure([str(root)], (), None)
    builder.wait_idle(600)
    seconds = time.perf_counter() - started
    builder.stop()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    measured = WorkspaceIndex()
    again = IndexBuilder(measured)
    again.configure([str(root)], (), None)
    again.wait_idle(600)
    again.stop()
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    stats = {**index.stats(), "build_s": round(seconds, 2), "index_mb": round(size / 1e6, 1)}
    return index, stats


def run_package(name: str, budget: int, limit: int) -> dict[str, Any]:
    """Recall and context tokens for one package's call sites."""
    root = package_root(name)
    index, stats = build(root)
    all_cases = cases(root)
    chosen = random.Random(0).sample(all_cases, min(limit, len(all_cases)))
    cap = min(budget, (N_CTX - MAX_TOKENS - 8) // 4)
    hits, tokens, misses = 0, [], Counter()
    for case in chosen:
        sources = ContextSources(index, extract)
        text = case.file.read_text(encoding="utf-8")
        snippets = sources.extra(
            case.file.as_uri(), text[: case.offset], text[case.offset :], "python", [],
            budget, (), str(root), [str(root)],
        )  # fmt: skip
        fitted = fit_snippets(snippets, tokenize, cap)
        context = bytes(fitted).decode("utf-8", errors="replace")
        tokens.append(len(fitted))
        if case.signature in context:
            hits += 1
        else:
            misses[case.callee] += 1
    n = len(chosen)
    return {
        "package": name,
        "cases": n,
        "recall": round(hits / n, 3) if n else None,
        "context_tokens_mean": round(sum(tokens) / n) if n else 0,
        **stats,
        "missed": misses.most_common(5),
    }


def markdown(rows: list[dict[str, Any]], budget: int) -> str:
    lines = [
        f"Budget {budget} tokens (byte-level vocabulary: the worst case).",
        "",
        "| package | call sites | recall | context tokens (mean) | files | definitions "
        "| index build | index memory |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['package']} | {r['cases']} | {r['recall']:.1%} | {r['context_tokens_mean']} "
            f"| {r['files']} | {r['definitions']} | {r['build_s']} s | {r['index_mb']} MB |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.repo_context", description=__doc__)
    ap.add_argument("--packages", default=",".join(PACKAGES))
    ap.add_argument("--budget", type=int, default=512, help="extraContextTokens")
    ap.add_argument("--limit", type=int, default=400, help="call sites per package (sampled)")
    ap.add_argument("--quick", action="store_true", help="two small packages, 60 sites each")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    names = ["httpx", "click"] if args.quick else args.packages.split(",")
    limit = 60 if args.quick else args.limit
    rows = []
    for name in names:
        rows.append(run_package(name, args.budget, limit))
        print(json.dumps(rows[-1]), file=sys.stderr)
    text = markdown(rows, args.budget)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "repo_context.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
        (args.out / "repo_context.md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
