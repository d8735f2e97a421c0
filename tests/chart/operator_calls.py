"""Every Kubernetes API call the operator makes, derived from its code, for the RBAC tests.

Three sources, so that a new call in the code fails tests/chart/test_rbac.py until the chart
grants it:

1. `operator/qwenops/io/kube.py`, the only module that talks to the API: what each method of its
   client class `Kube` sends (tests/chart/client_sends.py reads it from the code), and every call
   of those methods elsewhere in the package for the resource it passes (`kube.DEPLOYMENTS`, or a
   manifest built by a `render.desired.desired_*` function, whose `kind` says the resource). A call guarded by `if not known:` is left out where the
   caller passes `known=True`. Calls are found by a naming convention: the client is always
   `client` (a parameter, a variable or an attribute such as `self.client`), so `client.get(...)`
   and `self.client.get(...)` are calls of the API. What would slip past the convention is
   reported instead (:func:`convention_breaks`): a parameter or attribute typed as the client
   under another name, the client bound to another name, a call of `kube.<method>` as if it were
   a module function, a `kube.<RESOURCE>` handed to a method of something else.
   A write of a manifest whose ownerReferences set `blockOwnerDeletion` also needs `update` on
   the owner's `finalizers` (tests/chart/owner_references.py renders it to see).
2. kopf's registry after `import qwenops.controller.handlers`: every resource kopf watches (list, watch),
   and patches when a change handler or daemon keeps its progress and finalizer on it.
3. kopf itself (1.45, `kopf/_core/reactor/observation.py` and `engines/posting.py`): `kopf.event`
   posts core/v1 Events; it lists and watches CustomResourceDefinitions to follow CRD changes,
   and, when not cluster-wide, Namespaces (cluster-scoped both). Its discovery GETs of /api and
   /apis are non-resource URLs every authenticated user may read (system:discovery).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.chart.client_sends import (
    KUBE,
    UnresolvedCallError,
    client_methods,
    kube_functions,
    parse_module,
    takes_manifest,
    where_of,
)
from tests.chart.fetch_helm import REPO
from tests.chart.owner_references import owner_finalizers, rendered_children

PACKAGE = REPO / "operator" / "qwenops"
RENDERS = (PACKAGE / "render" / "desired.py", PACKAGE / "render" / "pools.py")
"""The modules whose `desired_*` functions build the objects the operator writes."""
CLIENT_TYPES = frozenset({"Kube", "KubeClient"})
"""Annotations that make a parameter or attribute the client (bare, or as `kube.<name>`)."""
CLIENT = "client"
"""The one name the client goes by wherever the operator holds it."""


@dataclass(frozen=True, order=True)
class ApiCall:
    """One kind of request: `verb` on `group`/`resource` (`plural` or `plural/subresource`)."""

    group: str
    resource: str
    verb: str
    cluster_scoped: bool = False
    when: str = "always"
    """"always"; "namespaced": only when some namespaces are watched; "own": in the operator's own
    namespace only, whatever it watches (the leader election's Lease, see :data:`OWN_NAMESPACE`);
    "named": Secrets, only on the names the chart lists (prometheus.secretNames), granted with
    resourceNames."""
    why: str = field(default="", compare=False)


# --- 1. calls of kube.py's client ----------------------------------------------------------------


def _resources() -> dict[str, tuple[str, str]]:
    """kube.py's `NAME = Resource(group, version, plural)` constants: NAME -> (group, plural)."""
    from qwenops.io import kube  # noqa: PLC0415

    return {
        name: (value.group, value.plural)
        for name, value in vars(kube).items()
        if isinstance(value, kube.Resource)
    }


def _kinds() -> dict[tuple[str, str], str]:
    """(apiVersion, kind) -> kube.py constant name, from `kube._BY_KIND`."""
    from qwenops.io import kube  # noqa: PLC0415

    names = {id(value): name for name, value in vars(kube).items() if isinstance(value, kube.Resource)}
    return {key: names[id(resource)] for key, resource in kube._BY_KIND.items()}


@functools.cache
def render_kinds() -> dict[str, frozenset[tuple[str, str]]]:
    """Each function of the render modules -> the (apiVersion, kind) of the manifests it builds."""
    functions = {
        n.name: n for path in RENDERS for n in parse_module(path).body if isinstance(n, ast.FunctionDef)
    }
    own: dict[str, set[tuple[str, str]]] = {}
    calls: dict[str, set[str]] = {}
    for name, function in functions.items():
        own[name], calls[name] = set(), set()
        for node in ast.walk(function):
            if isinstance(node, ast.Dict):
                literal = {
                    k.value: v.value
                    for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
                }
                api_version, kind = literal.get("apiVersion"), literal.get("kind")
                if isinstance(api_version, str) and isinstance(kind, str):
                    own[name].add((api_version, kind))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions:
                calls[name].add(node.func.id)

    def kinds(name: str, seen: frozenset[str] = frozenset()) -> set[tuple[str, str]]:
        found = set(own[name])
        for callee in calls[name] - seen:
            found |= kinds(callee, seen | {name})
        return found

    return {name: frozenset(kinds(name)) for name in functions}


def _called_name(call: ast.expr) -> str | None:
    if isinstance(call, ast.Call):
        if isinstance(call.func, ast.Name):
            return call.func.id
        if isinstance(call.func, ast.Attribute):
            return call.func.attr
    return None


def _manifest_source(arg: ast.expr, scope: ast.AST, where: str) -> str:
    """The render.desired.desired_* function a manifest argument must come from."""
    made = render_kinds()
    direct = _called_name(arg)
    if direct in made:
        return direct
    if isinstance(arg, ast.Name):
        for node in ast.walk(scope):
            source = None
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == arg.id for t in node.targets
            ):
                source = node.value
            elif isinstance(node, ast.For) and isinstance(node.target, ast.Name) and node.target.id == arg.id:
                source = node.iter
            name = _called_name(source) if source is not None else None
            if name in made:
                return name
    raise UnresolvedCallError(
        f"{where}: cannot tell which kind of object this call writes; build it with a "
        f"render.desired.desired_* function in the same function, or teach tests/chart/operator_calls.py"
    )


