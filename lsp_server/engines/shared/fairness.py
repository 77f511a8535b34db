"""Which client's request a shared engine runs next: the window with the most recent keystroke
first, each window's own requests in the order it sent them (its scheduler relies on that), and
work no keystroke waits for only when no window waits for a keystroke's. When several windows
wait with keystrokes, the one served longest ago goes first (each gets its turn: pure recency
would serve whichever types last in every round and starve the others)."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Item:
    """One client request waiting at the engine."""

    seq: int  # the client's number for it
    op: str
    payload: dict[str, Any]
    arrived: int = 0
    cancel: str | None = None  # "hard" | "soft": cancelled after it left the queue

    @property
    def background(self) -> bool:
        """Nobody waits for it: growing a window, speculation, next-edit warmups."""
        return bool(self.payload.get("background"))


@dataclass
class Pending:
    """Per-client FIFO queues and the pick across them."""

    queues: dict[int, deque[Item]] = field(default_factory=dict)
    served: dict[int, int] = field(default_factory=dict)  # client -> when it last ran
    _picks: Any = field(default_factory=itertools.count)
    _clock: Any = field(default_factory=itertools.count)

    def add(self, client: int, item: Item) -> None:
        """Queue a request (stamped with its arrival order)."""
        item.arrived = next(self._clock)
        self.queues.setdefault(client, deque()).append(item)

    def remove(self, client: int, seq: int) -> Item | None:
        """Take a still-queued request out (it was cancelled)."""
        queue = self.queues.get(client)
        for item in queue or ():
            if item.seq == seq:
                queue.remove(item)  # type: ignore[union-attr]
                return item
        return None

    def drop(self, client: int) -> list[Item]:
        """Forget a client that left; its queued requests."""
        self.served.pop(client, None)
        return list(self.queues.pop(client, ()))

    def pop(self) -> tuple[int, Item] | None:
        """The next request to run: the head of the queue of the client whose newest keystroke
        request is the most recent; with none waiting, the oldest background request."""
        ranked = []
        for client, queue in self.queues.items():
            if not queue:
                continue
            keys = [item.arrived for item in queue if not item.background]
            turn = -self.served.get(client, -1)  # served longest ago (or never) first
            rank = (1, turn, max(keys)) if keys else (0, 0, -queue[0].arrived)
            ranked.append((rank, client))
        if not ranked:
            return None
        client = max(ranked)[1]
        self.served[client] = next(self._picks)
        return client, self.queues[client].popleft()
