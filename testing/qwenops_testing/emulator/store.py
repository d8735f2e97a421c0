"""The objects as an API server keeps them: metadata, resourceVersions and generations, finalizers,
deletion (carried out by the garbage collector, collector.py), and a change log for the watches.

The objects live in kmock's ``objects`` array (so that tests can read and seed them kmock-style);
the store decides what each write makes of them. Every change bumps the global resourceVersion
and is logged once; a write that changes nothing changes nothing at all.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import kmock

from qwenops_testing.emulator import objects
from qwenops_testing.emulator.admission import Options, Write
from qwenops_testing.emulator.collector import Collector
from qwenops_testing.emulator.errors import already_exists, conflict, not_found, not_found_resource
from qwenops_testing.emulator.objects import Body, ObjectKey
from qwenops_testing.emulator.resources import Catalog, api_version
from qwenops_testing.emulator.selectors import Selector
from qwenops_testing.emulator.watches import EventLog

Keys = dict[ObjectKey, None]  # an ordered set


@dataclasses.dataclass
class Index:
    """What the store looks up on every request, so that no request scans every object.

    ``names``: the keys by resource and namespace, soft-deleted ones too (readers skip
    them); ``uids``: the key of each uid; ``dependents``: the keys whose
    ownerReferences name a uid (possibly no longer: readers check the object again);
    ``labelled``: the keys by resource, namespace and one label's value (the same caveat), so
    that listing one QwenDeployment's children by label reads those alone.
    ``size`` is the store's length when the index was last in step with it: objects put
    into the store kmock-style (``emulator.objects[...] = ...``) change it, and the
    index is built again.
    """

    size: int = 0
    names: dict[tuple[kmock.resource, str | None], Keys] = dataclasses.field(default_factory=dict)
    uids: dict[str, ObjectKey] = dataclasses.field(default_factory=dict)
    dependents: dict[str, Keys] = dataclasses.field(default_factory=dict)
    labelled: dict[tuple[kmock.resource, str | None, str, str], Keys] = dataclasses.field(
        default_factory=dict
    )

    def add(self, key: ObjectKey, obj: Mapping[str, Any]) -> None:
        self.names.setdefault((key[0], key[1]), {})[key] = None
        meta = obj.get("metadata") or {}
        if meta.get("uid"):
            self.uids[meta["uid"]] = key
        self.add_references(key, obj)

    def add_references(self, key: ObjectKey, obj: Mapping[str, Any]) -> None:
        """Index the owners and labels of an object as it is now (earlier entries stay)."""
        meta = obj.get("metadata") or {}
        for ref in meta.get("ownerReferences") or []:
            if ref.get("uid"):
                self.dependents.setdefault(ref["uid"], {})[key] = None
        for label, value in (meta.get("labels") or {}).items():
            self.labelled.setdefault((key[0], key[1], label, value), {})[key] = None


def _by_name(item: tuple[ObjectKey, Body]) -> tuple[str, str]:
    return item[0][1] or "", item[0][2]


class Store:
    """See the module's docstring. `controllers` are called with the key of each object a client
    created or changed (not with the keys of their own writes: they pass ``controllers=False``).
    `admission` sees every create and update before it is stored (not a controller's
    :meth:`commit`, nor what the garbage collector writes)."""

    def __init__(self, array: kmock.ObjectsArray, catalog: Catalog) -> None:
        self.array = array
        self.catalog = catalog
        self.log = EventLog()
        self.controllers: list[Callable[[ObjectKey], None]] = []
        self.collector = Collector(self)
        self.admission: Callable[[Write], None] | None = None  # admission.py's, for a client's writes
        self._index = Index()

    # -- reading ---------------------------------------------------------------------------------

    def current(self, key: ObjectKey) -> Body | None:
        """The stored object itself (never change it), or None when absent or deleted."""
        if key not in self.array:  # kmock's ObjectsArray is no Mapping: it has no get()
            return None
        obj = self.array[key]
        return None if obj.deleted else objects.with_metadata(key, obj.raw)

    def live_in(
        self, resource: kmock.resource, namespace: str | None = None, selector: Selector | None = None
    ) -> list[tuple[ObjectKey, Body]]:
        """The existing objects of one resource, in one namespace (None: in every one), sorted by
        namespace and name. With a `selector` naming one label's value and a namespace, a superset
        of its matches: only those are read."""
        index = self._indexed()
        term = None if selector is None else selector.one_label()
        if term is not None and namespace is not None:
            keys = list(index.labelled.get((resource, namespace, *term), {}))
        else:
            keys = [
                key
                for (res, ns), names in index.names.items()
                if res == resource and (namespace is None or ns == namespace)
                for key in names
            ]
        items = [(key, obj) for key in keys if (obj := self.current(key)) is not None]
        return sorted(items, key=_by_name)

    def dependents(self, owner_uid: str) -> list[tuple[ObjectKey, Body]]:
        """The existing objects whose ownerReferences name `owner_uid`, sorted like :meth:`live_in`."""
        found = []
        for key in list(self._indexed().dependents.get(owner_uid, {})):
            current = self.current(key)
            refs = (current or {}).get("metadata", {}).get("ownerReferences") or []
            if current is not None and any(ref.get("uid") == owner_uid for ref in refs):
                found.append((key, current))
        return sorted(found, key=_by_name)

    def key_of(self, uid: str | None) -> ObjectKey | None:
        """The key of the object that has (or last had) this uid."""
        return self._indexed().uids.get(uid or "")

    def exists(self, uid: str | None) -> bool:
        key = self.key_of(uid)
        current = None if key is None else self.current(key)
        return current is not None and current["metadata"].get("uid") == uid

    def _indexed(self) -> Index:
        if len(self.array) != self._index.size:  # objects stored kmock-style: start over
            self._index = Index(size=len(self.array))
            for key, obj in self.array.items():
                self._index.add(key, {} if obj.deleted else objects.with_metadata(key, obj.raw))
        return self._index

    # -- writing ---------------------------------------------------------------------------------

    def create(
        self, resource: kmock.resource, url_namespace: str | None, body: Any, options: Options | None = None
    ) -> Body:
        """A POST: the object as admitted (a controller's follow-up write comes later, as in a cluster)."""
        if not self.catalog.known(resource):
            raise not_found_resource(resource)
        obj = objects.to_create(resource, url_namespace, body, namespaced=self.catalog.namespaced(resource))
        if self.catalog.has_status(resource):
            obj.pop("status", None)  # written through /status only
        self._admit(Write(resource, self.catalog.kind(resource), obj, None, options or Options()))
        key: ObjectKey = (resource, obj["metadata"].get("namespace"), obj["metadata"]["name"])
        if self.current(key) is not None:
            raise already_exists(resource, key[2])
        obj = objects.created(
            obj,
            api_version=api_version(resource),
            kind=self.catalog.kind(resource),
            has_status=self.catalog.has_status(resource),
            resource_version=self.log.next_rv(),
        )
        index = self._indexed()
        if key in self.array:
            self.array[key].create(obj)  # keeps the history of earlier incarnations
        else:
            self.array[key] = obj
            index.size += 1
        stored = self.array[key].raw
        index.add(key, stored)
        self.log.append("ADDED", resource, None, stored)
        self._run_controllers(key)
        self.collector.collect_orphan(key)
        return stored

    def update(
        self, key: ObjectKey, old: Body, new: Any, subresource: str | None, options: Options | None = None
    ) -> Body:
        """A PUT or PATCH whose result is `new` (the client's whole new body, or its status), admitted."""
        resource = key[0]
        stored = objects.updated(
            key,
            old,
            new,
            subresource,
            api_version=api_version(resource),
            kind=self.catalog.kind(resource),
            has_status=self.catalog.has_status(resource),
        )
        self._admit(Write(resource, self.catalog.kind(resource), stored, old, options or Options()))
        return self.commit(key, old, stored, subresource=subresource)

    def _admit(self, write: Write) -> None:
        if self.admission is not None:
            self.admission(write)

    def commit(
        self,
        key: ObjectKey,
        old: Body,
        new: Body,
        *,
        controllers: bool = True,
        subresource: str | None = None,
    ) -> Body:
        """Store the next version of an existing object; a no-op changes nothing at all. `subresource`:
        the write's, as the API server's strategy for it counts the generation (``status``: a
        controller's UpdateStatus)."""
        if new == old:
            return old
        resource = key[0]
        meta = new["metadata"]
        generation = int(old["metadata"].get("generation", 1))
        has_status = self.catalog.has_status(resource)
        if objects.bumps_generation(resource, old, new, has_status=has_status, subresource=subresource):
            generation += 1
        meta["generation"] = generation
        meta["resourceVersion"] = self.log.next_rv()
        self.array[key].history.append(new)
        stored = self.array[key].raw
        if meta.get("ownerReferences") != old["metadata"].get("ownerReferences") or meta.get("labels") != old[
            "metadata"
        ].get("labels"):
            self._indexed().add_references(key, stored)
        if (
            meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and not meta.get("deletionGracePeriodSeconds")
        ):
            self.remove(key, stored)
            return stored
        self.log.append("MODIFIED", resource, old, stored)
        if controllers:
            self._run_controllers(key)
        return stored

    def delete(self, key: ObjectKey, options: Any = None) -> Body:
        """A DELETE: its preconditions checked, then as the collector carries it out (collector.py)."""
        resource, _, name = key
        obj = self.current(key)
        if obj is None:
            raise not_found(resource, name)
        preconditions = (options.get("preconditions") if isinstance(options, dict) else None) or {}
        for field in ("resourceVersion", "uid"):
            expected = preconditions.get(field)
            if expected is not None and str(expected) != obj["metadata"].get(field):
                raise conflict(
                    resource,
                    name,
                    f"Precondition failed: {field} in precondition: "
                    f"{expected}, {field} in object meta: {obj['metadata'].get(field)}",
                )
        return self.collector.delete(key, obj, options)

    def mark_deleted(self, key: ObjectKey, obj: Body, *, finalizers: list[str], grace: int) -> Body:
        """Mark an object for deletion: it stays until its finalizers are gone and `grace` is over."""
        new = copy.deepcopy(obj)
        meta = new["metadata"]
        meta["deletionTimestamp"] = objects.now(after=grace)
        meta["deletionGracePeriodSeconds"] = grace
        if finalizers:
            meta["finalizers"] = finalizers
        if not obj["metadata"].get("deletionTimestamp"):
            meta["generation"] = int(obj["metadata"].get("generation", 1)) + 1
        meta["resourceVersion"] = self.log.next_rv()
        self.array[key].history.append(new)
        stored = self.array[key].raw
        self.log.append("MODIFIED", key[0], obj, stored)
        return stored

    def remove_now(self, key: ObjectKey, obj: Body) -> Body:
        """Remove an object at once (its resourceVersion bumped), then collect its garbage."""
        final = copy.deepcopy(obj)
        final["metadata"]["resourceVersion"] = self.log.next_rv()
        self.remove(key, final)
        return final

    def remove(self, key: ObjectKey, final: Body) -> None:
        """Finally remove an object (its resourceVersion already bumped), then collect garbage."""
        self.array[key].delete()
        self.log.append("DELETED", key[0], final, final)
        self.collector.removed(final)

    def _run_controllers(self, key: ObjectKey) -> None:
        for controller in self.controllers:
            controller(key)
