"""The CRD is a template of the chart, so that `helm upgrade` upgrades it (Helm installs a chart's
`crds/` once and never again), kept on uninstall unless asked, and left out where it is managed
apart. Its body is the generated file (`make crds`), unchanged."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yaml

from tests.chart.fetch_helm import REPO
from tests.chart.helm import CHART, Helm, Manifest, of_kind, one

GENERATED = REPO / "crds" / "qwenops.io_qwendeployments.yaml"
KEEP = "helm.sh/resource-policy"


def generated() -> dict[str, Any]:
    (crd,) = [doc for doc in yaml.safe_load_all(GENERATED.read_text()) if doc]
    found: dict[str, Any] = crd
    return found


def test_the_chart_has_no_crds_folder() -> None:
    """Helm would create `crds/` before the templates, and the template's CRD would then clash with it."""
    assert not (CHART / "crds").exists()


def test_the_crd_is_the_generated_one_with_the_releases_labels(
    render: Callable[[str], list[Manifest]],
) -> None:
    crd = one(render("defaults"), "CustomResourceDefinition")
    source = generated()
    assert json.dumps(crd["spec"], sort_keys=True) == json.dumps(source["spec"], sort_keys=True)
    assert {k: v for k, v in crd.items() if k != "metadata"} == {
        k: v for k, v in source.items() if k != "metadata"
    }
    assert crd["metadata"]["name"] == source["metadata"]["name"] == "qwendeployments.qwenops.io"
    assert crd["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    for key, value in (source["metadata"].get("annotations") or {}).items():
        assert crd["metadata"]["annotations"][key] == value


def test_the_crd_is_kept_on_uninstall_unless_asked(
    helm: Helm, render: Callable[[str], list[Manifest]]
) -> None:
    kept = one(render("defaults"), "CustomResourceDefinition")
    assert kept["metadata"]["annotations"][KEEP] == "keep"
    dropped = one(helm.template(sets={"crds.keep": "false"}), "CustomResourceDefinition")
    assert KEEP not in (dropped["metadata"].get("annotations") or {})


def test_the_crd_can_be_left_to_others(render: Callable[[str], list[Manifest]]) -> None:
    assert not of_kind(render("platform"), "CustomResourceDefinition")


def test_include_crds_adds_no_second_copy(helm: Helm) -> None:
    assert len(of_kind(helm.template(crds=True), "CustomResourceDefinition")) == 1
