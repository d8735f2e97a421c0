"""What a chat answer says: structured as the request asks (JSON, a tool call), or bad on demand.

A request with `response_format` `json_schema` gets a small JSON value that matches the schema,
and one with `tools` a call of the first tool with arguments that match its parameters, as vLLM's
structured outputs and tool parser give. The `answer_fault` knob (`SimConfig`) makes the answers
go wrong the ways a broken checkpoint or chat template does, with errors and latency untouched:

- `leaked-token`: `<|im_end|>` left at the end of the text;
- `truncated-tool-call`: a tool call's arguments cut in the middle (the JSON no longer parses);
- `invalid-json`: the JSON answer cut in the middle;
- `empty-content`: no text at all;
- `length`: `finish_reason` `length`, as if cut at `max_tokens`.

Only whole (non-streamed) chat answers are shaped so.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

FAULTS: tuple[str, ...] = (
    "none",
    "leaked-token",
    "truncated-tool-call",
    "invalid-json",
    "empty-content",
    "length",
)
LEAKED = "<|im_end|>"


def example_of(schema: Any, depth: int = 0) -> Any:
    """A small value that `schema` accepts (the keywords probes use: type, properties, required,
    items, enum, const, minimum, minLength, minItems)."""
    if not isinstance(schema, Mapping) or depth > 16:
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties") or {}
        return {name: example_of(sub, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        count = int(schema.get("minItems", 1) or 0)
        return [example_of(schema.get("items"), depth + 1) for _ in range(count)]
    if kind == "string":
        return "x" * max(1, int(schema.get("minLength", 0)))
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    return None


def _cut(text: str) -> str:
    return text[: max(1, len(text) // 2)]


def shape(body: dict[str, Any], request: Mapping[str, Any], fault: str) -> dict[str, Any]:
    """`body`, a whole chat answer, as the request's format and tools and the fault make it."""
    for choice in body.get("choices", []):
        message = choice["message"]
        tools = request.get("tools")
        response_format = request.get("response_format")
        if isinstance(tools, list) and tools and isinstance(tools[0], Mapping):
            function = tools[0].get("function") or {}
            arguments = json.dumps(example_of(function.get("parameters")))
            if fault == "truncated-tool-call":
                arguments = _cut(arguments)
            message["content"] = None
            message["tool_calls"] = [
                {"id": f"chatcmpl-tool-{uuid.uuid4().hex[:16]}", "type": "function",
                 "function": {"name": function.get("name"), "arguments": arguments}}
            ]  # fmt: skip
            choice["finish_reason"] = "tool_calls"
        elif isinstance(response_format, Mapping) and response_format.get("type") == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema")
            text = json.dumps(example_of(schema))
            message["content"] = _cut(text) if fault == "invalid-json" else text
        if fault == "leaked-token":
            message["content"] = (message.get("content") or "") + LEAKED
        elif fault == "empty-content":
            message["content"] = ""
        elif fault == "length":
            choice["finish_reason"] = "length"
    return body
