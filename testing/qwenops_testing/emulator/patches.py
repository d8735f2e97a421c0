"""PATCH bodies by their ``Content-Type``: merge patch (RFC 7386), JSON patch (RFC 6902), and a
strategic merge patch treated as a merge patch (lists replaced whole, never merged by key;
``$patch``-style directives refused). Server-side apply is refused before anything else.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer
import kmock

from qwenops_testing.emulator.errors import ApiError, bad_request, invalid, unsupported_media_type

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
        if content_type == STRATEGIC_MERGE_PATCH and _has_directives(patch):
            raise invalid(resource, name, "the emulator treats strategic merge patches as "
                          "merge patches and does not implement $-directives")  # fmt: skip
        return merge_patch(old, patch)
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


def _has_directives(patch: Any) -> bool:
    if isinstance(patch, dict):
        return any(str(k).startswith("$") or _has_directives(v) for k, v in patch.items())
    if isinstance(patch, list):
        return any(_has_directives(item) for item in patch)
    return False
