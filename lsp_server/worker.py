"""The engine worker: hosts llama.cpp in its own process, so a native crash never takes the server.

It receives plain-dict requests over a multiprocessing pipe, builds the token-level FIM prompt,
reuses the KV cache by longest common token prefix, and checks a shared cancel counter between
prompt chunks and between generated tokens.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .context import Budget, choose_window
from .fim import ALL_MARKER_TEXTS, assemble, detect, split_markers

log = logging.getLogger("seed_coder_lsp.worker")

# Tokens per prompt decode: small enough that a cancel lands within one chunk (about 0.5 s for an
# 8B model on a desktop CPU); GPUs evaluate 256 tokens in milliseconds and like bigger batches.
PROMPT_CHUNK_CPU, PROMPT_CHUNK_GPU = 64, 256
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
class Stats:
    """Numbers every result reports."""

    prompt_tokens: int = 0
    reused_tokens: int = 0
    evaluated_tokens: int = 0  # prompt tokens decoded for this request (not reused from cache)
    generated_tokens: int = 0
    decode_steps: int = 0
    prompt_ms: float = 0.0
    generate_ms: float = 0.0
    total_ms: float = 0.0
    stop_reason: str = ""


@dataclass
class Outcome:
    """One generation's text and stats, plus where the window was cut."""

    text: str
    stats: Stats
    window: tuple[int, int] = (0, 0)
    cancelled: bool = False


CANCEL_SLOTS = 64


class CancelBoard:
    """Shared memory for cancellation without a message round trip: a watermark (everything up
    to N) and a ring of single cancels, so cancelling one job leaves older ones (a prefill) be."""

    def __init__(self, ctx: Any) -> None:
        self.watermark = ctx.Value("q", 0, lock=False)
        self.ring = ctx.Array("q", CANCEL_SLOTS, lock=False)

    def cancel(self, seq: int) -> None:
        self.ring[seq % CANCEL_SLOTS] = seq

    def cancel_through(self, seq: int) -> None:
        self.watermark.value = max(self.watermark.value, seq)

    def is_cancelled(self, seq: int) -> bool:
        return seq <= self.watermark.value or self.ring[seq % CANCEL_SLOTS] == seq


def has_amx() -> bool:
    """Whether this CPU reports AMX, whose llama.cpp kernels crash on quantized weights."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return any(line.startswith("flags") and " amx" in line for line in f)
    except OSError:
        return False


def _install_llama_logging(level: str) -> None:
    """Route llama.cpp's log lines to logging (stderr); the default callback can raise on UTF-8."""
    import llama_cpp

    verbose = level == "debug"
    pending: list[bytes] = []
    last_level = [0]

    @llama_cpp.llama_log_callback
    def _callback(lvl: int, text: bytes, _user: ctypes.c_void_p) -> None:
        # ggml levels: 1 debug, 2 info, 3 warn, 4 error, 5 continues the previous line
        if lvl == 5:
            lvl = last_level[0]
        last_level[0] = lvl
        pending.append(text or b"")
        if not (text or b"").endswith(b"\n"):
            return
        line = b"".join(pending).decode("utf-8", errors="replace").rstrip()
        pending.clear()
        if lvl >= 3 or verbose:
            log.warning("llama.cpp: %s", line)

    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
    globals()["_LOG_CALLBACK_REF"] = _callback  # keep the C callback alive


