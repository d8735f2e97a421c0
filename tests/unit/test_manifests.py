"""The manifest corpus: the CRD (schema + CEL, checked offline) and the models agree.

Each file under `tests/manifests/invalid/` makes one mistake and says, in a
`# expect: <field>` line, which field the refusal must name. Both the
API-server stand-in (`tests.schema_check.admit`) and `parse_spec` must refuse
it with a message naming that field. Each file under `valid/` (and each example
under `examples/`) must pass both, and the models must read the object the API
server would store (CRD defaults applied) exactly as they read the manifest: the
CRD's defaults and the models' defaults agree.
"""

import re
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from celpy import celtypes

from qwenops.api.crd import build_crd
from qwenops.api.errors import InvalidSpecError
from qwenops.api.spec import parse_spec
from tests.schema_check import KUBERNETES_FUNCTIONS, admit, stored, to_cel

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "tests" / "manifests"
INVALID = sorted((MANIFESTS / "invalid").glob("*.yaml"))
VALID = sorted((MANIFESTS / "valid").glob("*.yaml")) + sorted((ROOT / "examples").glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\S+)\s*$", re.MULTILINE)


def load(path: Path) -> dict[str, Any]:
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(manifest, dict), f"{path.name} is not a YAML mapping"
    return manifest


def expected_field(path: Path) -> str:
    found = EXPECT.findall(path.read_text(encoding="utf-8"))
    assert len(found) == 1, f"{path.name} needs exactly one `# expect: <field>` line"
    return str(found[0])


def flat(messages: list[str]) -> list[str]:
    """`steps[0].pause` (Kubernetes) and `steps.0.pause` (pydantic) read alike."""
    return [re.sub(r"\[(\d+)\]", r".\1", message) for message in messages]


def pydantic_errors(manifest: dict[str, Any]) -> list[str]:
    try:
        parse_spec(manifest["metadata"]["name"], manifest.get("spec"))
    except InvalidSpecError as exc:
        return exc.problems
    return []


