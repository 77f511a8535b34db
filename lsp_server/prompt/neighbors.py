"""Context from other files: snippets of the other open documents (recently edited regions
first) that share identifiers with the code around the cursor and its imports, rendered as
commented "Compare this snippet from PATH" blocks at the head of the prefix.

Plain data in, plain data out; repository/context_sources.py decides when to choose (once per
cursor block, so the rendered text stays the same tokens at the same place while the user types
and the KV cache keeps it).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath

CHUNK_LINES = 16  # other documents are cut into blocks of this many lines
AROUND_LINES = 40  # lines before the cursor (and a quarter of that after) that set the query
MAX_DOC_CHARS = 1_000_000  # larger documents are not searched for snippets
MIN_SCORE = 0.1
EDIT_BONUS = 0.2  # a recently edited chunk is worth this much more
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
_IMPORT = re.compile(r"^\s*(?:from\s+\S+\s+import|import|#include|use|require)\b.*$", re.M)
# Never sent, whatever the settings: environment files, keys, credentials.
SECRET_GLOBS = (
    ".env", ".env.*", "*.env", ".envrc", "*.pem", "*.key", "*.p12", "*.pfx", "*.keystore",
    "*.jks", "id_rsa*", "id_dsa*", "id_ed25519*", "id_ecdsa*", "*.kdbx", ".netrc", ".npmrc",
    ".pypirc", "*credential*", "*secret*", "*password*", "*.tfvars", "*.tfstate",
    "*.tfstate.*", ".git-credentials", "*.gpg", "*.asc", ".htpasswd", "kubeconfig*",
)  # fmt: skip
COMMENT = {
    "python": "#", "shellscript": "#", "ruby": "#", "perl": "#", "r": "#", "yaml": "#",
    "toml": "#", "dockerfile": "#", "makefile": "#", "elixir": "#", "julia": "#",
    "lua": "--", "sql": "--", "haskell": "--",
}  # fmt: skip
DEFAULT_COMMENT = "//"


@dataclass(frozen=True)
class OtherDoc:
    """Another open document: its path (relative to the workspace when inside it), text, and
    the line last edited (None when not edited since it was opened)."""

    path: str
    text: str
    edited_line: int | None = None
    full: str = ""  # the absolute path, when the caller knows it


def excluded(path: str, globs: Sequence[str], ignored: Callable[[str], bool] | None = None) -> bool:
    """Secrets (any part of the path, any case), user globs (excludeGlobs, gitignore-style) and
    gitignored paths (`ignored`) are never sent."""
    if ignored is not None and ignored(path):
        return True
    parts = [p.lower() for p in PurePosixPath(path).parts]
    if any(fnmatch.fnmatchcase(part, glob) for part in parts for glob in SECRET_GLOBS):
        return True
    return bool(globs) and _user_spec(tuple(globs))(path)


@lru_cache(maxsize=8)
def _user_spec(globs: tuple[str, ...]) -> Callable[[str], bool]:
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(globs).match_file


# Keywords and names every file has: sharing them says nothing.
_COMMON_WORDS = """
and are as assert async await bool break case catch char class const continue def default del
elif else enum except export extends false final finally float for from func function global if
impl import in int interface is lambda let long match mut new nil none not null or package pass
print private protected pub public raise return self short static str struct super switch this
throw true try type typeof use var void while with yield
"""
COMMON = frozenset(_COMMON_WORDS.split())


def _identifiers(text: str) -> set[str]:
    return {w for w in _IDENT.findall(text) if w.lower() not in COMMON}


def query(prefix: str, suffix: str) -> set[str]:
    """What the cursor's neighbourhood is about: identifiers near it and in its imports."""
    near = "\n".join(prefix.split("\n")[-AROUND_LINES:])
    near += "\n".join(suffix.split("\n")[: AROUND_LINES // 4])
    imports = "\n".join(_IMPORT.findall(prefix))
    return _identifiers(near) | _identifiers(imports)


@lru_cache(maxsize=64)
def chunks(text: str) -> tuple[tuple[int, str, frozenset[str]], ...]:
    """(first line, text, identifiers) of each CHUNK_LINES-line block with code in it (cached:
    a document is cut up once per version)."""
    if len(text) > MAX_DOC_CHARS:
        return ()
    lines = text.split("\n")
    out = []
    for start in range(0, len(lines), CHUNK_LINES):
        body = "\n".join(lines[start : start + CHUNK_LINES]).rstrip()
        ids = _identifiers(body)
        if ids:
            out.append((start, body, frozenset(ids)))
    return tuple(out)


def select(
    words: set[str], docs: Sequence[OtherDoc], budget_chars: int
) -> list[tuple[str, int, str]]:
    """The best chunks by identifier overlap (Jaccard), recently edited ones first among
    equals, within the character budget; (path, first line, text), best first."""
    if not words or budget_chars <= 0:
        return []
    scored = []
    for doc in docs:
        for start, text, ids in chunks(doc.text):
            score = len(ids & words) / len(ids | words)
            edited = doc.edited_line is not None and start <= doc.edited_line < start + CHUNK_LINES
            score += EDIT_BONUS if edited else 0.0
            if score >= MIN_SCORE:
                scored.append((score, doc.path, start, text))
    scored.sort(key=lambda s: (-s[0], s[1], s[2]))
    chosen, used = [], 0
    for _score, path, start, text in scored:
        cost = len(text) + len(path) + 40
        if used + cost > budget_chars:
            continue
        chosen.append((path, start, text))
        used += cost
    return chosen


def render_one(path: str, text: str, language: str) -> str:
    """One commented snippet, headed by its file's path: the model reads it as another file."""
    mark = COMMENT.get(language, DEFAULT_COMMENT)
    body = "\n".join(f"{mark} {line}".rstrip() for line in text.split("\n"))
    return f"{mark} Compare this snippet from {path}:\n{body}\n"
