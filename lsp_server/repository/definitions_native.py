"""Definitions of Go, Rust, C/C++ and Java files: top-level declarations and the members of
classes, impls and traits, found by walking only those nodes (see definitions.extract)."""

from __future__ import annotations

from collections.abc import Callable

from lsp_server.repository.facts import Definition
from lsp_server.repository.syntax_tree import (
    Node,
    brace_body_line,
    define,
    keyword_line,
    members,
    text,
    value_body_line,
)

# Go ------------------------------------------------------------------------------------------


def go(root: Node) -> list[Definition]:
    """Functions, methods (container: the receiver's type), types, constants and variables."""
    out: list[Definition] = []
    for node in members(root):
        kind = node.type
        if kind == "function_declaration" or kind == "method_declaration":
            body = node.child_by_field_name("body")
            body_line = brace_body_line(body, node.start_point.row)
            receiver = _go_receiver(node) if kind == "method_declaration" else ""
            name = text(node.child_by_field_name("name"))
            out.append(
                define(name, "method" if receiver else "function", node, body_line, receiver)
            )
        elif kind == "type_declaration":
            for spec in node.named_children:
                if spec.type in ("type_spec", "type_alias"):
                    value = value_body_line(spec.child_by_field_name("type"))
                    name = text(spec.child_by_field_name("name"))
                    out.append(define(name, "type", spec if _grouped(node) else node, value))
        elif kind == "const_declaration" or kind == "var_declaration":
            _go_values(node, "constant" if kind == "const_declaration" else "variable", out)
    return out


def _grouped(declaration: Node) -> bool:
    """Is this a parenthesized `const (...)`/`type (...)` group (each spec its own span)?"""
    return bool(declaration.child_count > 1 and declaration.child(1).type == "(")


def _go_receiver(node: Node) -> str:
    """The receiver's type name: `func (s *S[T]) M()` -> "S"."""
    receiver = node.child_by_field_name("receiver")
    for parameter in receiver.named_children if receiver is not None else ():
        kind = parameter.child_by_field_name("type")
        while kind is not None and kind.type in ("pointer_type", "generic_type"):
            kind = kind.named_children[0] if kind.named_child_count else None
        return text(kind)
    return ""


def _go_values(node: Node, kind: str, out: list[Definition]) -> None:
    """Each name of each spec of a const/var declaration."""
    grouped = _grouped(node)
    specs = node.named_children
    if specs and specs[0].type == "var_spec_list":
        grouped, specs = True, specs[0].named_children
    for spec in specs:
        if spec.type not in ("const_spec", "var_spec"):
            continue
        body_line = value_body_line(spec.child_by_field_name("value"))
        for name in spec.children_by_field_name("name"):
            if name.type == "identifier":
                out.append(define(text(name), kind, spec if grouped else node, body_line))


# Rust ----------------------------------------------------------------------------------------

RUST_TYPES = frozenset({"struct_item", "enum_item", "union_item", "type_item", "trait_item"})
RUST_FUNCTIONS = frozenset({"function_item", "function_signature_item"})
RUST_VALUES = {"const_item": "constant", "static_item": "variable"}


def rust(root: Node) -> list[Definition]:
    """Functions, types, traits and impl methods (container: the trait or impl type), constants,
    statics, macros and inline modules."""
    out: list[Definition] = []
    for node in members(root):
        kind = node.type
        if kind in RUST_FUNCTIONS:
            out.append(_rust_function(node, "function", ""))
        elif kind in RUST_TYPES:
            name = text(node.child_by_field_name("name"))
            body = node.child_by_field_name("body") or node.child_by_field_name("type")
            out.append(define(name, "type", node, brace_body_line(body, node.start_point.row)))
            if kind == "trait_item":
                _rust_members(body, name, out)
        elif kind == "impl_item":
            _rust_members(node.child_by_field_name("body"), _rust_impl_type(node), out)
        elif kind in RUST_VALUES:
            value = node.child_by_field_name("value")
            name = text(node.child_by_field_name("name"))
            out.append(define(name, RUST_VALUES[kind], node, value_body_line(value)))
        elif kind == "macro_definition":
            out.append(define(text(node.child_by_field_name("name")), "macro", node, None))
        elif kind == "mod_item" and node.child_by_field_name("body") is not None:
            body_line = brace_body_line(node.child_by_field_name("body"), node.start_point.row)
            out.append(define(text(node.child_by_field_name("name")), "module", node, body_line))
    return out


