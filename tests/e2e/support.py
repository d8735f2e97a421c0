"""What the e2e tests share: the QwenDeployments they apply, kubectl, bounded waits that explain a timeout.

Every wait has a deadline; when it passes, the assertion message carries what `kubectl qwen status` would
show and more: the QwenDeployment's status, its events, its Deployments and pods, and the operator's log.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tests.e2e.cluster import (
    GPU_POOL,
    HUB_COMMIT,
    HUB_NAME,
    HUB_REPO,
    MONITORING_NAMESPACE,
    OPERATOR_DEPLOYMENT,
    OPERATOR_NAMESPACE,
    TEST_NAMESPACE,
)

T = TypeVar("T")
Manifest = dict[str, Any]
SERVED_MODEL_NAME = "tiny-qwen"
STARTUP_EVENTS = ("Downloading", "Verifying", "Loading", "ModelReady")
"""The events of a revision's stages on the way to serving, in order (`ModelReady` is the Ready stage)."""


def qwen_deployment(
    name: str,
    extra_args: Sequence[str],
    *,
    pause: str = "20s",
    replicas: int = 2,
    revision: str = HUB_COMMIT,
) -> Manifest:
    """A QwenDeployment of the Hub stand-in's checkpoint on the suite's GPU pool: one canary step of 50 % held
    for `pause`, judged every 5 s over 30 s by an error-rate SLO; Prometheus is the operator's default (the
    chart's prometheusUrl). `extra_args` go to the simulator (`--rps 20`: traffic with no client)."""
    return {
        "apiVersion": "qwenops.io/v1alpha1",
        "kind": "QwenDeployment",
        "metadata": {"name": name, "namespace": TEST_NAMESPACE},
        "spec": {
            "model": {"name": HUB_REPO, "revision": revision, "servedModelName": SERVED_MODEL_NAME},
            "engine": {"extraArgs": list(extra_args)},
            "nodePool": {"nodeSelector": dict(GPU_POOL)},
            "replicas": replicas,
            "rollout": {
                "steps": [{"weight": 50, "pause": pause}],
                "analysis": {
                    "interval": "5s",
                    "window": "30s",
                    "minRequests": 20,
                    "slos": {"maxErrorRate": 0.05},
                },
            },
        },
    }


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def event_time(event: Mapping[str, Any]) -> datetime:
    """When an event happened: its eventTime (microseconds), else its first timestamp or creation."""
    for value in (
        event.get("eventTime"),
        event.get("firstTimestamp"),
        event["metadata"]["creationTimestamp"],
    ):
        if value:
            return parse_time(str(value))
    raise AssertionError(f"an event without a time: {event}")


def in_order(times: Mapping[str, datetime], order: Sequence[str]) -> bool:
    """Whether the reasons present in `times` happened in `order` (equal times are in order)."""
    present = [times[reason] for reason in order if reason in times]
    return all(a <= b for a, b in pairwise(present))


