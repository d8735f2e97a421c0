"""PATCH bodies by their ``Content-Type``: merge patch (RFC 7386), JSON patch (RFC 6902), and
strategic merge patch of the built-in kinds (strategic.py; a custom resource's is a 415, as the API
server answers). Server-side apply is apply.py's.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer
import kmock

from qwenops_testing.emulator.builtin_fields import kind_schema
from qwenops_testing.emulator.errors import ApiError, bad_request, invalid, unsupported_media_type
from qwenops_testing.emulator.strategic import strategic_merge

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: dict[str, Any] = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def server_side_apply_refused() -> ApiError:
    return unsupported_media_type(
        "the emulator (qwenops_testing.emulator) does not implement server-side apply "
        f"({APPLY_PATCH}); use a merge or JSON patch, or test this on a real cluster (tests/e2e)"
    )


def patched(
    old: dict[str, Any], patch: Any, content_type: str | None, resource: kmock.resource, name: str
) -> Any:
    """The object `old` with `patch` applied as its `content_type` says (not yet checked or stored)."""
    if content_type in (MERGE_PATCH, STRATEGIC_MERGE_PATCH):
        if not isinstance(patch, dict):
            raise bad_request(f"a {content_type} body must be a JSON object")
        if content_type == MERGE_PATCH:
            return merge_patch(old, patch)
        schema = kind_schema(str(resource.group), str(resource.version), str(old.get("kind", "")))
        if schema is None:
            raise unsupported_media_type(
                f"the body of the request was in an unknown format - accepted media types include: "
                f"{JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}"
            )
        return strategic_merge(old, patch, schema)
    if content_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        try:
            return jsonpatch.JsonPatch(patch).apply(copy.deepcopy(old))
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
            raise invalid(resource, name, f"the JSON patch cannot be applied: {e}") from e
    raise unsupported_media_type(
        f"the body of the request was in an unknown format ({content_type}) - accepted media types "
        f"include: {JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC_MERGE_PATCH}"
    )
