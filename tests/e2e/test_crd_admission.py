"""A real API server admits the valid manifests and refuses the invalid ones, naming the field.

The unit tests check the same corpus with an offline JSON-schema validator and
CEL evaluator; this is where the real apiserver's CEL (cost budgets, Kubernetes
library functions) and its strict field validation are checked.
"""

import subprocess
from pathlib import Path

import pytest

MANIFESTS = Path(__file__).resolve().parents[1] / "manifests"
INVALID = sorted((MANIFESTS / "invalid").glob("*.yaml"))
VALID = sorted((MANIFESTS / "valid").glob("*.yaml"))

pytestmark = pytest.mark.e2e


def expected_fragment(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.startswith("# expect:"):
            return line.removeprefix("# expect:").strip()
    raise AssertionError(f"{path} has no '# expect:' line")


def server_dry_run(kubectl: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kubectl, "create", "--dry-run=server", "--validate=strict", "-f", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_valid_manifest_is_admitted(kubectl: str, crd_installed: None, path: Path) -> None:
    result = server_dry_run(kubectl, path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_manifest_is_refused_naming_the_field(kubectl: str, crd_installed: None, path: Path) -> None:
    result = server_dry_run(kubectl, path)
    assert result.returncode != 0, f"{path.name} was admitted"
    fragment = expected_fragment(path)
    normalized = result.stderr.replace("[", ".").replace("]", "")
    assert fragment in normalized or fragment in result.stderr, result.stderr
