"""Server-side printing: a list, a get or a watch asked for as a ``meta.k8s.io/v1`` Table.

kubectl asks with ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...,application/json``.
A custom resource's columns are its CRD's ``additionalPrinterColumns`` (of the served version),
after Name; without any, Name and Age. A cell is the column's JSONPath evaluated as the API server
does (jsonpath.py), typed as the column says: ``integer``/``number``/``boolean`` as JSON values, a
``date`` as its age (``5m``), a ``string`` as printed text; nothing found is an empty cell. The
built-in kinds have the server's own columns (columns.py). ``includeObject`` (``None``,
``Metadata``, the default, or ``Object``) says what each row carries besides its cells. In a watch,
each event's object is a Table of one row; the first carries the column definitions.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import kmock

from qwenops_testing.emulator import jsonpath
from qwenops_testing.emulator.columns import (
    AGE_DESCRIPTION,
    DEFAULT_PRINTER,
    PRINTERS,
    Cells,
    column,
    human_duration,
    name_column,
)
from qwenops_testing.emulator.errors import bad_request
from qwenops_testing.emulator.timing import parse

Body = dict[str, Any]
TABLE_CONTENT_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"
_INCLUDE = ("None", "Metadata", "Object")


def wants_table(headers: Mapping[str, str]) -> bool:
    """Whether a request's Accept header asks for a meta.k8s.io/v1 Table first."""
    accept = next((value for key, value in headers.items() if key.lower() == "accept"), "")
    for offer in accept.split(","):
        media, *params = (part.strip() for part in offer.split(";"))
        values = dict(param.partition("=")[::2] for param in params)
        if media in ("application/json", "*/*") and not params:
            return False
        if values.get("as") == "Table" and values.get("g") == "meta.k8s.io" and values.get("v") == "v1":
            return True
    return False


class Printer:
    """The Table of any served resource; the custom resources' columns come from their CRDs."""

    def __init__(self) -> None:
        self._custom: dict[kmock.resource, list[tuple[Body, list[jsonpath.Step]]]] = {}

    def install(self, crd: Mapping[str, Any]) -> None:
        """Print the CRD's served versions by their ``additionalPrinterColumns``."""
        spec = crd["spec"]
        for version in spec["versions"]:
            columns = version.get("additionalPrinterColumns")
            if columns is None:
                age = column("Age", "date", AGE_DESCRIPTION)
                found = [(age, jsonpath.compile_path(".metadata.creationTimestamp"))]
            else:
                found = [(_definition(c), jsonpath.compile_path(c["jsonPath"])) for c in columns]
            self._custom[kmock.resource(spec["group"], version["name"], spec["names"]["plural"])] = found

    def table(
        self, resource: kmock.resource, objects: Iterable[Mapping[str, Any]], params: Mapping[str, str],
        now: datetime.datetime, *, resource_version: str = "", headers: bool = True,
    ) -> Body:  # fmt: skip
        include = params.get("includeObject") or "Metadata"
        if include not in _INCLUDE:
            raise bad_request(f'includeObject: Unsupported value: "{include}": supported values: '
                              '"None", "Metadata", "Object"')  # fmt: skip
        definitions, cells = self._printer(resource)
        rows = [self._row(obj, cells, include, now) for obj in objects]
        return {
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": definitions if headers else [],
            "rows": rows,
        }

    def _printer(self, resource: kmock.resource) -> tuple[list[Body], Cells]:
        custom = self._custom.get(resource)
        if custom is not None:
            return [name_column(), *(definition for definition, _ in custom)], lambda obj, now: [
                obj.get("metadata", {}).get("name", ""),
                *(_cell(definition["type"], jsonpath.find(obj, steps), now) for definition, steps in custom),
            ]
        return PRINTERS.get((str(resource.group), str(resource.plural)), DEFAULT_PRINTER)

    @staticmethod
    def _row(obj: Mapping[str, Any], cells: Cells, include: str, now: datetime.datetime) -> Body:
        row: Body = {"cells": cells(obj, now)}
        if include == "Object":
            row["object"] = obj
        elif include == "Metadata":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj.get("metadata", {})}  # fmt: skip
        return row


async def printed_stream(
    stream: AsyncIterator[Any], printer: Printer, resource: kmock.resource, params: Mapping[str, str],
    clock: Callable[[], datetime.datetime],
) -> AsyncIterator[Any]:  # fmt: skip
    """A watch stream whose objects are Tables of one row; the first one has the columns."""
    printer.table(resource, [], params, clock())  # a bad includeObject fails before the stream starts
    headers = True
    async for item in stream:
        if isinstance(item, dict) and item.get("type") in ("ADDED", "MODIFIED", "DELETED"):
            table = printer.table(resource, [item["object"]], params, clock(), headers=headers)
            headers = False
            yield {"type": item["type"], "object": table}
        else:
            yield item


def _definition(printer_column: Mapping[str, Any]) -> Body:
    c = printer_column
    return column(c["name"], c["type"], c.get("description", ""), c.get("priority", 0), c.get("format", ""))


def _cell(type_: str, found: list[Any], now: datetime.datetime) -> Any:
    """apiextensions' ``cellForJSONValue``: the first result, as the column's type shows it."""
    if not found or found[0] is None:
        return None
    value = found[0]
    if type_ == "string":
        return jsonpath.text(value)
    if type_ == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if type_ == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if type_ == "boolean" and isinstance(value, bool):
        return value
    if type_ == "date" and isinstance(value, str):
        moment = parse(value)
        return "<invalid>" if moment is None else human_duration(now - moment)
    return None
