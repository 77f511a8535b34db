"""Command line: serve LSP over stdio (no arguments), complete, doctor, download."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from lsp_server import __version__, power
from lsp_server.keystroke import budget
from lsp_server.settings import (
    DEFAULTS,
    LOG_LEVELS,
    WIRE,
    Settings,
    parse_settings,
    schema,
    wire_name,
)

log = logging.getLogger("seed_coder_lsp")


class CliError(Exception):
    """A one-line error for a person; exit code 1."""


def _add_setting_flags(p: argparse.ArgumentParser) -> None:
    """Every setting as a flag, generated from the schema (defaults stay in Settings)."""
    for f in schema():
        flag, wire = "--" + f.name.replace("_", "-"), wire_name(f.name)
        help_text = f"{f.metadata['help']} (seedCoder.{wire})"
        if isinstance(f.default, bool):
            p.add_argument(
                flag, dest=wire, action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS, help=help_text,
            )  # fmt: skip
            continue
        kind = f.default.__class__
        if kind is tuple:
            kind = _comma_list
        p.add_argument(flag, dest=wire, type=_lenient(kind), default=argparse.SUPPRESS,
                       metavar=f.name.upper(), help=help_text)  # fmt: skip


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _lenient(kind: Any) -> Any:
    """Convert a flag's text, or keep the text so validation names the setting and warns."""

    def convert(text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            return text

    return convert


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="seed-coder-lsp",
        description="Local Seed-Coder FIM completion. Without a command: LSP server on stdio.",
    )
    ap.add_argument("--version", action="version", version=f"seed-coder-lsp {__version__}")
    _add_setting_flags(ap)
    sub = ap.add_subparsers(dest="command")
    c = sub.add_parser("complete", help="print the suggestion at FILE:LINE:COL (1-based)")
    c.add_argument("location", help="FILE:LINE:COL, 1-based like compiler messages")
    _add_setting_flags(c)
    d = sub.add_parser("doctor", help="backend, model metadata, FIM template, a timed infill")
    _add_setting_flags(d)
    n = sub.add_parser("next-edit", help="print the edit Zeta 2.1 predicts at FILE:LINE:COL")
    n.add_argument("location", help="FILE:LINE:COL, 1-based like compiler messages")
    n.add_argument("--history", type=Path, help="a unified diff to use as the edit history "
                   "(default: the working tree's git diff of the file)")  # fmt: skip
    _add_setting_flags(n)
    dl = sub.add_parser("download", help="fetch a registry model into the cache")
    dl.add_argument("name", nargs="?", help="registry name (default: the default model)")
    sub.add_parser("models", help="list the registry")
    return ap


def settings_from_args(args: argparse.Namespace) -> Settings:
    """CLI flags over defaults; an invalid value warns (stderr) and keeps the default, as the
    same value would in the editor's settings."""
    raw = {key: value for key, value in vars(args).items() if key in WIRE}
    settings, warnings = parse_settings(raw, DEFAULTS)
    for warning in warnings:
        print(f"seed-coder-lsp: warning: {warning}", file=sys.stderr)
    return settings


def parse_location(location: str) -> tuple[Path, int, int]:
    """FILE:LINE:COL -> (path, 0-based line, 0-based column)."""
    parts = location.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise CliError(f"expected FILE:LINE:COL (1-based), got {location!r}")
    line, col = int(parts[1]), int(parts[2])
    if line < 1 or col < 1:
        raise CliError("LINE and COL are 1-based: both must be at least 1")
    return Path(parts[0]), line - 1, col - 1


def cursor_offset(text: str, line: int, col: int) -> int:
    """Character offset of (line, col); columns count characters; lines end only at \n, \r\n
    or \r, as editors count them (not at form feeds or U+2028 as str.splitlines does)."""
    from lsp_server.lsp.positions import UTF32, line_starts, offset_at

    starts = line_starts(text)
    if line >= len(starts):
        raise CliError(f"line {line + 1} is past the end of the file ({len(starts)} lines)")
    offset = offset_at(text, line, col, UTF32)
    if offset is None:
        end = starts[line + 1] if line + 1 < len(starts) else len(text)
        length = len(text[starts[line] : end].rstrip("\r\n"))
        raise CliError(f"column {col + 1} is past the end of line {line + 1} ({length} chars)")
    return offset


def start_engine(settings: Settings) -> Any:
    """A started engine with the model loaded (or the server connected), or a CliError."""
    from lsp_server.engines import EngineError

    if settings.engine == "remote":
        return _remote_engine(settings)
    from lsp_server.engines.shared import local_engine
    from lsp_server.model_files.model_check import ModelError
    from lsp_server.model_files.model_setup import locate_model, worker_config

    try:
        model = locate_model(settings)
    except ModelError as exc:
        raise CliError(str(exc)) from None
    engine = local_engine(worker_config(settings, str(model.path)), settings.shared_engine)
    try:
        engine.wait_ready(timeout=600)
    except EngineError as exc:
        engine.close()
        raise CliError(f"could not load {model.path}: {exc}") from None
    for warning in engine.info.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    return engine


