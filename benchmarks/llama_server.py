"""llama-server for the benchmark's peer: built once from the llama.cpp that llama-cpp-python
vendors (the same kernels as the language server's worker), cached by version, started on a
loopback port with Seed-Coder's FIM tokens forced by text."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

CMAKE_FLAGS = (  # BUILD_SHARED_LIBS=OFF: one binary, no RPATH into the deleted build dir
    "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=ON -DGGML_FMA=ON -DGGML_F16C=ON "
    "-DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF "
    "-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF"
)


# -- the binary -------------------------------------------------------------------------------
def _run(cmd: list[str], cwd: Path, logfile: Path) -> None:
    """Run a build step with its output in logfile, raising with the log's tail if it fails."""
    with logfile.open("a") as out:
        rc = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        tail = logfile.read_text(errors="replace").splitlines()[-5:]
        raise RuntimeError(f"{cmd[0]} {cmd[1]} failed ({rc}): " + " | ".join(tail))


def llama_server_binary(log: Callable[[str], None] = print) -> Path | None:
    """Return llama-server built from llama-cpp-python's vendored llama.cpp (cached), or None."""
    env = os.environ.get("SEED_CODER_LLAMA_SERVER")
    if env:
        if os.path.isfile(env) and os.access(env, os.X_OK):
            return Path(env)
        log(f"SEED_CODER_LLAMA_SERVER={env} is not an executable file; the peer is skipped")
        return None
    try:
        import llama_cpp
        import platformdirs
    except ImportError as exc:
        log(f"cannot locate llama-server ({exc}); the peer is skipped")
        return None
    version = llama_cpp.__version__
    cache = Path(platformdirs.user_cache_dir("seed-coder-lsp")) / "llama-server" / version
    if (cache / "llama-server").is_file():
        return cache / "llama-server"
    cmake = shutil.which("cmake") or shutil.which("cmake", path=str(Path(sys.executable).parent))
    if cmake is None:
        log("cmake not found (apt-get install -y cmake); the peer is skipped")
        return None
    log(f"building llama-server from llama-cpp-python {version}'s llama.cpp (~8 min on 2 cores)")
    t0 = time.perf_counter()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="llama-server-build-") as tmp_s:
            tmp = Path(tmp_s)
            logfile = tmp / "build.log"
            pip = f"-m pip download --no-deps --no-binary :all: llama-cpp-python=={version} -d"
            _run([sys.executable, *pip.split(), str(tmp)], tmp, logfile)
            with tarfile.open(next(tmp.glob("llama_cpp_python-*.tar.gz"))) as tar:
                tar.extractall(tmp, filter="data")
            src = next(tmp.glob("llama_cpp_python-*/vendor/llama.cpp"))
            _run([cmake, "-B", "build", *CMAKE_FLAGS.split()], src, logfile)
            _run([cmake, "--build", "build", "--target", "llama-server", "-j2"], src, logfile)
            stage = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=cache.parent))
            try:  # the whole bin dir, in case a build links shared libraries next to the binary
                shutil.copytree(src / "build" / "bin", stage, dirs_exist_ok=True)
                _run([str(stage / "llama-server"), "--version"], stage, logfile)  # it loads
                with contextlib.suppress(OSError):
                    stage.rename(cache)  # atomic: a killed build never leaves a half-done cache
            finally:  # gone if renamed; else a failed check, or another process finished first
                shutil.rmtree(stage, ignore_errors=True)
    except (OSError, RuntimeError, StopIteration, tarfile.TarError) as exc:
        log(f"building llama-server failed ({exc or type(exc).__name__}); the peer is skipped")
        return None
    if not (cache / "llama-server").is_file():
        log(f"could not move llama-server into {cache}; the peer is skipped")
        return None
    log(f"llama-server built in {time.perf_counter() - t0:.0f} s: {cache / 'llama-server'}")
    return cache / "llama-server"


