"""``dryRun=All`` on every write: the request admitted, checked and answered as it would be, and
nothing stored, logged, watched or acted on by a controller (``kubectl apply --dry-run=server``,
``kubectl diff``). Any other value is a 400, as the API server words it.

The answer of a dry-run create has a uid and a creationTimestamp but no resourceVersion; an update's
keeps the stored resourceVersion; a delete answers the object as it is (marked for deletion when a
finalizer or grace period would keep it), without the garbage collector acting.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import kmock

from qwenops_testing.emulator import objects
from qwenops_testing.emulator.admission import Options, Write
from qwenops_testing.emulator.errors import already_exists, bad_request, not_found, not_found_resource
from qwenops_testing.emulator.objects import Body, ObjectKey
from qwenops_testing.emulator.resources import api_version
from qwenops_testing.emulator.store import Store


def asked(params: Mapping[str, str]) -> bool:
    """Whether the request is a dry run (``dryRun=All``); a 400 for another value."""
    value = params.get("dryRun")
    if not value:
        return False
    if value != "All":
        raise bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    return True


def asked_in(delete_options: Mapping[str, Any]) -> bool:
    """Whether DeleteOptions ask for a dry run (``"dryRun": ["All"]``, as kubectl sends it)."""
    values = delete_options.get("dryRun") or []
    for value in values:
        asked({"dryRun": str(value)})
    return bool(values)


def create(
    store: Store, resource: kmock.resource, url_namespace: str | None, body: Any, options: Options
) -> Body:
    """:meth:`Store.create`, stopping short of storing."""
    catalog = store.catalog
    if not catalog.known(resource):
        raise not_found_resource(resource)
    obj = objects.to_create(resource, url_namespace, body, namespaced=catalog.namespaced(resource))
    if catalog.has_status(resource):
        obj.pop("status", None)
    _admit(store, Write(resource, catalog.kind(resource), obj, None, options))
    if store.current((resource, obj["metadata"].get("namespace"), obj["metadata"]["name"])) is not None:
        raise already_exists(resource, obj["metadata"]["name"])
    return objects.created(obj, api_version=api_version(resource), kind=catalog.kind(resource),
                           has_status=catalog.has_status(resource), resource_version="")  # fmt: skip


def update(
    store: Store, key: ObjectKey, old: Body, new: Any, subresource: str | None, options: Options
) -> Body:
    """:meth:`Store.update`, stopping short of storing."""
    catalog = store.catalog
    result = objects.updated(key, old, new, subresource, api_version=api_version(key[0]),
                             kind=catalog.kind(key[0]), has_status=catalog.has_status(key[0]))  # fmt: skip
    _admit(store, Write(key[0], catalog.kind(key[0]), result, old, options))
    return result


def delete(store: Store, key: ObjectKey, options: Mapping[str, Any]) -> Body:
    """What a delete would answer: the object, marked for deletion when something would keep it."""
    obj = store.current(key)
    if obj is None:
        raise not_found(key[0], key[2])
    answer = copy.deepcopy(obj)
    grace = store.collector.grace_period(key, obj, options.get("gracePeriodSeconds"))
    if obj["metadata"].get("finalizers") or grace > 0:
        answer["metadata"].setdefault("deletionTimestamp", objects.now(after=grace))
    return answer


def _admit(store: Store, write: Write) -> None:
    if store.admission is not None:
        store.admission(write)
