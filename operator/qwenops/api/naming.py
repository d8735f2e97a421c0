"""Names and labels shared by the operator, its manifests and its tests."""

GROUP = "qwenops.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "QwenDeployment"
PLURAL = "qwendeployments"
SINGULAR = "qwendeployment"
SHORT_NAMES = ("qwd",)
CATEGORIES = ("qwenops",)
"""`kubectl get qwenops` lists QwenDeployments; not `all`, which Kubernetes keeps for workloads
a user expects `kubectl get all` (and a `kubectl delete all`) to reach."""

MANAGER = "qwenops"

LABEL_DEPLOYMENT = f"{GROUP}/deployment"
LABEL_REVISION = f"{GROUP}/revision"
LABEL_TRACK = f"{GROUP}/track"
LABEL_PICKER = f"{GROUP}/endpoint-picker"
"""On an endpoint picker the operator runs: the QwenDeployment's name. Not `LABEL_DEPLOYMENT`, which
marks the model's own Deployments, pods and Services."""
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_VERSION = "app.kubernetes.io/version"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"

ANNOTATION_MODEL = f"{GROUP}/model"
ANNOTATION_PROMOTE = f"{GROUP}/promote"
ANNOTATION_ABORT = f"{GROUP}/abort"
ANNOTATION_RETRY = f"{GROUP}/retry"
ANNOTATION_UNDO = f"{GROUP}/undo"
ANNOTATION_REJECTED = f"{GROUP}/rejected"
"""On a Deployment: its revision was rolled back (see `status.Rejection`)."""

TRACK_STABLE = "stable"
TRACK_CANARY = "canary"
TRACK_WARM = "warm"
"""The previous revision during a bake: pods kept ready, in no Service."""

REVISION_LENGTH = 10
"""Hex characters of a revision hash: 40 bits, collision-free for any real history."""

MAX_NAME_LENGTH = 52
"""Longest QwenDeployment name: `<name>-<revision>` (11 more) must stay a 63-character DNS label."""

DOWNLOAD_CONTAINER = "download"
VERIFY_CONTAINER = "verify"
SERVING_CONTAINER = "vllm"
"""The containers of a serving pod, in order: `qwenops-serve download`, `verify`, `serve`."""

SERVING_PORT = 8000
SERVING_PORT_NAME = "http"


def deployment_name(name: str, revision: str) -> str:
    return f"{name}-{revision}"


def service_name(name: str, track: str | None = None) -> str:
    """`<name>` for every track, `<name>-stable` / `<name>-canary` for one."""
    return name if track is None else f"{name}-{track}"


POOL_GROUP = "inference.networking.k8s.io"
POOL_VERSION = "v1"
POOL_KIND = "InferencePool"


def pool_name(name: str, revision: str) -> str:
    """A revision's InferencePool, and the Service of the endpoint picker the operator runs for it."""
    return f"{name}-{revision}"


def picker_deployment_name(name: str, revision: str) -> str:
    """The Deployment of a revision's endpoint picker (a Deployment name may exceed 63 characters)."""
    return f"{name}-{revision}-epp"