# -- the model's FIM tokens -------------------------------------------------------------------
FIM_TEXTS = {
    "fim_pre": ("<[fim-prefix]>", "<|fim_prefix|>"),
    "fim_suf": ("<[fim-suffix]>", "<|fim_suffix|>"),
    "fim_mid": ("<[fim-middle]>", "<|fim_middle|>"),
}


def fim_token_ids(model_path: Path | str) -> dict[str, int] | None:
    """Find the FIM token ids by text, since llama.cpp does not recognise Seed-Coder's tokens."""
    try:
        import gguf  # a test dependency: the bench model is written with it too
    except ImportError:
        return None
    field = gguf.GGUFReader(str(model_path)).fields.get("tokenizer.ggml.tokens")
    if field is None:
        return None
    wanted = {text.encode(): key for key, texts in FIM_TEXTS.items() for text in texts}
    found: dict[str, int] = {}
    for token_id, part in enumerate(field.data):
        key = wanted.get(bytes(field.parts[part]))
        if key is not None:
            found.setdefault(key, token_id)
    return found if len(found) == 3 else None


# -- the server -------------------------------------------------------------------------------
def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    """Terminate a server process; kill it if it lingers."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# httpx is not among the venv's packages (pip install -e ".[test,bench]"), so HTTP goes through
# urllib.request, run in a thread so the event loop keeps taking keystrokes.
def http_json(url: str, body: dict[str, Any] | None = None, timeout: float = 600.0) -> Any:
    """GET (body None) or POST JSON; return the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


SERVER_ARGS = "--host 127.0.0.1 -np 1 --cache-reuse 256"  # one slot, as llama.vim's presets


class LlamaServer:
    """llama-server on a free loopback port with the model, so the peer has something to call."""

    def __init__(
        self,
        binary: Path,
        model: Path,
        ctx: int = 4096,
        threads: int | None = None,
        batch: int = 512,
        spm_infill: bool = True,
    ) -> None:
        self.binary, self.model, self.ctx, self.threads = binary, model, ctx, threads
        self.batch = batch  # /infill keeps 3/4 batch of prefix and 1/4 of suffix tokens
        self.spm_infill = spm_infill  # Seed-Coder is trained suffix-first; Qwen would be False
        fd, log_path = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
        os.close(fd)
        self.log_path = Path(log_path)
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def command(self, port: int) -> list[str]:
        """The command line: one slot, llama.vim's cache reuse, FIM ids forced by text."""
        cmd = [str(self.binary), "-m", str(self.model), "--port", str(port), "-c", str(self.ctx)]
        # llama-server's default micro-batch (512), as the language server's worker uses
        cmd += [*SERVER_ARGS.split(), "-b", str(self.batch), "-ub", str(min(self.batch, 512))]
        if self.threads:
            cmd += ["--threads", str(self.threads)]
        ids = fim_token_ids(self.model) or {}
        if ids:  # one comma-separated --override-kv: repeated flags keep only the last one
            overrides = [f"tokenizer.ggml.{key}_token_id=int:{tid}" for key, tid in ids.items()]
            cmd += ["--override-kv", ",".join(overrides)]
        return cmd + (["--spm-infill"] if self.spm_infill else [])

    async def start(self, timeout: float = 120.0) -> None:
        """Start it and wait until /health answers 200, or raise with the log's tail."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self.command(port), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace").splitlines()[-8:]
                self.stop()
                raise RuntimeError("llama-server did not become healthy: " + " | ".join(tail))
            with contextlib.suppress(OSError, ValueError):
                await asyncio.to_thread(http_json, self.url + "/health", None, 2.0)
                return
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        """Terminate the server (kill it if it lingers)."""
        stop_process(self.proc)
        self.proc = None

    async def __aenter__(self) -> LlamaServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()


# -- llama.vim's policy -----------------------------------------------------------------------


def main() -> int:
    """`python -m benchmarks.llama_server`: build (or find) the cached binary, print its path."""
    binary = llama_server_binary(log=lambda line: print(line, file=sys.stderr))
    if binary is None:
        return 1
    print(binary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
