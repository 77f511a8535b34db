"""The package and the benchmarks import without cycles (function-local imports included):
each module can be read, tested and replaced on its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under `if TYPE_CHECKING:` (imports for annotations only never
    run, so they make no cycle)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


def graph(package: str) -> dict[str, set[str]]:
    """module -> modules of the same package (subpackages included) it imports, anywhere."""
    paths = sorted((ROOT / package).rglob("*.py"))
    known = {_module(p) for p in paths}
    out: dict[str, set[str]] = {}
    for path in paths:
        name = _module(path)
        here = name if path.stem == "__init__" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:  # from .x import y / from .. import x
                    base = ".".join(here.split(".")[: len(here.split(".")) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module or ""
                if base.split(".")[0] != package:
                    continue
                deps.add(base)
                deps |= {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.split(".")[0] == package}
        out[name] = {d for d in deps if d != name and d in known}
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
    seen, todo = set(), ["lsp_server.keystroke.scheduler"]
    while todo:
        mod = todo.pop()
        if mod not in seen:
            seen.add(mod)
            todo.extend(g.get(mod, ()))
    heavy = {"engines", "model_files", "lsp"}
    assert not {m.split(".")[1] for m in seen if "." in m} & heavy, sorted(seen)
    assert "lsp_server.keystroke.flights" in seen  # the walk does follow the scheduler's imports


def test_the_graph_sees_subpackages() -> None:
    g = graph("lsp_server")
    assert "lsp_server.engines.local.runner" in g["lsp_server.engines.local.supervisor"]
    assert "lsp_server.engines" in g["lsp_server.engines.remote.client"]
    assert "lsp_server.engines.remote.dialects" in g["lsp_server.engines.remote.client"]


def stage(module: str) -> str:
    """The package a module belongs to: lsp, keystroke, prompt, postprocess, engines.local,
    engines.remote, engines, model_files, or the top-level module's own name."""
    parts = module.split(".")[1:]
    if parts[:2] in (["engines", "local"], ["engines", "remote"]):
        return ".".join(parts[:2])
    return parts[0] if parts else "lsp_server"


def imports_of(package: str) -> set[tuple[str, str]]:
    """(module, imported module) for every import of `package`'s modules (pygls included)."""
    out = set()
    for path in sorted((ROOT / "lsp_server").rglob("*.py")):
        name = _module(path)
        if stage(name) != package and not name.startswith(f"lsp_server.{package}."):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and not node.level:
                out.add((name, node.module or ""))
            elif isinstance(node, ast.Import):
                out |= {(name, a.name) for a in node.names}
    return out


PYGLS = ("pygls", "lsprotocol")


def test_only_lsp_imports_pygls_and_only_cli_imports_lsp() -> None:
    g = graph("lsp_server")
    for module, deps in g.items():
        if stage(module) != "lsp" and module != "lsp_server.cli":
            assert not {d for d in deps if stage(d) == "lsp"}, (module, deps)
    for package in ("keystroke", "prompt", "postprocess", "engines", "engines.local",
                    "engines.remote", "model_files", "next_edit", "repository", "settings",
                    "cli"):  # fmt: skip
        bad = {(m, i) for m, i in imports_of(package) if i.split(".")[0] in PYGLS}
        assert not bad, bad


def test_the_direction_of_the_stages() -> None:
    """prompt/, postprocess/, next_edit/ and repository/ import no engine; the engines never
    import each other, the keystroke path or lsp/; model files never the keystroke path."""
    g = graph("lsp_server")
    forbidden = {
        "prompt": {
            "engines",
            "engines.local",
            "engines.remote",
            "keystroke",
            "model_files",
            "repository",
        },  # fmt: skip
        "postprocess": {"engines", "engines.local", "engines.remote", "keystroke", "prompt"},
        "engines.local": {"engines.remote", "keystroke", "model_files"},
        "engines.remote": {"engines.local", "keystroke", "model_files"},
        "engines": {"keystroke", "model_files"},
        "keystroke": {"engines.local", "engines.remote", "model_files", "repository"},
        "model_files": {"keystroke", "next_edit"},
        "next_edit": {"engines", "engines.local", "engines.remote", "keystroke", "model_files"},
        "repository": {"engines", "engines.local", "engines.remote", "keystroke", "model_files"},
    }
    for module, deps in g.items():
        banned = forbidden.get(stage(module), set())
        bad = {d for d in deps if stage(d) in banned}
        assert not bad, f"{module} imports {sorted(bad)}"


def test_the_checker_sees_a_forbidden_import() -> None:
    assert stage("lsp_server.engines.local.runner") == "engines.local"
    assert stage("lsp_server.prompt.fim") == "prompt"
    assert stage("lsp_server.cli") == "cli"
    assert ("lsp_server.lsp.server", "pygls.workspace") in imports_of("lsp")