def _remote_engine(settings: Settings) -> Any:
    """--engine remote: connected to --remote-url, or a CliError naming the cause."""
    from lsp_server.engines import EngineError
    from lsp_server.engines.remote.client import RemoteConfig, RemoteEngine

    url = settings.remote_url.strip()
    if not url.startswith(("http://", "https://")):
        raise CliError("--engine remote needs --remote-url http(s)://HOST:PORT")
    config = RemoteConfig(url, settings.remote_api, settings.context_length, settings.fim_template)
    engine = RemoteEngine(config, on_event=lambda kind, msg: None)
    try:
        engine.wait_ready(timeout=30)
    except EngineError as exc:
        engine.close()
        raise CliError(str(exc)) from None
    for warning in engine.info.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    return engine


def cmd_complete(args: argparse.Namespace) -> int:
    """Print the suggestion for a cursor in a file (exactly the text that would be inserted)."""
    from lsp_server.engines import EngineError
    from lsp_server.keystroke.completion import finish, payload, stats_line
    from lsp_server.postprocess.syntax import language_of_path

    settings = settings_from_args(args)
    path, line, col = parse_location(args.location)
    text = _read_text(path)
    offset = cursor_offset(text, line, col)
    prefix, suffix = text[:offset], text[offset:]
    language = language_of_path(str(path))
    engine = start_engine(settings)
    try:
        job = engine.submit(**payload(prefix, suffix, settings, language=language))
        result = job.future.result()
    except EngineError as exc:
        raise CliError(str(exc)) from None
    finally:
        engine.close()
    out = finish(prefix, suffix, result, language)
    log.info(stats_line(out.stats))
    if out.suggestion is not None:
        sys.stdout.write(out.suggestion.text + "\n")  # a line, like any command's output
    return 0


def cmd_next_edit(args: argparse.Namespace) -> int:
    """Print the predicted next edit at a cursor as a unified diff (cli_next_edit.py)."""
    from lsp_server import cli_next_edit

    settings = settings_from_args(args)
    path, line, col = parse_location(args.location)
    text = _read_text(path, "predict an edit in")
    return cli_next_edit.run(settings, path, text, cursor_offset(text, line, col), args.history)


def _read_text(path: Path, action: str = "complete in") -> str:
    """A UTF-8 source file exactly as it is (line endings kept), or a CliError."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except UnicodeDecodeError:
        raise CliError(f"cannot {action} {path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None


def cmd_doctor(args: argparse.Namespace) -> int:
    """Backend, model facts and one timed smoke infill, for bug reports and setup checks."""
    from lsp_server.engines import shared
    from lsp_server.model_files.model_check import ModelError
    from lsp_server.model_files.model_setup import locate_model

    settings = settings_from_args(args)
    if settings.engine == "remote":
        return _doctor_remote(settings)
    try:
        llama_cpp = __import__("llama_cpp")
        gpu = bool(llama_cpp.llama_supports_gpu_offload())
        print(f"llama-cpp-python {llama_cpp.__version__}; GPU offload supported: {gpu}")
    except Exception as exc:  # noqa: BLE001 - doctor reports, it does not crash
        raise CliError(f"llama-cpp-python does not import: {exc}") from None
    try:
        model = locate_model(settings)
    except ModelError as exc:
        raise CliError(str(exc)) from None
    print(f"model: {model.path} ({model.path.stat().st_size / 1e9:.2f} GB)")
    engine = start_engine(settings)
    try:
        _print_info(engine.info, LOCAL_FACTS)
        print(shared.describe(engine))
        print(
            f"measured speed: {engine.info.get('prompt_tps')} prompt tokens/s, "
            f"{engine.info.get('gen_tps')} generated tokens/s"
        )
        print(_cold_window_line(engine.info, settings))
        print(budget.describe(settings.background_work, engine.info, power.on_battery()))
        _smoke(engine, settings)
    finally:
        engine.close()
    _doctor_next_edit(settings)
    return 0


def _doctor_next_edit(settings: Settings) -> None:
    from lsp_server import cli_next_edit

    cli_next_edit.doctor(settings)


LOCAL_FACTS = (
    "backend", "n_gpu_layers", "name", "architecture", "fim_template", "add_bos", "n_ctx",
    "n_ctx_train", "n_vocab", "load_ms", "safe_cpu", "can_shift", "threads",
)  # fmt: skip
REMOTE_FACTS = ("server", "api", "tokenizer", "model", "build", "slots", "n_ctx_server",
                "n_ctx", "fim_template", "fim_ids", "add_bos")  # fmt: skip


def _doctor_remote(settings: Settings) -> int:
    """The server, the API detected, its model, the FIM template and one timed infill."""
    import os

    from lsp_server.settings import API_KEY_ENV

    key = "set" if os.environ.get(API_KEY_ENV) else "not set"
    print(f"engine: remote; API key (${API_KEY_ENV}): {key}")
    engine = start_engine(settings)
    try:
        _print_info(engine.info, REMOTE_FACTS)
        print(budget.describe(settings.background_work, engine.info, power.on_battery()))
        _smoke(engine, settings)
    finally:
        engine.close()
    _doctor_next_edit(settings)
    return 0


def _print_info(info: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        print(f"{key}: {info.get(key)}")


def _smoke(engine: Any, settings: Settings) -> None:
    """One timed infill on a fixed snippet."""
    from lsp_server.keystroke.completion import finish, payload, stats_line

    prefix, suffix = "def fibonacci(n):\n    ", "\n\nprint(fibonacci(10))\n"
    t0 = time.perf_counter()
    result = engine.submit(**payload(prefix, suffix, settings)).future.result()
    ms = (time.perf_counter() - t0) * 1000
    out = finish(prefix, suffix, result)
    print(f"smoke infill ({ms:.0f} ms): {out.suggestion.text if out.suggestion else '(none)'!r}")
    print(f"stats: {stats_line(out.stats)}")


def _cold_window_line(info: dict[str, Any], settings: Settings) -> str:
    """What the latency target means on this machine: the window of a newly opened file."""
    from lsp_server.prompt.window import cold_tokens

    full = settings.context_length - settings.max_tokens - 8
    target = settings.latency_target_ms
    if target <= 0 or "prompt_tps" not in info:
        return f"cold-start window: {full} tokens (latencyTargetMs off)"
    cold = min(full, cold_tokens(info, target))
    return (
        f"cold-start window: {cold} of {full} prompt tokens, to answer a newly opened file within "
        f"latencyTargetMs {target} ms (the full window is evaluated in the background)"
    )


def cmd_download(args: argparse.Namespace) -> int:
    """Fetch a registry model into the cache with a progress bar."""
    from lsp_server.model_files.download import DownloadError, download_model, stderr_progress
    from lsp_server.model_files.registry import default_model_name, load_registry

    registry = load_registry()
    name = args.name or default_model_name()
    if name not in registry:
        raise CliError(f"unknown model {name!r}; known: {', '.join(sorted(registry))}")
    try:
        path = download_model(registry[name], progress=stderr_progress)
    except DownloadError as exc:
        raise CliError(str(exc)) from None
    print(path)
    return 0


def cmd_models(_args: argparse.Namespace) -> int:
    """What is on disk (registry models, GGUFs in the Hugging Face cache) and what is not yet
    downloaded, with sizes and places; reads the disk only."""
    from lsp_server.model_files.registry import (
        cached_ggufs,
        default_model_name,
        load_registry,
        registry_file,
    )

    default = default_model_name()
    print(f"  {'model':34} {'size':>8}  {'on disk':8} where")
    shown: set[Path] = set()
    for name, entry in sorted(load_registry().items()):
        path = registry_file(entry)
        mark = "*" if name == default else " "
        if path.is_file():
            shown.add(path.resolve())
            print(f"{mark} {name:34} {path.stat().st_size / 1e9:6.2f} GB  {'yes':8} {path}")
        else:
            est = "" if entry.size_exact else "~"
            print(
                f"{mark} {name:34} {est}{entry.size / 1e9:5.1f} GB  {'no':8} "
                f"{entry.repo}/{entry.file}  (seed-coder-lsp download {name})"
            )
    for repo, path, size in cached_ggufs():
        if path.resolve() not in shown:
            print(f"  {repo + ':' + path.name:34} {size / 1e9:6.2f} GB  {'yes':8} {path}")
    print("* the default; `model` takes a name, a path, or owner/repo:FILE.gguf from the cache")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    level = getattr(args, "logLevel", None) or DEFAULTS.log_level
    if level not in LOG_LEVELS:  # settings_from_args warns about it
        level = DEFAULTS.log_level
    logging.basicConfig(
        stream=sys.stderr, level=level.upper(), format="seed-coder-lsp: %(message)s"
    )
    logging.getLogger("pygls").setLevel(logging.WARNING)
    # HTTP clients (remote engine, huggingface_hub) log a line per request; asyncio its selector
    for name in ("httpx", "httpx2", "httpcore", "asyncio"):
        logging.getLogger(name).setLevel(logging.WARNING)
    commands = {
        "complete": cmd_complete,
        "next-edit": cmd_next_edit,
        "doctor": cmd_doctor,
        "download": cmd_download,
        "models": cmd_models,
    }
    try:
        if args.command is None:
            from lsp_server.lsp.server import serve

            return serve(settings_from_args(args))
        return commands[args.command](args)
    except CliError as exc:
        print(f"seed-coder-lsp: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
