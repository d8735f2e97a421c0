"""The operator's pod: non-root, read-only, unprivileged, probed where kopf serves its health."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from tests.chart.conftest import VALUE_SETS
from tests.chart.helm import NAMESPACE, Helm, HelmError, Manifest, container_env, one, operator_container
from tests.chart.test_dockerfile import DOCKERFILE, parse


@pytest.mark.parametrize("name", VALUE_SETS)
def test_the_operator_runs_unprivileged(name: str, render: Callable[[str], list[Manifest]]) -> None:
    pod = one(render(name), "Deployment")["spec"]["template"]["spec"]
    container = operator_container(render(name))
    pod_security = pod["securityContext"]
    security = container["securityContext"]
    uid = security.get("runAsUser", pod_security.get("runAsUser"))
    if uid is None:  # the platform picks it (OpenShift), else the image's USER: numeric, non-root
        image_user = parse(DOCKERFILE.read_text())[-1].last("USER") or ""
        uid = int(image_user.partition(":")[0]) if image_user.partition(":")[0].isdigit() else None
    assert isinstance(uid, int) and uid > 0, "a numeric non-root uid"
    assert pod_security.get("runAsNonRoot") is True
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security.get("privileged", False) is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert "hostNetwork" not in pod and "hostPID" not in pod and "hostIPC" not in pod
    assert all("hostPath" not in volume for volume in pod.get("volumes", []))
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]


@pytest.mark.parametrize("name", VALUE_SETS)
def test_the_liveness_probe_reads_the_endpoint_the_args_serve(
    name: str, render: Callable[[str], list[Manifest]]
) -> None:
    container = operator_container(render(name))
    liveness = [a.split("=", 1)[1] for a in container["args"] if a.startswith("--liveness=")]
    assert len(liveness) == 1, container["args"]
    served = urlsplit(liveness[0])
    assert served.scheme == "http" and served.hostname == "0.0.0.0", "kopf must listen beyond loopback"
    probe = container["livenessProbe"]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    port = ports[probe["port"]] if isinstance(probe["port"], str) else probe["port"]
    assert port == served.port
    assert probe["path"] == served.path
    assert probe.get("scheme", "HTTP") == "HTTP"


def test_watched_namespaces_become_args(render: Callable[[str], list[Manifest]]) -> None:
    default_args = operator_container(render("defaults"))["args"]
    assert default_args[0] == "run"
    assert "--all-namespaces" in default_args and not any(a.startswith("--namespace") for a in default_args)
    assert "--standalone" not in default_args, "the replicas elect a leader on a Lease"
    assert "--verbose" not in default_args
    args = operator_container(render("everything"))["args"]
    assert [a for a in args if a.startswith("--namespace=")] == ["--namespace=a", "--namespace=b"]
    assert "--all-namespaces" not in args
    assert "--verbose" in args


def test_args_are_ones_the_cli_accepts(render: Callable[[str], list[Manifest]]) -> None:
    """Parse each rendered command line with `qwenops`'s own parser (without running anything)."""
    from unittest import mock  # noqa: PLC0415

    from qwenops import cli  # noqa: PLC0415

    for name in VALUE_SETS:
        args = operator_container(render(name))["args"]
        with (
            mock.patch("asyncio.run") as run,
            mock.patch("logging.basicConfig"),
            mock.patch("kopf.operator", new_callable=mock.MagicMock) as operator,
        ):
            try:
                assert cli.main(args) == 0
            except SystemExit as exc:  # argparse refused them
                raise AssertionError(f"{name}: qwenops refuses {args}") from exc
        run.assert_called_once()
        kwargs = operator.call_args.kwargs
        values_namespaces = [a.split("=", 1)[1] for a in args if a.startswith("--namespace=")]
        assert kwargs["namespaces"] == values_namespaces
        assert kwargs["clusterwide"] is (not values_namespaces)
        assert kwargs["standalone"] is True


def test_replicas_roll_and_elect_a_leader_on_the_releases_lease(
    render: Callable[[str], list[Manifest]],
) -> None:
    """Two replicas by default, one acting; an upgrade starts the new pods beside the old ones."""
    for name in VALUE_SETS:
        deployment = one(render(name), "Deployment")
        spec = deployment["spec"]
        assert spec["replicas"] == 2
        assert spec["strategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        }
        env = {e["name"]: e for e in operator_container(render(name))["env"]}
        assert env["QWENOPS_LEASE_NAME"]["value"] == deployment["metadata"]["name"]
        assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
        assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}


