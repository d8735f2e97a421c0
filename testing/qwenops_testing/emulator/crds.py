"""CustomResourceDefinitions served as ``apiextensions.k8s.io/v1`` objects: a CRD written through
the API (``kubectl apply -f crds/``, ``helm install``) is stored, and its resource is served from
then on, admitted, discovered, described in OpenAPI and printed as the definition says; its status
says so (``NamesAccepted`` and ``Established``, the accepted names, the stored versions), as the
API server's CRD controllers write it. A CRD installed directly (``KubeEmulator.install_crd``, as
:func:`~qwenops_testing.emulator.run_emulator` does for the QwenDeployment's) is stored the same way.

Left out: a deleted CRD's resource stays served (its objects are not deleted), and a CRD's own
validation (a structural schema, names) is not checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kmock

from qwenops_testing.emulator.objects import Body
from qwenops_testing.emulator.timing import stamp

CRDS = kmock.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")


def established(crd: Mapping[str, Any], now: Any) -> Body:
    """The status the API server's controllers give an accepted CRD (`now`: a datetime)."""
    spec = crd["spec"]
    names = dict(spec["names"])
    names.setdefault("singular", str(names["kind"]).lower())
    names.setdefault("listKind", f"{names['kind']}List")
    at = stamp(now)
    return {
        "acceptedNames": names,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": at},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": at},
        ],
        "storedVersions": [v["name"] for v in spec["versions"] if v.get("storage")],
    }  # fmt: skip
