"""pygls workarounds (LSP glue, like server.py; only lsp/ imports pygls): memory
that stays flat over a day of typing, didChange ranges as the client sent them, and a stdin
reader that sees each message the moment it arrives (a cancel takes effect there)."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Generator
from typing import Any, BinaryIO

from lsprotocol import types
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, default_converter, lsp_method

log = logging.getLogger("seed_coder_lsp.server")
CONTENT_LENGTH = re.compile(rb"^Content-Length: *(\d+)\r?\n$", re.IGNORECASE)
Peek = Callable[[str, Any, Any], None]  # (method, request id, params) on the reader thread


def converter() -> Any:
    """pygls's converter, except that inline completion without options is advertised as
    `inlineCompletionProvider: true`: Emacs lsp-mode turns the feature on only for `true`, and
    VS Code, Neovim, coc.nvim and LSP4IJ accept it too (pygls writes `{}`)."""
    conv = default_converter()

    def inline_options(options: types.InlineCompletionOptions) -> Any:
        if options.work_done_progress is None:
            return True
        return {"workDoneProgress": options.work_done_progress}

    conv.register_unstructure_hook(types.InlineCompletionOptions, inline_options)
    return conv


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

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, Any]:
        """pygls's initialize, plus the server's `experimental` capabilities (pygls has no
        place for them)."""
        result = yield from super().lsp_initialize(params)
        extra = getattr(self._server, "experimental_capabilities", None)
        if extra and result is not None:
            result.capabilities.experimental = {**(result.capabilities.experimental or {}), **extra}
        return result

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(
        self, params: types.DidChangeTextDocumentParams
    ) -> Generator[Any, Any, None]:
        """pygls applies each change to its own copy on str.splitlines() lines and clamps the
        change's range to those lines IN PLACE, on the params object: after U+2028, U+0085 or
        \\x1c the range our handler got was already wrong. The handler gets the ranges exactly as
        the client sent them (a copy taken before pygls touches them)."""
        sent = copy.deepcopy(params)
        for change in params.content_changes:
            self.workspace.update_text_document(params.text_document, change)
        handler = self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)
        if handler is not None:
            yield handler, (sent,), None

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


def serve_stdio(server: LanguageServer, peek: Peek, stdin: BinaryIO | None = None) -> None:
    """pygls's start_io, with a reader thread of our own: pygls reads each line through its
    thread pool and the event loop (six thread hand-offs a message, each a wait for a CPU that
    llama.cpp keeps busy). This thread reads a whole message, shows it to `peek` at once (where
    a $/cancelRequest stops its generation), then queues it for the loop in arrival order."""
    server._stop_event = threading.Event()
    server.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
    try:
        asyncio.run(_serve(server, peek, stdin or sys.stdin.buffer))
    except BrokenPipeError:
        log.error("the connection to the client is lost; shutting down")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()


async def _serve(server: LanguageServer, peek: Peek, stdin: BinaryIO) -> None:
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()

    def end() -> None:
        if not ended.done():
            ended.set_result(None)

    def handle(message: Any) -> None:
        try:
            server.protocol.handle_message(message)
        except Exception:  # noqa: BLE001 - pygls's reader logs and goes on too
            log.exception("unable to handle a message")

    def read() -> None:
        try:
            for message in _messages(stdin, server.protocol):
                method = getattr(message, "method", "")
                try:
                    peek(method, getattr(message, "id", None), getattr(message, "params", None))
                except Exception:  # noqa: BLE001 - a peek is an optimisation, never a stop
                    log.exception("early look at %s failed", method)
                loop.call_soon_threadsafe(handle, message)
        except Exception:  # noqa: BLE001 - a closed or broken stdin ends the server
            log.exception("reading stdin failed")
        finally:
            if not loop.is_closed():
                loop.call_soon_threadsafe(end)

    threading.Thread(target=read, daemon=True, name="stdin-reader").start()
    await ended


def _messages(stdin: BinaryIO, protocol: Any) -> Generator[Any, None, None]:
    """JSON-RPC messages from a Content-Length framed stream, until EOF. Reads the file
    descriptor itself: a daemon thread blocked inside sys.stdin.buffer holds its lock, and the
    interpreter's shutdown aborts the process when it cannot take that lock."""
    fd = stdin.fileno()
    buffer = bytearray()
    length = 0
    while True:
        end = buffer.find(b"\n")
        while end < 0:
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            buffer += chunk
            end = buffer.find(b"\n")
        header = bytes(buffer[: end + 1])
        del buffer[: end + 1]
        match = CONTENT_LENGTH.match(header)
        if match:
            length = int(match.group(1))
        elif not header.strip() and length:
            while len(buffer) < length:
                chunk = os.read(fd, max(65536, length - len(buffer)))
                if not chunk:
                    return
                buffer += chunk
            body = bytes(buffer[:length])
            del buffer[:length]
            length = 0
            try:
                yield json.loads(body, object_hook=protocol.structure_message)
            except Exception:  # noqa: BLE001 - bad JSON or params of the wrong shape: skip it
                log.exception("unreadable message skipped")
