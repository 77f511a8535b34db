"""Definitions of one file (functions, classes, methods, types, top-level constants), found by
walking only the top level and class bodies of its tree-sitter tree, so that indexing tens of
thousands of files stays cheap. Python and JavaScript/TypeScript live here; Go, Rust, C/C++ and
Java in definitions_native."""

from __future__ import annotations

from collections.abc import Callable

from lsp_server.postprocess.syntax import language_of_path
from lsp_server.repository import definitions_native, imports
from lsp_server.repository.facts import Definition, FileFacts
from lsp_server.repository.syntax_tree import (
    LANGUAGES,
    Node,
    brace_body_line,
    define,
    keyword_line,
    members,
    parse,
    text,
    value_body_line,
)

__all__ = ["LANGUAGES", "extract", "language_of_path"]

Walker = Callable[[Node], list[Definition]]


def extract(text: str, language: str) -> FileFacts:
    """Definitions, imports and package of a file's text (FileFacts() for languages without a
    grammar); tree-sitter recovers from syntax errors, so a broken file gives what parsed."""
    walker = WALKERS.get(language)
    tree = parse(text, language) if walker is not None else None
    if walker is None or tree is None:
        return FileFacts()
    root = tree.root_node
    found, package = imports.extract(root, text, language)
    return FileFacts(tuple(walker(root)), found, package)


# Python --------------------------------------------------------------------------------------

PY_COMPOUND = frozenset({"if_statement", "try_statement", "with_statement"})
PY_CLAUSES = frozenset(
    {"elif_clause", "else_clause", "except_clause", "except_group_clause", "finally_clause"}
)


def python(root: Node) -> list[Definition]:
    """Module-level functions, classes (with their methods) and assignments."""
    out: list[Definition] = []
    _py_block(root, "", out)
    return out


def _py_block(block: Node, container: str, out: list[Definition]) -> None:
    """Definitions directly in a module or class body (and in its if/try/with blocks, where
    conditional definitions live)."""
    for node in members(block):
        kind = node.type
        if kind == "decorated_definition":
            node = node.child_by_field_name("definition")
            kind = node.type if node is not None else ""
        if kind == "function_definition":
            name = text(node.child_by_field_name("name"))
            out.append(_py_def(node, name, "method" if container else "function", container))
        elif kind == "class_definition":
            name = text(node.child_by_field_name("name"))
            out.append(_py_def(node, name, "class", container))
            body = node.child_by_field_name("body")
            if body is not None:
                _py_block(body, name, out)
        elif kind == "expression_statement" and not container:
            _py_assignment(node, out)
        elif kind == "type_alias_statement" and not container:
            name = text(node.child_by_field_name("left"))
            out.append(
                define(name, "type", node, value_body_line(node.child_by_field_name("right")))
            )
        elif kind in PY_COMPOUND:
            for child in node.named_children:
                if child.type == "block":
                    _py_block(child, container, out)
                elif child.type in PY_CLAUSES:
                    for inner in child.named_children:
                        if inner.type == "block":
                            _py_block(inner, container, out)


def _py_def(node: Node, name: str, kind: str, container: str) -> Definition:
    """A def/class: the header runs through the line of its ":"."""
    body = node.child_by_field_name("body")
    colon = body.prev_sibling if body is not None else None
    while colon is not None and colon.type != ":":
        colon = colon.prev_sibling
    body_line = colon.start_point.row + 1 if colon is not None else None
    return define(name, kind, node, body_line, container)


def _py_assignment(statement: Node, out: list[Definition]) -> None:
    """`NAME = value` / `NAME: type = value` at module level (tuple targets are skipped)."""
    node = statement.named_children[0] if statement.named_child_count else None
    if node is None or node.type != "assignment":
        return
    target = node.child_by_field_name("left")
    if target is None or target.type != "identifier":
        return
    name = text(target)
    kind = "constant" if name.isupper() else "variable"
    value = node.child_by_field_name("right")
    out.append(define(name, kind, statement, value_body_line(value)))


# JavaScript / TypeScript ---------------------------------------------------------------------

JS_FUNCTIONS = frozenset({"function_declaration", "generator_function_declaration"})
JS_SIGNATURES = frozenset({"function_signature"})
JS_CLASSES = frozenset({"class_declaration", "abstract_class_declaration", "class"})
JS_TYPES = frozenset({"interface_declaration", "type_alias_declaration", "enum_declaration"})
JS_VARIABLES = frozenset({"lexical_declaration", "variable_declaration"})
JS_FUNCTION_VALUES = frozenset(
    {"arrow_function", "function_expression", "function", "generator_function"}
)
JS_MODULES = frozenset({"internal_module", "module"})
JS_METHODS = frozenset({"method_definition", "abstract_method_signature", "method_signature"})
DECORATORS = frozenset({"decorator", "comment"})


