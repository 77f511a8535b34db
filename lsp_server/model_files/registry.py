"""Known models and how a user's model spec (name, path, env var) becomes a file path."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsp_server.model_files.model_check import ModelError

if TYPE_CHECKING:
    from importlib.abc import Traversable

__all__ = [
    "ModelEntry",
    "ModelError",
    "ResolvedModel",
    "default_model_name",
    "load_registry",
    "models_dir",
    "registry_path",
    "resolve_model",
]

ENV_MODEL = "SEED_CODER_LSP_MODEL"
ENV_CACHE = "SEED_CODER_LSP_CACHE"
ENV_REGISTRY = "SEED_CODER_LSP_REGISTRY"  # a JSON file of extra models, merged over ours
APP_NAME = "seed-coder-lsp"
DEFAULT_ENDPOINT = "https://huggingface.co"


@dataclass(frozen=True)
class ModelEntry:
    """One downloadable GGUF; `size` is an estimate (+-10%) unless `size_exact`."""

    name: str
    repo: str
    file: str
    size: int
    size_exact: bool
    template: str
    description: str
    revision: str = "main"  # a commit hash pins the exact file
    role: str = "completion"  # or "next-edit" (Zeta 2.1): which setting names it

    def url(self, endpoint: str | None = None) -> str:
        """Where the file is on the hub (HF_ENDPOINT read now), to fetch it by hand too."""
        base = (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        return f"{base}/{self.repo}/resolve/{self.revision}/{self.file}"


@dataclass(frozen=True)
class ResolvedModel:
    """Where the model file should be, and its registry entry when it came from a name."""

    path: Path
    entry: ModelEntry | None


def registry_path() -> Traversable:
    """Locate registry.json: packaged copy in a wheel, else the source tree's models/."""
    packaged = resources.files("lsp_server") / "registry.json"
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "models" / "registry.json"


def _entry(name: str, raw: dict[str, Any]) -> ModelEntry:
    """Build an entry, failing with the bad key rather than a KeyError later."""
    try:
        return ModelEntry(
            name=name,
            repo=str(raw["repo"]),
            file=str(raw["file"]),
            size=int(raw["size"]),
            size_exact=bool(raw.get("size_exact", True)),
            template=str(raw.get("template", "seed-coder")),
            description=str(raw.get("description", "")),
            revision=str(raw.get("revision", "main")),
            role=str(raw.get("role", "completion")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(
            f"registry entry {name!r} is malformed ({exc!r}): fix registry.json"
        ) from exc


def _read(path: Traversable | Path) -> dict[str, Any]:
    """One registry file as JSON, or a ModelError naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read model registry {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelError(f"model registry {path} must be a JSON object")
    return data


@lru_cache(maxsize=4)
def _load(extra: str = "") -> tuple[str, tuple[ModelEntry, ...]]:
    """Parse the registry once, plus a user's own file ($SEED_CODER_LSP_REGISTRY) over it."""
    path = registry_path()
    data = _read(path)
    models = dict(data.get("models", {}))
    default = str(data.get("default", ""))
    if extra:
        more = _read(Path(extra).expanduser())
        models.update(more.get("models", {}))
        default = str(more.get("default", default))
        path = Path(extra)
    entries = tuple(_entry(name, raw) for name, raw in models.items())
    if default not in {e.name for e in entries}:
        raise ModelError(f"registry default {default!r} is not a listed model: fix {path}")
    return default, entries


def load_registry() -> dict[str, ModelEntry]:
    """Return the known models by name (a fresh dict, safe to modify)."""
    return {e.name: e for e in _load(os.environ.get(ENV_REGISTRY, ""))[1]}


def default_model_name() -> str:
    """Name of the model used when nothing else is configured."""
    return _load(os.environ.get(ENV_REGISTRY, ""))[0]


def models_dir() -> Path:
    """Directory for downloaded models: $SEED_CODER_LSP_CACHE/models or the user cache dir."""
    root = os.environ.get(ENV_CACHE)
    if root:
        return Path(root).expanduser() / "models"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME)) / "models"


