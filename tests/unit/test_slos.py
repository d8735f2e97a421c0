"""The SLO registry (`api.slos`): the CRD, the analysis, the status and `kubectl qwen` take every SLO from it."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic.alias_generators import to_camel

from qwenops.analysis.checks import without_queries
from qwenops.analysis.probe_checks import ProbeRun, probe_checks
from qwenops.analysis.queries import Reading, build_queries
from qwenops.analysis.verdict import assess
from qwenops.api import slos
from qwenops.api.crd import build_crd
from qwenops.api.probes import Probes
from qwenops.api.slos import ERRORS, REQUESTS, SLO, SLOS
from qwenops.api.spec import Analysis
from qwenops.api.status import AnalysisReading
from qwenops.kubectl.screens.slo_text import declared_slos, threshold_text

AT = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
ROOT = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
ANALYSIS = ROOT["spec"]["properties"]["rollout"]["properties"]["analysis"]["properties"]
STATUS = ROOT["status"]["properties"]["analysis"]["properties"]


def declaring(*declared: SLO, **settings: Any) -> Analysis:
    return Analysis.model_validate({"slos": {slo.key: slo.example for slo in declared}, **settings})


def healthy(analysis: Analysis, revision: str, requests: int = 1000, errors: int = 0) -> Reading:
    """A reading well inside every SLO at its example threshold."""
    queries = build_queries(analysis, namespace="llm", deployment="chat", revision=revision)
    values: dict[str, float | None] = {REQUESTS.key: requests, ERRORS.key: errors}
    values |= {slo.query.key: slo.example / 2 for slo in SLOS if slo.judged_by == "threshold"}
    return Reading.of(queries, **values)


def breaching(slo: SLO, analysis: Analysis) -> tuple[Reading, Reading]:
    """(canary, stable): the canary breaches `slo` at its example threshold, and nothing else."""
    canary, stable = healthy(analysis, "c1"), healthy(analysis, "s1", requests=20_000, errors=20)
    match slo.judged_by:
        case "errorRate" | "errorRateVsStable":
            canary = healthy(analysis, "c1", errors=100)  # 10 %: ten times 1 %, a hundred times the stable
        case "threshold":
            values = {query.key: measurement.value for query, measurement in canary.measurements.items()}
            values[slo.query.key] = slo.example * 2
            canary = Reading.of(
                build_queries(analysis, namespace="llm", deployment="chat", revision="c1"), **values
            )
    return canary, stable


def test_keys_are_unique_and_each_query_is_declared() -> None:
    assert len({slo.key for slo in SLOS}) == len(SLOS)
    assert len({query.key for query in slos.QUERIES}) == len(slos.QUERIES)
    readings = [slo.reading for slo in SLOS if slo.reading]
    assert len(set(readings)) == len(readings)
    for slo in SLOS:
        assert slo.query in slos.QUERIES, slo.key
        assert 0 < slo.example <= slo.maximum, slo.key


def test_the_crd_has_a_threshold_for_each_slo_with_its_bounds() -> None:
    fields = ANALYSIS["slos"]["properties"]
    assert list(fields) == [slo.key for slo in SLOS]
    for slo in SLOS:
        bounds = {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": slo.maximum}
        assert fields[slo.key] == bounds | ({"description": slo.description} if slo.description else {})


def test_the_crd_has_an_override_for_each_query() -> None:
    fields = ANALYSIS["queries"]["properties"]
    assert list(fields) == [query.key for query in slos.QUERIES]
    assert {field["pattern"] for field in fields.values()} == {r"\{selector\}"}


def test_the_status_keeps_each_reading_and_each_check() -> None:
    for slo in SLOS:
        if slo.reading is not None:
            assert STATUS[to_camel(slo.reading)]["type"] == "number", slo.key
    # Every SLO, and both probe checks (the probe SLO and its comparison with the stable): a
    # reading with more checks than the schema allows would be a status write refused.
    probes = Probes.model_validate(
        {
            "prompts": [{"name": "hi", "messages": [{"role": "user", "content": "hi"}]}],
            "maxFailureRateVsStable": 2,
        }
    )
    most = len(SLOS) + len(probe_checks(probes, ProbeRun(canary=(), stable=()), 0.99))
    assert STATUS["checks"]["maxItems"] >= most


def test_every_slo_declared_is_judged_in_the_registry_order_and_recorded() -> None:
    analysis = declaring(*SLOS)
    verdict = assess(analysis, healthy(analysis, "c1"), healthy(analysis, "s1", requests=20_000, errors=20))
    assert verdict.outcome == "Passed", verdict.message
    assert [(check.slo, check.outcome) for check in verdict.checks] == [
        ("minRequests", "Passed"),
        *((slo.key, "Passed") for slo in SLOS),
    ]
    status = verdict.as_status(AT)
    assert isinstance(status, AnalysisReading)
    assert [check.slo for check in status.checks] == [slo.key for slo in SLOS]
    for slo in SLOS:
        if slo.reading is not None:
            assert verdict.readings[slo] is not None, slo.key
            assert getattr(status, slo.reading) == verdict.readings[slo], slo.key


@pytest.mark.parametrize("slo", SLOS, ids=[slo.key for slo in SLOS])
def test_a_breach_of_one_slo_fails_it_alone(slo: SLO) -> None:
    analysis = declaring(*SLOS)
    canary, stable = breaching(slo, analysis)
    verdict = assess(declaring(slo), canary, stable)
    assert [check.slo for check in verdict.failed] == [slo.key], verdict.message
    (check,) = verdict.failed
    assert check.threshold == slo.example
    assert check.query == canary[slo.query].query


def test_queries_come_out_of_a_message_whatever_the_promql_holds() -> None:
    """The message's grammar is the analysis': ` | ` then an SLO's key starts the next breach."""
    trap = 'sum(increase(errors_total{{selector},note=" | x: y"}[{window}]))'
    analysis = declaring(*SLOS, queries={ERRORS.key: trap})
    canary = healthy(analysis, "c1", errors=100)
    values = {query.key: measurement.value for query, measurement in canary.measurements.items()}
    values |= {slo.query.key: slo.example * 2 for slo in SLOS if slo.judged_by == "threshold"}
    queries = build_queries(analysis, namespace="llm", deployment="chat", revision="c1")
    verdict = assess(
        analysis, Reading.of(queries, **values), healthy(analysis, "s1", requests=20_000, errors=20)
    )
    assert [check.slo for check in verdict.failed] == [slo.key for slo in SLOS]
    expected = f"SLO breached over {analysis.window}: " + " | ".join(
        f"{check.slo}: {check.detail}" for check in verdict.failed
    )
    assert without_queries(verdict.message) == expected


def test_kubectl_qwen_has_a_row_for_each_slo_the_stable_comparison_last() -> None:
    spec = {"rollout": {"analysis": {"slos": {slo.key: slo.example for slo in SLOS}}}}
    rows = [slo.key for slo, _ in declared_slos(spec)]
    assert sorted(rows) == sorted(slo.key for slo in SLOS)
    assert rows[-1] == slos.MAX_ERROR_RATE_VS_STABLE.key
    for slo in SLOS:
        assert threshold_text(slo, slo.example)
