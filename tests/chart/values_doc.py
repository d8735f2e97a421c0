"""The values table of charts/qwenops/README.md, made from values.yaml's `# --` comments.

    python -m tests.chart.values_doc            # print the table
    python -m tests.chart.values_doc --write    # put it in the README between its markers

tests/chart/test_docs.py fails when the README's table is not this one.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any

import yaml

from tests.chart.helm import CHART

VALUES = CHART / "values.yaml"
README = CHART / "README.md"
START, END = "<!-- values:start -->", "<!-- values:end -->"
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?P<rest>.*)$")
_DOC = re.compile(r"^ *# -- (?P<text>.*)$")
_MORE = re.compile(r"^ *# (?P<text>.*)$")


@dataclass(frozen=True)
class Row:
    key: str
    default: Any
    description: str

    def markdown(self) -> str:
        default = json.dumps(self.default, separators=(", ", ": "))
        description = self.description.replace("|", "\\|")
        return f"| `{self.key}` | `{default}` | {description} |"


def documented(text: str) -> dict[str, str]:
    """Key path -> its `# --` comment (continued by the `# ` lines right under it)."""
    docs: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    for line in text.splitlines():
        doc, more, key = _DOC.match(line), _MORE.match(line), _KEY.match(line)
        if doc:
            pending = [doc["text"].strip()]
        elif more and pending is not None:
            pending.append(more["text"].strip())
        elif key:
            indent = len(key["indent"])
            while stack and stack[-1][0] >= indent:
                stack.pop()
            path = ".".join([*(name for _, name in stack), key["key"]])
            stack.append((indent, key["key"]))
            if pending is not None:
                docs[path] = " ".join(pending)
            pending = None
        elif not line.strip() or line.lstrip().startswith("#"):
            pending = None if not line.strip() else pending
    return docs


def rows() -> list[Row]:
    """One row per documented key, in values.yaml's order; every value must be documented."""
    text = VALUES.read_text()
    values = yaml.safe_load(text)
    docs = documented(text)
    found: list[Row] = []
    undocumented: list[str] = []

    def visit(node: Any, path: str) -> None:
        if path in docs:
            found.append(Row(path, node, docs[path]))
        elif isinstance(node, dict) and node:
            for key, child in node.items():
                visit(child, f"{path}.{key}" if path else key)
        else:
            undocumented.append(path)

    visit(values, "")
    if undocumented:
        raise AssertionError(f"values without a `# --` comment in {VALUES.name}: {undocumented}")
    return found


def table() -> str:
    lines = ["| key | default | description |", "| --- | --- | --- |"]
    return "\n".join(lines + [row.markdown() for row in rows()])


def readme_table(readme: str) -> str:
    start, end = readme.index(START) + len(START), readme.index(END)
    return readme[start:end].strip()


def write() -> None:
    readme = README.read_text()
    start, end = readme.index(START) + len(START), readme.index(END)
    README.write_text(f"{readme[:start]}\n{table()}\n{readme[end:]}")


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        write()
    else:
        print(table())