WRITES = frozenset({"create", "patch", "update"})
OWN_NAMESPACE = frozenset({"LEASES"})
"""kube.py's resources the operator reaches in its own namespace only (the Lease it is elected by)."""


def _owner_calls(source: str, where: str) -> set[ApiCall]:
    """A write of what `source` renders, whose ownerReferences set blockOwnerDeletion, needs `update`
    on the owner's finalizers (owner_references.py)."""
    return {
        ApiCall(group, resource, "update", why=f"{where}: {child} sets blockOwnerDeletion")
        for (group, resource), child in owner_finalizers(rendered_children([source])).items()
    }


def _known_true(call: ast.Call, flag: str) -> bool:
    return any(
        k.arg == flag and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords
    )


def _enclosing_functions(tree: ast.Module) -> Iterator[tuple[ast.AST, ast.Call]]:
    for function in ast.walk(tree):
        if isinstance(function, ast.AsyncFunctionDef | ast.FunctionDef):
            for node in ast.walk(function):
                if isinstance(node, ast.Call):
                    yield function, node


def module_path(module: str) -> Path | None:
    """`qwenops.a.b` -> operator/qwenops/a/b.py (or a/b/__init__.py); None when it is no module."""
    parts = module.split(".")
    if parts[0] != "qwenops":
        return None
    base = PACKAGE.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def operator_modules(root: str = "qwenops.controller.handlers") -> list[Path]:
    """The package's modules the operator process runs: `root` (what kopf runs) and, transitively,
    every `qwenops` module it imports (at any level). The kubectl plugin is not in it."""
    seen: set[Path] = set()
    todo = [root]
    while todo:
        path = module_path(todo.pop())
        if path is None or path in seen:
            continue
        seen.add(path)
        for node in ast.walk(parse_module(path)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("qwenops"):
                # `from qwenops.io import kube` imports the module qwenops.io.kube (and qwenops.io)
                todo.append(node.module or "")
                todo += [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                todo += [a.name for a in node.names if a.name.startswith("qwenops.")]
    return sorted(seen)


def _resource_constant(node: ast.expr, resources: dict[str, tuple[str, str]]) -> str | None:
    """`kube.NAME` for a Resource constant NAME of kube.py, else None."""
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "kube"
        and node.attr in resources
    ):
        return node.attr
    return None


def _table(tree: ast.Module, node: ast.expr, resources: dict[str, tuple[str, str]]) -> list[str]:
    """Every constant of a module-level `TABLE = {key: kube.NAME, ...}` that `node` names: a call
    indexing it may reach any of them (empty: `node` is no such table)."""
    if not isinstance(node, ast.Name):
        return []
    for statement in tree.body:
        value = statement.value if isinstance(statement, ast.Assign | ast.AnnAssign) else None
        targets = statement.targets if isinstance(statement, ast.Assign) else (
            [statement.target] if isinstance(statement, ast.AnnAssign) else []
        )
        if isinstance(value, ast.Dict) and any(isinstance(t, ast.Name) and t.id == node.id for t in targets):
            found = [_resource_constant(item, resources) for item in value.values]
            return [name for name in found if name is not None] if None not in found else []
    return []


def _is_none(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _is_client(node: ast.expr) -> bool:
    """`client`, or an attribute `<anything>.client`: where the convention says the client is."""
    return (isinstance(node, ast.Name) and node.id == CLIENT) or (
        isinstance(node, ast.Attribute) and node.attr == CLIENT
    )


def _names_client_type(annotation: ast.expr | None) -> bool:
    """An annotation that is, or holds (`X | None`, `Optional[X]`, a string), the client's type."""
    if annotation is None:
        return False
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return False
    return any(
        (isinstance(n, ast.Name) and n.id in CLIENT_TYPES)
        or (isinstance(n, ast.Attribute) and n.attr in CLIENT_TYPES and isinstance(n.value, ast.Name))
        for n in ast.walk(annotation)
    )


def _target_name(target: ast.expr) -> str | None:
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


def convention_breaks(path: Path) -> list[str]:
    """Where a module holds or calls the client so that the derivation could miss a call."""
    tree = parse_module(path)
    methods = set(client_methods())
    resources = set(_resources())
    found: list[str] = []
    for node in ast.walk(tree):
        at = f"{where_of(path)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.arg) and _names_client_type(node.annotation) and node.arg != CLIENT:
            found.append(f"{at}: parameter {node.arg!r} holds the client: name it {CLIENT!r}")
        elif isinstance(node, ast.AnnAssign) and _names_client_type(node.annotation):
            if _target_name(node.target) != CLIENT:
                found.append(f"{at}: {ast.unparse(node.target)!r} holds the client: name it {CLIENT!r}")
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.NamedExpr) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if _is_client(node.value) and any(_target_name(t) != CLIENT for t in targets):
                found.append(f"{at}: the client bound to another name; keep calling it as {CLIENT!r}")
        elif isinstance(node, ast.ImportFrom) and node.module == "qwenops.io.kube":
            if {alias.name for alias in node.names} & CLIENT_TYPES:
                found.append(
                    f"{at}: import the module (`from qwenops.io import kube`), not the client's class"
                )
        elif (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in methods
        ):
            receiver = node.func.value
            if isinstance(receiver, ast.Name) and receiver.id == "kube":
                found.append(
                    f"{at}: kube.{node.func.attr}() is no function: call it as {CLIENT}.{node.func.attr}()"
                )
            elif not _is_client(receiver) and any(
                isinstance(a, ast.Attribute) and isinstance(a.value, ast.Name) and a.value.id == "kube"
                and a.attr in resources
                for a in node.args
            ):  # fmt: skip
                found.append(
                    f"{at}: {ast.unparse(node.func)}() is handed a kube resource: call the API as "
                    f"{CLIENT}.{node.func.attr}() (or teach tests/chart/operator_calls.py)"
                )
    return found


def reconcile_calls(modules: Iterable[Path] | None = None) -> set[ApiCall]:
    """The calls the operator's own code (`modules`, default :func:`operator_modules`) makes through
    the client of kube.py."""
    sends = kube_functions()
    resources = _resources()
    kinds = _kinds()
    calls: set[ApiCall] = set()
    for path in operator_modules() if modules is None else modules:
        if path == KUBE:
            continue
        if breaks := convention_breaks(path):
            raise UnresolvedCallError("\n".join(breaks))
        tree = parse_module(path)
        for scope, call in _enclosing_functions(tree):
            func = call.func
            if not (isinstance(func, ast.Attribute) and _is_client(func.value) and func.attr in sends):
                continue
            where = f"{where_of(path)}:{call.lineno} {ast.unparse(func)}"
            function_sends = sends[func.attr]
            if isinstance(function_sends, UnresolvedCallError):
                raise UnresolvedCallError(f"{where}: {function_sends}")
            if not call.args:
                raise UnresolvedCallError(f"{where}: no positional resource or manifest")
            first = call.args[0]
            if takes_manifest(func.attr):
                source = _manifest_source(first, scope, where)
                targets = [kinds[kind] for kind in sorted(render_kinds()[source]) if kind in kinds]
                if not targets:
                    raise UnresolvedCallError(f"{where}: writes a kind kube._BY_KIND does not know")
                if {send.verb for send in function_sends} & WRITES:
                    calls |= _owner_calls(source, where)
            elif (constant := _resource_constant(first, resources)) is not None:
                targets = [constant]
            elif isinstance(first, ast.Subscript) and (table := _table(tree, first.value, resources)):
                targets = table
            else:
                raise UnresolvedCallError(
                    f"{where}: the resource is not a kube.<RESOURCE> constant, nor a module-level "
                    "table of them indexed"
                )
            for target in targets:
                group, plural = resources[target]
                for send in function_sends:
                    if send.unless is not None and _known_true(call, send.unless):
                        continue
                    resource = f"{plural}/{send.subresource}" if send.subresource else plural
                    cluster = len(call.args) > 1 and _is_none(call.args[1])
                    when = (
                        "own" if target in OWN_NAMESPACE else "named" if plural == "secrets" else "always"
                    )
                    calls.add(ApiCall(group, resource, send.verb, cluster, when, why=where))
    return calls


# --- 2. kopf's watches ----------------------------------------------------------------------------


def kopf_watch_calls() -> set[ApiCall]:
    """What kopf does for the handlers `qwenops.controller.handlers` registers."""
    import kopf  # noqa: PLC0415

    import qwenops.controller.handlers  # noqa: F401, PLC0415 - importing registers the handlers

    registry = kopf.get_default_registry()
    calls: set[ApiCall] = set()
    groups: dict[str, tuple[Any, tuple[str, ...]]] = {
        "watching (on.event)": (registry._watching, ("list", "watch")),
        # change handlers and daemons: kopf keeps progress and its finalizer on the object itself
        "changing (on.create/update/resume/delete)": (registry._changing, ("list", "watch", "patch")),
        "spawning (daemon/timer)": (registry._spawning, ("list", "watch", "patch")),
        "indexing (index)": (registry._indexing, ("list", "watch")),
    }
    for what, (handlers, verbs) in groups.items():
        for handler in handlers.get_all_handlers():
            selector = handler.selector
            assert selector is not None, handler.id
            plural = selector.plural or selector.any_name
            if not plural or plural != plural.lower():
                raise UnresolvedCallError(
                    f"kopf handler {handler.id!r} names its resource {plural!r}: give the plural"
                )
            for verb in verbs:
                calls.add(ApiCall(selector.group or "", plural, verb, why=f"kopf {what} {handler.id}"))
    if list(registry._webhooks.get_all_handlers()):
        raise UnresolvedCallError("admission webhooks are registered: the chart grants nothing for them")
    return calls


def event_calls() -> set[ApiCall]:
    """`kopf.event`/`info`/`warn`/`exception` in the operator's modules: core/v1 Events created."""
    for path in operator_modules():
        for node in ast.walk(parse_module(path)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "kopf"
                and node.func.attr in ("event", "info", "warn", "exception")
            ):
                return {ApiCall("", "events", "create", why=f"{path.relative_to(REPO)}:{node.lineno}")}
    return set()


# --- 3. kopf's own needs --------------------------------------------------------------------------

KOPF_CALLS = frozenset(
    {
        ApiCall("apiextensions.k8s.io", "customresourcedefinitions", "list", True, why="kopf resource_observer"),
        ApiCall("apiextensions.k8s.io", "customresourcedefinitions", "watch", True, why="kopf resource_observer"),
        ApiCall("", "namespaces", "list", True, "namespaced", why="kopf namespace_observer, not cluster-wide"),
        ApiCall("", "namespaces", "watch", True, "namespaced", why="kopf namespace_observer, not cluster-wide"),
    }
)  # fmt: skip


@functools.cache
def operator_calls() -> frozenset[ApiCall]:
    """Everything the operator asks of the API, with both ways of watching."""
    return frozenset(reconcile_calls() | kopf_watch_calls() | event_calls() | KOPF_CALLS)
