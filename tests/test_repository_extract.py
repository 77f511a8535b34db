"""Extraction of definitions, imports and packages per language (lsp_server.repository):
exact names, kinds and line spans on small realistic files; no model, no server."""

from __future__ import annotations

import threading

from lsp_server.repository.definitions import LANGUAGES, extract, language_of_path
from lsp_server.repository.facts import Definition as D
from lsp_server.repository.facts import FileFacts
from lsp_server.repository.facts import Import as I

PYTHON = '''\
"""Doc."""
import os
import a.b
import a.b as c, d
from . import m
from ..pkg.mod import f, g as h
from x import *

MAX_SIZE = 10
logger: Logger = get_logger(
    __name__)
a, b = 1, 2


@decorator
@other(1)
def first(a,
          b) -> int:
    return a + b


def one(): pass


class Base(object):
    """Doc."""

    X = 1

    @property
    def value(self):
        def inner():
            pass
        return 1

    async def run(self): ...

    class Nested:
        def deep(self):
            pass


if TYPE_CHECKING:
    from typing import Any
else:
    def fallback():
        from .lazy import thing
        return thing
'''

JAVASCRIPT = """\
const path = require("path");
const { helper, other: renamed } = require("./util");
import("./lazy").then(() => {});

function plain(a, b) {
  return a + b;
}

export default function App({ title }) {
  return title;
}

export const handler = async (event) => {
  return event;
};

class Store {
  state = {};
  update = (x) => {
    this.state = x;
  };
  get size() {
    return 1;
  }
}

module.exports = { plain, Store };
"""

TYPESCRIPT = """\
import React, { useState as useS, type FC } from "react";
import * as api from "./api.js";
import "./styles.css";
export { a, b as c } from "./reexport";
export * from "../shared";

@Component({
  selector: "x",
})
export class Widget<T> extends Base implements I {
  @Input() name: string;

  constructor(private readonly svc: Service) {
    super();
  }

  render(): void {}
}

export interface Props {
  title: string;
}

export type Mode =
  | "a"
  | "b";

export enum Color {
  Red,
}

declare module "lib" {
  export function helper(x: number): string;
}

export namespace Util {
  export const VERSION = "1";
}

export function overload(a: string): void;
export function overload(a: any) {}
"""

GO = """\
package server

import (
	"fmt"
	log "github.com/sirupsen/logrus"
	"example.com/app/internal/store"
)

const DefaultPort = 8080

var (
	mu    sync.Mutex
	count int
)

type Server struct {
	store *store.Store
}

type Handler interface {
	Serve() error
}

func New(s *store.Store) *Server {
	return &Server{store: s}
}

func (s *Server) Start(
	port int,
) error {
	return nil
}

func (Server) Name() string { return "srv" }
"""

RUST = """\
mod config;
pub mod routes;
use crate::db::{Pool, models::User};
use super::util::*;
use std::io;

pub const LIMIT: usize = 10;

#[derive(Debug, Clone)]
pub struct App {
    pool: Pool,
}

pub enum Event {
    Start,
}

pub trait Handler {
    fn handle(&self, e: Event) -> bool;
}

impl Handler for App {
    fn handle(&self, e: Event) -> bool {
        true
    }
}

impl<'a> App {
    pub fn new(
        pool: Pool,
    ) -> Self {
        App { pool }
    }
}

fn main() {
    use crate::inner::helper;
    helper();
}

#[cfg(test)]
mod tests {
    fn t() {}
}
"""

C_HEADER = """\
#ifndef APP_H
#define APP_H

#include "util/strings.h"
#include <stdlib.h>

#define MAX_LEN 256
#define MIN(a, b) ((a) < (b) ? (a) : (b))

typedef struct node {
    int value;
    struct node *next;
} node_t;

enum mode { FAST, SLOW };

int app_run(const char *name,
            int flags);
static inline int twice(int x) { return 2 * x; }
extern int app_errors;

#endif
"""

