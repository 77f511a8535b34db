"""Context from other files: which snippets, rendered how, never from secrets or ignored files,
and a choice that stays put while the user types."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsp_server.prompt.neighbors import OtherDoc, excluded, query, render_one, select
from lsp_server.repository.context_sources import ContextSources

HELPERS = (
    "import os\n\n\n"
    "def parse_config(path):\n    with open(path) as f:\n        return load_settings(f.read())\n"
    + "\n" * 12
    + "def unrelated_banner():\n    print('hello world banner')\n"
)
PREFIX = (
    "from helpers import parse_config\n\ndef main(path):\n    config = parse_config(path)\n    "
)


def test_snippets_sharing_identifiers_with_the_cursor_are_chosen() -> None:
    words = query(PREFIX, "\n")
    assert {"parse_config", "helpers", "config", "path"} <= words
    chosen = select(words, [OtherDoc("pkg/helpers.py", HELPERS)], budget_chars=2000)
    assert [(p, start) for p, start, _ in chosen] == [("pkg/helpers.py", 0)]
    assert "unrelated_banner" not in chosen[0][2]


def test_recently_edited_regions_come_first_and_the_budget_holds() -> None:
    other = "\n".join(f"def handler_{i}(path):\n    return path" + "\n" * 14 for i in range(4))
    doc = OtherDoc("h.py", other, edited_line=48)
    chosen = select(query(PREFIX, ""), [doc], budget_chars=120)
    assert [start for _, start, _ in chosen] == [48]  # only one fits: the edited one


def test_rendered_layout_is_exact() -> None:
    body = "def parse_config(path):\n    return path"
    assert render_one("pkg/helpers.py", body, "python") == (
        "# Compare this snippet from pkg/helpers.py:\n"
        "# def parse_config(path):\n"
        "#     return path\n"
    )
    assert render_one("pkg/helpers.py", body, "typescript").startswith(
        "// Compare this snippet from pkg/helpers.py"
    )
    others = [("file:///w/helpers.py", HELPERS, 1)]
    assert sources_extra(ContextSources(), others, root="/w", budget_tokens=0) == ""


def test_secrets_user_globs_and_ignored_paths_are_never_sent() -> None:
    for path in (".env", "config/.env.local", "deploy/server.pem", "id_rsa", "a/.npmrc",
                 "aws_credentials.json", "app_secrets.py"):  # fmt: skip
        assert excluded(path, ()), path
    assert not excluded("pkg/helpers.py", ())
    for path in (".ENV", "x/Secrets.yaml", ".envrc", "infra/prod.tfstate", "keys/id_ed25519.pub"):
        assert excluded(path, ()), path
    assert excluded("pkg/helpers.py", ("pkg/*",))
    assert excluded("pkg/helpers.py", ("**/helpers.py",))
    assert excluded("private/db.py", ("**/private/**",))  # gitignore-style, at the top too
    assert excluded("build/gen.py", (), ignored=lambda p: p.startswith("build/"))


def sources_extra(sources: ContextSources, others: list[tuple[str, str, int]], **kw: Any) -> str:
    args: dict[str, Any] = {"budget_tokens": 512, "exclude_globs": (), "root": None} | kw
    return "".join(sources.extra(
        "file:///w/main.py", kw.pop("prefix", PREFIX), "\n", "python", others,
        args["budget_tokens"], args["exclude_globs"], args["root"],
    ))  # fmt: skip


def test_the_choice_is_sticky_while_typing_and_follows_other_documents(tmp_path: Path) -> None:
    sources = ContextSources()
    others = [("file:///w/helpers.py", HELPERS, 1), ("file:///w/main.py", PREFIX, 1)]
    first = sources_extra(sources, others, root="/w")
    assert first.startswith("# Compare this snippet from helpers.py:\n# import os")
    # typing in the same block, even words that would change the choice: the same text
    typed = sources_extra(sources, others, prefix=PREFIX + "unrelated_banner", root="/w")
    assert typed == first
    # another document changed: chosen again
    others[0] = ("file:///w/helpers.py", HELPERS.replace("parse_config", "read_conf"), 2)
    assert sources_extra(sources, others, root="/w") != first


def test_documents_outside_the_workspace_are_never_candidates(tmp_path: Path) -> None:
    others = [("file:///home/u/.kube/config", HELPERS, 1), ("file:///etc/helpers.py", HELPERS, 1)]
    assert sources_extra(ContextSources(), others, root=str(tmp_path)) == ""


def test_gitignored_and_secret_documents_are_skipped(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("build/\n*.log\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".gitignore").write_text("gen_*.py\n", encoding="utf-8")
    root = str(tmp_path)
    uri = (tmp_path / "helpers.py").as_uri()
    others = [
        ((tmp_path / "build" / "helpers.py").as_uri(), HELPERS, 1),
        ((tmp_path / ".env").as_uri(), "PARSE_CONFIG_KEY=parse_config path", 1),
        ((tmp_path / "run.log").as_uri(), HELPERS, 1),
        ((tmp_path / "sub" / "gen_helpers.py").as_uri(), HELPERS, 1),  # a nested .gitignore
    ]
    assert sources_extra(ContextSources(), others, root=root) == ""
    others.append((uri, HELPERS, 1))
    got = sources_extra(ContextSources(), others, root=root)
    assert got.startswith("# Compare this snippet from helpers.py:")
    assert "PARSE_CONFIG_KEY" not in got
