"""Prompts for the remote engine, built here with the server's tokenizer: the same window and
layout as the local engine, and the same cold-start cap (a window sized to the latency target
from the speed the server's own timings show, while that document's slot holds little of it)."""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from lsp_server.engines import EngineError
from lsp_server.prompt.fim import ALL_MARKER_TEXTS, FimIds, split_markers
from lsp_server.prompt.tokens import Prompt, build_prompt, line_blocks
from lsp_server.prompt.window import cold_tokens

TOKEN_BLOCKS = 2048  # document blocks kept tokenized (LRU)
MAX_PASSES = 6
SENT_DOCS = 64  # documents whose last prompt is remembered
SPEED_MIN_PROMPT = 128  # a prompt shorter than this says little about the server's speed

TokenizePiece = Callable[[str], Awaitable[list[int]]]


class RemotePrompts:
    """Block-tokenized documents, what each slot was last sent, and the server's speed."""

    def __init__(self, fim: FimIds | None, bos: int | None, n_ctx: int) -> None:
        self.fim, self.bos, self.n_ctx = fim, bos, n_ctx
        self.blocks: OrderedDict[str, list[int]] = OrderedDict()
        self.sent: OrderedDict[Any, list[int]] = OrderedDict()  # document -> last prompt sent
        self.speed: dict[str, float] = {}  # prompt_tps, gen_tps as the server measured them

    async def build(self, req: dict[str, Any], key: Any, tokenize: TokenizePiece) -> Prompt:
        """The prompt for a request, capped for a cold start; (prompt, capped)."""
        full = await self._window(req, None, tokenize)
        target = float(req.get("latency_target_ms") or 0)
        if target <= 0 or req.get("uncapped") or "prompt_tps" not in self.speed:
            return full
        cold = cold_tokens(self.speed, target)
        todo = len(full.tokens) - _common(self.sent.get(key, []), full.tokens)
        if todo <= cold:
            return full
        capped = await self._window(req, cold, tokenize)
        return Prompt(capped.tokens, capped.window, capped.stable, capped=True)

    async def text_tokens(self, text: str, tokenize: TokenizePiece) -> list[int]:
        """Document text as ids (blocks cached, marker text split off so it stays text)."""
        missing: set[str] = set()
        self._tokens(text, missing)
        if missing:
            await self._fetch(missing, tokenize)
        return self._tokens(text, set())

    async def edit_prompt(self, req: dict[str, Any], tokenize: TokenizePiece) -> Prompt:
        """A next-edit prompt: [BOS] <suf> suffix <pre> prefix <mid>, the text between the
        marks tokenized as one run (as engines/local/edits.py does, and why)."""
        fim = self.fim
        if fim is None or fim.suffix is None or fim.prefix is None or fim.middle is None:
            raise EngineError("the next-edit model has no fill-in-the-middle tokens")
        tokens = [self.bos] if self.bos is not None else []
        for mark, key in ((fim.suffix, "edit_suffix"), (fim.prefix, "edit_prefix")):
            text = "".join(piece_text for _, piece_text in req.get(key, ()))
            tokens += [mark, *await self.text_tokens(text, tokenize)]
        tokens.append(fim.middle)
        return Prompt(tokens, (0, 0), len(tokens))

    def sending(self, key: Any, tokens: list[int]) -> None:
        """What the server will hold for this document after this request."""
        self.sent[key] = tokens
        self.sent.move_to_end(key)
        if len(self.sent) > SENT_DOCS:
            self.sent.popitem(last=False)

    def learn(self, stats: dict[str, Any]) -> None:
        """Moving averages of the server's prompt and generation speed from its timings."""
        n, ms = int(stats.get("evaluated_tokens", 0)), float(stats.get("prompt_ms", 0.0))
        if n >= SPEED_MIN_PROMPT and ms > 0:
            self._average("prompt_tps", n * 1000 / ms)
        n, ms = int(stats.get("generated_tokens", 0)), float(stats.get("generate_ms", 0.0))
        if n >= 4 and ms > 0:
            self._average("gen_tps", n * 1000 / ms)

    def _average(self, key: str, value: float) -> None:
        old = self.speed.get(key)
        self.speed[key] = value if old is None else 0.7 * old + 0.3 * value
        self.speed.setdefault("gen_tps", 20.0)  # until a generation was timed

    async def _window(
        self, req: dict[str, Any], cap: int | None, tokenize: TokenizePiece
    ) -> Prompt:
        """A pass that meets untokenized blocks estimates them, fetches them all, runs again."""
        for _ in range(MAX_PASSES):
            missing: set[str] = set()
            count = functools.partial(self._tokens, missing=missing)
            prompt = build_prompt(req, count, self.fim, self.bos, self.n_ctx, cap)
            if not missing:
                return prompt
            await self._fetch(missing, tokenize)
        raise EngineError("the prompt window did not settle (document changing under it?)")

    def _tokens(self, text: str, missing: set[str]) -> list[int]:
        """Cached block tokens; a block not fetched yet counts as a low estimate."""
        ids: list[int] = []
        for block in line_blocks(text):
            got = self.blocks.get(block)
            if got is None:
                missing.add(block)
                ids.extend([0] * (len(block.encode("utf-8")) // 8 + 1))
            else:
                self.blocks.move_to_end(block)
                ids.extend(got)
        return ids

    async def _fetch(self, blocks: set[str], tokenize: TokenizePiece) -> None:
        """Tokenize blocks on the server, marker text split off so it stays text."""

        async def one(block: str) -> None:
            ids: list[int] = []
            for piece in split_markers(block, ALL_MARKER_TEXTS):
                ids.extend(await tokenize(piece))
            self.blocks[block] = ids
            if len(self.blocks) > TOKEN_BLOCKS:
                self.blocks.popitem(last=False)

        await asyncio.gather(*(one(b) for b in blocks))


def _common(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
