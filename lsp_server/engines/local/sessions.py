"""Several KV caches over one loaded model: a shared engine gives every attached editor its own
llama.cpp context (session), so windows never evict each other's prompt cache and the weights
are in memory once. Session 0 is the context the model was loaded with."""

from __future__ import annotations

import contextlib
from typing import Any

from lsp_server.engines.local.runner import Runner


def fork(base: Runner) -> Runner:
    """A Runner on a fresh context of the same model (weights, vocabulary and speed shared)."""
    import numpy as np
    from llama_cpp import _internals as internals  # the context classes Llama itself uses

    llm = base.llm
    clone = _shallow(llm)  # not copy.copy: Llama's __setstate__ would load the model again
    clone._stack = contextlib.ExitStack()  # closing the clone frees its context, not the model
    clone._ctx = clone._stack.enter_context(
        contextlib.closing(
            internals.LlamaContext(model=llm._model, params=llm.context_params, verbose=False)
        )
    )
    clone._batch = clone._stack.enter_context(
        contextlib.closing(
            internals.LlamaBatch(
                n_tokens=llm.n_batch, embd=0, n_seq_max=llm.context_params.n_ctx, verbose=False
            )
        )
    )
    clone.input_ids = np.ndarray((llm.n_ctx(),), dtype=np.intc)
    clone.scores = np.ndarray((1, llm.n_vocab()), dtype=np.single)  # logits_all is off
    clone.n_tokens = 0
    runner = _shallow(base)
    runner.llm = clone
    runner.shift_pending = False
    runner.should_abort = lambda: False
    runner.memory = base.llama_cpp.llama_get_memory(clone._ctx.ctx)
    runner._install_abort()
    return runner


class Sessions:
    """The worker's contexts by session number, made on first use and freed on request."""

    def __init__(self, base: Runner) -> None:
        self.base = base
        self.runners: dict[int, Runner] = {0: base}

    def get(self, session: int) -> Runner:
        """This session's runner (a new context the first time)."""
        runner = self.runners.get(session)
        if runner is None:
            runner = self.runners[session] = fork(self.base)
        return runner

    def drop(self, session: int) -> None:
        """The client left: free its context (session 0's is kept, emptied)."""
        runner = self.runners.pop(session, None)
        if runner is None:
            return
        if session == 0:
            _clear(runner)
            self.runners[0] = runner
        else:
            runner.llm.close()


def _shallow(obj: Any) -> Any:
    """A new object of the same class sharing every attribute (no __init__, no pickling)."""
    clone = object.__new__(type(obj))
    clone.__dict__.update(obj.__dict__)
    return clone


def _clear(runner: Runner) -> None:
    """Forget the cached prompt: the next client of this context starts cold, as a new one."""
    runner.llm.reset()
    runner.llama_cpp.llama_memory_clear(runner.memory, True)
