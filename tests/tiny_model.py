"""Generate tiny deterministic GGUF models for tests and benchmarks (needs the `gguf` package).

The model is a bigram machine: every layer's output projections are zero (or small random noise
for the benchmark model), so the residual stream stays the one-hot embedding of the current
token and the output matrix picks the next token. After the FIM middle token it writes
`infill` (split into chunks, each its own token id) and then EOS, or loops forever.
The tokenizer is byte-level BPE without merges, so document text becomes one token per byte.

Usage: python -m tests.tiny_model OUT.gguf [--no-fim] [--loop] [--infill TEXT] [--bench]
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_INFILL = "ok_42 = compute(1)\n    return ok_42"
BOS, PAD, EOS = "<[begin▁of▁sentence]>", "<[PAD▁TOKEN]>", "<[end▁of▁sentence]>"
FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE = "<[fim-prefix]>", "<[fim-suffix]>", "<[fim-middle]>"
TOKEN_TYPE_NORMAL, TOKEN_TYPE_CONTROL, TOKEN_TYPE_USER_DEFINED = 1, 3, 4


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map, as byte-level BPE stores tokens."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_CHARS = _bytes_to_unicode()


def encode_token_text(text: str) -> str:
    """Store a token's text the way a byte-level BPE vocabulary does."""
    return "".join(BYTE_CHARS[b] for b in text.encode("utf-8"))


def split_infill(infill: str) -> list[str]:
    """Cut the infill into word-ish chunks, one token each; token texts must be unique and not
    single bytes (those already exist), so short or repeated pieces are glued to a neighbour."""
    pieces = [c for c in re.findall(r"\n|[ \t]*\w+|[ \t]+|[^\w\s]+", infill) if c]
    out: list[str] = []
    current = ""
    for piece in pieces:
        current += piece
        if len(current.encode("utf-8")) >= 2 and current not in out:
            out.append(current)
            current = ""
    while current:
        merged = (out.pop() if out else "") + current
        current = "" if merged not in out and len(merged.encode("utf-8")) >= 2 else merged
        if not current:
            out.append(merged)
        elif not out:
            out.append(merged)
            current = ""
    return out


@dataclass(frozen=True)
class TinyVocab:
    """Token texts and types plus where the interesting ids sit."""

    texts: list[str]
    types: list[int]
    bos: int
    eos: int
    fim: dict[str, int]
    chain: list[int]


def build_vocab(infill: str, *, fim: bool, fim_type: int) -> TinyVocab:
    """Specials first (like Seed-Coder: BOS 0, PAD 1, EOS 2), then 256 bytes, then infill chunks."""
    texts = [BOS, PAD, EOS]
    types = [TOKEN_TYPE_CONTROL] * 3
    fim_ids: dict[str, int] = {}
    if fim:
        for marker in (FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE):
            fim_ids[marker] = len(texts)
            texts.append(marker)
            types.append(fim_type)
    for b in range(256):
        texts.append(BYTE_CHARS[b])
        types.append(TOKEN_TYPE_NORMAL)
    chain = []
    for chunk in split_infill(infill):
        chain.append(len(texts))
        texts.append(encode_token_text(chunk))
        types.append(TOKEN_TYPE_NORMAL)
    return TinyVocab(texts, types, 0, 2, fim_ids, chain)


def bigram_table(vocab: TinyVocab, *, loop: bool) -> np.ndarray:
    """next[t] for every token t: the FIM middle (or any token, without FIM) starts the chain."""
    n = len(vocab.texts)
    first = vocab.chain[0] if vocab.chain else vocab.eos
    nxt = np.full(n, vocab.eos if vocab.fim else first, dtype=np.int64)
    if vocab.fim:
        nxt[vocab.fim[FIM_MIDDLE]] = first
    for a, b in zip(vocab.chain, vocab.chain[1:]):
        nxt[a] = b
    if vocab.chain:
        nxt[vocab.chain[-1]] = vocab.chain[0] if loop else vocab.eos
    return nxt


