"""Benchmarks for seed-coder-lsp (not part of the installed package).

`python -m benchmarks.keystrokes --help`: replay editor typing sessions against the real server.
"""
