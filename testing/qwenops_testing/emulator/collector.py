"""Deletion as the API server and the garbage collector carry it out: propagation policies, owner
references, graceful termination.

A DELETE's ``propagationPolicy`` (in its DeleteOptions or its query) decides what becomes of the
object's dependents (the objects whose ``ownerReferences`` name its uid):

* ``Background`` (the default): the object goes at once; then each dependent left with no
  existing owner is deleted in turn (a dependent with another owner only loses the reference);
* ``Foreground``: the object gets a deletionTimestamp and the ``foregroundDeletion`` finalizer,
  its dependents are deleted (in the foreground themselves when they have dependents), and the
  finalizer comes off once no dependent with ``blockOwnerDeletion: true`` exists any longer;
* ``Orphan`` (or ``orphanDependents: true``): the ``orphan`` finalizer, the dependents lose their
  reference to the object and stay, then the finalizer comes off.

An object with finalizers, or with a grace period (:attr:`Collector.grace_period`: a running pod's
``terminationGracePeriodSeconds``), is only marked: ``deletionTimestamp`` (now plus the grace
period) and ``deletionGracePeriodSeconds``. It goes once its finalizers are gone and its grace
period is over: for a pod, when its kubelet deletes it again with ``gracePeriodSeconds: 0``
(kubelet.py). A later DELETE may shorten the grace period, never lengthen it.

The collector acts at once, within the request that deleted or changed an object: the real one
runs a moment later, which no client can tell from here but by timing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from qwenops_testing.emulator.errors import bad_request
from qwenops_testing.emulator.objects import Body, ObjectKey

if TYPE_CHECKING:
    from qwenops_testing.emulator.store import Store

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
POLICIES = ("Background", "Foreground", "Orphan")

GracePeriod = Callable[[ObjectKey, Body, int | None], int]
"""The seconds an object gets to terminate, given what the DELETE asked (None: nothing)."""


def no_grace(key: ObjectKey, obj: Body, asked: int | None) -> int:
    return 0


def delete_options(body: Any, params: Mapping[str, str] | None = None) -> Body:
    """The DeleteOptions of a request: its body, and the same fields in its query string."""
    options: Body = dict(body) if isinstance(body, dict) else {}
    for field in ("propagationPolicy", "gracePeriodSeconds", "orphanDependents"):
        if params and field in params and field not in options:
            value: Any = params[field]
            if field == "gracePeriodSeconds":
                value = int(value)
            elif field == "orphanDependents":
                value = value == "true"
            options[field] = value
    return options


def policy_of(options: Mapping[str, Any]) -> str:
    policy = options.get("propagationPolicy")
    if policy is None:
        return "Orphan" if options.get("orphanDependents") else "Background"
    if policy not in POLICIES:
        raise bad_request(
            f'Unsupported value: "{policy}": supported values: "Foreground", "Background", "Orphan"'
        )
    return str(policy)


def _refs(obj: Mapping[str, Any]) -> list[Body]:
    return list((obj.get("metadata") or {}).get("ownerReferences") or [])


class Collector:
    """See the module's docstring; it works on `store`, whose deletions it carries out."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.grace_period: GracePeriod = no_grace

    def delete(self, key: ObjectKey, obj: Body, options: Any = None) -> Body:
        """A DELETE of an existing object, its preconditions checked."""
        opts = delete_options(options)
        asked = opts.get("gracePeriodSeconds")
        asked = None if asked is None else max(int(asked), 0)
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return self._shorten(key, obj, asked)
        policy = policy_of(opts)
        finalizers = list(meta.get("finalizers") or [])
        wanted = {"Orphan": ORPHAN, "Foreground": FOREGROUND}.get(policy)
        if wanted is not None and wanted not in finalizers:
            finalizers.append(wanted)
        grace = self.grace_period(key, obj, asked)
        if not finalizers and grace <= 0:
            return self.store.remove_now(key, obj)
        marked = self.store.mark_deleted(key, obj, finalizers=finalizers, grace=grace)
        if policy == "Orphan":
            self._orphan(key, marked)
        elif policy == "Foreground":
            self._delete_dependents(marked)
        return marked

    def _shorten(self, key: ObjectKey, obj: Body, asked: int | None) -> Body:
        """A DELETE of an object already being deleted: a shorter grace period is taken."""
        meta = obj["metadata"]
        current = int(meta.get("deletionGracePeriodSeconds") or 0)
        if asked is None or asked >= current:
            return obj
        if asked == 0 and not meta.get("finalizers"):
            return self.store.remove_now(key, obj)
        return self.store.mark_deleted(key, obj, finalizers=list(meta.get("finalizers") or []), grace=asked)

    def _orphan(self, key: ObjectKey, owner: Body) -> None:
        uid = owner["metadata"]["uid"]
        for dependent_key, dependent in self.store.dependents(uid):
            self._drop_reference(dependent_key, dependent, {uid})
        self._remove_finalizer(key, ORPHAN)

    def _delete_dependents(self, owner: Body) -> None:
        uid = owner["metadata"]["uid"]
        for key, _ in self.store.dependents(uid):
            dependent = self.store.current(key)
            if dependent is None or dependent["metadata"].get("deletionTimestamp"):
                continue
            others = [ref for ref in _refs(dependent) if ref.get("uid") != uid]
            if any(self._solid(ref.get("uid")) for ref in others):
                self._drop_reference(key, dependent, {uid})
                continue
            has_dependents = bool(self.store.dependents(dependent["metadata"]["uid"]))
            policy = "Foreground" if has_dependents else "Background"
            self.delete(key, dependent, {"propagationPolicy": policy})
        self._release(uid)

    def _release(self, owner_uid: str | None) -> None:
        """Take the foregroundDeletion finalizer off an owner none of whose dependents blocks it."""
        key = self.store.key_of(owner_uid)
        owner = None if key is None else self.store.current(key)
        if key is None or owner is None or FOREGROUND not in (owner["metadata"].get("finalizers") or []):
            return
        for _, dependent in self.store.dependents(owner["metadata"]["uid"]):
            if any(ref.get("uid") == owner_uid and ref.get("blockOwnerDeletion") for ref in _refs(dependent)):
                return
        self._remove_finalizer(key, FOREGROUND)

    def _remove_finalizer(self, key: ObjectKey, finalizer: str) -> None:
        current = self.store.current(key)
        if current is None:
            return
        new = copy.deepcopy(current)
        new["metadata"]["finalizers"] = [
            f for f in current["metadata"].get("finalizers") or [] if f != finalizer
        ]
        if not new["metadata"]["finalizers"]:
            del new["metadata"]["finalizers"]
        self.store.commit(key, current, new)

    def _drop_reference(self, key: ObjectKey, dependent: Body, uids: set[str]) -> None:
        current = self.store.current(key)
        if current is None:
            return
        new = copy.deepcopy(current)
        new["metadata"]["ownerReferences"] = [r for r in _refs(current) if r.get("uid") not in uids]
        if not new["metadata"]["ownerReferences"]:
            del new["metadata"]["ownerReferences"]
        self.store.commit(key, current, new)

    def _solid(self, uid: str | None) -> bool:
        """An owner that exists and is not itself waiting for its dependents to go."""
        key = self.store.key_of(uid)
        owner = None if key is None else self.store.current(key)
        if owner is None or owner["metadata"].get("uid") != uid:
            return False
        meta = owner["metadata"]
        return not (meta.get("deletionTimestamp") and FOREGROUND in (meta.get("finalizers") or []))

    # -- after an object is gone -----------------------------------------------------------------

    def removed(self, final: Body) -> None:
        """An object is gone: collect the dependents it leaves without an owner, and release the
        owners that waited for it in the foreground."""
        uid = final["metadata"].get("uid")
        if uid:
            self._collect(uid)
        for ref in _refs(final):
            self._release(ref.get("uid"))

    def _collect(self, owner_uid: str) -> None:
        for key, obj in self.store.dependents(owner_uid):
            current = self.store.current(key)
            if current is None:
                continue  # already collected in this cascade
            others = [ref for ref in _refs(obj) if ref.get("uid") != owner_uid]
            if any(self.store.exists(ref.get("uid")) for ref in others):
                self._drop_reference(key, current, {owner_uid})
            elif not current["metadata"].get("deletionTimestamp"):
                self.delete(key, current)

    def collect_orphan(self, key: ObjectKey) -> None:
        """The garbage collector deletes a new dependent whose owners are all gone already.

        A client that read its owner just before the owner's deletion may create a
        child after the cascade ran; a real cluster collects it, and so does this.
        """
        current = self.store.current(key)
        refs = _refs(current or {})
        if current is not None and refs and not any(self.store.exists(ref.get("uid")) for ref in refs):
            self.delete(key, current)
