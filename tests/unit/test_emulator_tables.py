"""Server-side printing (tables.py, columns.py, jsonpath.py): pure, with the time as an argument."""

from __future__ import annotations

import datetime

import kmock
import pytest

from qwenops.api.crd import build_crd
from qwenops_testing.emulator import jsonpath
from qwenops_testing.emulator.columns import human_duration
from qwenops_testing.emulator.errors import ApiError
from qwenops_testing.emulator.tables import Printer, wants_table

NOW = datetime.datetime(2026, 3, 1, 3, 0, tzinfo=datetime.UTC)
QWDS = kmock.resource("qwenops.io", "v1alpha1", "qwendeployments")
CHAT = {
    "metadata": {"name": "chat", "namespace": "llm", "creationTimestamp": "2026-03-01T02:55:00Z"},
    "status": {"phase": "Healthy", "stable": {"revision": "abc"}, "canary": {"weight": 10.0},
               "conditions": [{"type": "Ready", "status": "True"}, {"type": "Degraded", "status": "False"}]},
}  # fmt: skip


def printer() -> Printer:
    printing = Printer()
    printing.install(build_crd())
    return printing


@pytest.mark.parametrize(("seconds", "shown"), [
    (-5, "<invalid>"), (-1, "0s"), (45, "45s"), (119, "119s"), (303, "5m3s"), (600, "10m"), (3 * 3600, "3h"),
    (3 * 3600 + 720, "3h12m"), (30 * 3600, "30h"), (4 * 86400, "4d"), (4 * 86400 + 7200, "4d2h"),
    (40 * 86400, "40d"), (3 * 365 * 86400 + 86400, "3y1d"), (9 * 365 * 86400, "9y"),
])  # fmt: skip
def test_ages_as_apimachinery_prints_them(seconds: int, shown: str) -> None:
    assert human_duration(datetime.timedelta(seconds=seconds)) == shown


def test_printer_columns_typed_as_declared() -> None:
    table = printer().table(QWDS, [CHAT], {}, NOW)
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names == ["Name", "Stable", "Canary", "Weight", "Phase", "Pods", "Age"]
    # an integer column shows a JSON number as an integer; nothing found is an empty cell; a date, its age
    assert table["rows"][0]["cells"] == ["chat", "abc", None, 10, "Healthy", None, "5m"]


def test_include_object_says_what_a_row_carries() -> None:
    printing = printer()
    assert printing.table(QWDS, [CHAT], {}, NOW)["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": CHAT["metadata"]}
    assert printing.table(QWDS, [CHAT], {"includeObject": "Object"}, NOW)["rows"][0]["object"] == CHAT
    assert "object" not in printing.table(QWDS, [CHAT], {"includeObject": "None"}, NOW)["rows"][0]
    with pytest.raises(ApiError) as refused:
        printing.table(QWDS, [CHAT], {"includeObject": "Everything"}, NOW)
    assert refused.value.status == 400


def test_a_kind_without_a_printer_shows_its_creation_time() -> None:
    table = Printer().table(kmock.resource("example.com", "v1", "widgets"), [CHAT], {}, NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Created At"]
    assert table["rows"][0]["cells"] == ["chat", "2026-03-01T02:55:00Z"]


@pytest.mark.parametrize(("path", "found"), [
    (".status.phase", ["Healthy"]),
    ("{.status.stable.revision}", ["abc"]),
    (".status.conditions[0].type", ["Ready"]),
    (".status.conditions[-1].type", ["Degraded"]),
    ('.status.conditions[?(@.type=="Degraded")].status', ["False"]),
    (".status.conditions[*].type", ["Ready", "Degraded"]),
    (".status.missing.deeper", []),
])  # fmt: skip
def test_jsonpath_of_printer_columns(path: str, found: list[object]) -> None:
    assert jsonpath.find(CHAT, jsonpath.compile_path(path)) == found


def test_jsonpath_prints_non_strings_as_json() -> None:
    assert [jsonpath.text(v) for v in ("a", 3, True, {"k": [1]})] == ["a", "3", "true", '{"k":[1]}']


@pytest.mark.parametrize(("accept", "table"), [
    ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
     "application/json", True),
    ("application/json", False),
    ("application/json, application/json;as=Table;v=v1;g=meta.k8s.io", False),
    ("application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", False),
])  # fmt: skip
def test_a_table_only_when_asked_first(accept: str, table: bool) -> None:
    assert wants_table({"Accept": accept}) is table
