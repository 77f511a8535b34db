#!/usr/bin/env bash
# The one test command (README, CI): lint, type check, then every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
echo "== ruff"
"$PY" -m ruff check lsp_server tests benchmarks
echo "== mypy"
"$PY" -m mypy
echo "== pytest"
"$PY" -m pytest -q "$@"
