"""People work with QwenDeployments through Kubernetes' own `view`, `edit` and `admin` roles: the
chart's ClusterRoles aggregate into them, so a user bound to `edit` in a namespace may create and
patch QwenDeployments there and run every `kubectl qwen` command (their calls derived from
kubectl/plugin.py), and one bound to `view` may read them but not promote."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.chart.helm import Helm, Manifest, of_kind
from tests.chart.operator_calls import ApiCall, operator_modules, reconcile_calls
from tests.chart.rbac import AGGREGATE_TO, aggregated_to, allowed

GROUP, QWDS = "qwenops.io", "qwendeployments"
NS, OTHER = "llm", "llm-staging"
WRITES = ("create", "patch", "update", "delete", "deletecollection")
READS = ("get", "list", "watch")


def plugin_calls() -> set[ApiCall]:
    """What `kubectl qwen` asks of the API: status and history read, promote/abort/retry/undo patch."""
    return reconcile_calls(operator_modules("qwenops.kubectl.plugin"))


def test_the_derivation_sees_the_plugins_calls() -> None:
    assert {(c.group, c.resource, c.verb) for c in plugin_calls()} >= {
        (GROUP, QWDS, "get"),
        (GROUP, QWDS, "patch"),
    }


@pytest.mark.parametrize("name", ["defaults", "everything"])
def test_edit_may_create_and_patch_and_run_kubectl_qwen(
    name: str, render: Callable[[str], list[Manifest]]
) -> None:
    edit = aggregated_to(render(name), "edit", NS)
    for verb in READS + WRITES:
        assert allowed(edit, GROUP, QWDS, verb, NS), verb
        assert not allowed(edit, GROUP, QWDS, verb, OTHER), f"{verb}: bound in {NS} only"
    for call in plugin_calls():
        assert allowed(edit, call.group, call.resource, call.verb, NS), call
    assert not allowed(edit, GROUP, f"{QWDS}/status", "patch", NS), "the status is the operator's"


def test_admin_may_do_what_edit_may(render: Callable[[str], list[Manifest]]) -> None:
    admin = aggregated_to(render("defaults"), "admin", NS)
    for verb in READS + WRITES:
        assert allowed(admin, GROUP, QWDS, verb, NS), verb


def test_view_may_read_but_not_promote(render: Callable[[str], list[Manifest]]) -> None:
    view = aggregated_to(render("defaults"), "view", NS)
    for verb in READS:
        assert allowed(view, GROUP, QWDS, verb, NS), verb
    for verb in WRITES:
        assert not allowed(view, GROUP, QWDS, verb, NS), verb
    reads = [c for c in plugin_calls() if c.verb in READS]
    assert reads and all(allowed(view, c.group, c.resource, c.verb, NS) for c in reads)


def test_the_aggregated_roles_grant_qwendeployments_only(render: Callable[[str], list[Manifest]]) -> None:
    aggregating = [
        role for role in of_kind(render("defaults"), "ClusterRole")
        if any(key.startswith(AGGREGATE_TO.format("")) for key in role["metadata"]["labels"])
    ]  # fmt: skip
    assert len(aggregating) == 2
    for role in aggregating:
        for rule in role["rules"]:
            assert rule["apiGroups"] == [GROUP] and rule["resources"] == [QWDS], rule


@pytest.mark.parametrize("sets", [{"rbac.aggregateClusterRoles": "false"}, {"rbac.create": "false"}])
def test_no_aggregated_roles_when_turned_off(helm: Helm, sets: dict[str, str]) -> None:
    objects = helm.template(sets=sets)
    for builtin in ("view", "edit", "admin"):
        assert not aggregated_to(objects, builtin, NS)
