"""The defaults a Kubernetes 1.35 API server fills into the built-in objects the operator writes:
pure functions, in place, on what the client sent (nothing here validates a built-in object).

From k8s.io/kubernetes pkg/apis/core/v1/defaults.go and pkg/apis/apps/v1/defaults.go (with the
declarative ``+default`` of the types): Services (``SetDefaults_Service``; the cluster IPs and IP
families the Service REST storage allocates are in :func:`allocate_service_ips`), Deployments
(``SetDefaults_Deployment``), pod templates and pods (``SetDefaults_PodSpec``, ``_Container``,
``_Probe``, ``_HTTPGetAction``, the volume sources', ``SetDefaults_Pod``), and the resource
quantities in them, canonicalised (quantity.py). A field of the wrong type is left alone.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from qwenops_testing.emulator.quantity import MILLI, canonical

Body = dict[str, Any]

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
"""kubeadm's and kind's default Service range; 10.96.0.1 is the `kubernetes` Service's."""
_FIRST_ALLOCATED = 10
_VOLUME_MODES = ("secret", "configMap", "downwardAPI", "projected")
_VOLUME_SOURCES = frozenset({
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs",
    "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker",
    "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk",
    "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral",
    "image",
})  # fmt: skip


def _dicts(items: Any) -> Iterable[Body]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _setdefault(obj: Body, key: str, value: Any) -> None:
    """Go's `if obj.Field == "" / nil / 0`: absent, null and zero values get the default."""
    if obj.get(key) is None or obj[key] == "" or obj[key] == 0:
        obj[key] = value


# -- Services ---------------------------------------------------------------------------------


def default_service(service: Body) -> None:
    spec = service.get("spec")
    if not isinstance(spec, dict):
        return
    _setdefault(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        client_ip = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        if client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    _setdefault(spec, "type", "ClusterIP")
    for port in _dicts(spec.get("ports")):
        _setdefault(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        _setdefault(spec, "externalTrafficPolicy", "Cluster")
    internal = spec.get("internalTrafficPolicy")
    if internal is None and spec["type"] in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec["internalTrafficPolicy"] = "Cluster"
    if spec["type"] == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True


def allocate_service_ips(service: Body, old: Body | None, taken: Iterable[str]) -> None:
    """What the Service storage adds: on create a free cluster IP from :data:`SERVICE_CIDR` (in
    order, not at random), IPv4 single stack; on update the old ones when the new body has none."""
    spec = service.get("spec")
    if not isinstance(spec, dict) or spec.get("type") == "ExternalName":
        return
    old_spec = (old or {}).get("spec") or {}
    for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
        if not spec.get(key) and old_spec.get(key):
            spec[key] = old_spec[key]
    if not spec.get("clusterIP") and spec.get("clusterIPs"):
        spec["clusterIP"] = spec["clusterIPs"][0]
    if not spec.get("clusterIP"):
        used = set(taken)
        free = (str(ip) for index, ip in enumerate(SERVICE_CIDR.hosts()) if index + 1 >= _FIRST_ALLOCATED)
        spec["clusterIP"] = next(ip for ip in free if ip not in used)
    spec.setdefault("clusterIPs", [spec["clusterIP"]])
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")


# -- Deployments, pod templates and pods ------------------------------------------------------


def default_deployment(deployment: Body) -> None:
    spec = deployment.get("spec")
    if not isinstance(spec, dict):
        return
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    strategy = spec.get("strategy")
    if not isinstance(strategy, dict):
        strategy = spec["strategy"] = {}
    _setdefault(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if not isinstance(rolling, dict):
            rolling = strategy["rollingUpdate"] = {}
        for key in ("maxUnavailable", "maxSurge"):
            if rolling.get(key) is None:
                rolling[key] = "25%"
    for key, value in (("revisionHistoryLimit", 10), ("progressDeadlineSeconds", 600)):
        if spec.get(key) is None:
            spec[key] = value
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        default_pod_spec(template["spec"])


def default_pod(pod: Body) -> None:
    """A pod's spec as a template's, and what only a pod gets: requests from its limits."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    default_pod_spec(spec)
    for container in [*_dicts(spec.get("containers")), *_dicts(spec.get("initContainers"))]:
        resources = container.get("resources")
        if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
            requests = resources.setdefault("requests", {})
            for key, value in resources["limits"].items():
                requests.setdefault(key, value)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True


def default_pod_spec(spec: Body) -> None:
    """``SetDefaults_PodSpec`` and what it holds: containers, probes, ports, volumes, quantities.

    Raises QuantityError for a quantity the API server could not decode.
    """
    _setdefault(spec, "dnsPolicy", "ClusterFirst")
    _setdefault(spec, "restartPolicy", "Always")
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    _setdefault(spec, "schedulerName", "default-scheduler")
    for kind in ("containers", "initContainers", "ephemeralContainers"):
        for container in _dicts(spec.get(kind)):
            _default_container(container)
    for volume in _dicts(spec.get("volumes")):
        _default_volume(volume)
    for key in ("overhead",):
        _canonical_map(spec, key, scale=MILLI)
    if isinstance(spec.get("resources"), dict):
        for key in ("limits", "requests"):
            _canonical_map(spec["resources"], key, scale=MILLI)


def _default_container(container: Body) -> None:
    if not container.get("imagePullPolicy"):
        tag = image_tag(str(container.get("image") or ""))
        container["imagePullPolicy"] = "Always" if tag == "latest" else "IfNotPresent"
    _setdefault(container, "terminationMessagePath", "/dev/termination-log")
    _setdefault(container, "terminationMessagePolicy", "File")
    for port in _dicts(container.get("ports")):
        _setdefault(port, "protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(container.get(probe), dict):
            _default_probe(container[probe])
    for env in _dicts(container.get("env")):
        source = env.get("valueFrom")
        field_ref = source.get("fieldRef") if isinstance(source, dict) else None
        if isinstance(field_ref, dict):
            _setdefault(field_ref, "apiVersion", "v1")
    if isinstance(container.get("resources"), dict):
        for key in ("limits", "requests"):
            _canonical_map(container["resources"], key, scale=MILLI)


def _default_probe(probe: Body) -> None:
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                       ("failureThreshold", 3)):  # fmt: skip
        _setdefault(probe, key, value)
    if isinstance(probe.get("httpGet"), dict):
        _setdefault(probe["httpGet"], "path", "/")
        _setdefault(probe["httpGet"], "scheme", "HTTP")


def _default_volume(volume: Body) -> None:
    if not any(volume.get(source) is not None for source in _VOLUME_SOURCES):
        volume["emptyDir"] = {}
    for source in _VOLUME_MODES:
        if isinstance(volume.get(source), dict) and volume[source].get("defaultMode") is None:
            volume[source]["defaultMode"] = 420  # 0644
    empty_dir = volume.get("emptyDir")
    if isinstance(empty_dir, dict) and empty_dir.get("sizeLimit") is not None:
        empty_dir["sizeLimit"] = canonical(empty_dir["sizeLimit"])


def _canonical_map(parent: Body, key: str, *, scale: int) -> None:
    values = parent.get(key)
    if isinstance(values, dict):
        parent[key] = {name: canonical(value, scale=scale) for name, value in values.items()}


def image_tag(image: str) -> str:
    """The tag `SetDefaults_Container` judges the pull policy by: ``latest`` when the image names
    neither a tag nor a digest, empty for a digest alone."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return last.split(":", 1)[1]
    return "" if digest else "latest"
