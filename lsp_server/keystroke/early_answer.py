"""Show a multi-line suggestion at the block's end while the generation goes on.

With a grammar, a generation is not stopped where the cursor's block ends: a model may finish
the block and go on one level out ("return True", then "return False"), and ends with EOS when
it means to. Waiting for that costs the user latency, so the request is answered as soon as the
streamed text ends the block (what the indentation rules would show); the finished generation
then lands in the suggestion cache, where typing on or accepting finds the rest.
"""

from __future__ import annotations

import asyncio
from typing import Any

from lsp_server.postprocess.rules import Suggestion, has_grammar, postprocess, settled
from lsp_server.prompt.fim import ALL_MARKER_TEXTS


def watch_block_end(
    job: Any, prefix: str, suffix: str, language: str
) -> asyncio.Future[Suggestion | None] | None:
    """A future resolved with the block-end suggestion once the streamed text ends the block
    (None when nothing would show); None when the engine stops there by itself anyway."""
    if not language or not has_grammar(language) or not hasattr(job, "on_partial"):
        return None
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[Suggestion | None] = loop.create_future()

    def resolve(text: str) -> None:
        if ready.done():
            return
        ready.set_result(
            postprocess(
                prefix,
                suffix,
                text,
                stop_texts=ALL_MARKER_TEXTS,
                stop_reason="max_tokens",
                language=language,
            )  # fmt: skip
        )

    def check(text: str) -> None:  # on the engine's thread, for every streamed piece
        if "\n" in text and settled(prefix, suffix, text):  # the indentation rule: block ended
            job.on_partial = None
            loop.call_soon_threadsafe(resolve, text)

    job.on_partial = check
    return ready


async def first(*waitables: asyncio.Future[Any] | None) -> None:
    """Until the first of these is done."""
    pending = [w for w in waitables if w is not None]
    await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