CPP = """\
#include "app.h"
#include "../common/log.h"

namespace app {

class Engine : public Base {
 public:
  Engine();
  ~Engine();
  int run(int steps) const;
  void stop() { running_ = false; }

 private:
  bool running_;
};

int Engine::run(int steps) const {
  return steps;
}

template <typename T>
T clamp(T v, T lo, T hi) {
  return v < lo ? lo : v;
}

}  // namespace app
"""

JAVA = """\
package com.acme.orders;

import java.util.List;
import com.acme.model.Order;
import com.acme.util.*;
import static com.acme.util.Strings.isBlank;

/** Orders. */
@Service
public class OrderService extends BaseService {
    private final List<Order> orders;

    public OrderService(List<Order> orders) {
        this.orders = orders;
    }

    @Override
    public Order find(String id,
                      boolean strict) {
        return null;
    }

    interface Listener {
        void onOrder(Order o);
    }
}

enum Status { OPEN, CLOSED; boolean done() { return this == CLOSED; } }

record Line(String sku, int qty) {}
"""


def test_python_definitions() -> None:
    assert extract(PYTHON, "python").definitions == (
        D("MAX_SIZE", "constant", 8, 9, 9),
        D("logger", "variable", 9, 10, 11),
        D("first", "function", 16, 18, 19),  # the def line, not the decorators
        D("one", "function", 21, 22, 22),
        D("Base", "class", 24, 25, 40),
        D("value", "method", 30, 31, 34, "Base"),  # `inner` is nested in a function: skipped
        D("run", "method", 35, 36, 36, "Base"),
        D("Nested", "class", 37, 38, 40, "Base"),
        D("deep", "method", 38, 39, 40, "Nested"),
        D("fallback", "function", 45, 46, 48),  # inside `else:` at module level
    )


def test_python_imports() -> None:
    facts = extract(PYTHON, "python")
    assert facts.imports == (
        I("os"),
        I("a.b"),
        I("a.b", (), "c"),
        I("d"),
        I(".", ("m",)),
        I("..pkg.mod", ("f", "g")),
        I("x", ("*",)),
        I("typing", ("Any",)),
        I(".lazy", ("thing",)),  # function-level imports count
    )
    assert facts.package == ""


def test_python_signature_spans() -> None:
    lines = PYTHON.splitlines()
    first = extract(PYTHON, "python").definitions[2]
    assert lines[first.line : first.body_line] == ["def first(a,", "          b) -> int:"]


def test_javascript() -> None:
    facts = extract(JAVASCRIPT, "javascript")
    assert facts.definitions == (
        D("path", "constant", 0, 1, 1),
        D("plain", "function", 4, 5, 7),
        D("App", "function", 8, 9, 11),
        D("handler", "function", 12, 13, 15),
        D("Store", "class", 16, 17, 25),
        D("update", "method", 18, 19, 21, "Store"),
        D("size", "method", 21, 22, 24, "Store"),
    )
    assert facts.imports == (
        I("path", (), "path"),
        I("./util", ("helper", "other")),
        I("./lazy"),
    )
    assert extract(JAVASCRIPT, "javascriptreact") == facts


def test_typescript() -> None:
    facts = extract(TYPESCRIPT, "typescript")
    assert facts.definitions == (
        D("Widget", "class", 9, 10, 18),  # the class line, not the decorator's
        D("constructor", "method", 12, 13, 15, "Widget"),
        D("render", "method", 16, 17, 17, "Widget"),
        D("Props", "type", 19, 20, 22),
        D("Mode", "type", 23, 24, 26),
        D("Color", "type", 27, 28, 30),
        D("lib", "module", 31, 32, 34),
        D("helper", "function", 32, 33, 33, "lib"),
        D("Util", "module", 35, 36, 38),
        D("VERSION", "constant", 36, 37, 37, "Util"),
        D("overload", "function", 39, 40, 40),
        D("overload", "function", 40, 41, 41),
    )
    assert facts.imports == (
        I("react", ("default",), "React"),
        I("react", ("useState", "FC")),
        I("./api.js", (), "api"),
        I("./styles.css"),
        I("./reexport", ("a", "b")),
        I("../shared", ("*",)),
    )


