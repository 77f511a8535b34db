"""Prompts as text, for OpenAI-compatible servers with no tokenizer endpoint (LM Studio,
llama-cpp-python's server, SGLang, TGI, hosted providers): the same window and layout as the
token-exact path, measured in estimated tokens, the FIM marks written as their text.

Such a server parses marker text in the prompt as control tokens, so text that holds a mark
(or the model's BOS/EOS/PAD text) cannot be sent safely: a document holding one is refused with
one clear message, and a snippet of another file holding one is dropped. The window is sized in
pseudo-tokens of two UTF-8 bytes (code tokenizes to about 3-4 characters a token), from the
server's context when it says, else contextLength; an empty answer to an over-long prompt
shrinks it.
"""

from __future__ import annotations

from typing import Any

from lsp_server.engines import EngineError
from lsp_server.prompt.fim import ALL_MARKER_TEXTS, TEMPLATES, TEMPLATES_BY_NAME, FimIds
from lsp_server.prompt.tokens import Prompt, build_prompt

BYTES_PER_TOKEN = 2  # an estimate on the safe side for code (real tokens hold 3-4 characters)
PIECE = 1 << 24  # pseudo-token ids at and above this carry up to two bytes of text
MARKS = (-1, -2, -3)  # pseudo-ids of the template's prefix, suffix, middle marks
# Special texts of the families we know besides their FIM marks: never sent as text either.
SPECIAL_TEXTS = (
    "<[begin▁of▁sentence]>", "<[end▁of▁sentence]>", "<[PAD▁TOKEN]>", "<|endoftext|>",
    "<|im_start|>", "<|im_end|>", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>",
)  # fmt: skip
UNSAFE = tuple(dict.fromkeys((*ALL_MARKER_TEXTS, *SPECIAL_TEXTS)))
MIN_CONTEXT = 128


def template_for(forced: str, model: str) -> FimIds:
    """The FIM template: the one set, else the family the model's name says, else Seed-Coder."""
    template = TEMPLATES_BY_NAME.get(forced)
    if template is None:
        name = model.lower().replace("_", "-")
        template = next((t for t in TEMPLATES if t.name in name), TEMPLATES_BY_NAME["seed-coder"])
    middle = MARKS[2] if template.middle else None
    return FimIds(template, MARKS[0], MARKS[1], middle)


def tokenize(text: str) -> list[int]:
    """Pseudo-tokens: each carries two bytes of the text (decoded exactly by `decode`)."""
    data = text.encode("utf-8", "surrogatepass")
    return [
        PIECE
        | (len(data[i : i + 2]) << 16)
        | int.from_bytes(data[i : i + 2].ljust(2, b"\0"), "big")
        for i in range(0, len(data), 2)
    ]


def decode(tokens: list[int], fim: FimIds) -> str:
    """The prompt's text: pieces joined, the marks as the template writes them."""
    marks = {fim.prefix: fim.template.prefix, fim.suffix: fim.template.suffix}
    if fim.middle is not None and fim.template.middle:
        marks[fim.middle] = fim.template.middle
    out, run = [], bytearray()
    for token in tokens:
        if token >= PIECE:
            run += (token & 0xFFFF).to_bytes(2, "big")[: (token >> 16) & 0xFF]
            continue
        out.append(run.decode("utf-8", "surrogatepass"))
        run = bytearray()
        out.append(marks[token])
    out.append(run.decode("utf-8", "surrogatepass"))
    return "".join(out)


def unsafe_in(text: str) -> list[str]:
    """The marker or special texts a text holds."""
    return [mark for mark in UNSAFE if mark in text]


def build(req: dict[str, Any], fim: FimIds, n_ctx: int) -> tuple[Prompt, str]:
    """The prompt for a request as (pseudo-token prompt, text to send); raises for a document
    holding marker text, drops snippets that do."""
    found = unsafe_in(req.get("prefix", "")) + unsafe_in(req.get("suffix", ""))
    if found:
        raise EngineError(
            f"this document contains {found[0]!r}, which a server without a tokenizer endpoint "
            "would read as a control token: no completion is asked for it (use llama-server or "
            "vLLM, whose prompts travel as token ids)"
        )
    extra = req.get("extra") or ()
    snippets = [extra] if isinstance(extra, str) else list(extra)
    safe = {**req, "extra": [s for s in snippets if not unsafe_in(s)]}
    prompt = build_prompt(safe, tokenize, fim, None, n_ctx)
    return prompt, decode(prompt.tokens, fim)


def smaller_context(n_ctx: int, sent: int) -> int:
    """After an empty answer to a prompt of `sent` pseudo-tokens: a window that should fit."""
    return max(MIN_CONTEXT, min(n_ctx, sent) // 2)