def javascript(root: Node) -> list[Definition]:
    """Top-level functions, classes (with methods), types and variables, exports unwrapped."""
    out: list[Definition] = []
    for node in members(root):
        _js_statement(node, "", out)
    return out


def _js_statement(node: Node, container: str, out: list[Definition]) -> None:
    """One top-level statement (or one inside a namespace, whose name is the container)."""
    kind = node.type
    if kind == "export_statement":
        _js_export(node, container, out)
    elif kind in JS_FUNCTIONS or kind in JS_SIGNATURES:
        body = node.child_by_field_name("body")
        line = int(node.start_point.row)
        out.append(define(_js_name(node), "function", node, brace_body_line(body, line), container))
    elif kind in JS_CLASSES:
        _js_class(node, _js_name(node), container, out)
    elif kind in JS_TYPES:
        body = node.child_by_field_name("body") or node.child_by_field_name("value")
        line = int(node.start_point.row)
        out.append(define(_js_name(node), "type", node, brace_body_line(body, line), container))
    elif kind in JS_VARIABLES:
        _js_variables(node, container, out)
    elif kind == "ambient_declaration" or kind == "expression_statement":
        for child in node.named_children:
            _js_statement(child, container, out)
    elif kind in JS_MODULES:
        _js_module(node, container, out)


def _js_name(node: Node) -> str:
    """A declaration's name ("default" for an anonymous `export default` value)."""
    return text(node.child_by_field_name("name")) or "default"


def _js_export(node: Node, container: str, out: list[Definition]) -> None:
    """`export <declaration>` and `export default <value>`: the wrapped definition."""
    declaration = node.child_by_field_name("declaration")
    if declaration is not None:
        _js_statement(declaration, container, out)
        return
    value = node.child_by_field_name("value")
    if value is None:
        return
    if value.type in JS_CLASSES:
        _js_class(value, _js_name(value), container, out)
    elif value.type in JS_FUNCTION_VALUES:
        line = int(value.start_point.row)
        body_line = brace_body_line(value.child_by_field_name("body"), line)
        out.append(define(_js_name(value), "function", value, body_line, container))


def _js_class(node: Node, name: str, container: str, out: list[Definition]) -> None:
    """A class and its methods (arrow-function fields count as methods)."""
    body = node.child_by_field_name("body")
    line = keyword_line(node, DECORATORS)
    out.append(define(name, "class", node, brace_body_line(body, line), container, line))
    if body is None:
        return
    for member in members(body):
        kind = member.type
        if kind in JS_METHODS:
            method_body = member.child_by_field_name("body")
            start = int(member.start_point.row)
            body_line = brace_body_line(method_body, start)
            out.append(define(_js_name(member), "method", member, body_line, name))
        elif kind in ("public_field_definition", "field_definition"):
            value = member.child_by_field_name("value")
            if value is not None and value.type in JS_FUNCTION_VALUES:
                start = int(member.start_point.row)
                body_line = brace_body_line(value.child_by_field_name("body"), start)
                field = member.child_by_field_name("name") or member.child_by_field_name("property")
                out.append(define(text(field), "method", member, body_line, name))


def _js_variables(node: Node, container: str, out: list[Definition]) -> None:
    """`const/let/var` declarators with a plain name; function values make functions."""
    constant = text(node.child(0)) == "const"
    for declarator in node.named_children:
        if declarator.type != "variable_declarator":
            continue
        name = declarator.child_by_field_name("name")
        if name is None or name.type != "identifier":
            continue
        value = declarator.child_by_field_name("value")
        span = node if len(node.named_children) == 1 else declarator
        line = int(node.start_point.row)
        if value is not None and value.type in JS_FUNCTION_VALUES:
            body_line = brace_body_line(value.child_by_field_name("body"), line)
            out.append(define(text(name), "function", span, body_line, container, line))
        else:
            kind = "constant" if constant else "variable"
            out.append(define(text(name), kind, span, value_body_line(value), container, line))


def _js_module(node: Node, container: str, out: list[Definition]) -> None:
    """`namespace N {}` / `declare module "m" {}`: the module, and its members contained by it."""
    name = text(node.child_by_field_name("name")).strip("'\"")
    body = node.child_by_field_name("body")
    line = int(node.start_point.row)
    out.append(define(name, "module", node, brace_body_line(body, line), container))
    if body is not None:
        for child in members(body):
            _js_statement(child, name, out)


WALKERS: dict[str, Walker] = {
    "python": python,
    "javascript": javascript,
    "javascriptreact": javascript,
    "typescript": javascript,
    "typescriptreact": javascript,
    **definitions_native.WALKERS,
}
assert set(WALKERS) == LANGUAGES
