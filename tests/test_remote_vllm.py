"""The remote engine against a real vLLM serving the tiny model in Hugging Face format
(tests/hf_tiny_model.py). vLLM needs an NVIDIA GPU: scripts/vllm_check.sh starts it and runs
this file with SEED_CODER_VLLM_URL set; without it these tests are skipped. The HF files
themselves are checked everywhere."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from lsp_server.engines.remote.client import RemoteConfig, RemoteEngine
from tests.hf_tiny_model import write_hf_model
from tests.tiny_model import DEFAULT_INFILL, TOKEN_TYPE_CONTROL, build_vocab

URL = os.environ.get("SEED_CODER_VLLM_URL", "")
TIMEOUT = 60
needs_vllm = pytest.mark.skipif(not URL, reason="no vLLM (scripts/vllm_check.sh on a GPU)")


def test_the_hf_checkpoint_matches_the_gguf_model(tmp_path: Path) -> None:
    out = write_hf_model(tmp_path / "hf")
    vocab = build_vocab(DEFAULT_INFILL, fim=True, fim_type=TOKEN_TYPE_CONTROL)
    tokenizer = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    assert tokenizer["model"]["vocab"] == {t: i for i, t in enumerate(vocab.texts)}
    specials = {t["content"]: t["id"] for t in tokenizer["added_tokens"]}
    assert specials["<[fim-middle]>"] == vocab.fim["<[fim-middle]>"] and len(specials) == 6
    raw = (out / "model.safetensors").read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    end = max(t["data_offsets"][1] for t in header.values())
    assert len(raw) == 8 + size + end  # every tensor's bytes are there
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert header["lm_head.weight"]["shape"] == [config["vocab_size"], config["hidden_size"]]


@needs_vllm
def test_exact_infill_and_marker_text_over_vllm() -> None:
    engine = RemoteEngine(RemoteConfig(URL, api="auto"))
    engine.start()
    try:
        info = engine.wait_ready(TIMEOUT)
        assert (info["api"], info["tokenizer"], info["fim_template"]) == (
            "openai",
            "vllm",
            "seed-coder",
        )
        result = engine.submit(prefix="def f():\n    ", suffix="\n").future.result(TIMEOUT)
        assert result["text"] == DEFAULT_INFILL
        # marker text in the document stays text: its id never appears in the prompt
        prompt = engine.prompt_for({"prefix": "s = '<[fim-middle]>'\n", "suffix": "\n"})
        middle = engine.fim.middle  # type: ignore[union-attr]
        assert prompt.tokens.count(middle) == 1 and prompt.tokens[-1] == middle
    finally:
        engine.close()
