"""The loaded model's vocabulary: special tokens by text, stop tokens, and document tokenization
that keeps text as text and tokenizes the same wherever the context window starts."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from lsp_server.prompt.fim import ALL_MARKER_TEXTS, split_markers
from lsp_server.prompt.tokens import line_blocks


class Vocabulary:
    """Token facts of one model, and a cached block tokenizer."""

    def __init__(self, llama_cpp: Any, llm: Any) -> None:
        self.llama_cpp, self.llm = llama_cpp, llm
        self.vocab = llm._model.vocab
        self.n_vocab = llm.n_vocab()
        self.special_text = self._special_texts()
        self.markers = tuple(sorted(set(self.special_text) | set(ALL_MARKER_TEXTS)))
        self.tok_cache: OrderedDict[str, list[int]] = OrderedDict()

    def _special_texts(self) -> dict[str, int]:
        """Text -> id for control and user-defined tokens: where FIM and stop marks live."""
        lc = self.llama_cpp
        wanted = lc.LLAMA_TOKEN_ATTR_CONTROL | lc.LLAMA_TOKEN_ATTR_USER_DEFINED
        out: dict[str, int] = {}
        for i in range(self.n_vocab):
            if lc.llama_vocab_get_attr(self.vocab, i) & wanted:
                text = lc.llama_vocab_get_text(self.vocab, i)
                if text:
                    out.setdefault(text.decode("utf-8", errors="replace"), i)
        return out

    def lookup(self, text: str) -> int | None:
        """Id of a token whose text is exactly `text` and that tokenizes as that one token."""
        tid = self.special_text.get(text)
        if tid is None:
            return None
        ids = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return tid if ids == [tid] else None

    def stop_ids(self) -> frozenset[int]:
        """End of generation, end of turn, every FIM mark and every control token."""
        lc = self.llama_cpp
        ids = {i for t, i in self.special_text.items() if t in ALL_MARKER_TEXTS}
        ids |= {
            i
            for i in self.special_text.values()
            if lc.llama_vocab_get_attr(self.vocab, i) & lc.LLAMA_TOKEN_ATTR_CONTROL
        }
        ids.add(self.llm.token_eos())
        eot = lc.llama_vocab_eot(self.vocab)
        if eot >= 0:
            ids.add(eot)
        return frozenset(ids)

    def tokenize(self, text: str) -> list[int]:
        """Document text to ids, block by block (cached), special parsing off, marks split."""
        ids: list[int] = []
        blocks = line_blocks(text)
        for n, block in enumerate(blocks):
            # The last block holds the cursor's line, new on every key: caching it would only
            # fill the cache (and the worker's memory) with text that never comes back.
            ids.extend(self._tokenize_block(block, keep=n < len(blocks) - 1))
        return ids

    def _tokenize_block(self, text: str, keep: bool = True) -> list[int]:
        cached = self.tok_cache.get(text)
        if cached is not None:
            self.tok_cache.move_to_end(text)
            return cached
        ids: list[int] = []
        for piece in split_markers(text, self.markers):
            ids.extend(self.llm.tokenize(piece.encode("utf-8"), add_bos=False, special=False))
        if not keep:
            return ids
        self.tok_cache[text] = ids
        if len(self.tok_cache) > 1024:
            self.tok_cache.popitem(last=False)
        return ids