def _rust_function(node: Node, kind: str, container: str) -> Definition:
    """A fn item (a body-less signature's header is the whole item)."""
    body_line = brace_body_line(node.child_by_field_name("body"), node.start_point.row)
    return define(text(node.child_by_field_name("name")), kind, node, body_line, container)


def _rust_impl_type(node: Node) -> str:
    """The type an impl block is for: `impl<T> Tr for P<T>` -> "P"."""
    kind = node.child_by_field_name("type")
    while kind is not None and kind.type in (
        "generic_type",
        "reference_type",
        "scoped_type_identifier",
    ):
        inner = kind.child_by_field_name("type") or kind.child_by_field_name("name")
        if inner is None:
            break
        kind = inner
    return text(kind)


def _rust_members(body: Node | None, container: str, out: list[Definition]) -> None:
    """The fns of an impl or trait body, as methods of container."""
    for member in members(body) if body is not None else ():
        if member.type in RUST_FUNCTIONS:
            out.append(_rust_function(member, "method", container))


# C / C++ -------------------------------------------------------------------------------------

# Blocks whose declarations count as top level.
C_NESTING = frozenset(
    {"preproc_ifdef", "preproc_if", "preproc_else", "preproc_elif", "preproc_elifdef"}
)
C_TYPES = {
    "struct_specifier": "type",
    "union_specifier": "type",
    "enum_specifier": "type",
    "class_specifier": "class",
}
C_DECLARATORS = frozenset(
    {
        "pointer_declarator", "reference_declarator", "init_declarator", "array_declarator",
        "attributed_declarator", "function_declarator",
    }
)  # fmt: skip
C_NAMES = frozenset({"identifier", "field_identifier", "type_identifier", "destructor_name"})


def c(root: Node) -> list[Definition]:
    """Functions (prototypes too), structs/classes with their methods, typedefs, enums, macros
    and global variables, looking inside #if blocks, namespaces and extern "C"."""
    out: list[Definition] = []
    _c_block(root, "", out)
    return out


def _c_block(block: Node, container: str, out: list[Definition]) -> None:
    """The declarations of a translation unit, namespace, #if block or class body."""
    for node in members(block):
        kind = node.type
        if kind == "template_declaration":
            inner = [
                child for child in node.named_children if child.type != "template_parameter_list"
            ]
            node, kind = (inner[0], inner[0].type) if inner else (node, "")
        if kind == "function_definition":
            _c_function(node, container, out)
        elif kind in ("declaration", "field_declaration"):
            _c_declaration(node, container, out)
        elif kind in C_TYPES:
            _c_type(node, container, out)
        elif kind == "type_definition":
            _c_typedef(node, out)
        elif kind in ("preproc_def", "preproc_function_def"):
            name = text(node.child_by_field_name("name"))
            if not _include_guard(node, name, block):
                out.append(define(name, "macro", node, node.start_point.row + 1))
        elif kind in C_NESTING:
            _c_block(node, container, out)
        elif kind in ("namespace_definition", "linkage_specification"):
            body = node.child_by_field_name("body")
            if body is not None:
                _c_block(body, container, out)


def _include_guard(node: Node, name: str, block: Node) -> bool:
    """Is this the `#define X` of an `#ifndef X` include guard (no definition worth keeping)?"""
    return (
        node.child_by_field_name("value") is None
        and block.type == "preproc_ifdef"
        and text(block.child_by_field_name("name")) == name
    )


def _c_name(declarator: Node | None) -> tuple[str, str, bool]:
    """(name, scope, is a function) of a declarator: `*K::m(int)` -> ("m", "K", True); a
    function pointer `(*fp)(int)` is not a function."""
    function = False
    while declarator is not None and declarator.type in C_DECLARATORS:
        if declarator.type == "function_declarator":
            inner = declarator.child_by_field_name("declarator")
            function = inner is not None and inner.type != "parenthesized_declarator"
        declarator = declarator.child_by_field_name("declarator")
    if declarator is None:
        return "", "", False
    if declarator.type == "qualified_identifier":
        name, scope = (
            declarator.child_by_field_name("name"),
            declarator.child_by_field_name("scope"),
        )
        inner_name = (
            _c_name(name)[0] if name is not None and name.type not in C_NAMES else text(name)
        )
        return inner_name, text(scope), function
    if declarator.type in C_NAMES or declarator.type == "operator_name":
        return text(declarator), "", function
    return "", "", False


