#!/usr/bin/env bash
# The remote engine's vLLM dialect for real: generate the tiny model in Hugging Face format,
# serve it with `vllm serve` (an NVIDIA GPU; vLLM installed, or installed here into the venv),
# run tests/test_remote_vllm.py against it, stop the server. Run it whenever a GPU is at hand:
#   bash scripts/vllm_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
PORT="${VLLM_PORT:-8199}"
work="$(mktemp -d)"
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
"$PY" -c "import vllm" 2>/dev/null || "$PY" -m pip install -q vllm
"$PY" -m tests.hf_tiny_model "$work/tiny"
"$PY" -m vllm.entrypoints.openai.api_server --model "$work/tiny" --port "$PORT" \
  --dtype float32 --max-model-len 4096 --enforce-eager --gpu-memory-utilization 0.2 \
  --enable-prefix-caching > "$work/vllm.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null && break
  kill -0 "$server" 2>/dev/null || { tail -50 "$work/vllm.log"; exit 1; }
  sleep 1
done
SEED_CODER_VLLM_URL="http://127.0.0.1:$PORT" "$PY" -m pytest -q tests/test_remote_vllm.py
