"""LSP glue: the server, the model's life, pygls workarounds, the editor's documents and their
positions. The only package that imports pygls/lsprotocol; it may import every package below
it, and nothing but cli.py imports it."""