@dataclass(frozen=True)
class Kubectl:
    binary: str

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.binary, *args], input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def apply(self, manifest: Manifest, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("apply", "-f", "-", stdin=json.dumps(manifest), check=check)

    def text(self, *args: str) -> str:
        """A command's output for a report: stdout, or why there is none."""
        try:
            done = self.run(*args, check=False, timeout=30)
        except subprocess.TimeoutExpired:
            return f"(kubectl {' '.join(args)}: no answer within 30 s)"
        return done.stdout if done.returncode == 0 else f"(kubectl {' '.join(args)}: {done.stderr.strip()})"


def stack_problem(kubectl: Kubectl) -> str | None:
    """Why the stack `python -m tests.e2e.cluster up` installs is not there and ready, or None."""
    for namespace, name in (
        (OPERATOR_NAMESPACE, OPERATOR_DEPLOYMENT), (MONITORING_NAMESPACE, "prometheus"), (TEST_NAMESPACE, HUB_NAME),
    ):  # fmt: skip
        done = kubectl.run("-n", namespace, "get", "deployment", name, "-o", "json", check=False, timeout=30)
        if done.returncode != 0:
            return f"no Deployment {namespace}/{name}: the e2e stack is not installed in this cluster"
        if not json.loads(done.stdout).get("status", {}).get("availableReplicas"):
            return f"the Deployment {namespace}/{name} has no available replica"
    return None


@dataclass
class Subject:
    """One QwenDeployment under test, in the suite's namespace."""

    kubectl: Kubectl
    name: str
    namespace: str = TEST_NAMESPACE

    def apply(self, extra_args: Sequence[str], **kwargs: Any) -> Manifest:
        manifest = qwen_deployment(self.name, extra_args, **kwargs)
        self.kubectl.apply(manifest)
        return manifest

    def get(self) -> Manifest:
        found: Manifest = self.kubectl.json("-n", self.namespace, "get", "qwendeployment", self.name)
        return found

    def status(self) -> Manifest:
        status: Manifest = self.get().get("status") or {}
        return status

    def deployments(self) -> dict[str, Manifest]:
        """Its Deployments by revision."""
        found = self.kubectl.json(
            "-n", self.namespace, "get", "deployments", "-l", f"qwenops.io/deployment={self.name}"
        )
        return {d["metadata"]["labels"]["qwenops.io/revision"]: d for d in found["items"]}

    def pods(self) -> list[Manifest]:
        found = self.kubectl.json(
            "-n", self.namespace, "get", "pods", "-l", f"qwenops.io/deployment={self.name}"
        )
        items: list[Manifest] = found["items"]
        return items

    def events(self) -> list[Manifest]:
        """The events about this object (its uid: not an earlier one of the same name), oldest first."""
        uid = self.get()["metadata"]["uid"]
        found = self.kubectl.json(
            "-n", self.namespace, "get", "events", "--field-selector", f"involvedObject.name={self.name}"
        )
        mine = [e for e in found["items"] if e.get("involvedObject", {}).get("uid") == uid]
        return sorted(mine, key=event_time)

    def count(self, reason: str, containing: str = "") -> int:
        """How many times the operator posted `reason` (with `containing` in its message) about this object."""
        return sum(
            int(e.get("count") or 1)
            for e in self.events()
            if e.get("reason") == reason and containing in (e.get("message") or "")
        )

    def report(self) -> str:
        """What a person would look at: `kubectl qwen status`, the status, events, children, operator log."""
        k = self.kubectl
        plugin = Path(sys.executable).with_name("kubectl-qwen")
        if plugin.exists():
            done = subprocess.run(
                [str(plugin), "status", self.name, "-n", self.namespace],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            qwen = done.stdout or done.stderr
        else:
            qwen = "(kubectl-qwen is not installed beside this Python)"
        try:
            status = yaml.safe_dump(self.status(), sort_keys=False)
        except AssertionError as exc:
            status = str(exc)
        selector = f"qwenops.io/deployment={self.name}"
        return "\n".join([
            f"==== kubectl qwen status {self.name} -n {self.namespace}", qwen,
            "==== status", status,
            "==== events", k.text("-n", self.namespace, "get", "events", "--sort-by=.metadata.creationTimestamp",
                                  "--field-selector", f"involvedObject.name={self.name}"),
            "==== deployments", k.text("-n", self.namespace, "get", "deployments", "-l", selector, "-o", "wide"),
            "==== pods", k.text("-n", self.namespace, "get", "pods", "-l", selector, "-o", "wide"),
            "==== operator log (last 60 lines)",
            k.text("-n", OPERATOR_NAMESPACE, "logs", f"deployment/{OPERATOR_DEPLOYMENT}", "--tail=60"),
        ])  # fmt: skip

    def wait(self, what: str, check: Callable[[], T | None], timeout: float, every: float = 2) -> T:
        """Poll `check` until it returns something truthy; after `timeout` s, fail with the report."""
        deadline = time.monotonic() + timeout
        while True:
            found = check()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {what}: not within {timeout:.0f} s\n{self.report()}")
            time.sleep(every)

    def wait_healthy(self, timeout: float = 300) -> Manifest:
        """The status once the phase is Healthy for the current generation, with no canary."""

        def healthy() -> Manifest | None:
            item = self.get()
            status = item.get("status") or {}
            settled = status.get("observedGeneration") == item["metadata"]["generation"]
            return (
                status if settled and status.get("phase") == "Healthy" and not status.get("canary") else None
            )

        return self.wait("phase Healthy", healthy, timeout)

    def wait_canary(self, stable: str, timeout: float = 240) -> Manifest:
        """The canary once a revision other than `stable` is at its step (its weight in effect)."""

        def at_step() -> Manifest | None:
            canary: Manifest | None = self.status().get("canary")
            if canary and canary["revision"] != stable and canary.get("stepStartedAt"):
                return canary
            return None

        return self.wait("a canary at its step", at_step, timeout)

    def wait_history(self, revision: str, outcome: str, timeout: float) -> Manifest:
        """The history entry of `revision` with `outcome` (Promoted, RolledBack)."""

        def entry() -> Manifest | None:
            history = self.status().get("history") or []
            return next((h for h in history if h["revision"] == revision and h["outcome"] == outcome), None)

        return self.wait(f"revision {revision} {outcome} in status.history", entry, timeout)

    def delete(self, timeout: float = 180) -> None:
        """Delete it and wait for its pods to be gone (their fake GPUs free for the next test)."""
        self.kubectl.run("-n", self.namespace, "delete", "qwendeployment", self.name, "--ignore-not-found",
                         f"--timeout={int(timeout)}s", check=False, timeout=timeout + 30)  # fmt: skip
        deadline = time.monotonic() + timeout
        while self.pods() and time.monotonic() < deadline:
            time.sleep(2)