def _c_function(node: Node, container: str, out: list[Definition]) -> None:
    """A function definition; `K::m` or one inside a class body is a method of K."""
    name, scope, _ = _c_name(node.child_by_field_name("declarator"))
    if not name:
        return
    owner = scope or container
    body_line = brace_body_line(node.child_by_field_name("body"), node.start_point.row)
    out.append(define(name, "method" if owner else "function", node, body_line, owner))


def _c_declaration(node: Node, container: str, out: list[Definition]) -> None:
    """Prototypes (functions/methods; the header is the whole declaration), variables at top
    level, and a struct/class declared in the same statement."""
    kind = node.child_by_field_name("type")
    if kind is not None and kind.type in C_TYPES and not container:
        _c_type(kind, container, out)
    for declarator in node.children_by_field_name("declarator"):
        name, scope, function = _c_name(declarator)
        if not name:
            continue
        owner = scope or container
        if function:
            out.append(define(name, "method" if owner else "function", node, None, owner))
        elif not container:
            out.append(define(name, "variable", node, value_body_line(declarator)))


def _c_type(node: Node, container: str, out: list[Definition]) -> None:
    """A named struct/union/enum/class with a body, and (C++) the methods declared in it."""
    body = node.child_by_field_name("body")
    name = text(node.child_by_field_name("name"))
    if body is None or not name:
        return
    line = int(node.start_point.row)
    out.append(define(name, C_TYPES[node.type], node, brace_body_line(body, line), container))
    if node.type != "enum_specifier":
        _c_block(body, name, out)


def _c_typedef(node: Node, out: list[Definition]) -> None:
    """`typedef struct {...} Name;`: the struct (when named) and each typedef name."""
    kind = node.child_by_field_name("type")
    if kind is not None and kind.type in C_TYPES:
        _c_type(kind, "", out)
    body_line = value_body_line(kind)
    for declarator in node.children_by_field_name("declarator"):
        name = _c_name(declarator)[0]
        if name:
            out.append(define(name, "type", node, body_line))


# Java ----------------------------------------------------------------------------------------

JAVA_TYPES = {
    "class_declaration": "class",
    "record_declaration": "class",
    "interface_declaration": "type",
    "enum_declaration": "type",
    "annotation_type_declaration": "type",
}
JAVA_METHODS = frozenset({"method_declaration", "constructor_declaration"})
ANNOTATIONS = frozenset({"annotation", "marker_annotation", "line_comment", "block_comment"})


def java(root: Node) -> list[Definition]:
    """Classes, interfaces, enums and records (nested ones contained by their outer class) and
    their methods and constructors."""
    out: list[Definition] = []
    _java_members(root, "", out)
    return out


def _java_members(body: Node, container: str, out: list[Definition]) -> None:
    """The types and methods directly in a file or a type body."""
    for node in members(body):
        kind = node.type
        if kind in JAVA_TYPES:
            name = text(node.child_by_field_name("name"))
            inner = node.child_by_field_name("body")
            line = keyword_line(node, ANNOTATIONS)
            body_line = brace_body_line(inner, line)
            out.append(define(name, JAVA_TYPES[kind], node, body_line, container, line))
            if inner is not None:
                _java_members(inner, name, out)
        elif kind in JAVA_METHODS and container:
            line = keyword_line(node, ANNOTATIONS)
            body_line = brace_body_line(node.child_by_field_name("body"), line)
            name = text(node.child_by_field_name("name"))
            out.append(define(name, "method", node, body_line, container, line))
        elif kind == "enum_body_declarations":
            _java_members(node, container, out)


WALKERS: dict[str, Callable[[Node], list[Definition]]] = {
    "go": go,
    "rust": rust,
    "c": c,
    "cpp": c,
    "java": java,
}
