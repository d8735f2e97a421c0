"""README.md and docs/: generated blocks current, the README short, links alive, nothing invented.

The counts and tables between `<!-- counts:NAME -->` markers come from docs/counts.py (`make docs`).
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from docs import counts
from qwenops.api import naming
from qwenops.api.crd import openapi_schema
from qwenops.api.status import ConditionType, Phase
from qwenops.controller import config

REPO = counts.REPO
README = REPO / "README.md"
DOCS = REPO / "docs"
README_LIMIT_BYTES = 10 * 1024

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\((?P<target>[^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6} (?P<title>.+?)\s*$", re.MULTILINE)
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def test_every_generated_block_is_current() -> None:
    assert counts.stale() == [], "run `make docs`"


def test_a_stale_or_unknown_block_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- counts:manifests-valid -->-1<!-- /counts --> valid manifests\n")
    assert counts.stale((page,)) == [f"{page}: counts:manifests-valid"]
    page.write_text(counts.render(page.read_text(), counts.values_for([page.read_text()])))
    assert counts.stale((page,)) == []
    assert f"-->{len(list((REPO / 'tests/manifests/valid').glob('*.yaml')))}<!--" in page.read_text()
    page.write_text("<!-- counts:no-such-count -->1<!-- /counts -->\n")
    with pytest.raises(KeyError, match="no-such-count"):
        counts.stale((page,))


@pytest.mark.parametrize("page", counts.DOCS, ids=lambda page: page.name)
def test_no_block_within_a_paragraph_starts_its_line(page: Path) -> None:
    """A line that starts with `<!--` is raw HTML to Markdown: the words after it would lose their
    formatting and cut the paragraph in two. Blocks that hold a table or a code block start their
    own line, and their body starts with a newline."""
    starts = [
        line[:60] for line in page.read_text().splitlines() if re.match(r"<!-- counts:[a-z0-9-]+ -->\S", line)
    ]
    assert starts == [], "put the block after a word of its sentence"


def test_the_readme_stays_short() -> None:
    size = len(README.read_bytes())
    assert size <= README_LIMIT_BYTES, f"README.md is {size} bytes: move the detail into docs/"


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _anchors(page: Path) -> set[str]:
    """GitHub's ids of a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    text = _FENCE.sub("", page.read_text())
    return {
        re.sub(r"[^\w\- ]", "", match.group("title").replace("`", "").lower()).replace(" ", "-")
        for match in _HEADING.finditer(text)
    }


@pytest.mark.parametrize("page", _pages(), ids=lambda page: page.name)
def test_relative_links_point_at_what_exists(page: Path) -> None:
    broken = []
    for match in _LINK.finditer(_FENCE.sub("", page.read_text())):
        target = match.group("target")
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target}: no heading #{anchor}")
    assert broken == []


def _field_paths() -> set[str]:
    schema = openapi_schema()["properties"]
    paths = set()
    for root, copies in (("spec", False), ("status", True)):
        paths.add(root)
        paths.update(path for path, _, _ in counts._fields(root, schema[root], copies=copies))
    return paths


def test_every_field_the_docs_name_exists() -> None:
    known = _field_paths()
    named = {
        match.group(1).replace("[]", "")
        for page in _pages()
        for match in re.finditer(r"`((?:spec|status)(?:\.[A-Za-z0-9]+(?:\[\])?)+)`", page.read_text())
        if not match.group(1).endswith(".py")  # spec.py, status.py: modules, not fields
    }
    assert named - {path.replace("[]", "") for path in known} == set()


def test_the_reference_names_every_phase_condition_and_request() -> None:
    reference = (DOCS / "reference.md").read_text()
    annotations = [value for key, value in vars(naming).items() if key.startswith("ANNOTATION_")]
    missing = [word for word in [*Phase, *ConditionType, *annotations] if f"`{word}`" not in reference]
    assert missing == []


def _environment_defaults() -> dict[str, str | None]:
    """The `QWENOPS_*` variables `OperatorConfig.from_env` reads, with their defaults (None: unset)."""
    found: dict[str, str | None] = {}
    for node in ast.walk(ast.parse(inspect.getsource(config))):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "os.environ.get":
            name, *default = node.args
            if not ast.literal_eval(name).startswith("QWENOPS_"):
                continue  # the pod's own (POD_NAME, POD_NAMESPACE), from the downward API
            if not default:
                found[ast.literal_eval(name)] = None
            elif isinstance(default[0], ast.Name):
                found[ast.literal_eval(name)] = str(getattr(config, default[0].id))
            else:
                found[ast.literal_eval(name)] = str(ast.literal_eval(default[0]))
    return found


def _documented_settings() -> dict[str, str | None]:
    operations = (DOCS / "operations.md").read_text()
    section = operations.split("### Settings", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`QWENOPS_"):
            rows[cells[0].strip("`")] = None if cells[1] == "unset" else cells[1].strip("`")
    return rows


def test_the_settings_table_is_what_the_operator_reads() -> None:
    defaults = _environment_defaults()
    assert defaults, "config.py reads no variable: the test lost its way"
    assert _documented_settings() == defaults


def test_every_module_the_architecture_names_exists() -> None:
    package = REPO / "operator" / "qwenops"
    text = (DOCS / "architecture.md").read_text()
    named = set(re.findall(r"`([a-z_/]+\.py)`", counts.BLOCK.sub("", text)))
    assert named, "architecture.md names no module: the test lost its way"
    existing = {path.relative_to(package).as_posix() for path in package.rglob("*.py")}
    missing = {name for name in named if not any(p == name or p.endswith("/" + name) for p in existing)}
    assert missing == set()
