"""The syntax nodes around the cursor, innermost first, as byte ranges: what Zed grows the
editable region to when it fits (zed `cursor_excerpt.rs` compute_syntax_ranges)."""

from __future__ import annotations

from lsp_server.postprocess.syntax import parser_for

MAX_PARSE_BYTES = 200_000  # larger files: line-wise regions only (a parse runs on the loop)


def ancestors(text: str, cursor: int, language: str) -> list[tuple[int, int]]:
    """Byte ranges of the node at the cursor and its parents (consecutive duplicates dropped);
    empty without a grammar for the language."""
    parser = parser_for(language) if language else None
    data = text.encode("utf-8", "surrogatepass")
    if parser is None or len(data) > MAX_PARSE_BYTES:
        return []
    at = len(text[:cursor].encode("utf-8", "surrogatepass"))
    node = parser.parse(data).root_node.descendant_for_byte_range(at, at)
    out: list[tuple[int, int]] = []
    while node is not None:
        span = (node.start_byte, node.end_byte)
        if not out or out[-1] != span:
            out.append(span)
        node = node.parent
    return out
