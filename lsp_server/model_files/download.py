"""Model downloads through huggingface_hub: its cache, file lock and resume, HF_TOKEN or a stored
login, HF_ENDPOINT mirrors and HF_HUB_OFFLINE; progress from its tqdm hook to our callback."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsp_server.model_files.registry import DEFAULT_ENDPOINT, ModelEntry, hf_cache_dir

__all__ = [
    "DownloadCancelled",
    "DownloadError",
    "download_model",
    "model_url",
    "stderr_progress",
]

Progress = Callable[[int, int], None]
PROGRESS_CHUNK = 1 << 20
_TRUTHY = {"1", "true", "yes", "on"}


class DownloadError(Exception):
    """A download that failed; the message is one line a person can act on."""


class DownloadCancelled(DownloadError):
    """Stopped on purpose: newer settings asked for another model."""


def _endpoint() -> str:
    """HF_ENDPOINT read now (huggingface_hub reads it once, at import)."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def model_url(entry: ModelEntry, endpoint: str | None = None) -> str:
    """Where the file is on the hub, for messages and for fetching it by hand."""
    return entry.url(endpoint)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUTHY


def _tqdm_class(progress: Progress | None) -> Any:
    """A silent tqdm whose every update reaches `progress` (which may raise to stop)."""
    from huggingface_hub.utils import tqdm as hf_tqdm

    class Reporting(hf_tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True  # our own bar (CLI) or $/progress (server)
            super().__init__(*args, **kwargs)
            self._done = int(kwargs.get("initial") or 0)

        def update(self, n: float | None = 1) -> bool | None:
            self._done += int(n or 0)
            if progress is not None:
                progress(self._done, int(self.total or 0))
            return super().update(n)

    return Reporting


def download_model(entry: ModelEntry, *, progress: Progress | None = None) -> Path:
    """The entry's file in the Hugging Face cache, downloaded (or resumed) if it is not there."""
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    # Progress (and a cancel from it) every 1 MB instead of every 10 MB.
    constants.DOWNLOAD_CHUNK_SIZE = min(constants.DOWNLOAD_CHUNK_SIZE, PROGRESS_CHUNK)
    # No telemetry: huggingface_hub otherwise asks the hub for /api/agent-harnesses.
    constants.HF_HUB_DISABLE_TELEMETRY = True
    url = model_url(entry)
    by_hand = f"or download {url} by hand and set `model` to its path"
    try:
        path = hf_hub_download(
            entry.repo,
            entry.file,
            revision=entry.revision,
            cache_dir=hf_cache_dir(),
            endpoint=_endpoint(),
            local_files_only=_offline(),
            tqdm_class=_tqdm_class(progress),
        )
    except DownloadError:
        raise  # DownloadCancelled from the progress callback
    except GatedRepoError as exc:
        raise DownloadError(
            f"{entry.repo} needs a Hugging Face login: run `hf auth login` or set HF_TOKEN "
            f"({_status(exc)}), then download again"
        ) from exc
    except LocalEntryNotFoundError as exc:  # before EntryNotFoundError: its subclass
        why = "HF_HUB_OFFLINE is set" if _offline() else "the hub could not be reached"
        raise DownloadError(f"{entry.name} is not downloaded and {why}; {by_hand}") from exc
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as exc:
        raise DownloadError(
            f"{url} was not found ({_status(exc)}); if the repository is private or gated, "
            f"log in with `hf auth login` or set HF_TOKEN; {by_hand}"
        ) from exc
    except HfHubHTTPError as exc:
        if _status(exc) in (401, 403):
            raise DownloadError(
                f"{url} refused the download ({_status(exc)}): log in with `hf auth login` or "
                f"set HF_TOKEN; {by_hand}"
            ) from exc
        raise DownloadError(
            f"downloading {url} failed ({exc.__class__.__name__}); {by_hand}"
        ) from exc
    except OSError as exc:
        raise DownloadError(f"downloading {url} failed ({exc}); {by_hand}") from exc
    return Path(path)


def _status(exc: Exception) -> int | str:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) or type(exc).__name__


def _gb(n: int) -> str:
    """Bytes as GB with two decimals, the unit model sizes are quoted in."""
    return f"{n / 1e9:.2f}"


def stderr_progress(done: int, total: int) -> None:
    """Progress bar for the CLI; stderr only, because stdout is the LSP channel."""
    width = 30
    if total > 0:
        frac = min(1.0, done / total)
        bar = "#" * int(frac * width)
        line = f"\r[{bar:<{width}}] {frac * 100:5.1f}%  {_gb(done)}/{_gb(total)} GB"
    else:
        line = f"\r{_gb(done)} GB"
    sys.stderr.write(line)
    if total > 0 and done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()
