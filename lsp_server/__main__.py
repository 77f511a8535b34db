"""`python -m lsp_server`: the same as the `seed-coder-lsp` console script."""

import sys

from lsp_server.cli import main

if __name__ == "__main__":
    sys.exit(main())
