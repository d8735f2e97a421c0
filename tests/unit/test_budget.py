"""The startup budget: model sizes, cache warmth and the derived progress deadline."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qwenops.api.checkpoint import ModelRef
from qwenops.api.engine import Engine
from qwenops.api.placement import NodePool
from qwenops.api.spec import QwenDeploymentSpec
from qwenops.api.status import HistoryEntry, QwenDeploymentStatus, StableRevision
from qwenops.render.startup_budget import (
    DEADLINE_MARGIN,
    UNKNOWN_SIZE_BYTES,
    cache_is_warm,
    load_budget,
    model_size,
    parse_quantity,
    progress_deadline,
    startup_budget,
)

COMMIT = "9c925d64d72725edaf899c6cb9c377fd0709d9c5"
T0 = datetime(2026, 11, 29, tzinfo=UTC)


def model(name: str = "Qwen/Qwen3-8B", **fields: Any) -> ModelRef:
    return ModelRef(name=name, revision=COMMIT, served_model_name="q", **fields)


@pytest.mark.parametrize(
    ("quantity", "bytes_"),
    [("16Gi", 16 * 2**30), ("16G", 16 * 10**9), ("16.4G", 16_400_000_000), ("500Mi", 500 * 2**20),
     ("1Ti", 2**40), ("1024", 1024), ("1.5k", 1500)],
)  # fmt: skip
def test_parse_quantity(quantity: str, bytes_: int) -> None:
    assert parse_quantity(quantity) == bytes_


@pytest.mark.parametrize("quantity", ["", "16 Gi", "-1G", "1e9", "16GB", "Gi"])
def test_parse_quantity_refuses_what_the_spec_refuses(quantity: str) -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        parse_quantity(quantity)


@pytest.mark.parametrize(
    ("name", "gb", "source_has"),
    [
        ("Qwen/Qwen3-8B", 16.0, "8B parameters at 16-bit"),
        ("Qwen/Qwen2.5-0.5B-Instruct", 1.0, "0.5B parameters"),
        ("Qwen/Qwen3-30B-A3B", 60.0, "30B parameters"),  # every expert is loaded, not just the active 3B
        ("Qwen/Qwen3-235B-A22B-FP8", 235.0, "8-bit"),
        ("Qwen/Qwen2.5-72B-Instruct-AWQ", 36.0, "4-bit"),
        ("Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4", 3.5, "4-bit"),
        ("Qwen/Qwen2.5-7B-Instruct-GPTQ-Int8", 7.0, "8-bit"),
        ("Qwen/QwQ-32B", 64.0, "32B parameters"),
        ("Qwen/Qwen2-VL-72B-Instruct", 144.0, "72B parameters"),
        ("acme/qwen-tiny-test", UNKNOWN_SIZE_BYTES / 1e9, "set spec.model.size"),
        ("acme/Qwen2.5-Math-RM", UNKNOWN_SIZE_BYTES / 1e9, "set spec.model.size"),
    ],
)
def test_model_size_from_the_name(name: str, gb: float, source_has: str) -> None:
    size, source = model_size(model(name))
    assert size / 1e9 == pytest.approx(gb)
    assert source_has in source


def test_a_declared_size_wins_over_the_name() -> None:
    assert model_size(model(size="20Gi")) == (20 * 2**30, "spec.model.size")


def test_budget_grows_with_size_and_a_warm_cache_skips_the_download() -> None:
    small, large = startup_budget(model(size="1G"), warm_cache=False), startup_budget(model(size="100G"), warm_cache=False)
    assert small.download < large.download and small.verify < large.verify and small.load < large.load
    assert large.deadline == large.download + large.verify + large.load + DEADLINE_MARGIN
    warm = startup_budget(model(size="100G"), warm_cache=True)
    assert warm.download == timedelta(0)
    assert (warm.verify, warm.load) == (large.verify, large.load)  # verified again on every start
    assert "warm cache: no download" in warm.describe()
    assert load_budget(model(size="100G")) == large.load


CLAIMED = model(cache={"claimName": "models"})


def stable_of(m: ModelRef) -> StableRevision:
    return StableRevision(revision="r", model=m, engine=Engine(), node_pool=NodePool())


@pytest.mark.parametrize(
    ("case", "candidate", "status", "warm"),
    [
        ("an emptyDir is never warm", model(), QwenDeploymentStatus(stable=stable_of(model())), False),
        ("a claim, never served", CLAIMED, QwenDeploymentStatus(), False),
        ("a claim already serving it", CLAIMED, QwenDeploymentStatus(stable=stable_of(CLAIMED)), True),
        ("a claim that served it before", CLAIMED, QwenDeploymentStatus(history=[
            HistoryEntry(revision="r", model=CLAIMED, outcome="Promoted", at=T0)]), True),
        ("a claim where it was rolled back (perhaps cut short)", CLAIMED, QwenDeploymentStatus(history=[
            HistoryEntry(revision="r", model=CLAIMED, outcome="RolledBack", at=T0)]), False),
        ("another commit on the same claim", CLAIMED, QwenDeploymentStatus(
            stable=stable_of(model(cache={"claimName": "models"}, size="1G"))), False),
    ],
)  # fmt: skip
def test_cache_is_warm(case: str, candidate: ModelRef, status: QwenDeploymentStatus, warm: bool) -> None:
    assert cache_is_warm(candidate, status) is warm, case


def test_progress_deadline_is_declared_or_derived() -> None:
    raw = {"model": {"name": "Qwen/Qwen3-8B", "revision": COMMIT, "servedModelName": "q"}}
    derived, how = progress_deadline(QwenDeploymentSpec.model_validate(raw), QwenDeploymentStatus())
    assert derived == startup_budget(model(), warm_cache=False).deadline
    assert how.startswith("derived: 16.0 GB")
    declared = QwenDeploymentSpec.model_validate({**raw, "rollout": {"progressDeadline": "90m"}})
    assert progress_deadline(declared, QwenDeploymentStatus()) == (
        timedelta(minutes=90),
        "spec.rollout.progressDeadline 90m",
    )
