"""From settings to a model file and the worker's load configuration."""

from __future__ import annotations

from dataclasses import replace

from lsp_server.engines.local.runner import WorkerConfig
from lsp_server.model_files.model_check import check_model_file
from lsp_server.model_files.registry import ResolvedModel, resolve_model
from lsp_server.settings import Settings


def locate_model(settings: Settings) -> ResolvedModel:
    """Registry name, path or $SEED_CODER_LSP_MODEL -> a checked file (ModelError if not usable)."""
    resolved = resolve_model(settings.model or None)
    check_model_file(resolved.path, resolved.entry)
    return resolved


def locate_model_named(spec: str) -> ResolvedModel:
    """The same for another role's model (next edits): a spec that must name something."""
    resolved = resolve_model(spec)
    check_model_file(resolved.path, resolved.entry)
    return resolved


def worker_config(settings: Settings, model_path: str) -> WorkerConfig:
    """What the engine worker needs to load the model."""
    return WorkerConfig(
        model_path=model_path,
        n_ctx=settings.context_length,
        gpu_layers=settings.gpu_layers,
        fim_template=settings.fim_template,
        threads=settings.threads,
        log_level=settings.log_level,
    )


NEXT_EDIT_CONTEXT = 8192  # Zeta 2.1's prompts are up to 4,096 estimated tokens, plus the answer


def next_edit_config(settings: Settings, model_path: str) -> WorkerConfig:
    """The next-edit model's worker: Seed-Coder's FIM tokens, room for Zeta's prompts."""
    return replace(
        worker_config(settings, model_path),
        n_ctx=max(NEXT_EDIT_CONTEXT, settings.context_length),
        fim_template="seed-coder",
    )
