"""The parts of README.md and docs/*.md that the repository itself says: counts, lists and tables.

A generated part sits between two HTML comments, which Markdown does not show:

    the corpus holds <!-- counts:manifests-invalid -->209<!-- /counts --> invalid manifests

    python -m docs.counts            # rewrite every block from the repository (`make docs`)
    python -m docs.counts --check    # exit 1 and name each stale block, changing nothing

tests/docs/test_docs.py fails while a block is stale or names a block this module does not know.
A count typed by hand goes stale without anyone noticing; one made here cannot.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DOCS = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))
BLOCK = re.compile(r"<!-- counts:(?P<name>[a-z0-9-]+) -->(?P<body>.*?)<!-- /counts -->", re.DOTALL)

MANIFESTS = REPO / "tests" / "manifests"
HOSTILE_MARK = "# HOSTILE: "
"""The first line of a manifest written as an attack (tests/unit/test_hostile_specs.py)."""

JSON = dict[str, Any]


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.yaml"))


def manifests_invalid() -> str:
    return str(len(_yaml_files(MANIFESTS / "invalid")))


def manifests_valid() -> str:
    return str(len(_yaml_files(MANIFESTS / "valid")))


def manifests_hostile() -> str:
    hostile = [
        path for path in _yaml_files(MANIFESTS / "invalid") if path.read_text().startswith(HOSTILE_MARK)
    ]
    return str(len(hostile))


def hostile_generated() -> str:
    from tests.hostile_specs import GENERATED  # noqa: PLC0415 - only this block needs the tests' specs

    return str(len(GENERATED))


def _dict_keys(path: Path, name: str) -> list[str]:
    """The keys of the dict literal assigned to `name` at the top of a module, read without importing it."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in node.targets
        ):
            assert isinstance(node.value, ast.Dict), f"{path}: {name} is not a dict literal"
            return [ast.literal_eval(key) for key in node.value.keys if key is not None]
    raise LookupError(f"{path} assigns no {name}")


def prometheus_garbage() -> str:
    return str(len(_dict_keys(REPO / "tests" / "integration" / "test_drills.py", "GARBAGE")))


def argocd_fixtures() -> str:
    testdata = REPO / "argocd" / "resource_customizations" / "qwenops.io" / "QwenDeployment" / "testdata"
    return str(len(_yaml_files(testdata)))


def slos() -> str:
    from qwenops.api.spec import SLOs  # noqa: PLC0415

    return str(len(SLOs.model_fields))


def name_length() -> str:
    from qwenops.api.naming import MAX_NAME_LENGTH  # noqa: PLC0415

    return str(MAX_NAME_LENGTH)


def revision_length() -> str:
    from qwenops.api.naming import REVISION_LENGTH  # noqa: PLC0415

    return str(REVISION_LENGTH)


def refused_flags() -> str:
    from qwenops.api.rules import VLLM_MANAGED_FLAGS, VLLM_MANAGED_SHORT_FLAGS  # noqa: PLC0415

    long = [f"`--{flag}`" for flag in VLLM_MANAGED_FLAGS]
    return ", ".join(long + [f"`-{flag}`" for flag in VLLM_MANAGED_SHORT_FLAGS])


def _span(seconds: float) -> str:
    whole = int(seconds)
    if whole % 60:
        return f"{whole // 60}m{whole % 60}s" if whole > 60 else f"{whole} s"
    minutes = whole // 60
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def startup_budget() -> str:
    """The rates and margins of render/startup_budget.py, and what they give an 8B model."""
    from qwenops.api.checkpoint import ModelRef  # noqa: PLC0415
    from qwenops.render import startup_budget as budget  # noqa: PLC0415

    def rate(bytes_per_second: int) -> str:
        return f"{bytes_per_second / 1000**2:g} MB/s"

    model = ModelRef(name="Qwen/Qwen3-8B", revision="0" * 40, served_model_name="qwen3-8b")
    cold = budget.startup_budget(model, warm_cache=False).deadline.total_seconds()
    return (
        f"the startup probe allows {_span(budget.LOAD_OVERHEAD.total_seconds())} plus the weights' "
        f"size at {rate(budget.LOAD_BYTES_PER_SECOND)} to load them; the operator's progress deadline "
        f"adds the download ({_span(budget.DOWNLOAD_OVERHEAD.total_seconds())} plus the size at "
        f"{rate(budget.DOWNLOAD_BYTES_PER_SECOND)}; nothing on a warm cache) and the verification "
        f"({_span(budget.VERIFY_OVERHEAD.total_seconds())} plus the size at "
        f"{rate(budget.VERIFY_BYTES_PER_SECOND)}), plus {_span(budget.DEADLINE_MARGIN.total_seconds())}. "
        f"With no size given or in the name, {budget.UNKNOWN_SIZE_BYTES / budget.GB:g} GB is assumed. "
        f"For Qwen/Qwen3-8B on a cold cache the deadline is {_span(cold)}."
    )


