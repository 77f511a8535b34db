"""llama.cpp in the worker process: load, vocabulary facts, prompts, KV reuse and generation.

Prompts are evaluated in llama.cpp's full batch size and cancelled from inside a decode through
llama.cpp's abort callback, so cancelling costs no throughput. The KV cache is kept by longest
common prefix and, when the window dropped text in the middle of the prompt, by shifting the
matching rest back into place (see kv_reuse.py).
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lsp_server.engines.local.decoding import N_BATCH, Decoder, Stats
from lsp_server.engines.local.hardware import has_amx, measure_speed, physical_cores
from lsp_server.engines.local.kv_reuse import plan_reuse
from lsp_server.engines.local.sampler import Sampler
from lsp_server.engines.local.vocabulary import Vocabulary
from lsp_server.postprocess.rules import settled
from lsp_server.prompt.fim import detect
from lsp_server.prompt.tokens import build_prompt
from lsp_server.prompt.window import cold_tokens

INSTRUCT_HINTS = ("instruct", "chat", "-it-", "-it.", "assistant")


@dataclass
class WorkerConfig:
    """How to load the model; sent to the worker at start."""

    model_path: str
    n_ctx: int = 4096
    gpu_layers: int = -1
    fim_template: str = "auto"
    threads: int = 0
    safe_cpu: bool = False  # after a native crash: no repacked (extra) weight buffers
    log_level: str = "info"


@dataclass
class Outcome:
    """One generation's text and stats, plus where the window was cut."""

    text: str
    stats: Stats
    window: tuple[int, int] = (0, 0)
    cancelled: bool = False