class Runner:
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
        self.vocab = self.llm._model.vocab
        self.n_vocab = self.llm.n_vocab()
        self.special_text = self._special_texts()
        self.fim, warning = detect(self.lookup, config.fim_template)
        if warning:
            self.warnings.append(warning)
        if self.fim is None:
            self.warnings.append(
                "this model has no fill-in-the-middle tokens: completing from the text before "
                "the cursor only (use a FIM model such as Seed-Coder-8B-Base for infills)"
            )
        self.bos = self.llm.token_bos() if self.llm._model.add_bos_token() else None
        self.stop_ids = self._stop_ids()
        self.markers = tuple(sorted(set(self.special_text) | set(ALL_MARKER_TEXTS)))
        self.tok_cache: OrderedDict[str, list[int]] = OrderedDict()
        meta = self.llm.metadata
        name = " ".join(str(meta.get(k, "")) for k in ("general.name", "general.finetune"))
        if any(h in name.lower() for h in INSTRUCT_HINTS):
            self.warnings.append(
                f"model {name.strip()!r} looks like an instruct/chat variant; FIM completion "
                "works best with a base model (Seed-Coder-8B-Base)"
            )

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
            n_batch=512,
            n_ubatch=512,
            verbose=cfg.log_level == "debug",
        )
        if cfg.threads:
            kwargs.update(n_threads=cfg.threads, n_threads_batch=cfg.threads)
        layers = cfg.gpu_layers if self.gpu_offload else 0
        if layers != 0:
            try:
                return self.llama_cpp.Llama(n_gpu_layers=layers, **kwargs)
            except Exception as exc:  # noqa: BLE001 - any GPU failure falls back to the CPU
                self.warnings.append(f"loading on the GPU failed ({exc}); running on the CPU")
        return self.llama_cpp.Llama(n_gpu_layers=0, **kwargs)

    def _special_texts(self) -> dict[str, int]:
        """Text -> id for control and user-defined tokens: where FIM and stop marks live."""
        lc = self.llama_cpp
        wanted = lc.LLAMA_TOKEN_ATTR_CONTROL | lc.LLAMA_TOKEN_ATTR_USER_DEFINED
        out: dict[str, int] = {}
        for i in range(self.n_vocab):
            if lc.llama_vocab_get_attr(self.vocab, i) & wanted:
                text = lc.llama_vocab_get_text(self.vocab, i)
                if text:
                    out.setdefault(text.decode("utf-8", errors="replace"), i)
        return out

    def lookup(self, text: str) -> int | None:
        """Id of a token whose text is exactly `text` and that tokenizes as that one token."""
        tid = self.special_text.get(text)
        if tid is None:
            return None
        ids = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return tid if ids == [tid] else None

    def _stop_ids(self) -> frozenset[int]:
        """End of generation, end of turn, every FIM mark and every control token."""
        lc = self.llama_cpp
        ids = {i for t, i in self.special_text.items() if t in ALL_MARKER_TEXTS}
        ids |= {
            i
            for i in self.special_text.values()
            if lc.llama_vocab_get_attr(self.vocab, i) & lc.LLAMA_TOKEN_ATTR_CONTROL
        }
        ids.add(self.llm.token_eos())
        eot = lc.llama_vocab_eot(self.vocab)
        if eot >= 0:
            ids.add(eot)
        return frozenset(ids)

    def tokenize(self, text: str) -> list[int]:
        """Document text to ids with special parsing off and marks split, so text stays text."""
        cached = self.tok_cache.get(text)
        if cached is not None:
            self.tok_cache.move_to_end(text)
            return cached
        ids: list[int] = []
        for piece in split_markers(text, self.markers):
            ids.extend(self.llm.tokenize(piece.encode("utf-8"), add_bos=False, special=False))
        self.tok_cache[text] = ids
        if len(self.tok_cache) > 64:
            self.tok_cache.popitem(last=False)
        return ids

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
        }

    def backend(self) -> str:
        """CUDA / Metal / Vulkan / CPU, from llama.cpp's system info."""
        sysinfo = self.llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
        for name in ("CUDA", "Metal", "Vulkan", "ROCm", "SYCL"):
            if name.upper() in sysinfo.upper() and self.gpu_offload:
                return name
        return "CPU"

    def prompt_for(self, req: dict[str, Any]) -> tuple[list[int], tuple[int, int]]:
        """Window the document around the cursor and assemble the FIM prompt tokens."""
        tokens, window, _stable = self._prompt(req)
        return tokens, window

    def _prompt(self, req: dict[str, Any]) -> tuple[list[int], tuple[int, int], int]:
        """Prompt tokens, window hint, and how many leading tokens stay valid while the user
        types on the cursor's line (everything before that line's text)."""
        n_ctx = self.llm.n_ctx()
        max_tokens = int(req.get("max_tokens", 128))
        total = max(16, n_ctx - max_tokens - 8)
        suffix_share = total // 4 if self.fim else 0
        budget = Budget(prefix=total - suffix_share, suffix=suffix_share)
        hint = tuple(req["hint"]) if req.get("hint") else None
        suffix = req.get("suffix", "") if self.fim else ""
        window = choose_window(req.get("prefix", ""), suffix, self.tokenize, budget, hint=hint)  # type: ignore[arg-type]
        tokens = assemble(self.fim, window.prefix_tokens, window.suffix_tokens, self.bos)
        line_start = window.prefix.rfind("\n") + 1
        # Tokens may merge across the line break: keep a margin of two before the line's text.
        stable_prefix = max(0, len(self.tokenize(window.prefix[:line_start])) - 2)
        head = (1 if self.bos is not None else 0) + (1 if self.fim else 0)
        if self.fim is not None and self.fim.template.spm:
            head += len(window.suffix_tokens) + 1
        return tokens, (window.start_line, window.suffix_lines), head + stable_prefix

    def _evaluate(
        self,
        prompt: list[int],
        max_reuse: int,
        cancelled: Callable[[], bool],
        step: Callable[[], None],
        stats: Stats,
    ) -> bool:
        """Bring the KV cache to `prompt`, reusing its longest common prefix; False if cancelled
        (what was evaluated before the cancel stays cached and valid for the next request)."""
        llm = self.llm
        reuse = min(common_prefix(llm.input_ids[: llm.n_tokens], prompt), max_reuse)
        llm.n_tokens = reuse
        stats.reused_tokens = reuse
        todo = prompt[reuse:]
        chunk_size = PROMPT_CHUNK_GPU if llm.model_params.n_gpu_layers != 0 else PROMPT_CHUNK_CPU
        for i in range(0, len(todo), chunk_size):
            if cancelled():
                return False
            chunk = todo[i : i + chunk_size]
            llm.eval(chunk)
            step()
            stats.decode_steps += 1
            stats.evaluated_tokens += len(chunk)
        return True

    def prefill(
        self, req: dict[str, Any], cancelled: Callable[[], bool], step: Callable[[], None]
    ) -> Stats:
        """Evaluate the part of the prompt that typing on the cursor's line will not change, so
        the completion after a pause only evaluates that line (warms the cache while typing)."""
        t0 = time.perf_counter()
        stats = Stats()
        prompt, _window, stable = self._prompt(req)
        stats.prompt_tokens = stable
        if len(prompt) >= self.llm.n_ctx():
            raise ValueError(f"prompt of {len(prompt)} tokens does not fit the context")
        done = self._evaluate(prompt[:stable], stable, cancelled, step, stats)
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
        prompt, window = self.prompt_for(req)
        stats.prompt_tokens = len(prompt)
        llm = self.llm
        n_ctx = llm.n_ctx()
        max_tokens = max(0, min(int(req.get("max_tokens", 128)), n_ctx - len(prompt)))
        if len(prompt) >= n_ctx:
            raise ValueError(f"prompt of {len(prompt)} tokens does not fit the context {n_ctx}")
        # Re-evaluate at least the last token: its logits start the generation.
        if not self._evaluate(prompt, len(prompt) - 1, cancelled, step, stats):
            return self._finish(stats, "", window, t0, t0, "cancelled")
        t1 = time.perf_counter()
        stats.prompt_ms = (t1 - t0) * 1000
        out = bytearray()
        sampler = _Sampler(float(req.get("temperature", 0.0)), int(req.get("seed", 0)))
        deadline = t1 + float(req.get("max_time_ms", 1500)) / 1000
        reason = "max_tokens"
        for _ in range(max_tokens):
            if cancelled():
                reason = "cancelled"
                break
            logits = self._logits()
            token = sampler.pick(logits)
            if token in self.stop_ids or self.llama_cpp.llama_vocab_is_eog(self.vocab, token):
                reason = "eos"
                break
            piece = llm.detokenize([token])
            out.extend(piece)
            stats.generated_tokens += 1
            text_piece = piece.decode("utf-8", errors="ignore")
            if text_piece:
                on_text(text_piece)
            if time.perf_counter() > deadline and b"\n" in piece:
                reason = "time"
                break
            if stats.generated_tokens >= max_tokens:
                break
            llm.eval([token])
            step()
            stats.decode_steps += 1
        text = out.decode("utf-8", errors="ignore")
        if reason == "time":
            text = text[: text.rfind("\n")]
        return self._finish(stats, text, window, t0, t1, reason)

    def _finish(
        self, stats: Stats, text: str, window: tuple[int, int], t0: float, t1: float, reason: str
    ) -> Outcome:
        """Stamp times and the stop reason."""
        now = time.perf_counter()
        stats.generate_ms = (now - t1) * 1000 if t1 > t0 else 0.0  # t1 == t0: never generated
        stats.total_ms = (now - t0) * 1000
        stats.stop_reason = reason
        return Outcome(text=text, stats=stats, window=window, cancelled=reason == "cancelled")

    def _logits(self) -> Any:
        """The last position's logits, as a numpy view (no copy)."""
        import numpy as np

        ptr = self.llama_cpp.llama_get_logits_ith(self.llm._ctx.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))