def example() -> str:
    return "\n```yaml\n" + (REPO / "examples" / "chat.yaml").read_text().rstrip("\n") + "\n```\n"


def metrics() -> str:
    """The operator's own metrics, as its registry describes them."""
    from qwenops.io import metrics as operator_metrics  # noqa: PLC0415

    rows = ["| metric | type | labels | what it counts |", "| --- | --- | --- | --- |"]
    for value in vars(operator_metrics).values():
        described = getattr(value, "describe", None)
        labels = getattr(value, "_labelnames", None)
        if described is None or labels is None:
            continue
        for family in described():
            name = family.name + ("_total" if family.type == "counter" else "")
            shown = ", ".join(f"`{label}`" for label in labels) or "none"
            rows.append(f"| `{name}` | {family.type} | {shown} | {_cell(family.documentation)} |")
    return "\n" + "\n".join(rows) + "\n"


# -- the QwenDeployment's fields, from the CRD's own schema ----------------------------------------

COPIES = {"model": "spec.model", "engine": "spec.engine", "nodePool": "spec.nodePool", "pod": "spec.pod"}
"""Records in status that are copies of a part of the spec: named, not repeated."""


def spec_fields() -> str:
    from qwenops.api.crd import openapi_schema  # noqa: PLC0415

    return _field_table("spec", openapi_schema()["properties"]["spec"], copies=False)


def status_fields() -> str:
    from qwenops.api.crd import openapi_schema  # noqa: PLC0415

    return _field_table("status", openapi_schema()["properties"]["status"], copies=True)


def _field_table(root: str, schema: JSON, *, copies: bool) -> str:
    rows = ["| field | type | default | limits | description |", "| --- | --- | --- | --- | --- |"]
    for path, node, note in _fields(root, schema, copies=copies):
        default = f"`{_json(node['default'])}`" if "default" in node else ""
        description = note or _cell(node.get("description", ""))
        rows.append(f"| `{path}` | {_type(node)} | {default} | {_limits(node)} | {description} |")
    return "\n" + "\n".join(rows) + "\n"


def _fields(path: str, node: JSON, *, copies: bool) -> Iterator[tuple[str, JSON, str]]:
    for name, child in node.get("properties", {}).items():
        where = f"{path}.{name}"
        if copies and name in COPIES:
            yield where, child, f"as `{COPIES[name]}` was when this revision started"
            continue
        if name == "affinity":
            yield where, child, "a core/v1 Affinity, passed to the pods as it is"
            continue
        yield where, child, ""
        if "properties" in child:
            yield from _fields(where, child, copies=copies)
        elif "properties" in child.get("items", {}):
            yield from _fields(f"{where}[]", child["items"], copies=copies)


def _type(node: JSON) -> str:
    if "enum" in node:
        return "one of " + ", ".join(f"`{value}`" for value in node["enum"])
    if node.get("x-kubernetes-int-or-string"):
        return "integer or string"
    kind = node.get("type", "object")
    if kind == "array":
        return f"list of {_type(node.get('items', {}))}"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map of {_type(node['additionalProperties'])}"
    if node.get("format") == "date-time":
        return "time"
    return str(kind)


def _limits(node: JSON) -> str:
    limits = []
    if "minimum" in node:
        limits.append((">" if node.get("exclusiveMinimum") else ">=") + f" {_json(node['minimum'])}")
    if "maximum" in node:
        limits.append(("<" if node.get("exclusiveMaximum") else "<=") + f" {_json(node['maximum'])}")
    for key, what in (("maxLength", "characters"), ("maxItems", "items"), ("maxProperties", "keys")):
        if key in node:
            limits.append(f"at most {node[key]} {what}")
    if node.get("minLength") == 1:
        limits.append("not empty")
    if "pattern" in node:
        limits.append("pattern")
    if node.get("x-kubernetes-validations"):
        limits.append("CEL rules")
    return ", ".join(limits)


def _json(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value) if not isinstance(value, dict | list) else ("{}" if isinstance(value, dict) else "[]")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


# -- the code's own layout -------------------------------------------------------------------------

PACKAGE = REPO / "operator" / "qwenops"


def _pyproject() -> JSON:
    with (REPO / "pyproject.toml").open("rb") as file:
        loaded: JSON = tomllib.load(file)
    return loaded