def test_tsx_export_default_anonymous() -> None:
    source = "export default () => <div />;\nexport default class extends X {\n  m() {}\n}\n"
    assert extract(source, "typescriptreact").definitions == (
        D("default", "function", 0, 1, 1),
        D("default", "class", 1, 2, 4),
        D("m", "method", 2, 3, 3, "default"),
    )


def test_go() -> None:
    facts = extract(GO, "go")
    assert facts.definitions == (
        D("DefaultPort", "constant", 8, 9, 9),
        D("mu", "variable", 11, 12, 12),
        D("count", "variable", 12, 13, 13),
        D("Server", "type", 15, 16, 18),
        D("Handler", "type", 19, 20, 22),
        D("New", "function", 23, 24, 26),
        D("Start", "method", 27, 30, 32, "Server"),  # multi-line parameters
        D("Name", "method", 33, 34, 34, "Server"),
    )
    assert facts.imports == (
        I("fmt"),
        I("github.com/sirupsen/logrus", (), "log"),
        I("example.com/app/internal/store"),
    )
    assert facts.package == "server"


def test_go_dot_import_and_type_group() -> None:
    source = 'package x\n\nimport . "a/b"\n\ntype (\n\tA int\n\tB = A\n)\n'
    facts = extract(source, "go")
    assert facts.imports == (I("a/b", ("*",)),)
    assert facts.definitions == (D("A", "type", 5, 6, 6), D("B", "type", 6, 7, 7))


def test_rust() -> None:
    facts = extract(RUST, "rust")
    assert facts.definitions == (
        D("LIMIT", "constant", 6, 7, 7),
        D("App", "type", 9, 10, 12),  # the item line, not the attribute's
        D("Event", "type", 13, 14, 16),
        D("Handler", "type", 17, 18, 20),
        D("handle", "method", 18, 19, 19, "Handler"),
        D("handle", "method", 22, 23, 25, "App"),
        D("new", "method", 28, 31, 33, "App"),
        D("main", "function", 35, 36, 39),
        D("tests", "module", 41, 42, 44),
    )
    assert facts.imports == (
        I("self::config", (), "config"),  # `mod config;`
        I("self::routes", (), "routes"),
        I("crate::db", ("Pool",)),
        I("crate::db::models", ("User",)),
        I("super::util", ("*",)),
        I("std", ("io",)),
        I("crate::inner", ("helper",)),  # a `use` inside a function
    )


def test_rust_use_trees() -> None:
    source = "use a::b as c;\nuse std::{io::{self, Read}, fs};\nuse super::x::{y, z as w};\n"
    assert extract(source, "rust").imports == (
        I("a::b", (), "c"),
        I("std", ("io", "fs")),
        I("std::io", ("Read",)),
        I("super::x::z", (), "w"),
        I("super::x", ("y",)),
    )


def test_c_header() -> None:
    facts = extract(C_HEADER, "c")
    assert facts.definitions == (  # the include guard's #define is not a definition
        D("MAX_LEN", "macro", 6, 7, 7),
        D("MIN", "macro", 7, 8, 8),
        D("node", "type", 9, 10, 13),
        D("node_t", "type", 9, 10, 13),
        D("mode", "type", 14, 15, 15),
        D("app_run", "function", 16, 18, 18),  # a prototype: all header
        D("twice", "function", 18, 19, 19),
        D("app_errors", "variable", 19, 20, 20),
    )
    assert facts.imports == (I("util/strings.h"),)  # <stdlib.h> is a system include


def test_cpp() -> None:
    facts = extract(CPP, "cpp")
    assert facts.definitions == (
        D("Engine", "class", 5, 6, 15),
        D("Engine", "method", 7, 8, 8, "Engine"),
        D("~Engine", "method", 8, 9, 9, "Engine"),
        D("run", "method", 9, 10, 10, "Engine"),
        D("stop", "method", 10, 11, 11, "Engine"),
        D("run", "method", 16, 17, 19, "Engine"),  # Engine::run, out of the class
        D("clamp", "function", 21, 22, 24),  # the template's declaration
    )
    assert facts.imports == (I("app.h"), I("../common/log.h"))


