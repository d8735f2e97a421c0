"""The API's expected failures, as Kubernetes answers them: a ``Status`` body with a code and a reason."""

from __future__ import annotations

from typing import Any

import attrs
import kmock

from qwenops_testing.emulator.resources import qualified, resource_id

Body = dict[str, Any]


@attrs.frozen
class ApiError(kmock.KubernetesError):
    """An expected API failure, answered as a Kubernetes ``Status`` (not an emulator bug)."""

    def status_body(self) -> Body:
        body: Body = {
            "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
            "code": self.status, "reason": self.reason, "message": self.message,
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
    return ApiError(404, "NotFound", f"the server could not find the requested resource "
                    f"({resource_id(resource)} is not declared in the emulator)")


def not_found_subresource(resource: kmock.resource, subresource: str | None) -> ApiError:
    return ApiError(404, "NotFound", f"the server could not find the requested resource "
                    f"({qualified(resource)}/{subresource})")


def already_exists(resource: kmock.resource, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{qualified(resource)} "{name}" already exists',
                    details(resource, name))


def conflict(resource: kmock.resource, name: str, why: str | None = None) -> ApiError:
    message = why or ("the object has been modified; please apply your changes "
                      "to the latest version and try again")
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {qualified(resource)} "{name}": {message}',
                    details(resource, name))


def invalid(resource: kmock.resource, name: str, message: str) -> ApiError:
    return ApiError(422, "Invalid", f'{qualified(resource)} "{name}" is invalid: {message}',
                    details(resource, name))


def unsupported_media_type(message: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", message)


def gone(since: str) -> Body:
    """The Status a watch stream sends (an ERROR event) when it cannot resume from `since`."""
    return {
        "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
        "code": 410, "reason": "Expired",
        "message": f"too old or unknown resource version: {since}",
    }


def expired(message: str) -> Body:
    """The Status a watch stream sends (an ERROR event) once what it asks for was compacted."""
    return {
        "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
        "code": 410, "reason": "Expired", "message": message,
    }