def test_settings_reach_the_environment(render: Callable[[str], list[Manifest]]) -> None:
    env = {e["name"]: e.get("value") for e in operator_container(render("everything"))["env"]}
    assert env["QWENOPS_SERVING_IMAGE"] == "registry.example/qwenops/serving:0.1.0"
    assert env["QWENOPS_PROMETHEUS_URL"] == "http://prometheus-operated.monitoring:9090"
    assert env["QWENOPS_RESYNC_SECONDS"] == "15"
    assert env["QWENOPS_PROMETHEUS_TIMEOUT_SECONDS"] == "5"
    assert env["QWENOPS_METRICS_PORT"] == "9808"
    defaults = {e["name"]: e.get("value") for e in operator_container(render("defaults"))["env"]}
    assert defaults["QWENOPS_PROMETHEUS_URL"] == ""
    off = operator_container(render("metrics-off"))
    assert {e["name"]: e.get("value") for e in off["env"]}["QWENOPS_METRICS_PORT"] == "0"
    assert [p["name"] for p in off["ports"]] == ["health"]


def test_settings_are_read_as_the_operator_reads_them(render: Callable[[str], list[Manifest]]) -> None:
    from unittest import mock  # noqa: PLC0415

    from qwenops.controller.config import OperatorConfig  # noqa: PLC0415

    env = container_env(operator_container(render("everything")))
    with mock.patch.dict("os.environ", env, clear=True):
        config = OperatorConfig.from_env()
    assert config.leader_election  # `run` without --standalone
    assert (config.lease_namespace, config.lease_name) == (
        NAMESPACE,
        one(render("everything"), "Deployment")["metadata"]["name"],
    )
    assert config.identity.startswith(f"{env['POD_NAME']}_")
    assert config.serving_image == "registry.example/qwenops/serving:0.1.0"
    assert config.prometheus_url == "http://prometheus-operated.monitoring:9090"
    assert config.resync_seconds == 15.0
    assert config.prometheus_timeout_seconds == 5.0
    assert config.metrics_port == 9808
    defaults = container_env(operator_container(render("defaults")))
    with mock.patch.dict("os.environ", defaults, clear=True):
        assert OperatorConfig.from_env().prometheus_url is None


def test_only_the_prometheus_auth_secret_is_mounted(render: Callable[[str], list[Manifest]]) -> None:
    """Without `prometheus.auth.existingSecret` no Secret is mounted; with it, that Secret alone,
    read-only, its asked keys only, as files the operator's settings name (no subPath: the kubelet
    then writes a rotated token in place), and no Secret is ever passed through the environment."""
    for name in VALUE_SETS:
        pod = one(render(name), "Deployment")["spec"]["template"]["spec"]
        secrets = [volume for volume in pod.get("volumes", []) if "secret" in volume]
        for env in operator_container(render(name))["env"]:
            assert set(env.get("valueFrom", {})) <= {"fieldRef"}, env  # the pod's name and namespace
        if name != "everything":
            assert not secrets, name
    pod = one(render("everything"), "Deployment")["spec"]["template"]["spec"]
    (volume,) = [volume for volume in pod["volumes"] if "secret" in volume]
    assert volume["secret"]["secretName"] == "prometheus-auth"
    keys = [item["key"] for item in volume["secret"]["items"]]
    assert keys == ["token", "ca.crt", "headers"]
    container = operator_container(render("everything"))
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True and "subPath" not in mount
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    from unittest import mock  # noqa: PLC0415

    from qwenops.controller.config import OperatorConfig  # noqa: PLC0415

    with mock.patch.dict("os.environ", env, clear=True):
        config = OperatorConfig.from_env()
    paths = [config.prometheus_token_file, config.prometheus_ca_file, config.prometheus_headers_file]
    assert paths == [f"{mount['mountPath']}/{key}" for key in keys]


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ({"prometheus.auth.existingSecret": "auth"}, "prometheus.auth.existingSecret needs prometheusUrl"),
        (
            {
                "prometheus.auth.existingSecret": "auth",
                "prometheusUrl": "https://prom",
                "prometheus.auth.tokenKey": "",
            },
            "needs one of tokenKey, caKey, headersKey",
        ),
        ({"extraEnv[0].name": "QWENOPS_PROMETHEUS_TOKEN_FILE", "extraEnv[0].value": "/x"}, "prometheus.auth"),
    ],
)
def test_auth_without_its_prometheus_or_its_keys_is_refused(
    helm: Helm, sets: dict[str, str], message: str
) -> None:
    with pytest.raises(HelmError, match=message):
        helm.template(sets=sets)