def name(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def test_corpus_is_big_enough() -> None:
    assert len(INVALID) >= 30
    assert len([path for path in VALID if path.parent.name == "valid"]) >= 5


@pytest.mark.parametrize("path", INVALID, ids=name)
def test_invalid_manifest_is_refused_by_the_crd(path: Path) -> None:
    field = expected_field(path)
    errors = flat(admit(load(path)))
    assert errors, f"the CRD admits {path.name}"
    assert any(field in error for error in errors), f"no CRD error names {field}: {errors}"


@pytest.mark.parametrize("path", INVALID, ids=name)
def test_invalid_manifest_is_refused_by_the_models(path: Path) -> None:
    field = expected_field(path)
    errors = flat(pydantic_errors(load(path)))
    assert errors, f"parse_spec accepts {path.name}"
    assert any(field in error for error in errors), f"no model error names {field}: {errors}"


@pytest.mark.parametrize("path", VALID, ids=name)
def test_valid_manifest_is_admitted_by_the_crd(path: Path) -> None:
    assert admit(load(path)) == []


@pytest.mark.parametrize("path", VALID, ids=name)
def test_valid_manifest_is_accepted_by_the_models(path: Path) -> None:
    assert pydantic_errors(load(path)) == []


@pytest.mark.parametrize("path", VALID, ids=name)
def test_valid_manifest_has_no_expectation(path: Path) -> None:
    assert not EXPECT.search(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", VALID, ids=name)
def test_crd_defaults_agree_with_the_models(path: Path) -> None:
    manifest = load(path)
    as_written = parse_spec(manifest["metadata"]["name"], manifest["spec"])
    as_stored = stored(manifest)
    assert parse_spec(as_stored["metadata"]["name"], as_stored["spec"]) == as_written


TRACK_NAMES = [MANIFESTS / "invalid" / f"name-ends-in-{track}.yaml" for track in ("stable", "canary")]


@pytest.mark.parametrize("path", TRACK_NAMES, ids=name)
def test_a_name_refused_on_create_is_kept_by_a_stored_object(path: Path) -> None:
    """Names ending in -stable or -canary are refused when created, not when an object stored
    before the rule is updated (its status written, its spec edited): it keeps being served."""
    before = stored(load(path))
    after = {**before, "spec": {**before["spec"], "replicas": 3}}
    assert admit(load(path)) != []
    assert admit(after, old=before) == []


# --- the stand-in itself ------------------------------------------------------------------------

MINIMAL: dict[str, Any] = {
    "apiVersion": "qwenops.io/v1alpha1",
    "kind": "QwenDeployment",
    "metadata": {"name": "chat"},
    "spec": {
        "model": {
            "name": "Qwen/Qwen3-8B",
            "revision": "9c925d64d72725edaf899c6cb9c377fd0709d9c5",
            "servedModelName": "qwen3-8b",
        }
    },
}


def with_spec(**fields: Any) -> dict[str, Any]:
    return {**MINIMAL, "spec": {**MINIMAL["spec"], **fields}}


def test_defaulting_fills_absent_objects_and_then_their_fields() -> None:
    spec = stored(MINIMAL)["spec"]
    assert spec["engine"] == {"tensorParallelSize": 1, "gpuMemoryUtilization": 0.9}
    assert spec["nodePool"] == {"gpusPerReplica": 1, "gpuResource": "nvidia.com/gpu"}
    assert spec["rollout"]["analysis"]["slos"] == {}
    assert "steps" not in spec["rollout"]  # empty-list factories are not defaulted


def test_nulls_are_pruned_or_defaulted() -> None:
    spec = stored(with_spec(replicas=None, engine={"image": None}))["spec"]
    assert spec["replicas"] == 1
    assert "image" not in spec["engine"]


def test_unknown_fields_are_found_inside_lists_but_not_in_free_form_objects() -> None:
    tolerations = [{"key": "a", "operator": "Exists", "effct": "NoSchedule"}]
    assert admit(with_spec(nodePool={"tolerations": tolerations})) == [
        "spec.nodePool.tolerations[0].effct: unknown field (not declared in the schema)"
    ]
    assert admit(with_spec(nodePool={"affinity": {"anything": {"goes": 1}}})) == [
        "spec.nodePool.affinity.anything: unknown field (not declared in the schema)"
    ]
    # The generated CRD has no free-form object any more; a CRD with one keeps what it holds.
    free_form = build_crd()
    spec_schema = free_form["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec_schema["properties"]["nodePool"]["properties"]["affinity"] = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    assert admit(with_spec(nodePool={"affinity": {"anything": {"goes": 1}}}), free_form) == []


def test_patterns_use_re2_semantics() -> None:
    # Python's `$` also matches before a final newline; Go's (RE2's) does not.
    model = {**MINIMAL["spec"]["model"], "name": "Qwen/Qwen3-8B\n"}
    assert admit(with_spec(model=model)) == [
        "spec.model.name: 'Qwen/Qwen3-8B\\n' does not match "
        "'^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$'"
    ]


def test_rules_are_skipped_after_a_blocking_error() -> None:
    errors = admit(with_spec(replicas="two", engine={"tensorParallelSize": 2}))
    assert errors[0].startswith("spec.replicas:")
    assert "not checked" in errors[-1]
    assert not any("gpusPerReplica" in error for error in errors)


@pytest.mark.parametrize(
    ("weights", "expected"),
    [([], True), ([1], True), ([1, 2, 2, 3], True), ([3, 1], False), ([10, 50, 20], False)],
)
def test_is_sorted_follows_the_kubernetes_list_library(weights: list[int], expected: bool) -> None:
    environment = celpy.Environment()
    program = environment.program(environment.compile("self.isSorted()"), functions=KUBERNETES_FUNCTIONS)
    value = to_cel(weights, {"type": "array", "items": {"type": "integer"}})
    assert program.evaluate({"self": value}) == celtypes.BoolType(expected)


def test_numbers_reach_cel_as_doubles() -> None:
    assert isinstance(to_cel(1, {"type": "number"}), celtypes.DoubleType)
    assert isinstance(to_cel(1, {"type": "integer"}), celtypes.IntType)