class _Sampler:
    """Greedy at temperature 0 (deterministic); otherwise top-k 40 / top-p 0.95 sampling."""

    def __init__(self, temperature: float, seed: int) -> None:
        import numpy as np

        self.temperature = temperature
        self.rng = np.random.default_rng(seed or None)

    def pick(self, logits: Any) -> int:
        import numpy as np

        if self.temperature <= 0:
            return int(np.argmax(logits))
        top = np.argpartition(logits, -40)[-40:]
        scaled = logits[top] / self.temperature
        probs = np.exp(scaled - scaled.max())
        probs /= probs.sum()
        order = np.argsort(-probs)
        keep = order[: int(np.searchsorted(np.cumsum(probs[order]), 0.95)) + 1]
        p = probs[keep] / probs[keep].sum()
        return int(top[keep][self.rng.choice(len(keep), p=p)])


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the shared leading run of two token lists."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def worker_main(conn: Any, board: CancelBoard, steps: Any, config: WorkerConfig) -> None:
    """Process entry: stdout becomes stderr, load the model, then serve requests until EOF."""
    os.dup2(2, 1)  # whatever llama.cpp prints must never reach the LSP channel
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    _install_llama_logging(config.log_level)
    try:
        runner = Runner(config)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one message
        conn.send({"type": "load_error", "message": str(exc) or type(exc).__name__})
        return
    conn.send({"type": "ready", "info": runner.info()})

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        op = msg.get("op")
        if op == "shutdown":
            return
        seq = msg.get("seq", 0)
        try:
            if op == "complete":
                conn.send(_complete(runner, conn, msg, board, steps))
            elif op == "prefill":
                conn.send(_prefill(runner, msg, board, steps))
            else:
                conn.send({"type": "error", "seq": seq, "message": f"unknown op {op!r}"})
        except Exception as exc:  # noqa: BLE001 - a bad request must not end the worker
            log.exception("request %s failed", seq)
            conn.send({"type": "error", "seq": seq, "message": str(exc) or type(exc).__name__})


