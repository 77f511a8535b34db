"""Picking the next token from llama.cpp's logits."""

from __future__ import annotations

from typing import Any


class Sampler:
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