def _looks_like_name(spec: str) -> bool:
    """A spec without separators or .gguf is meant as a registry name, not a path."""
    return not any(c in spec for c in ("/", "\\", os.sep)) and not spec.lower().endswith(".gguf")


HUB_SPEC = re.compile(r"^([\w.-]+/[\w.-]+):([\w.+-]+)$")  # owner/repo:FILE.gguf or :Q4_K_M


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, from the environment as it is now (huggingface_hub reads it
    once, at import): HF_HUB_CACHE, else HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def cached_file(repo: str, file: str, revision: str = "main") -> Path | None:
    """A hub file already in the Hugging Face cache (no network), or None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - a dependency
        return None
    found = try_to_load_from_cache(repo, file, revision=revision, cache_dir=hf_cache_dir())
    return Path(found) if isinstance(found, str) else None


def cached_ggufs() -> list[tuple[str, Path, int]]:
    """(repo, path, bytes) of every GGUF in the Hugging Face cache, read from disk only."""
    try:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir(hf_cache_dir())
    except Exception:  # noqa: BLE001 - no cache yet, or an unreadable one: nothing cached
        return []
    out = []
    for repo in info.repos:
        for rev in repo.revisions:
            for f in rev.files:
                if f.file_name.lower().endswith(".gguf"):
                    out.append((repo.repo_id, Path(f.file_path), f.size_on_disk))
    return sorted(out, key=lambda t: (t[0], t[1].name))


def _from_hub_spec(spec: str) -> Path | None:
    """owner/repo:FILE.gguf, or owner/repo:QUANT (a GGUF whose name has that tag), from the
    Hugging Face cache; None when the spec is not of that form."""
    match = HUB_SPEC.match(spec)
    if not match:
        return None
    repo, want = match.groups()
    if want.lower().endswith(".gguf"):
        found = cached_file(repo, want)
        if found is None:
            raise ModelError(
                f"{repo}/{want} is not in the Hugging Face cache: fetch it with "
                f"`hf download {repo} {want}` (nothing is downloaded unasked)"
            )
        return found
    tag = want.lower()
    for cached_repo, path, _size in cached_ggufs():
        if cached_repo == repo and tag in path.name.lower():
            return path
    raise ModelError(
        f"no {want} GGUF of {repo} is in the Hugging Face cache: fetch one with "
        f"`hf download {repo} --include '*{want}*.gguf'` (nothing is downloaded unasked)"
    )


def registry_file(entry: ModelEntry) -> Path:
    """Where a registry model is on disk: a file we downloaded before, or the Hugging Face
    cache; when it is in neither, where it would be in our models dir (does not exist)."""
    legacy = models_dir() / entry.file
    if legacy.is_file():
        return legacy
    return cached_file(entry.repo, entry.file, entry.revision) or legacy


def resolve_model(spec: str | None) -> ResolvedModel:
    """Turn a model spec (registry name, path, hub spec owner/repo:FILE or :QUANT found in the
    Hugging Face cache, or None for env/default) into a path and entry. No network."""
    spec = (spec or "").strip() or os.environ.get(ENV_MODEL, "").strip() or default_model_name()
    registry = load_registry()
    entry = registry.get(spec)
    if entry is not None:
        return ResolvedModel(path=registry_file(entry), entry=entry)
    path = Path(spec).expanduser()
    if not path.exists():
        hub = _from_hub_spec(spec)
        if hub is not None:
            return ResolvedModel(path=hub, entry=None)
    if _looks_like_name(spec) and not path.exists():
        known = ", ".join(sorted(registry))
        raise ModelError(
            f"unknown model {spec!r}: use one of {known}, a hub file owner/repo:FILE.gguf "
            "already in the Hugging Face cache, or the path of a .gguf file"
        )
    return ResolvedModel(path=path, entry=None)