def contracts() -> str:
    """The import-linter contracts, by name and kind, in the order pyproject.toml lists them."""
    rows = ["| contract | kind |", "| --- | --- |"]
    for contract in _pyproject()["tool"]["importlinter"]["contracts"]:
        rows.append(f"| {_cell(contract['name'])} | {contract['type']} |")
    return "\n" + "\n".join(rows) + "\n"


def modules() -> str:
    """Every module of the package, layer by layer as the first contract orders them, with the first
    line of its docstring."""
    layers = _pyproject()["tool"]["importlinter"]["contracts"][0]["layers"]
    rows = ["| layer | module | what it holds |", "| --- | --- | --- |"]
    for level, layer in enumerate(layers, start=1):
        for dotted in (part.strip() for part in layer.split("|")):
            relative = Path(*dotted.split(".")[1:])
            folder = PACKAGE / relative
            files = sorted(folder.glob("*.py")) if folder.is_dir() else [folder.with_suffix(".py")]
            for file in files:
                doc = ast.get_docstring(ast.parse(file.read_text())) if file.stat().st_size else None
                if doc is None and file.name == "__init__.py":
                    continue
                shown = file.relative_to(PACKAGE).as_posix()
                rows.append(f"| {level} | `{shown}` | {_cell((doc or '').split(chr(10))[0])} |")
    return "\n" + "\n".join(rows) + "\n"


_EVENT = re.compile(r'Event\(\s*"(?P<type>Normal|Warning)",\s*"(?P<reason>[A-Za-z]+)"')


def events() -> str:
    """The reasons of the events the rollout posts, Normal then Warning, as the code spells them."""
    found: dict[str, list[str]] = {"Normal": [], "Warning": []}
    for file in sorted(PACKAGE.rglob("*.py")):
        for match in _EVENT.finditer(file.read_text()):
            reasons = found[match.group("type")]
            if match.group("reason") not in reasons:
                reasons.append(match.group("reason"))
    rows = ["| type | reasons |", "| --- | --- |"]
    for kind, reasons in found.items():
        rows.append(f"| {kind} | {', '.join(f'`{reason}`' for reason in reasons)} |")
    return "\n" + "\n".join(rows) + "\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "manifests-invalid": manifests_invalid,
    "manifests-valid": manifests_valid,
    "manifests-hostile": manifests_hostile,
    "hostile-generated": hostile_generated,
    "prometheus-garbage": prometheus_garbage,
    "argocd-fixtures": argocd_fixtures,
    "slos": slos,
    "name-length": name_length,
    "revision-length": revision_length,
    "refused-flags": refused_flags,
    "startup-budget": startup_budget,
    "example": example,
    "metrics": metrics,
    "spec-fields": spec_fields,
    "status-fields": status_fields,
    "contracts": contracts,
    "modules": modules,
    "events": events,
}


# -- rewriting and checking ------------------------------------------------------------------------


def render(text: str, values: dict[str, str]) -> str:
    """`text` with every block's body replaced by its generated value."""

    def body(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in values:
            raise KeyError(f"unknown block counts:{name}; known: {', '.join(sorted(GENERATORS))}")
        return f"<!-- counts:{name} -->{values[name]}<!-- /counts -->"

    return BLOCK.sub(body, text)


def values_for(texts: list[str]) -> dict[str, str]:
    """The generated value of every block these texts name (each generator run once)."""
    names = {match.group("name") for text in texts for match in BLOCK.finditer(text)}
    unknown = sorted(names - set(GENERATORS))
    if unknown:
        raise KeyError(f"unknown blocks {', '.join(unknown)}; known: {', '.join(sorted(GENERATORS))}")
    return {name: GENERATORS[name]() for name in sorted(names)}


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def stale(paths: tuple[Path, ...] = DOCS) -> list[str]:
    """`file: counts:name` for every block whose body is not what the repository says now."""
    texts = {path: path.read_text() for path in paths}
    values = values_for(list(texts.values()))
    found = []
    for path, text in texts.items():
        for match in BLOCK.finditer(text):
            if match.group("body") != values[match.group("name")]:
                found.append(f"{_shown(path)}: counts:{match.group('name')}")
    return found


def write(paths: tuple[Path, ...] = DOCS) -> list[Path]:
    """Rewrite every stale block; return the files changed."""
    texts = {path: path.read_text() for path in paths}
    values = values_for(list(texts.values()))
    changed = []
    for path, text in texts.items():
        new = render(text, values)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docs.counts", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a block is stale; write nothing")
    args = parser.parse_args(argv)
    if args.check:
        found = stale()
        for line in found:
            print(f"stale: {line} (make docs)", file=sys.stderr)
        return 1 if found else 0
    for path in write():
        print(f"rewrote {_shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
