"""The API's expected failures, as Kubernetes answers them: a ``Status`` body with a code and a reason."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import attrs
import kmock

from qwenops_testing.emulator.resources import qualified, resource_id

Body = dict[str, Any]


class FieldError(Protocol):
    """One cause of a 422 (qwenops_testing.crd_schema.Violation is one)."""

    @property
    def reason(self) -> str: ...
    @property
    def field(self) -> str: ...
    @property
    def message(self) -> str: ...


@attrs.frozen
class ApiError(kmock.KubernetesError):
    """An expected API failure, answered as a Kubernetes ``Status`` (not an emulator bug)."""

    def status_body(self) -> Body:
        body: Body = {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "code": self.status,
            "reason": self.reason,
            "message": self.message,
        }
        if self.details:
            body["details"] = self.details
        return body


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def details(resource: kmock.resource, name: str) -> Body:
    return {"name": name, "group": resource.group, "kind": resource.plural}


def not_found(resource: kmock.resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(resource)} "{name}" not found', details(resource, name))


def not_found_resource(resource: kmock.resource) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f"the server could not find the requested resource "
        f"({resource_id(resource)} is not declared in the emulator)",
    )


def not_found_subresource(resource: kmock.resource, subresource: str | None) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f"the server could not find the requested resource ({qualified(resource)}/{subresource})",
    )


def already_exists(resource: kmock.resource, name: str) -> ApiError:
    return ApiError(
        409, "AlreadyExists", f'{qualified(resource)} "{name}" already exists', details(resource, name)
    )


def conflict(resource: kmock.resource, name: str, why: str | None = None) -> ApiError:
    message = why or (
        "the object has been modified; please apply your changes to the latest version and try again"
    )
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(resource)} "{name}": {message}',
        details(resource, name),
    )


def invalid(resource: kmock.resource, name: str, message: str, *, kind: str | None = None) -> ApiError:
    """A 422 the emulator words itself (a patch it cannot apply), or one without causes."""
    return ApiError(
        422,
        "Invalid",
        f'{qualified_kind(resource, kind)} "{name}" is invalid: {message}',
        _invalid_details(resource, name, kind),
    )


def invalid_fields(resource: kmock.resource, kind: str, name: str, errors: Sequence[FieldError]) -> ApiError:
    """``apierrors.NewInvalid``: ``QwenDeployment.qwenops.io "chat" is invalid: spec.replicas:
    Invalid value: ...`` (several errors in brackets), and one cause per error."""
    listed = [str(error) for error in errors]
    message = listed[0] if len(listed) == 1 else f"[{', '.join(listed)}]"
    body = _invalid_details(resource, name, kind)
    body["causes"] = [{"reason": e.reason, "message": e.message, "field": e.field} for e in errors]
    return ApiError(422, "Invalid", f'{qualified_kind(resource, kind)} "{name}" is invalid: {message}', body)


def qualified_kind(resource: kmock.resource, kind: str | None) -> str:
    """``QwenDeployment.qwenops.io``, ``Deployment.apps``, ``Service``: how NewInvalid names a kind."""
    if kind is None:
        return qualified(resource)
    return f"{kind}.{resource.group}" if resource.group else kind


def _invalid_details(resource: kmock.resource, name: str, kind: str | None) -> Body:
    return {"name": name, "group": resource.group, "kind": kind or resource.plural}


def cannot_decode(kind: str, version: str, why: str, *, patch: bool) -> ApiError:
    """A body the API server cannot decode into its type: a 400, worded as create/update or patch
    word it (``... cannot be handled as a Deployment: ...``, or the decoder's error alone)."""
    if patch:
        return bad_request(why)
    return bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: {why}')


def unsupported_media_type(message: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", message)


def gone(since: str) -> Body:
    """The Status a watch stream sends (an ERROR event) when it cannot resume from `since`."""
    return {
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "code": 410,
        "reason": "Expired",
        "message": f"too old or unknown resource version: {since}",
    }


def expired(message: str) -> Body:
    """The Status a watch stream sends (an ERROR event) once what it asks for was compacted."""
    return {
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "code": 410,
        "reason": "Expired",
        "message": message,
    }