def test_c_allman_braces() -> None:
    source = "int sub(int a,\n        int b)\n{\n    return a - b;\n}\n"
    assert extract(source, "c").definitions == (D("sub", "function", 0, 3, 5),)


def test_java() -> None:
    facts = extract(JAVA, "java")
    assert facts.definitions == (
        D("OrderService", "class", 9, 10, 26),  # the line after the annotation
        D("OrderService", "method", 12, 13, 15, "OrderService"),
        D("find", "method", 17, 19, 21, "OrderService"),
        D("Listener", "type", 22, 23, 25, "OrderService"),
        D("onOrder", "method", 23, 24, 24, "Listener"),
        D("Status", "type", 27, 28, 28),
        D("done", "method", 27, 28, 28, "Status"),
        D("Line", "class", 29, 30, 30),
    )
    assert facts.imports == (
        I("java.util", ("List",)),
        I("com.acme.model", ("Order",)),
        I("com.acme.util", ("*",)),
        I("com.acme.util.Strings", ("isBlank",)),  # static: the class, then the member
    )
    assert facts.package == "com.acme.orders"


def test_unknown_language_and_empty_text() -> None:
    assert extract("def f(): pass\n", "ruby") == FileFacts()
    assert extract("", "plaintext") == FileFacts()
    assert extract("", "python") == FileFacts()


def test_syntax_errors_keep_what_parsed() -> None:
    source = (
        "import os\n\ndef good(a):\n    return a\n\ndef broken(:\n    pass\n\n"
        "class After:\n    def m(self):\n        pass\n"
    )
    facts = extract(source, "python")
    assert facts.definitions == (
        D("good", "function", 2, 3, 4),
        D("broken", "function", 5, 6, 7),
        D("After", "class", 8, 9, 11),
        D("m", "method", 9, 10, 11, "After"),
    )
    assert facts.imports == (I("os"),)
    source = "function ok() {\n  return 1;\n}\nif (x {\n}\nclass C {\n  m() {}\n}\n"
    assert extract(source, "javascript").definitions == (
        D("ok", "function", 0, 1, 3),
        D("C", "class", 5, 6, 8),
        D("m", "method", 6, 7, 7, "C"),
    )


def test_definitions_inside_error_nodes() -> None:
    """A file whose whole tree is an ERROR node still gives the definitions inside it."""
    source = "def a():\n    pass\n\nclass B(:\n    def m(self):\n        pass\n\n"
    source += "def c():\n    return [\n"
    assert extract(source, "python").definitions == (
        D("a", "function", 0, 1, 2),
        D("B", "class", 3, 4, 6),
        D("m", "method", 4, 5, 6, "B"),
    )


def test_non_ascii_text_keeps_lines() -> None:
    source = '"""Ünïcödé — 日本語."""\nfrom .a import b\ndef f():\n    return "é"\n'
    facts = extract(source, "python")
    assert facts.definitions == (D("f", "function", 2, 3, 4),)
    assert facts.imports == (I(".a", ("b",)),)
    assert extract('const s = "日本"; const m = require("./m");\n', "javascript").imports == (
        I("./m", (), "m"),
    )


def test_languages_and_paths() -> None:
    assert sorted(LANGUAGES) == [
        "c", "cpp", "go", "java", "javascript", "javascriptreact", "python", "rust",
        "typescript", "typescriptreact",
    ]  # fmt: skip
    assert language_of_path("/w/a/b.tsx") == "typescriptreact"
    assert language_of_path("/w/a/b.h") == "c"
    assert language_of_path("/w/README") == ""


def test_parsers_are_per_thread() -> None:
    """Extraction on a background thread while another thread parses gives the same facts."""
    expected = {language: extract(source, language) for source, language in SAMPLES}
    errors: list[str] = []

    def work() -> None:
        for _ in range(20):
            for source, language in SAMPLES:
                if extract(source, language) != expected[language]:
                    errors.append(language)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    work()
    for thread in threads:
        thread.join()
    assert errors == []


SAMPLES = [
    (PYTHON, "python"),
    (TYPESCRIPT, "typescript"),
    (GO, "go"),
    (RUST, "rust"),
    (CPP, "cpp"),
    (JAVA, "java"),
]
