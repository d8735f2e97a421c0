"""The generated CRD: current, structural, and shaped the way `kubectl` users expect."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from qwenops import cli
from qwenops.api import crd
from qwenops.api.naming import GROUP, KIND, PLURAL, VERSION
from qwenops.api.spec import NAME_RULES
from tests.schema_check import compile_rule, openapi_validator

CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / "qwenops.io_qwendeployments.yaml"
CEL = "x-kubernetes-validations"
PRESERVE = "x-kubernetes-preserve-unknown-fields"


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    return crd.build_crd()


@pytest.fixture(scope="module")
def schema(built: dict[str, Any]) -> dict[str, Any]:
    root: dict[str, Any] = built["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return root


def nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its path: properties, items and additionalProperties."""
    yield path or "<root>", schema
    for name, child in schema.get("properties", {}).items():
        yield from nodes(child, f"{path}.{name}".lstrip("."))
    if "items" in schema:
        yield from nodes(schema["items"], f"{path}[*]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], f"{path}.*")


def keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from keys(item)


def node(schema: dict[str, Any], path: str) -> dict[str, Any]:
    return dict(nodes(schema))[path]


# --- the checked-in file ------------------------------------------------------------------


def test_checked_in_crd_is_current() -> None:
    assert CRD_FILE.exists(), f"{CRD_FILE} is missing: run `make crds`"
    assert CRD_FILE.read_text(encoding="utf-8") == crd.render(), (
        f"{CRD_FILE.relative_to(CRD_FILE.parents[1])} is stale: the models changed; run `make crds`"
    )


def test_file_says_it_is_generated() -> None:
    head = CRD_FILE.read_text(encoding="utf-8").splitlines()[:2]
    assert "make crds" in head[0]
    assert "Do not edit by hand" in head[1]


def test_file_parses_back_to_build_crd(built: dict[str, Any]) -> None:
    assert yaml.safe_load(CRD_FILE.read_text(encoding="utf-8")) == built


def test_output_is_deterministic() -> None:
    assert crd.render() == crd.render()


def test_main_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "crds" / "out.yaml"
    assert crd.main(["--check", "-o", str(target)]) == 1
    assert crd.main(["-o", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == crd.render()
    assert crd.main(["--check", "-o", str(target)]) == 0
    target.write_text(crd.render() + "# hand edit\n", encoding="utf-8")
    assert crd.main(["--check", "-o", str(target)]) == 1
    assert "make crds" in capsys.readouterr().err


# --- structural -----------------------------------------------------------------------------


def test_no_ref_or_openapi_constructs_kubernetes_refuses(built: dict[str, Any]) -> None:
    forbidden = {"$ref", "$defs", "definitions", "anyOf", "allOf", "oneOf", "not", "title"}
    forbidden |= {"patternProperties", "propertyNames", "const", "$schema"}
    assert forbidden.isdisjoint(keys(built["spec"]["versions"][0]["schema"]))


def test_every_node_has_a_type_or_preserves_unknown_fields(schema: dict[str, Any]) -> None:
    # x-kubernetes-int-or-string is the one untyped leaf a structural schema allows (maxSurge).
    untyped = [
        path
        for path, n in nodes(schema)
        if "type" not in n and not n.get(PRESERVE) and not n.get("x-kubernetes-int-or-string")
    ]
    assert untyped == []


def test_no_additional_properties_false_and_never_next_to_properties(schema: dict[str, Any]) -> None:
    for path, n in nodes(schema):
        assert n.get("additionalProperties") is not False, path
        assert not ("additionalProperties" in n and "properties" in n), path
        assert "nullable" not in n, f"{path}: prefer dropping null to nullable"


def test_no_object_is_free_form_so_nothing_nests_without_bound(schema: dict[str, Any]) -> None:
    """A free-form object takes any nesting: a few thousand levels stop every JSON reader of the
    object (Python's json raises RecursionError), the operator's included. The affinity is
    structured like core/v1 Affinity for that reason."""
    assert [path for path, n in nodes(schema) if n.get(PRESERVE)] == []
    affinity = node(schema, "spec.nodePool.affinity")
    assert set(affinity["properties"]) == {"nodeAffinity", "podAffinity", "podAntiAffinity"}
    term = node(schema, "spec.nodePool.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[*]")
    assert term["required"] == ["topologyKey"]
    objects = [(p, n) for p, n in nodes(schema) if n.get("type") == "object" and p != "metadata"]
    for path, n in objects:
        assert "properties" in n or "additionalProperties" in n, path


def test_exclusive_bounds_are_openapi_v3_0_booleans(schema: dict[str, Any]) -> None:
    for path, n in nodes(schema):
        for bound in ("exclusiveMinimum", "exclusiveMaximum"):
            if bound in n:
                assert n[bound] is True, path
                assert bound.replace("exclusiveM", "m") in n, path
    assert node(schema, "spec.engine.gpuMemoryUtilization")["minimum"] == 0


def test_defaults_are_valid_pruned_and_not_null(schema: dict[str, Any]) -> None:
    defaulted = [(path, n) for path, n in nodes(schema) if "default" in n]
    assert defaulted
    for path, n in defaulted:
        assert n["default"] is not None, path
        assert list(openapi_validator(n).iter_errors(n["default"])) == [], path
        if isinstance(n["default"], dict):
            assert set(n["default"]) <= set(n.get("properties", {})), f"{path}: unpruned default"


def test_scalar_defaults_the_spec_rule_relies_on(schema: dict[str, Any]) -> None:
    assert node(schema, "spec.engine")["default"] == {}
    assert node(schema, "spec.nodePool")["default"] == {}
    assert node(schema, "spec.engine.tensorParallelSize")["default"] == 1
    assert node(schema, "spec.nodePool.gpusPerReplica")["default"] == 1
    assert node(schema, "spec.replicas")["default"] == 1
    assert "default" not in node(schema, "spec.engine.extraArgs")  # empty factories: no default


def test_enums_are_kept(schema: dict[str, Any]) -> None:
    assert node(schema, "spec.nodePool.tolerations[*].operator")["enum"] == ["Exists", "Equal"]
    assert "RolledBack" in node(schema, "status.phase")["enum"]


# --- CEL rules --------------------------------------------------------------------------------


def rules(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(path, rule) for path, n in nodes(schema) for rule in n.get(CEL, [])]


def test_cel_rules_sit_on_the_right_nodes(schema: dict[str, Any]) -> None:
    where = sorted({path for path, _ in rules(schema)})
    assert where == [
        "<root>",
        "spec",
        "spec.engine.extraArgs",
        "spec.engine.image",
        "spec.model",
        "spec.model.files[*].name",
        "spec.model.hubEndpoint",
        "spec.model.name",
        "spec.model.revision",
        "spec.model.size",
        "spec.model.tokenSecret.key",
        "spec.nodePool.gpuResource",
        "spec.nodePool.tolerations[*]",
        "spec.nodePool.tolerations[*].key",
        "spec.nodePool.tolerations[*].value",
        "spec.pod.annotations",
        "spec.pod.labels",
        "spec.rollout.analysis.probes.prompts",
        "spec.rollout.analysis.probes.prompts[*]",
        "spec.rollout.analysis.prometheus.url",
        "spec.rollout.budget",
        "spec.rollout.budget.maxSurge",
        "spec.rollout.budget.maxUnavailable",
        "spec.rollout.steps",
        "spec.rollout.trafficRouting",
        "spec.rollout.trafficRouting.inferencePool.endpointPicker",
        "spec.rollout.trafficRouting.inferencePool.endpointPicker.run.image",
    ]
    assert schema[CEL] == NAME_RULES


def test_cel_rules_compile_and_name_their_field(schema: dict[str, Any]) -> None:
    for path, rule in rules(schema):
        compile_rule(rule["rule"])
        field = "metadata.name" if path == "<root>" else path
        assert rule["message"].startswith(field.split("[")[0]), (path, rule["message"])


def test_values_the_rules_read_are_bounded(schema: dict[str, Any]) -> None:
    """Kubernetes estimates a rule's cost from maxItems / maxLength; unbounded, it refuses the CRD."""
    for path, n in nodes(schema):
        if CEL not in n or path == "<root>":
            continue
        if n.get("type") == "array":
            assert "maxItems" in n, path
            item = n["items"]
            assert item["type"] != "string" or "maxLength" in item, path
        if n.get("type", "string") == "string":  # an int-or-string (no type) may be a string
            assert "maxLength" in n, path


def test_status_carries_no_rules(schema: dict[str, Any]) -> None:
    assert CEL not in set(keys(schema["properties"]["status"]))


# --- shape for kubectl ------------------------------------------------------------------------


def test_names_scope_and_version(built: dict[str, Any]) -> None:
    assert built["apiVersion"] == "apiextensions.k8s.io/v1"
    assert built["metadata"]["name"] == f"{PLURAL}.{GROUP}"
    spec = built["spec"]
    assert spec["group"] == GROUP == "qwenops.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == KIND == "QwenDeployment"
    assert spec["names"]["plural"] == "qwendeployments"
    assert spec["names"]["shortNames"] == ["qwd"]
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == (VERSION, True, True)


def test_status_subresource(built: dict[str, Any]) -> None:
    assert set(built["spec"]["versions"][0]["subresources"]) == {"status", "scale"}


def test_printer_columns(built: dict[str, Any]) -> None:
    columns = [
        (c["name"], c["type"], c["jsonPath"])
        for c in built["spec"]["versions"][0]["additionalPrinterColumns"]
    ]
    assert columns == [
        ("Stable", "string", ".status.stable.revision"),
        ("Canary", "string", ".status.canary.revision"),
        ("Weight", "integer", ".status.canary.weight"),
        ("Phase", "string", ".status.phase"),
        ("Pods", "string", ".status.startup.stage"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]


def test_printer_columns_point_at_schema_fields(schema: dict[str, Any], built: dict[str, Any]) -> None:
    paths = dict(nodes(schema))
    for column in built["spec"]["versions"][0]["additionalPrinterColumns"]:
        if column["jsonPath"].startswith(".status"):
            field = paths[column["jsonPath"].lstrip(".")]
            assert field["type"] == column["type"], column


def test_root_requires_spec_only(schema: dict[str, Any]) -> None:
    assert schema["required"] == ["spec"]
    assert set(schema["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert schema["properties"]["metadata"] == {"type": "object"}
    assert "required" not in schema["properties"]["status"]


def test_the_chart_ships_the_same_crd() -> None:
    """The chart's CRD template (templates/crd.yaml) reads this copy: helm reads files inside the chart only."""
    root = Path(__file__).resolve().parents[2]
    shipped = root / "charts" / "qwenops" / "files" / "crds" / "qwenops.io_qwendeployments.yaml"
    assert shipped.read_text() == (root / "crds" / "qwenops.io_qwendeployments.yaml").read_text(), (
        "charts/qwenops/files/crds/ is stale: run `make crds`"
    )


def test_qwenops_crds_prints_and_writes_only_the_file_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["crds"]) == 0
    assert capsys.readouterr().out == crd.render()
    assert cli.main(["crds", "-o", "-"]) == 0
    assert capsys.readouterr().out == crd.render()
    assert list(tmp_path.iterdir()) == []  # neither ./crds/ nor a file named "-"
    assert cli.main(["crds", "-o", "out/crd.yaml"]) == 0
    assert (tmp_path / "out" / "crd.yaml").read_text(encoding="utf-8") == crd.render()
    said = capsys.readouterr()
    assert said.out == ""
    assert "wrote out/crd.yaml" in said.err
    assert cli.main(["crds", "--check", "-o", "out/crd.yaml"]) == 0
