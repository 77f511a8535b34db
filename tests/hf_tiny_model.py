"""The tiny test model in Hugging Face format (config.json, tokenizer.json, safetensors), for
serving with vLLM (scripts/vllm_check.sh): the same vocabulary, the same Seed-Coder marks as
special tokens and the same bigram weights as tests/tiny_model.py's GGUF, so after
<[fim-middle]> it writes the same infill. Written with numpy and json only.

Usage: python -m tests.hf_tiny_model OUT_DIR [--loop]
"""

from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path

import numpy as np

from tests.tiny_model import (
    DEFAULT_INFILL,
    TOKEN_TYPE_CONTROL,
    bigram_table,
    build_vocab,
)


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """The safetensors layout: a little-endian u64 header size, a JSON header, the data."""
    header: dict[str, object] = {}
    offset, blobs = 0, []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}  # fmt: skip
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)


def write_hf_model(out: Path, infill: str = DEFAULT_INFILL, *, loop: bool = False) -> Path:
    """A LlamaForCausalLM checkpoint of the tiny bigram model."""
    vocab = build_vocab(infill, fim=True, fim_type=TOKEN_TYPE_CONTROL)
    n_vocab, n_ff = len(vocab.texts), 64
    width = -(-n_vocab // 64) * 64
    heads = max(1, width // 64)
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": n_vocab,
        "hidden_size": width, "intermediate_size": n_ff, "num_hidden_layers": 1,
        "num_attention_heads": heads, "num_key_value_heads": heads, "hidden_act": "silu",
        "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "tie_word_embeddings": False, "torch_dtype": "float32", "bos_token_id": vocab.bos,
        "eos_token_id": vocab.eos, "pad_token_id": 1,
    }  # fmt: skip
    (out / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    lm_head = np.zeros((n_vocab, width), dtype=np.float32)
    lm_head[bigram_table(vocab, loop=loop), np.arange(n_vocab)] = 1.0
    tensors = {
        "model.embed_tokens.weight": np.eye(n_vocab, width, dtype=np.float32),
        "model.norm.weight": np.ones(width, dtype=np.float32),
        "lm_head.weight": lm_head,
        "model.layers.0.input_layernorm.weight": np.ones(width, dtype=np.float32),
        "model.layers.0.post_attention_layernorm.weight": np.ones(width, dtype=np.float32),
    }
    for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
        tensors[f"model.layers.0.self_attn.{proj}.weight"] = np.zeros((width, width))
    for proj, shape in (("gate_proj", (n_ff, width)), ("up_proj", (n_ff, width)),
                        ("down_proj", (width, n_ff))):  # fmt: skip
        tensors[f"model.layers.0.mlp.{proj}.weight"] = np.zeros(shape)
    write_safetensors(out / "model.safetensors", tensors)
    specials = [i for i, t in enumerate(vocab.types) if t == TOKEN_TYPE_CONTROL]
    tokenizer = {
        "version": "1.0",
        "added_tokens": [
            {
                "id": i,
                "content": vocab.texts[i],
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for i in specials
        ],  # fmt: skip
        "normalizer": None,
        "pre_tokenizer": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        },  # fmt: skip
        "post_processor": None,
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        },  # fmt: skip
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {t: i for i, t in enumerate(vocab.texts)},
            "merges": [],
        },  # fmt: skip
    }
    (out / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    names = {vocab.bos: "bos_token", vocab.eos: "eos_token", 1: "pad_token"}
    tok_config = {name: vocab.texts[i] for i, name in names.items()}
    tok_config |= {"add_bos_token": False, "add_eos_token": False, "model_max_length": 4096,
                   "tokenizer_class": "PreTrainedTokenizerFast"}  # fmt: skip
    (out / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=1), encoding="utf-8")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--loop", action="store_true", help="never stop (cancellation tests)")
    args = ap.parse_args()
    write_hf_model(args.out, loop=args.loop)


if __name__ == "__main__":
    main()
