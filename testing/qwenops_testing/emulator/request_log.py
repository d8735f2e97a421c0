"""The requests the emulator received, as tests read them back."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import kmock

from qwenops_testing.emulator.resources import resource_id

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EVENT_RESOURCES = frozenset({"v1/events", "events.k8s.io/v1/events"})


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator received it."""

    index: int
    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    body: Any  # the parsed JSON body, else the text, else None
    resource: str | None  # e.g. "apps/v1/deployments", "v1/namespaces"
    namespace: str | None
    name: str | None
    subresource: str | None
    warnings: tuple[str, ...] = ()  # the Warning headers of the answer (unknown fields dropped)

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS

    @property
    def is_event(self) -> bool:
        """A write of a Kubernetes Event (kopf posts one per handler outcome)."""
        return self.resource in EVENT_RESOURCES

    @classmethod
    def of(cls, request: kmock.Request, warnings: tuple[str, ...] = ()) -> RecordedRequest:
        return cls(
            index=request.id,
            method=str(request.method.value),
            path=request.url.path,
            query=dict(request.params),
            content_type=content_type(request.headers),
            body=request.data if request.data is not None else (request.text or None),
            resource=resource_id(request.resource) if request.resource is not None else None,
            namespace=request.namespace,
            name=request.name,
            subresource=request.subresource,
            warnings=warnings,
        )


def content_type(headers: Mapping[str, str]) -> str | None:
    """The media type of a request's body, without parameters, in lower case."""
    for key, value in headers.items():
        if key.lower() == "content-type":
            return value.split(";")[0].strip().lower()
    return None
