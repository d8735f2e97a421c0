"""dashboards/qwenops.json: current, importable, and every query sound and about series that exist."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from dashboards import build, document, slo_panels
from images.serving.vllm_sim import SERIES_NAMES, escaped
from qwenops.analysis.queries import render_query
from qwenops.api import slos
from qwenops.io import metrics as operator_metrics
from qwenops_testing.prometheus import REQUIRE_ENV
from tests.dashboards import promql

DASHBOARD: dict[str, Any] = json.loads(build.OUTPUT.read_text(encoding="utf-8"))
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def operator_series() -> set[str]:
    """The series names the operator's own metrics expose (the `_created` ones left out)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    names: set[str] = set()
    for value in vars(operator_metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                names |= {family.name + suffix for suffix in suffixes[family.type]}
    return names


OPERATOR_SERIES = operator_series()
VLLM_SERIES = set(SERIES_NAMES) | {escaped(name) for name in SERIES_NAMES}
DEFAULT_QUERIES = tuple(query.template for query in slos.QUERIES)
KNOWN_SERIES = OPERATOR_SERIES | VLLM_SERIES


def panels() -> list[dict[str, Any]]:
    return [panel for panel in DASHBOARD["panels"] if panel["type"] != "row"]


def queries() -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and Prometheus annotation."""
    for panel in panels():
        for target in panel["targets"]:
            yield f"panel {panel['id']} {panel['title']!r} {target['refId']}", target["expr"]
    for annotation in DASHBOARD["annotations"]["list"]:
        if "expr" in annotation:
            yield f"annotation {annotation['name']!r}", annotation["expr"]


def variable_selectors() -> Iterator[tuple[str, str]]:
    """(variable, series selector) of every `label_values(selector, label)` variable."""
    for variable in DASHBOARD["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            assert query.startswith("label_values(") and query.endswith(")"), query
            selector, _, label = query.removeprefix("label_values(").removesuffix(")").rpartition(",")
            assert label.strip().isidentifier(), query
            yield variable["name"], selector.strip()


def variable_values() -> dict[str, str]:
    values = dict(promql.GRAFANA_GLOBALS)
    for variable in DASHBOARD["templating"]["list"]:
        if variable["type"] == "textbox":
            values[variable["name"]] = variable["query"]
    values |= {"namespace": "llm", "deployment": "chat", "revision": "a1b2c3d4e5|7d9f4c21ab"}
    values["datasource"] = "prometheus"
    return values


def test_the_checked_in_dashboard_is_current() -> None:
    assert build.OUTPUT.read_text(encoding="utf-8") == document.text(), "run python -m dashboards.build"
    assert build.main(["--check"]) == 0


def test_it_is_an_importable_dashboard() -> None:
    assert DASHBOARD["uid"] == document.UID
    assert DASHBOARD["title"]
    assert isinstance(DASHBOARD["schemaVersion"], int)
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in DASHBOARD["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
    for panel in panels():
        assert panel["datasource"] == DATASOURCE, panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE
            assert target["expr"].strip()


def test_panels_do_not_overlap() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in DASHBOARD["panels"]:
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']!r} overlaps {taken[(x, y)]!r}"
                taken[(x, y)] = panel["title"]


def test_the_datasource_is_a_prometheus_variable() -> None:
    first = DASHBOARD["templating"]["list"][0]
    assert (first["type"], first["name"], first["query"]) == ("datasource", "datasource", "prometheus")
    for variable in DASHBOARD["templating"]["list"][1:]:
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE


def test_every_variable_used_is_defined_and_every_one_defined_is_used() -> None:
    defined = {variable["name"] for variable in DASHBOARD["templating"]["list"]}
    used: set[str] = set()
    texts = [expr for _, expr in queries()]
    texts += [
        variable["query"] for variable in DASHBOARD["templating"]["list"] if variable["type"] == "query"
    ]
    texts += [json.dumps(panel["datasource"]) for panel in panels()]
    for text in texts:
        used |= promql.variables(text)
    assert used - set(promql.GRAFANA_GLOBALS) <= defined
    assert {"namespace", "deployment", "revision", "datasource"} <= defined
    assert defined <= used


def test_the_variables_chain_namespace_deployment_revision() -> None:
    selectors = dict(variable_selectors())
    assert set(selectors) == {"namespace", "deployment", "revision"}
    assert promql.variables(selectors["deployment"]) == {"namespace"}
    assert promql.variables(selectors["revision"]) == {"namespace", "deployment"}
    revision = next(v for v in DASHBOARD["templating"]["list"] if v["name"] == "revision")
    assert revision["multi"] and revision["includeAll"]


@pytest.mark.parametrize(("where", "expr"), list(queries()), ids=[where for where, _ in queries()])
def test_each_query_is_balanced_and_selects_series_that_exist(where: str, expr: str) -> None:
    assert promql.balanced(expr), where
    _, names = promql.functions_and_names(expr)
    assert names <= KNOWN_SERIES, f"{where}: unknown series {sorted(names - KNOWN_SERIES)}"
    for operator, pattern in promql.name_patterns(expr):
        assert operator == "=~"
        matched = promql.matching(pattern, VLLM_SERIES)
        colon = {name for name in matched if ":" in name}
        assert colon, f"{where}: {pattern} matches no vLLM series"
        assert {escaped(name) for name in colon} <= matched, f"{where}: {pattern} misses the escaped names"


def test_the_vllm_panels_read_what_the_analysis_reads() -> None:
    """The same series, handlers and labels as the operator's default queries."""
    dashboard_text = " ".join(expr for _, expr in queries())
    for query in DEFAULT_QUERIES:
        _, names = promql.functions_and_names(query)
        for name in names:
            assert name in dashboard_text
        for _, pattern in promql.name_patterns(query):
            assert pattern in dashboard_text
    assert "|".join(slos.INFERENCE_HANDLERS) in dashboard_text
    assert 'status="5xx"' in dashboard_text


@pytest.mark.parametrize("query", slos.QUERIES, ids=[query.key for query in slos.QUERIES])
def test_the_analysis_reads_series_vllm_exposes(query: slos.Query) -> None:
    """The registry's default queries, balanced and about series the simulator (vLLM's names) serves."""
    expr = render_query(query.template, selector='namespace="llm"', window="120s")
    assert promql.balanced(expr)
    _, names = promql.functions_and_names(expr)
    assert names <= VLLM_SERIES, sorted(names - VLLM_SERIES)
    for _, pattern in promql.name_patterns(expr):
        matched = promql.matching(pattern, VLLM_SERIES)
        assert matched and {escaped(name) for name in matched if ":" in name} <= matched, pattern


def test_each_slo_drawn_has_its_line_and_its_variable() -> None:
    """Every SLO of the registry with a panel: a dashed line at its variable, set to its example."""
    textboxes = {v["name"]: v for v in DASHBOARD["templating"]["list"] if v["type"] == "textbox"}
    assert set(textboxes) == {slo_panels.slo_variable(slo) for slo in slo_panels.DRAWN}
    drawn_lines = {
        target["expr"]: panel["title"] for panel in panels() for target in panel["targets"] if "$slo_" in target["expr"]
    }
    for slo in slo_panels.DRAWN:
        variable = slo_panels.slo_variable(slo)
        assert float(textboxes[variable]["query"]) == slo.example
        assert textboxes[variable]["label"] == f"SLO {slo.key}"
        assert f"vector(${variable})" in drawn_lines, slo.key
    drawn = {slo.judged_by for slo in slo_panels.DRAWN}
    assert {slo.judged_by for slo in slos.SLOS} - drawn == {"errorRateVsStable"}


def test_every_operator_metric_has_a_panel() -> None:
    dashboard_text = " ".join(expr for _, expr in queries())
    families = {name.removesuffix("_total").removesuffix("_bucket") for name in OPERATOR_SERIES}
    families = {name.removesuffix("_count").removesuffix("_sum") for name in families}
    for family in families:
        assert family in dashboard_text, family


def find_promtool() -> str | None:
    found = shutil.which("promtool")
    if found is None and (prometheus := shutil.which("prometheus")) is not None:
        beside = Path(prometheus).with_name("promtool")
        found = str(beside) if beside.is_file() else None
    return found


def test_promtool_parses_every_query(tmp_path: Path) -> None:
    """Prometheus' own parser, through `promtool check rules`: one recording rule per query."""
    promtool = find_promtool()
    if promtool is None:
        message = "no promtool on PATH: install Debian's prometheus package (apt-get install prometheus)"
        if os.environ.get(REQUIRE_ENV, "").lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{message} (${REQUIRE_ENV} is set)")
        pytest.skip(message)
    values = variable_values()
    exprs = [promql.substitute(expr, values) for _, expr in queries()]
    exprs += [promql.substitute(selector, values) for _, selector in variable_selectors()]
    rules = [{"record": f"qwenops_dashboard:query_{n}", "expr": expr} for n, expr in enumerate(exprs)]
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout
