"""seed-coder-lsp: local fill-in-the-middle completion served over LSP."""

__version__ = "0.1.0"
