"""Plan how much of the KV cache a new prompt can keep, as plain token lists (no model needed).

Two kinds of reuse: the longest common prefix (free), and -- when the context window dropped text
in the middle of the prompt (SPM puts the suffix first, so a moving prefix window changes the
prompt after the suffix) -- chunks further on that match the new prompt and can be shifted back
into place instead of being evaluated again (what llama-server's `--cache-reuse` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

MIN_SHIFT_CHUNK = 32  # shorter matches are not worth a shift (and may be coincidences)


@dataclass(frozen=True)
class Move:
    """Keep cache positions [src, src + length) at dst (dst <= src): shifted by dst - src."""

    src: int
    dst: int
    length: int


@dataclass
class ReusePlan:
    """How to turn the cached tokens into a prefix of the new prompt."""

    common: int  # leading tokens identical in place
    moves: list[Move] = field(default_factory=list)

    @property
    def kept(self) -> int:
        """Prompt tokens the cache will hold once the moves are applied."""
        return self.common + sum(m.length for m in self.moves)

    @property
    def shifted(self) -> int:
        return sum(m.length for m in self.moves)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the shared leading run of two token lists."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def plan_reuse(
    cache: Sequence[int],
    prompt: Sequence[int],
    *,
    limit: int,
    can_shift: bool,
    min_chunk: int = MIN_SHIFT_CHUNK,
) -> ReusePlan:
    """Common prefix, then greedily the runs of at least `min_chunk` tokens found later in the
    cache that continue the prompt in order; never keep more than `limit` prompt tokens."""
    cache, prompt = list(cache), list(prompt)
    common = min(common_prefix(cache, prompt), limit)
    plan = ReusePlan(common)
    if not can_shift or common >= limit:
        return plan
    head_c, head_p = common, common
    first = _index_of(cache, prompt, head_p, head_c, min_chunk)
    while first is not None and head_p < limit:
        head_c = first
        n = 0
        while (
            head_c + n < len(cache)
            and head_p + n < min(len(prompt), limit)
            and cache[head_c + n] == prompt[head_p + n]
        ):
            n += 1
        if n < min_chunk:
            break
        plan.moves.append(Move(src=head_c, dst=head_p, length=n))
        head_c += n
        head_p += n
        first = _index_of(cache, prompt, head_p, head_c, min_chunk)
    return plan


def _index_of(
    hay: list[int], prompt: list[int], head_p: int, start: int, min_chunk: int
) -> int | None:
    """First cache index >= start where prompt[head_p : head_p + min_chunk] occurs."""
    needle = prompt[head_p : head_p + min_chunk]
    if len(needle) < min_chunk:
        return None
    first = needle[0]
    i = start
    while True:
        try:
            i = hay.index(first, i)
        except ValueError:
            return None
        if hay[i : i + min_chunk] == needle:
            return i
        i += 1
