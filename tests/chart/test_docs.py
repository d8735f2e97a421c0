"""charts/qwenops/README.md says what the chart does: its values table is values.yaml's, its RBAC
table the rendered rules, its relabelling the PodMonitor's."""

from __future__ import annotations

import re
import shlex
import textwrap
from collections.abc import Callable

import yaml

from qwenops.api.spec import parse_spec
from tests.chart import values_doc
from tests.chart.helm import CHART, Helm, Manifest, one
from tests.chart.rbac import granted_triples, grants


def test_the_values_table_is_values_yaml() -> None:
    assert values_doc.readme_table(values_doc.README.read_text()) == values_doc.table(), (
        "charts/qwenops/README.md's values table is stale: python -m tests.chart.values_doc --write"
    )


def test_every_value_has_a_doc_comment_and_a_schema_entry() -> None:
    rows = values_doc.rows()  # raises on an undocumented value
    assert rows
    schema = yaml.safe_load((CHART / "values.schema.json").read_text())
    for row in rows:
        assert row.key.split(".")[0] in schema["properties"], row.key


def _readme_rbac() -> set[tuple[str, str, str]]:
    readme = values_doc.README.read_text()
    section = readme.split("## RBAC", 1)[1].split("\n## ", 1)[0]
    rules = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[1].startswith("`"):
            continue
        group = "" if cells[0] == "core" else cells[0].strip("`")
        for verb in cells[2].split(","):
            rules.add((group, cells[1].strip("`"), verb.strip()))
    return rules


def test_the_rbac_table_is_what_the_chart_grants(render: Callable[[str], list[Manifest]]) -> None:
    granted = {t[1:] for name in ("defaults", "everything") for t in granted_triples(grants(render(name)))}
    assert _readme_rbac() == granted


def test_the_relabelling_shown_is_the_pod_monitors(render: Callable[[str], list[Manifest]]) -> None:
    readme = values_doc.README.read_text()
    shown = yaml.safe_load(readme.split("relabel_configs:", 1)[1].split("```", 1)[0])
    relabelings = one(render("everything"), "PodMonitor")["spec"]["podMetricsEndpoints"][0]["relabelings"]
    assert [(r["source_labels"], r["target_label"]) for r in shown] == [
        (r["sourceLabels"], r["targetLabel"]) for r in relabelings
    ]


def _install_commands(readme: str) -> list[list[str]]:
    """The `helm install` commands of the README's shell blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", readme, flags=re.DOTALL):
        text = re.sub(r"\\\n\s*", " ", block)
        for line in text.splitlines():
            if line.strip().startswith("helm install "):
                commands.append(shlex.split(line, comments=True))
    return commands


def test_the_install_commands_work_as_written(helm: Helm) -> None:
    commands = _install_commands(values_doc.README.read_text())
    assert len(commands) >= 2
    for command in commands:
        assert command[:6] == ["helm", "install", "qwenops", "charts/qwenops", "-n", "qwenops"], command
        done = helm.run("install", "--dry-run=client", *command[2:], check=False)
        assert done.returncode == 0, f"{' '.join(command)}:\n{done.stderr}"
        objects = [
            doc for doc in yaml.safe_load_all(done.stdout.split("MANIFEST:", 1)[1].split("NOTES:")[0]) if doc
        ]
        assert one(objects, "Deployment")["metadata"]["namespace"] == "qwenops"


def test_the_notes_example_is_a_qwendeployment_the_operator_accepts(helm: Helm) -> None:
    done = helm.run("install", "--dry-run=client", "qwenops", "charts/qwenops", "-n", "qwenops")
    notes = done.stdout.split("NOTES:", 1)[1]
    assert "examples/" not in notes  # a file of the git repository, not of the installed chart
    example = re.search(r"kubectl apply -f - <<EOF\n(.*?)\n\s*EOF", notes, flags=re.DOTALL)
    assert example is not None, notes
    manifest = yaml.safe_load(textwrap.dedent(example.group(1)))
    assert manifest["kind"] == "QwenDeployment"
    parse_spec(manifest["metadata"]["name"], manifest["spec"])  # raises InvalidSpecError if refused


def test_the_alerts_table_is_the_rules(helm: Helm) -> None:
    readme = values_doc.README.read_text()
    section = readme.split("## Alerts", 1)[1].split("\n## ", 1)[0]
    shown = {
        cells[0].strip("` "): cells[1].strip()
        for line in section.splitlines()
        if line.startswith("| `") and (cells := [c.strip() for c in line.strip().strip("|").split("|")])
    }
    rendered = {
        rule["alert"]: rule["labels"]["severity"]
        for group in one(helm.template(sets={"prometheusRule.enabled": "true"}), "PrometheusRule")["spec"]["groups"]
        for rule in group["rules"]
    }
    assert shown == rendered
