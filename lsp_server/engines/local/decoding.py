"""The worker's KV cache and decoding: bring the cache to a prompt (kept prefix, shifted chunks,
full batches), one llama_decode at a time, aborted from inside by the cancel flag (llama.cpp's
abort callback). Shared by completions (runner.py) and next edits (edits.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lsp_server.engines.local.kv_reuse import ReusePlan, plan_reuse

N_BATCH = 512  # llama.cpp's default: full prompt throughput


@dataclass
class Stats:
    """Numbers every result reports."""

    prompt_tokens: int = 0
    reused_tokens: int = 0  # kept from the KV cache (in place or shifted)
    shifted_tokens: int = 0  # of those, moved to a new position (the window moved)
    evaluated_tokens: int = 0  # prompt tokens decoded for this request
    generated_tokens: int = 0
    decode_steps: int = 0
    prompt_ms: float = 0.0
    generate_ms: float = 0.0
    total_ms: float = 0.0
    stop_reason: str = ""
    capped: bool = False  # the window was shrunk to meet the latency target (cold start)


class Cancelled(Exception):
    """llama.cpp aborted a decode because the job was cancelled."""


class Decoder:
    """The model's context as the runner uses it (set up by Runner.__init__)."""

    llama_cpp: Any
    llm: Any
    memory: Any
    vocab: Any
    n_vocab: int
    can_shift: bool
    shift_pending: bool
    should_abort: Callable[[], bool]
    stop_ids: frozenset[int]

    def evaluate(
        self,
        prompt: list[int],
        max_reuse: int,
        cancelled: Callable[[], bool],
        step: Callable[[], None],
        stats: Stats,
        stopped: Callable[[], bool] | None = None,
        batch: int = N_BATCH,
    ) -> bool:
        """Bring the KV cache to `prompt` (kept prefix, shifted chunks, then full batches);
        False if cancelled (what was evaluated before the cancel stays cached and valid).
        `stopped`: checked only between batches (the batch in progress completes); smaller
        batches make that sooner."""
        llm = self.llm
        between = stopped or cancelled
        if between():  # cancelled while queued: leave the cache as it is
            return False
        plan = plan_reuse(
            llm.input_ids[: llm.n_tokens], prompt, limit=max_reuse, can_shift=self.can_shift
        )
        self._apply(plan)
        stats.reused_tokens = plan.kept
        stats.shifted_tokens = plan.shifted
        todo = prompt[plan.kept :]
        for i in range(0, len(todo), batch):
            if i and between():
                return False
            chunk = todo[i : i + batch]
            try:
                self.decode(chunk, cancelled)
            except Cancelled:
                return False
            step()
            stats.decode_steps += 1
            stats.evaluated_tokens += len(chunk)
        return True

    def _apply(self, plan: ReusePlan) -> None:
        """Make the cache hold the plan's tokens: drop the spans between the kept chunks, shift
        each chunk back into place, drop everything after."""
        lc, llm, mem = self.llama_cpp, self.llm, self.memory
        end = plan.common  # old positions before `end` are settled
        for move in plan.moves:
            lc.llama_memory_seq_rm(mem, -1, end, move.src)
            lc.llama_memory_seq_add(mem, 0, move.src, move.src + move.length, move.dst - move.src)
            ids = llm.input_ids[move.src : move.src + move.length].copy()
            llm.input_ids[move.dst : move.dst + move.length] = ids
            end = move.src + move.length
        if plan.moves:  # old tokens after the last chunk (eval drops those past n_tokens too)
            lc.llama_memory_seq_rm(mem, -1, end, -1)
            self.shift_pending = True  # llama.cpp rotates the keys inside the next decode
        llm.n_tokens = plan.kept

    def decode(self, tokens: list[int], cancelled: Callable[[], bool]) -> None:
        """One llama_decode of up to N_BATCH tokens; raise Cancelled if it was aborted."""
        if cancelled():
            raise Cancelled
        # An abort in the middle of a pending shift would leave some layers' keys rotated and
        # the shift applied again later: the decode that applies it runs to its end.
        self.should_abort = (lambda: False) if self.shift_pending else cancelled
        try:
            self.llm.eval(tokens)
        except RuntimeError as exc:
            if cancelled():
                raise Cancelled from exc
            raise
        finally:
            self.should_abort = lambda: False
        self.shift_pending = False

    def decode_one(
        self, token: int, cancelled: Callable[[], bool], step: Callable[[], None], stats: Stats
    ) -> bool:
        """Feed a sampled token (its logits start the next); False if cancelled."""
        try:
            self.decode([token], cancelled)
        except Cancelled:
            return False
        step()
        stats.decode_steps += 1
        return True

    def sample_loop(
        self,
        max_tokens: int,
        sampler: Any,
        stopped: Callable[[], bool],
        cancelled: Callable[[], bool],
        step: Callable[[], None],
        stats: Stats,
        on_text: Callable[[str], None],
        rule: Callable[[bytes, bytearray], str | None] | None = None,
    ) -> tuple[bytearray, str]:
        """Sample, stream and feed tokens until a stop token, max_tokens, `stopped` (checked
        between steps; `cancelled` aborts inside one) or `rule` (piece, text so far) names a
        reason; (the generated bytes, the stop reason)."""
        out, reason = bytearray(), "max_tokens"
        for _ in range(max_tokens):
            if stopped():
                return out, "cancelled"
            token = sampler.pick(self.logits())
            if self.is_stop(token):
                return out, "eos"
            piece = self.llm.detokenize([token])
            out.extend(piece)
            stats.generated_tokens += 1
            text = piece.decode("utf-8", errors="ignore")
            if text:
                on_text(text)
            why = rule(piece, out) if rule is not None else None
            if why:
                return out, why
            if stats.generated_tokens >= max_tokens:
                break
            if not self.decode_one(token, cancelled, step, stats):
                return out, "cancelled"
        return out, reason

    def is_stop(self, token: int) -> bool:
        """End of generation: a stop id or any end-of-generation token."""
        return token in self.stop_ids or bool(self.llama_cpp.llama_vocab_is_eog(self.vocab, token))

    def logits(self) -> Any:
        """The last position's logits, as a numpy view (no copy)."""
        import numpy as np

        ptr = self.llama_cpp.llama_get_logits_ith(self.llm._ctx.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))