class Runner(Decoder):
    """llama.cpp model, vocabulary facts and the KV-reusing generation loop."""

    def __init__(self, config: WorkerConfig) -> None:
        import llama_cpp

        self.config = config
        self.warnings: list[str] = []
        self.llama_cpp = llama_cpp
        if config.safe_cpu or has_amx():
            self._disable_extra_buffers()
        self.gpu_offload = bool(llama_cpp.llama_supports_gpu_offload())
        t0 = time.perf_counter()
        self.llm = self._load()
        self.load_ms = (time.perf_counter() - t0) * 1000
        self.words = Vocabulary(llama_cpp, self.llm)
        self.vocab, self.n_vocab = self.words.vocab, self.words.n_vocab
        self.special_text, self.tokenize = self.words.special_text, self.words.tokenize
        self.fim, warning = detect(self.words.lookup, config.fim_template)
        if warning:
            self.warnings.append(warning)
        if self.fim is None:
            self.warnings.append(
                "this model has no fill-in-the-middle tokens: completing from the text before "
                "the cursor only (use a FIM model such as Seed-Coder-8B-Base for infills)"
            )
        self.bos = self.llm.token_bos() if self.llm._model.add_bos_token() else None
        self.stop_ids = self.words.stop_ids()
        self.should_abort: Callable[[], bool] = lambda: False
        self.shift_pending = False
        self._install_abort()
        mem = llama_cpp.llama_get_memory(self.llm._ctx.ctx)
        self.memory = mem
        self.can_shift = bool(mem and llama_cpp.llama_memory_can_shift(mem))
        meta = self.llm.metadata
        name = " ".join(str(meta.get(k, "")) for k in ("general.name", "general.finetune"))
        if any(h in name.lower() for h in INSTRUCT_HINTS):
            self.warnings.append(
                f"model {name.strip()!r} looks like an instruct/chat variant; FIM completion "
                "works best with a base model (Seed-Coder-8B-Base)"
            )
        sample = self.tokenize("def f(x):\n    return x + 1\n\n" * 128)
        self.speed = measure_speed(self.llm, sample)

    def _disable_extra_buffers(self) -> None:
        """Load without repacked weight buffers (the AMX kernels crash on quantized weights)."""
        lc: Any = self.llama_cpp.llama_cpp
        original = lc.llama_model_default_params

        def safe_params() -> Any:
            params = original()
            params.use_extra_bufts = False
            return params

        lc.llama_model_default_params = safe_params

    def _load(self) -> Any:
        """Load on the GPU when the build can offload; on failure load on the CPU and say why."""
        cfg = self.config
        kwargs: dict[str, Any] = dict(
            model_path=cfg.model_path,
            n_ctx=cfg.n_ctx,
            n_batch=N_BATCH,
            n_ubatch=N_BATCH,
            flash_attn=True,  # attention over a long cached prompt dominates a keystroke
            verbose=cfg.log_level == "debug",
        )
        threads = cfg.threads or physical_cores()
        kwargs.update(n_threads=threads, n_threads_batch=threads)
        layers = cfg.gpu_layers if self.gpu_offload else 0
        if layers != 0:
            try:
                return self.llama_cpp.Llama(n_gpu_layers=layers, **kwargs)
            except Exception as exc:  # noqa: BLE001 - any GPU failure falls back to the CPU
                self.warnings.append(f"loading on the GPU failed ({exc}); running on the CPU")
        try:
            return self.llama_cpp.Llama(n_gpu_layers=0, **kwargs)
        except Exception:  # noqa: BLE001 - a model flash attention cannot run: without it
            return self.llama_cpp.Llama(n_gpu_layers=0, **{**kwargs, "flash_attn": False})

    def _install_abort(self) -> None:
        """llama.cpp asks this between graph nodes of a decode: a cancel lands inside a batch."""

        @self.llama_cpp.ggml_abort_callback
        def _abort(_data: ctypes.c_void_p) -> bool:
            return bool(self.should_abort())

        self._abort_ref = _abort  # keep the C callback alive
        self.llama_cpp.llama_set_abort_callback(self.llm._ctx.ctx, _abort, ctypes.c_void_p(0))

    def info(self) -> dict[str, Any]:
        """What doctor and the server report about the loaded model."""
        meta = self.llm.metadata
        return {
            "backend": self.backend(),
            "gpu_offload_supported": self.gpu_offload,
            "n_gpu_layers": self.llm.model_params.n_gpu_layers,
            "n_ctx": self.llm.n_ctx(),
            "n_ctx_train": self.llm._model.n_ctx_train(),
            "n_vocab": self.n_vocab,
            "fim_template": self.fim.template.name if self.fim else None,
            "fim_ids": list(self.fim.ids()) if self.fim else [],
            "add_bos": self.bos is not None,
            "name": meta.get("general.name", ""),
            "architecture": meta.get("general.architecture", ""),
            "file_type": meta.get("general.file_type", ""),
            "load_ms": round(self.load_ms, 1),
            "warnings": self.warnings,
            "safe_cpu": self.config.safe_cpu or has_amx(),
            "can_shift": self.can_shift,
            "threads": self.llm.context_params.n_threads,
            **self.speed,
        }

    def backend(self) -> str:
        """CUDA / Metal / Vulkan / CPU, from llama.cpp's system info."""
        sysinfo = self.llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
        for name in ("CUDA", "Metal", "Vulkan", "ROCm", "SYCL"):
            if name.upper() in sysinfo.upper() and self.gpu_offload:
                return name
        return "CPU"

    # -- prompts -----------------------------------------------------------------------------
    def prompt_for(self, req: dict[str, Any]) -> tuple[list[int], tuple[int, int]]:
        """Window the document around the cursor and assemble the FIM prompt tokens."""
        tokens, window, _stable = self._prompt(req, None)
        return tokens, window

    def _prompt(
        self, req: dict[str, Any], cap: int | None
    ) -> tuple[list[int], tuple[int, int], int]:
        """Prompt tokens, window hint, and how many leading tokens stay valid while the user
        types on the cursor's line (everything before that line's text)."""
        p = build_prompt(req, self.tokenize, self.fim, self.bos, self.llm.n_ctx(), cap)
        return p.tokens, p.window, p.stable

    def _sized_prompt(
        self, req: dict[str, Any], stats: Stats
    ) -> tuple[list[int], tuple[int, int], int]:
        """The full window, unless evaluating it from what is cached would miss the latency
        target (a cold start): then a window small enough to meet it."""
        full = self._prompt(req, None)
        target = float(req.get("latency_target_ms") or 0)
        if target <= 0 or req.get("uncapped"):
            return full
        cold = cold_tokens(self.speed, target)
        cached = self.llm.input_ids[: self.llm.n_tokens]
        # A keystroke: the cache already holds all but a few tokens (vectorized check). Only a
        # cold or moved window pays for the reuse plan here (and _evaluate plans again).
        if len(full[0]) - _common_prefix(cached, full[0]) <= cold:
            return full
        todo = (
            len(full[0])
            - plan_reuse(cached, full[0], limit=len(full[0]), can_shift=self.can_shift).kept
        )
        if todo <= cold:
            return full
        stats.capped = True
        return self._prompt(req, cold)

    # -- requests ----------------------------------------------------------------------------
    def prefill(
        self, req: dict[str, Any], cancelled: Callable[[], bool], step: Callable[[], None]
    ) -> Stats:
        """Evaluate the part of the prompt that typing on the cursor's line will not change, so
        the completion after a pause only evaluates that line (warms the cache while typing)."""
        t0 = time.perf_counter()
        stats = Stats()
        prompt, _window, stable = self._sized_prompt(req, stats)
        stats.prompt_tokens = stable
        if len(prompt) >= self.llm.n_ctx():
            raise ValueError(f"prompt of {len(prompt)} tokens does not fit the context")
        done = self.evaluate(prompt[:stable], stable, cancelled, step, stats)
        stats.prompt_ms = stats.total_ms = (time.perf_counter() - t0) * 1000
        stats.stop_reason = "prefilled" if done else "cancelled"
        return stats

    def generate(
        self,
        req: dict[str, Any],
        cancelled: Callable[[], bool],
        step: Callable[[], None],
        on_text: Callable[[str], None],
    ) -> Outcome:
        """Evaluate the prompt (reusing the cache) and generate until a stop, checking cancel."""
        t0 = time.perf_counter()
        stats = Stats()
        prompt, window, _stable = self._sized_prompt(req, stats)
        stats.prompt_tokens = len(prompt)
        llm = self.llm
        n_ctx = llm.n_ctx()
        max_tokens = max(0, min(int(req.get("max_tokens", 128)), n_ctx - len(prompt)))
        if len(prompt) >= n_ctx:
            raise ValueError(f"prompt of {len(prompt)} tokens does not fit the context {n_ctx}")
        # Re-evaluate at least the last token: its logits start the generation.
        if not self.evaluate(prompt, len(prompt) - 1, cancelled, step, stats):
            return self.finish(stats, "", window, t0, t0, "cancelled")
        t1 = time.perf_counter()
        stats.prompt_ms = (t1 - t0) * 1000
        sampler = Sampler(float(req.get("temperature", 0.0)), int(req.get("seed", 0)))
        deadline = t1 + float(req.get("max_time_ms", 1500)) / 1000

        def rule(piece: bytes, out: bytearray) -> str | None:
            if time.perf_counter() > deadline and b"\n" in piece:
                return "time"
            if b"\n" in out and self._settled(req, out):
                return "settled"  # what follows cannot change the suggestion
            return None

        out, reason = self.sample_loop(
            max_tokens, sampler, cancelled, cancelled, step, stats, on_text, rule
        )
        text = out.decode("utf-8", errors="ignore")
        if reason == "time":
            text = text[: text.rfind("\n")]
        return self.finish(stats, text, window, t0, t1, reason)

    @staticmethod
    def _settled(req: dict[str, Any], out: bytearray) -> bool:
        text = out.decode("utf-8", errors="ignore")
        return settled(req.get("prefix", ""), req.get("suffix", ""), text, req.get("language", ""))

    def finish(
        self, stats: Stats, text: str, window: tuple[int, int], t0: float, t1: float, reason: str
    ) -> Outcome:
        """Stamp times and the stop reason."""
        now = time.perf_counter()
        stats.generate_ms = (now - t1) * 1000 if t1 > t0 else 0.0  # t1 == t0: never generated
        stats.total_ms = (now - t0) * 1000
        stats.stop_reason = reason
        return Outcome(text=text, stats=stats, window=window, cancelled=reason == "cancelled")


def _common_prefix(cached: Any, prompt: list[int]) -> int:
    """Length of the shared leading run of the cache (a numpy array) and a prompt."""
    import numpy as np

    n = min(len(cached), len(prompt))
    differ = np.flatnonzero(np.asarray(cached[:n]) != np.asarray(prompt[:n], dtype=cached.dtype))
    return int(differ[0]) if differ.size else n
