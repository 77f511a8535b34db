"""pygls workarounds that keep a server's memory flat over a day of typing (LSP glue, like
server.py: the only other module that imports pygls)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol


class FlatProtocol(LanguageServerProtocol):
    """pygls 2.1.1 stores a future in `_request_futures`, under a random id, for every
    notification it runs through a generator, coroutine or thread handler (its own didOpen and
    didChange are generators) and never removes it: about 2.8 KB per keystroke. Drop each such
    future once it is done. Remove when pygls does it itself (upstream #607 and #608 are the
    related leaks of progress tokens and of result types)."""

    def _execute_handler(
        self,
        msg_id: Any,
        handler: Any,
        callback: Any,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        future = self._request_futures.get(msg_id)
        if future is not None:
            future.add_done_callback(self._forget(msg_id))

    def _forget(self, msg_id: Any) -> Callable[[Any], None]:
        def forget(done: Any) -> None:
            if self._request_futures.get(msg_id) is done:
                del self._request_futures[msg_id]

        return forget


def end_progress_token(server: LanguageServer, token: Any) -> None:
    """pygls keeps every work-done progress token after its end (upstream #607)."""
    server.work_done_progress.tokens.pop(token, None)


def internals(server: LanguageServer) -> dict[str, int]:
    """Sizes of pygls's long-lived tables, for the soak test and benchmark."""
    protocol: Any = server.protocol
    return {
        "pending_futures": len(protocol._request_futures),
        "result_types": len(protocol._result_types),
        "progress_tokens": len(server.work_done_progress.tokens),
    }
