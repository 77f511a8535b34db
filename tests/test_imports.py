"""The package and the benchmarks import without cycles (function-local imports included):
each module can be read, tested and replaced on its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def graph(package: str) -> dict[str, set[str]]:
    """module -> modules of the same package it imports, anywhere in its body."""
    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).glob("*.py")):
        name = f"{package}.{path.stem}"
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:  # from .x import y / from . import x
                    base = package if not node.module else f"{package}.{node.module}"
                else:
                    base = node.module or ""
                if base == package:
                    deps |= {f"{package}.{a.name}" for a in node.names}
                elif base.startswith(package + "."):
                    deps.add(base)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith(package + ".")}
        out[name] = {
            d for d in deps if d != name and (ROOT / (d.replace(".", "/") + ".py")).exists()
        }
    return out


def cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(g.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m) :] + [m]
            if m not in state and (found := visit(m)):
                return found
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(g):
        if n not in state and (found := visit(n)):
            return found
    return None


@pytest.mark.parametrize("package", ["lsp_server", "benchmarks"])
def test_no_import_cycles(package: str) -> None:
    assert cycle(graph(package)) is None


def test_the_checker_finds_a_cycle() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_the_keystroke_path_knows_nothing_about_models_or_workers() -> None:
    g = graph("lsp_server")
    seen, todo = set(), ["lsp_server.scheduler"]
    while todo:
        mod = todo.pop()
        if mod not in seen:
            seen.add(mod)
            todo.extend(g.get(mod, ()))
    heavy = {"runner", "worker", "engine", "registry", "model_check", "download", "model_setup"}
    assert not {m.split(".")[1] for m in seen} & heavy, sorted(seen)
