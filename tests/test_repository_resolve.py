"""Import resolution per language (lsp_server.repository.resolve) over a small in-memory file
set: exact targets, and nothing outside the indexed files."""

from __future__ import annotations

import posixpath

from lsp_server.repository.facts import Import as I
from lsp_server.repository.facts import Roots
from lsp_server.repository.facts import Target as T
from lsp_server.repository.resolve import resolve, same_package


class Files:
    """The FileSet protocol over a dict of path -> text."""

    def __init__(self, *paths: str, texts: dict[str, str] | None = None) -> None:
        self.texts = dict.fromkeys(paths, "") | (texts or {})

    def has(self, path: str) -> bool:
        return path in self.texts

    def listdir(self, folder: str) -> list[str]:
        return [path for path in self.texts if posixpath.dirname(path) == folder]

    def ending_with(self, tail: str) -> list[str]:
        return [path for path in self.texts if path.endswith("/" + tail)]

    def read(self, path: str) -> str | None:
        return self.texts.get(path)


ROOTS = Roots(["/w"])

PYTHON = Files(
    "/w/app/__init__.py",
    "/w/app/core.py",
    "/w/app/main.py",
    "/w/app/util/__init__.py",
    "/w/app/util/text.py",
    "/w/src/lib/__init__.py",
    "/w/src/lib/api.py",
    "/w/scripts/run.py",
    "/w/scripts/helpers.py",
    "/w/typed.pyi",
    "/other/pkg/__init__.py",
    "/other/pkg/a.py",
    "/other/pkg/b.py",
)


def py(imp: I, path: str = "/w/app/main.py") -> list[T]:
    return resolve(imp, path, "python", PYTHON, ROOTS)


def test_python_absolute() -> None:
    assert py(I("app.core")) == [T("/w/app/core.py", (), "app.core")]
    assert py(I("app.core", (), "c")) == [T("/w/app/core.py", (), "c")]
    assert py(I("app")) == [T("/w/app/__init__.py", (), "app")]
    assert py(I("lib.api", ("get",))) == [T("/w/src/lib/api.py", ("get",))]  # src/ layout
    assert py(I("typed", ("Thing",))) == [T("/w/typed.pyi", ("Thing",))]
    assert py(I("os")) == []
    assert py(I("app.missing", ("x",))) == []


def test_python_from_package_submodules_and_names() -> None:
    assert py(I("app", ("core", "VERSION"))) == [
        T("/w/app/__init__.py", ("VERSION",)),
        T("/w/app/core.py", (), "core"),
    ]
    assert py(I("app.core", ("*",))) == [T("/w/app/core.py", ("*",))]


def test_python_relative() -> None:
    assert py(I(".", ("core",))) == [T("/w/app/core.py", (), "core")]
    assert py(I(".util", ("text", "slug"))) == [
        T("/w/app/util/__init__.py", ("slug",)),
        T("/w/app/util/text.py", (), "text"),
    ]
    assert py(I("..core", ("f",)), "/w/app/util/text.py") == [T("/w/app/core.py", ("f",))]
    assert py(I("..", ("core",)), "/w/app/util/text.py") == [T("/w/app/core.py", (), "core")]
    assert py(I(".nowhere", ("x",))) == []


def test_python_script_folder_and_package_root_outside_workspace() -> None:
    assert py(I("helpers", ("run",)), "/w/scripts/run.py") == [T("/w/scripts/helpers.py", ("run",))]
    assert py(I("pkg", ("b",)), "/other/pkg/a.py") == [T("/other/pkg/b.py", (), "b")]


JS = Files(
    "/w/web/src/app.ts",
    "/w/web/src/util.ts",
    "/w/web/src/components/index.tsx",
    "/w/web/src/esm.ts",
    "/w/web/src/legacy.js",
    "/w/web/src/types.d.ts",
    "/w/web/lib/helpers.mjs",
)


def js(imp: I, language: str = "typescript") -> list[T]:
    return resolve(imp, "/w/web/src/app.ts", language, JS, ROOTS)


def test_javascript_relative_specifiers() -> None:
    assert js(I("./util", ("a", "b"))) == [T("/w/web/src/util.ts", ("a", "b"))]
    assert js(I("./components", ("default",), "C")) == [
        T("/w/web/src/components/index.tsx", ("default",), "C")
    ]
    assert js(I("./esm.js", (), "esm")) == [T("/w/web/src/esm.ts", (), "esm")]  # TS-style
    assert js(I("./legacy.js")) == [T("/w/web/src/legacy.js")]
    assert js(I("./types")) == [T("/w/web/src/types.d.ts")]
    assert js(I("../lib/helpers", ("h",)), "javascript") == [T("/w/web/lib/helpers.mjs", ("h",))]
    assert js(I("./missing")) == []


def test_javascript_bare_specifiers_are_skipped() -> None:
    assert js(I("react", ("default",), "React")) == []
    assert js(I("@scope/pkg")) == []


GO = Files(
    "/w/cmd/main.go",
    "/w/internal/store/store.go",
    "/w/internal/store/cache.go",
    "/w/internal/store/store_test.go",
    "/w/tools/gen/gen.go",
    texts={
        "/w/go.mod": "module example.com/app\n\ngo 1.22\n",
        "/w/tools/go.mod": "// tools\nmodule example.com/tools\n",
    },
)


