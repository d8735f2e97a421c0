"""The real helm binary (tests/chart/fetch_helm.py), run with a private HOME, on charts/qwenops."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.chart.fetch_helm import REPO

CHART = REPO / "charts" / "qwenops"
VALUE_FILES = Path(__file__).resolve().parent / "values"
KUBE_VERSION = "1.35.0"
RELEASE = "qwenops"
NAMESPACE = "qwenops"

Manifest = dict[str, Any]


class HelmError(AssertionError):
    """helm exited non-zero; the message holds its command and stderr."""


@dataclass(frozen=True)
class Helm:
    binary: Path
    home: Path

    def env(self) -> dict[str, str]:
        """Nothing of the user's: HOME, helm's and XDG's folders in `home`, no kubeconfig of theirs."""
        keep = {key: os.environ[key] for key in ("PATH", "LANG", "LC_ALL", "TZ") if key in os.environ}
        return {
            **keep,
            "HOME": str(self.home),
            "XDG_CACHE_HOME": str(self.home / "cache"),
            "XDG_CONFIG_HOME": str(self.home / "config"),
            "XDG_DATA_HOME": str(self.home / "data"),
            "HELM_CACHE_HOME": str(self.home / "cache" / "helm"),
            "HELM_CONFIG_HOME": str(self.home / "config" / "helm"),
            "HELM_DATA_HOME": str(self.home / "data" / "helm"),
            "KUBECONFIG": str(self.home / "no-kubeconfig"),
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, env=self.env(),
            timeout=120, check=False, cwd=REPO,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise HelmError(f"helm {' '.join(args)} exited {done.returncode}:\n{done.stderr}{done.stdout}")
        return done

    def template_args(
        self, values: Sequence[Path] = (), sets: Mapping[str, str] | None = None, *, crds: bool = False
    ) -> list[str]:
        args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
        for path in values:
            args += ["--values", str(path)]
        for key, value in (sets or {}).items():
            args += ["--set", f"{key}={value}"]
        if crds:
            args.append("--include-crds")
        return args

    def template(
        self, values: Sequence[Path] = (), sets: Mapping[str, str] | None = None, *, crds: bool = False
    ) -> list[Manifest]:
        """The rendered objects, in helm's order."""
        out = self.run(*self.template_args(values, sets, crds=crds)).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]

    def lint(self, values: Sequence[Path] = ()) -> subprocess.CompletedProcess[str]:
        args = ["lint", "--strict", str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
        for path in values:
            args += ["--values", str(path)]
        return self.run(*args, check=False)


def of_kind(objects: Sequence[Manifest], kind: str) -> list[Manifest]:
    return [obj for obj in objects if obj["kind"] == kind]


def one(objects: Sequence[Manifest], kind: str) -> Manifest:
    found = of_kind(objects, kind)
    assert len(found) == 1, f"{len(found)} {kind} objects rendered, expected one"
    return found[0]


POD_FIELDS = {"metadata.name": f"{RELEASE}-7c9d8-x2x4q", "metadata.namespace": NAMESPACE}
"""What the kubelet gives the chart's downward-API variables (`valueFrom.fieldRef`)."""


def container_env(container: Manifest) -> dict[str, str]:
    """The container's environment as its process sees it: values, and the pod's fields filled in."""
    return {
        e["name"]: e["value"] if "value" in e else POD_FIELDS[e["valueFrom"]["fieldRef"]["fieldPath"]]
        for e in container["env"]
    }


def operator_container(objects: Sequence[Manifest]) -> Manifest:
    deployment = one(objects, "Deployment")
    containers: list[Manifest] = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["operator"]
    return containers[0]
