"""What each method of kube.py's client class sends to the API: read from its code (AST).

A method's own `self._call("<METHOD>", resource.path(...))` is one request: the HTTP method
gives the verb, the path's shape the scope (`path(ns)` a collection, `(ns, name)` an object,
`(ns, name, "status")` a subresource). A method it calls (`self.get(...)`) adds what that one
sends, left out where it is guarded by `if not <flag>:` and the caller passes `<flag>=True`.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.chart.fetch_helm import REPO

KUBE = REPO / "operator" / "qwenops" / "io" / "kube.py"
CLIENT_CLASS = "Kube"
"""The class in KUBE whose methods call the API."""

HTTP_VERBS = {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}


class UnresolvedCallError(AssertionError):
    """A call whose resource the derivation cannot tell; the message says where."""


@dataclass(frozen=True)
class _Send:
    """What one client method sends: a verb, on a subresource, unless a flag parameter is set."""

    verb: str
    subresource: str | None = None
    unless: str | None = None


def parse_module(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def where_of(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _is_negated_name(test: ast.expr) -> str | None:
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and isinstance(test.operand, ast.Name):
        return test.operand.id
    return None


def _walk_guarded(node: ast.AST, guard: str | None = None) -> Iterator[tuple[ast.AST, str | None]]:
    """Every node under `node`, with the flag of the innermost enclosing `if not <flag>:`."""
    for child in ast.iter_child_nodes(node):
        inner = guard
        if isinstance(node, ast.If) and child in node.body:
            inner = _is_negated_name(node.test) or guard
        yield child, inner
        yield from _walk_guarded(child, inner)


def _self_method(node: ast.expr) -> str | None:
    """`self.<name>` -> name."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return node.attr
    return None


def _sends_of(
    method: ast.AsyncFunctionDef | ast.FunctionDef, methods: set[str]
) -> list[_Send | tuple[str, str | None]]:
    """What a client method sends: _Send for its own `self._call`s, (callee, guard) for the client's
    methods it calls."""
    found: list[_Send | tuple[str, str | None]] = []
    for node, guard in _walk_guarded(method):
        if not isinstance(node, ast.Call):
            continue
        args = list(node.args)
        if isinstance(node.func, ast.Attribute) and node.func.attr == "to_thread" and args:
            callee, args = args[0], args[1:]
        else:
            callee = node.func
        name = _self_method(callee)
        if name == "_call":
            found.append(_send_of_call(method.name, args, guard))
        elif name in methods and name != method.name:
            found.append((name, guard))
    return found


def _send_of_call(method: str, args: list[ast.expr], guard: str | None) -> _Send:
    where = f"{CLIENT_CLASS}.{method}"
    if len(args) < 2 or not isinstance(args[0], ast.Constant) or not isinstance(args[0].value, str):
        raise UnresolvedCallError(f"{where}: _call without a literal HTTP method")
    http_method, path = args[0].value, args[1]
    if not (isinstance(path, ast.Call) and isinstance(path.func, ast.Attribute) and path.func.attr == "path"):
        raise UnresolvedCallError(f"{where}: _call's path is not `resource.path(...)`")
    shape = len(path.args)
    subresource = None
    if shape >= 3:
        sub = path.args[2]
        if not isinstance(sub, ast.Constant) or not isinstance(sub.value, str):
            raise UnresolvedCallError(f"{where}: a subresource that is not a literal")
        subresource = sub.value
    if http_method == "GET":
        verb = "get" if shape >= 2 else "list"
    elif http_method == "DELETE" and shape < 2:
        verb = "deletecollection"
    else:
        verb = HTTP_VERBS[http_method]
    return _Send(verb, subresource, guard)


def client_methods() -> dict[str, ast.AsyncFunctionDef | ast.FunctionDef]:
    """The methods of kube.py's client class, by name."""
    tree = parse_module(KUBE)
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == CLIENT_CLASS]
    if not classes:
        raise UnresolvedCallError(
            f"{where_of(KUBE)}: no class {CLIENT_CLASS}; teach tests/chart/operator_calls.py"
        )
    return {n.name: n for n in classes[0].body if isinstance(n, ast.AsyncFunctionDef | ast.FunctionDef)}


@functools.cache
def kube_functions() -> dict[str, tuple[_Send, ...] | UnresolvedCallError]:
    """Each public method of kube.py's client that reaches the API -> what it sends, callees
    included (or why that cannot be told: an error only where the operator calls that method)."""
    defs = client_methods()
    direct: dict[str, list[_Send | tuple[str, str | None]]] = {}
    unresolved: dict[str, UnresolvedCallError] = {}
    for name, node in defs.items():
        try:
            direct[name] = _sends_of(node, set(defs))
        except UnresolvedCallError as exc:
            direct[name], unresolved[name] = [], exc

    def resolve(name: str, seen: frozenset[str] = frozenset()) -> list[_Send]:
        sends: list[_Send] = []
        for item in direct[name]:
            if isinstance(item, _Send):
                sends.append(item)
            elif item[0] not in seen:
                callee, guard = item
                sends += [
                    _Send(s.verb, s.subresource, s.unless or guard) for s in resolve(callee, seen | {name})
                ]
        return sends

    found: dict[str, tuple[_Send, ...] | UnresolvedCallError] = {}
    for name in defs:
        if name.startswith("_"):
            continue
        if name in unresolved:
            found[name] = unresolved[name]
        elif sends := tuple(resolve(name)):
            found[name] = sends
    return found


def takes_manifest(name: str) -> bool:
    """True when the method finds its resource from a manifest (`resource_of(...)`), not a param."""
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "resource_of"
        for n in ast.walk(client_methods()[name])
    )
