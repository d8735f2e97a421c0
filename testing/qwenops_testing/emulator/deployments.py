"""The Deployment controller, simulated: ReplicaSets per pod template, rolled as the strategy says.

Each pod template gets a ReplicaSet ``<deployment>-<pod-template-hash>`` owned by the Deployment
(``blockOwnerDeletion``), its pods labelled ``pod-template-hash``. A template change rolls:

* ``RollingUpdate`` (the default; ``maxSurge`` and ``maxUnavailable`` as numbers or percentages,
  25 % each by default, surge rounded up, unavailability down, both 0 making unavailability 1):
  the new ReplicaSet grows while all pods stay within ``replicas + maxSurge``, and the old ones
  shrink (the oldest first) while the available pods stay at least ``replicas - maxUnavailable``;
* ``Recreate``: the old ReplicaSets go to 0, and the new one grows once their pods are gone.

A change of ``replicas`` alone scales the one active ReplicaSet at once. Old ReplicaSets beyond
``revisionHistoryLimit`` (10 by default) are deleted once empty. The status is the real
controller's: counts summed over the ReplicaSets (``unavailableReplicas`` against their wanted
sizes), ``observedGeneration`` once a pass has seen the generation, ``Available``
(``MinimumReplicasAvailable`` / ``MinimumReplicasUnavailable``) and ``Progressing``
(``NewReplicaSetCreated``, ``FoundNewReplicaSet``, ``ReplicaSetUpdated``, ``NewReplicaSetAvailable``,
and ``ProgressDeadlineExceeded`` when no progress was made for ``progressDeadlineSeconds``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from qwenops_testing.emulator import pods
from qwenops_testing.emulator.deployment_status import calculate_status, fenceposts, rollout_status
from qwenops_testing.emulator.objects import Body, ObjectKey
from qwenops_testing.emulator.pods import PODS, REPLICASETS
from qwenops_testing.emulator.replicasets import owned_pods
from qwenops_testing.emulator.store import Store
from qwenops_testing.emulator.timing import Instant

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: Mapping[str, Any]) -> str:
    """FNV-32a of the template, spelled as Kubernetes spells a pod-template-hash."""
    digest = 0x811C9DC5
    for byte in json.dumps(template, sort_keys=True, separators=(",", ":")).encode():
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_ALPHANUMS[byte % len(_ALPHANUMS)] for byte in str(digest).encode())


def same_template(replicaset_template: Mapping[str, Any], template: Mapping[str, Any]) -> bool:
    """Equal but for the pod-template-hash label (and a metadata left empty without it)."""

    def normal(value: Mapping[str, Any]) -> Body:
        stripped = copy.deepcopy(dict(value))
        meta = stripped.get("metadata") or {}
        labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != HASH_LABEL}
        meta = {**meta, "labels": labels} if labels else {k: v for k, v in meta.items() if k != "labels"}
        stripped["metadata"] = meta
        if not meta:
            del stripped["metadata"]
        return stripped

    return normal(replicaset_template) == normal(template)


def _replicas(replicaset: Mapping[str, Any]) -> int:
    return int((replicaset.get("spec") or {}).get("replicas", 0))


def _available(replicaset: Mapping[str, Any]) -> int:
    return int((replicaset.get("status") or {}).get("availableReplicas") or 0)


class DeploymentController:
    """See the module's docstring; :meth:`sync` is one pass over one Deployment."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def sync(self, key: ObjectKey, now: Instant) -> float | None:
        """One pass; the seconds after which to run again (to see a deadline pass), or None."""
        deployment = self.store.current(key)
        if deployment is None or deployment["metadata"].get("deletionTimestamp"):
            return None
        spec = deployment.get("spec") or {}
        template = spec.get("template") or {}
        owned = self._replicasets(deployment)
        new = next((rs for rs in owned if same_template(rs["spec"].get("template") or {}, template)), None)
        olds = [rs for rs in owned if rs is not new]
        created = None
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        if new is None and not (recreate and self._old_pods_remain(olds)):
            new = created = self._create(key, deployment, olds)
        if not spec.get("paused"):
            if recreate:
                self._recreate(deployment, new, olds)
            else:
                self._roll(deployment, new, olds)
            self._clean_up(deployment, olds)
        owned = self._replicasets(deployment)
        new = next(
            (rs for rs in owned if new is not None and rs["metadata"]["uid"] == new["metadata"]["uid"]), None
        )
        status = calculate_status(deployment, owned, new)
        status, wait = rollout_status(deployment, status, new, created=created is not None, now=now)
        self._write_status(key, status)
        return wait

    # -- ReplicaSets -------------------------------------------------------------------------------

    def _replicasets(self, deployment: Mapping[str, Any]) -> list[Body]:
        uid = deployment["metadata"]["uid"]
        found = [
            rs for key, rs in self.store.dependents(uid) if key[0] == REPLICASETS and pods.owned_by(rs, uid)
        ]
        return sorted(
            found, key=lambda rs: (rs["metadata"].get("creationTimestamp", ""), rs["metadata"]["name"])
        )

    def _create(self, key: ObjectKey, deployment: Body, olds: list[Body]) -> Body:
        meta, spec = deployment["metadata"], deployment.get("spec") or {}
        template = copy.deepcopy(spec.get("template") or {})
        hash_ = template_hash(template)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = hash_
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = hash_
        revision = 1 + max((int((rs["metadata"].get("annotations") or {}).get(REVISION, 0)) for rs in olds),
                           default=0)  # fmt: skip
        replicaset = {
            "metadata": {
                "name": f"{meta['name']}-{hash_}",
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {REVISION: str(revision)},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"],
                                     "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": {"replicas": 0, "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                     "selector": selector, "template": template},
        }  # fmt: skip
        created = self.store.create(REPLICASETS, key[1], replicaset)
        if (meta.get("annotations") or {}).get(REVISION) != str(revision):
            new = copy.deepcopy(deployment)
            new["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
            # UpdateStatus, as the real controller writes it: no new generation for the annotation.
            self.store.commit(key, deployment, new, controllers=False, subresource="status")
        return created

    def _scale(self, replicaset: Body, replicas: int) -> None:
        key = (REPLICASETS, replicaset["metadata"]["namespace"], replicaset["metadata"]["name"])
        current = self.store.current(key)
        if current is None or _replicas(current) == replicas:
            return
        new = copy.deepcopy(current)
        new["spec"]["replicas"] = replicas
        self.store.commit(key, current, new, controllers=False)
        replicaset["spec"]["replicas"] = replicas  # this pass goes on with the new size

    def _old_pods_remain(self, olds: list[Body]) -> bool:
        return any(owned_pods(self.store, rs) for rs in olds)

    # -- the strategies ----------------------------------------------------------------------------

    def _recreate(self, deployment: Body, new: Body | None, olds: list[Body]) -> None:
        for rs in olds:
            self._scale(rs, 0)
        if new is not None and not self._old_pods_remain(olds):
            self._scale(new, int(deployment["spec"].get("replicas", 1)))

    def _roll(self, deployment: Body, new: Body | None, olds: list[Body]) -> None:
        if new is None:
            return
        replicas = int(deployment["spec"].get("replicas", 1))
        active_olds = [rs for rs in olds if _replicas(rs) > 0]
        if not active_olds:  # a scaling event, or a rollout's last step: the one ReplicaSet at full size
            self._scale(new, replicas)
            return
        surge, unavailable = fenceposts(deployment)
        everyone = [new, *olds]
        if _replicas(new) < replicas:
            room = replicas + surge - sum(_replicas(rs) for rs in everyone)
            if room > 0:
                self._scale(new, _replicas(new) + min(room, replicas - _replicas(new)))
                return  # the old ones on a later pass, as the real controller does
        elif _replicas(new) > replicas:
            self._scale(new, replicas)
        # Scale the old ones down as far as availability allows: unhealthy pods first, then any.
        min_available = replicas - unavailable
        new_unavailable = _replicas(new) - _available(new)
        budget = sum(_replicas(rs) for rs in everyone) - min_available - new_unavailable
        if budget <= 0:
            return
        for rs in active_olds:
            unhealthy = min(_replicas(rs) - _available(rs), budget)
            if unhealthy > 0:
                self._scale(rs, _replicas(rs) - unhealthy)
                budget -= unhealthy
        spare = sum(_available(rs) for rs in everyone) - min_available
        for rs in active_olds:
            if spare <= 0:
                return
            down = min(_replicas(rs), spare)
            if down > 0:
                self._scale(rs, _replicas(rs) - down)
                spare -= down

    def _clean_up(self, deployment: Mapping[str, Any], olds: list[Body]) -> None:
        """Delete the oldest empty old ReplicaSets beyond ``revisionHistoryLimit``."""
        limit = int((deployment.get("spec") or {}).get("revisionHistoryLimit", 10))
        empty = [rs for rs in olds if _replicas(rs) == 0 and not (rs.get("status") or {}).get("replicas")]
        for rs in empty[: max(len(olds) - limit, 0)]:
            key = (REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"])
            if self.store.current(key) is not None and not owned_pods(self.store, rs):
                self.store.delete(key)

    def _write_status(self, key: ObjectKey, status: Body) -> None:
        deployment = self.store.current(key)
        if deployment is None or pods.same_status(deployment.get("status") or {}, status):
            return
        new = copy.deepcopy(deployment)
        new["status"] = status
        self.store.commit(key, deployment, new, controllers=False, subresource="status")


__all__ = ["HASH_LABEL", "PODS", "DeploymentController", "fenceposts", "template_hash"]