def _stepper(steps: Any) -> Callable[[], None]:
    """Count decode steps in shared memory (the parent measures steps run after a cancel)."""

    def step() -> None:
        steps.value += 1

    return step


def _prefill(runner: Runner, msg: dict[str, Any], board: CancelBoard, steps: Any) -> dict:
    """Warm the cache with the stable part of a prompt and report what it cost."""
    seq = msg.get("seq", 0)
    start = steps.value
    stats = runner.prefill(msg, lambda: board.is_cancelled(seq), _stepper(steps))
    return {
        "steps_start": start,
        "type": "result",
        "seq": seq,
        "stats": asdict(stats),
        "cancelled": stats.stop_reason == "cancelled",
        "steps_total": steps.value,
    }


def _complete(
    runner: Runner, conn: Any, msg: dict[str, Any], board: CancelBoard, steps: Any
) -> dict:
    """Run one completion request, streaming text pieces, and build its result message."""
    seq = msg.get("seq", 0)
    start = steps.value
    outcome = runner.generate(
        msg,
        cancelled=lambda: board.is_cancelled(seq),
        step=_stepper(steps),
        on_text=lambda text: conn.send({"type": "partial", "seq": seq, "text": text}),
    )
    return {
        "type": "result",
        "seq": seq,
        "text": outcome.text,
        "stats": asdict(outcome.stats),
        "window": outcome.window,
        "cancelled": outcome.cancelled,
        "steps_start": start,
        "steps_total": steps.value,
    }
