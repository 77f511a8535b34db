"""Cheap checks on a model file, so a bad path fails with advice instead of a llama.cpp crash."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Downloadable(Protocol):
    """What the advice for a missing registry model needs (registry.ModelEntry has it)."""

    @property
    def name(self) -> str: ...

    @property
    def size(self) -> int: ...

    @property
    def size_exact(self) -> bool: ...

    def url(self, endpoint: str | None = None) -> str: ...


GGUF_MAGIC = b"GGUF"


class ModelError(Exception):
    """A model that cannot be used; the message is one line a person can act on."""


def _missing_hint(path: Path, entry: Downloadable | None) -> str:
    """Tell the user how to obtain a missing file: download for registry models, else the path."""
    if entry is None:
        return f"model file {path} not found: check the path (or use a registry model name)"
    return (
        f"model file {path} not found: run `seed-coder-lsp download {entry.name}` "
        f"(or download {entry.url()} by hand and save it as {path})"
    )


def read_magic(path: Path) -> bytes:
    """Return the first 4 bytes, which identify a GGUF file."""
    with path.open("rb") as f:
        return f.read(len(GGUF_MAGIC))


def check_model_file(path: Path, entry: Downloadable | None) -> None:
    """Raise ModelError if `path` is missing, not a GGUF file, or visibly truncated."""
    if not path.exists():
        raise ModelError(_missing_hint(path, entry))
    if not path.is_file():
        raise ModelError(f"model path {path} is not a file: give the path of a .gguf file")
    try:
        magic = read_magic(path)
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    if magic != GGUF_MAGIC:
        raise ModelError(
            f"{path} is not a GGUF file (starts with {magic!r}): use a llama.cpp .gguf model"
        )
    if entry is not None and entry.size_exact:
        size = path.stat().st_size
        if size < entry.size:
            raise ModelError(
                f"model file {path} is truncated ({size} of {entry.size} bytes): "
                f"re-run `seed-coder-lsp download {entry.name}`"
            )
