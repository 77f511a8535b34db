"""Where the Neovim binaries for the editor tests come from."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO.parent / "shared" / "vendor" / "nvim" / "seed-nvim-0.12.4-linux-x86_64.tar.gz"


def _nvim012() -> str | None:
    """bin/nvim of Neovim 0.12.4: $SEED_CODER_NVIM012, or the bundle unpacked once."""
    if os.environ.get("SEED_CODER_NVIM012"):
        return os.environ["SEED_CODER_NVIM012"]
    if not BUNDLE.is_file():
        return None
    from platformdirs import user_cache_dir

    home = Path(user_cache_dir("seed-coder-lsp")) / "nvim-0.12.4"
    nvim = home / "seed-nvim-0.12.4" / "bin" / "nvim"
    if not nvim.exists():
        home.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="nvim-", dir=home.parent))
        with tarfile.open(BUNDLE) as tar:
            tar.extractall(tmp, filter="tar")
        shutil.rmtree(home, ignore_errors=True)
        tmp.rename(home)  # whole or not at all: an interrupted unpack leaves no half bundle
    out = subprocess.run([str(nvim), "--version"], capture_output=True, text=True, timeout=30)
    return str(nvim) if out.stdout.startswith("NVIM v0.12") else None


NVIM012 = _nvim012()