def write_tiny_model(
    path: Path,
    infill: str = DEFAULT_INFILL,
    *,
    loop: bool = False,
    fim: bool = True,
    fim_type: int = TOKEN_TYPE_CONTROL,
    add_bos: bool = False,
    n_layer: int = 1,
    n_embd: int | None = None,
    n_ff: int = 64,
    noise: float = 0.0,
    n_ctx: int = 4096,
    name: str = "tiny-seed-coder-base",
    chat_template: str | None = None,
) -> Path:
    """Write the model and return its path; noise > 0 gives layers real work (benchmarks)."""
    import gguf

    vocab = build_vocab(infill, fim=fim, fim_type=fim_type)
    n_vocab = len(vocab.texts)
    width = n_embd or -(-n_vocab // 64) * 64
    if width < n_vocab:
        raise ValueError(f"n_embd {width} must be >= vocabulary size {n_vocab}")
    n_head = max(1, width // 64)
    rng = np.random.default_rng(0)

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(name)
    w.add_context_length(n_ctx)
    w.add_embedding_length(width)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head)
    w.add_rope_dimension_count(width // n_head)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(vocab.texts)
    w.add_token_types(vocab.types)
    # llama.cpp insists on a merges list; one merge of two control bytes never fires in code.
    w.add_token_merges([f"{BYTE_CHARS[1]} {BYTE_CHARS[2]}"])
    w.add_bos_token_id(vocab.bos)
    w.add_eos_token_id(vocab.eos)
    w.add_pad_token_id(1)
    w.add_add_bos_token(add_bos)
    if chat_template:
        w.add_chat_template(chat_template)

    def mat(rows: int, cols: int, scale: float) -> np.ndarray:
        if scale == 0.0:
            return np.zeros((rows, cols), dtype=np.float32)
        return (rng.standard_normal((rows, cols)) * scale).astype(np.float32)

    w.add_tensor("token_embd.weight", np.eye(n_vocab, width, dtype=np.float32))
    w.add_tensor("output_norm.weight", np.ones(width, dtype=np.float32))
    out = np.zeros((n_vocab, width), dtype=np.float32)
    out[bigram_table(vocab, loop=loop), np.arange(n_vocab)] = 1.0
    w.add_tensor("output.weight", out)
    for i in range(n_layer):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(width, dtype=np.float32))
        for t in ("attn_q", "attn_k", "attn_v"):
            w.add_tensor(f"blk.{i}.{t}.weight", mat(width, width, noise))
        w.add_tensor(f"blk.{i}.attn_output.weight", mat(width, width, noise * 0.01))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(width, dtype=np.float32))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", mat(n_ff, width, noise))
        w.add_tensor(f"blk.{i}.ffn_up.weight", mat(n_ff, width, noise))
        w.add_tensor(f"blk.{i}.ffn_down.weight", mat(width, n_ff, noise * 0.01))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


ZETA_DOCUMENT = "def area(width, height):\n    return width * height\n\n\nprint(area(2))\n"
ZETA_ANSWER = (
    "<|marker_1|>def area(width, height):\n    return width * height\n\n\n"
    "print(area(2, 3))\n<|marker_2|>"
)  # what the tiny Zeta model answers: the call gets the new parameter


def write_zeta_model(path: Path, answer: str = ZETA_ANSWER, **kwargs: object) -> Path:
    """A tiny "Zeta 2.1": Seed-Coder's vocabulary and FIM tokens, markers as plain text (as in
    Zeta 2.1, a fine-tune that added no tokens), and a fixed answer after <[fim-middle]>."""
    kwargs.setdefault("name", "zeta-2.1-tiny")
    return write_tiny_model(path, answer, **kwargs)  # type: ignore[arg-type]


def write_bench_model(path: Path, infill: str = DEFAULT_INFILL) -> Path:
    """A model with realistic per-token cost on a CPU (about 30 M parameters of real matmuls)."""
    return write_tiny_model(
        path, infill, n_layer=8, n_embd=512, n_ff=2048, noise=0.02, name="bench-seed-coder-base"
    )


def main() -> None:
    """Command line for editor tests and benchmarks that need a model file."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--infill", default=DEFAULT_INFILL)
    ap.add_argument("--loop", action="store_true")
    ap.add_argument("--no-fim", action="store_true")
    ap.add_argument("--bench", action="store_true", help="larger model with real per-token cost")
    args = ap.parse_args()
    if args.bench:
        write_bench_model(args.out, args.infill)
    else:
        write_tiny_model(args.out, args.infill, loop=args.loop, fim=not args.no_fim)


if __name__ == "__main__":
    main()