def test_go_module_packages() -> None:
    imp = I("example.com/app/internal/store")
    assert resolve(imp, "/w/cmd/main.go", "go", GO, ROOTS) == [
        T("/w/internal/store/cache.go", (), "store"),
        T("/w/internal/store/store.go", (), "store"),
    ]
    aliased = I("example.com/app/internal/store", (), "st")
    assert [t.alias for t in resolve(aliased, "/w/cmd/main.go", "go", GO, ROOTS)] == ["st", "st"]
    assert resolve(I("fmt"), "/w/cmd/main.go", "go", GO, ROOTS) == []
    # The nearest go.mod decides: tools/ is another module.
    assert resolve(imp, "/w/tools/gen/gen.go", "go", GO, ROOTS) == []


def test_same_package() -> None:
    assert same_package("/w/internal/store/store.go", GO) == ["/w/internal/store/cache.go"]
    assert same_package("/w/internal/store/store_test.go", GO) == [
        "/w/internal/store/store.go",
        "/w/internal/store/cache.go",
    ]
    assert same_package("/w/j/A.java", Files("/w/j/A.java", "/w/j/B.java", "/w/j/x.go")) == [
        "/w/j/B.java"
    ]
    assert same_package("/w/app/core.py", PYTHON) == []


RUST = Files(
    "/w/src/lib.rs",
    "/w/src/config.rs",
    "/w/src/db/mod.rs",
    "/w/src/db/models.rs",
    "/w/src/db/pool.rs",
    "/w/src/net.rs",
    "/w/src/net/http.rs",
    texts={"/w/Cargo.toml": '[package]\nname = "app"\n'},
)


def rs(imp: I, path: str) -> list[T]:
    return resolve(imp, path, "rust", RUST, ROOTS)


def test_rust_mod_declarations() -> None:
    assert rs(I("self::config", (), "config"), "/w/src/lib.rs") == [
        T("/w/src/config.rs", (), "config")
    ]
    assert rs(I("self::http", (), "http"), "/w/src/net.rs") == [T("/w/src/net/http.rs", (), "http")]
    assert rs(I("self::pool", (), "pool"), "/w/src/db/mod.rs") == [
        T("/w/src/db/pool.rs", (), "pool")
    ]
    assert rs(I("self::gone", (), "gone"), "/w/src/lib.rs") == [T("/w/src/lib.rs", ("gone",))]


def test_rust_use_paths() -> None:
    assert rs(I("crate::db::models", ("User",)), "/w/src/net/http.rs") == [
        T("/w/src/db/models.rs", ("User",))
    ]
    assert rs(I("crate::db", ("Pool", "models")), "/w/src/config.rs") == [
        T("/w/src/db/mod.rs", ("Pool",)),
        T("/w/src/db/models.rs", (), "models"),
    ]
    assert rs(I("super::pool", ("Pool",)), "/w/src/db/models.rs") == [
        T("/w/src/db/pool.rs", ("Pool",))
    ]
    assert rs(I("super", ("*",)), "/w/src/net/http.rs") == [T("/w/src/net.rs", ("*",))]
    assert rs(I("config", ("Settings",)), "/w/src/lib.rs") == [T("/w/src/config.rs", ("Settings",))]
    assert rs(I("crate::db::models::User", (), "U"), "/w/src/lib.rs") == [
        T("/w/src/db/models.rs", ("User",))
    ]
    assert rs(I("std", ("io",)), "/w/src/lib.rs") == []
    assert rs(I("serde", ("Serialize",)), "/w/src/db/pool.rs") == []


C = Files(
    "/w/src/main.c",
    "/w/src/util/strings.h",
    "/w/include/app.h",
    "/w/config.h",
    "/w/common/log.h",
    "/w/third/x/deep/only.h",
    "/w/a/dup.h",
    "/w/b/dup.h",
)


def inc(spec: str) -> list[T]:
    return resolve(I(spec), "/w/src/main.c", "c", C, ROOTS)


def test_c_includes() -> None:
    assert inc("util/strings.h") == [T("/w/src/util/strings.h")]
    assert inc("../common/log.h") == [T("/w/common/log.h")]
    assert inc("config.h") == [T("/w/config.h")]
    assert inc("app.h") == [T("/w/include/app.h")]
    assert inc("deep/only.h") == [T("/w/third/x/deep/only.h")]
    assert inc("dup.h") == []  # ambiguous
    assert inc("stdio.h") == []
    assert resolve(I("app.h"), "/w/src/main.cc", "cpp", C, ROOTS) == [T("/w/include/app.h")]


JAVA_ROOT = "/w/src/main/java/com/acme"
JAVA = Files(
    f"{JAVA_ROOT}/orders/OrderService.java",
    f"{JAVA_ROOT}/model/Order.java",
    f"{JAVA_ROOT}/util/Strings.java",
    f"{JAVA_ROOT}/util/Dates.java",
)


def java(imp: I) -> list[T]:
    return resolve(imp, f"{JAVA_ROOT}/orders/OrderService.java", "java", JAVA, ROOTS)


def test_java_imports() -> None:
    assert java(I("com.acme.model", ("Order",))) == [T(f"{JAVA_ROOT}/model/Order.java")]
    assert java(I("com.acme.util", ("*",))) == [
        T(f"{JAVA_ROOT}/util/Dates.java"),
        T(f"{JAVA_ROOT}/util/Strings.java"),
    ]
    assert java(I("com.acme.util.Strings", ("isBlank",))) == [
        T(f"{JAVA_ROOT}/util/Strings.java", ("isBlank",))
    ]
    assert java(I("com.acme.util.Strings", ("*",))) == [T(f"{JAVA_ROOT}/util/Strings.java", ("*",))]
    assert java(I("java.util", ("List",))) == []
    assert java(I("java.util", ("*",))) == []


def test_unknown_language() -> None:
    assert resolve(I("x"), "/w/a.rb", "ruby", PYTHON, ROOTS) == []
