"""Answer-quality probes: `spec.rollout.analysis.probes`, a few prompts whose answers are checked.

A canary can answer every request with 200 in good time and still be broken: a chat template
that leaks `<|im_end|>`, a reasoning parser that stops separating `<think>`, JSON mode returning
invalid JSON, tool calls cut short. Error rates and latencies never see it; a probe does. At each
reading the operator sends every prompt here, at temperature 0, to the canary's and the stable's
own Services and checks each answer (`analysis.answers`); the share that passes is judged as an
SLO (`analysis.probe_checks`).
"""

import json
import re
from typing import Annotated, Any, Literal

from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]
from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped, unused-ignore]
from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from qwenops.api.base import Model
from qwenops.api.rules import BOUNDED_DURATION_PATTERN, CEL

MIN_PASS_RATE = "probes.minPassRate"
"""The name of the probe SLO's check in `status.analysis.checks` (the spec field it reads)."""
MAX_FAILURE_RATE_VS_STABLE = "probes.maxFailureRateVsStable"
"""The name of the probe comparison's check (the spec field it reads)."""
CHECK_NAMES = (MIN_PASS_RATE, MAX_FAILURE_RATE_VS_STABLE)

MAX_SCHEMA_BYTES = 16_384
MAX_SCHEMA_DEPTH = 32

ProbeName = Annotated[str, StringConstraints(pattern=r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", max_length=63)]
ToolName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$", max_length=64)]
JSONSchema = dict[str, Any]
JSONSchemaText = Annotated[str, StringConstraints(min_length=2, max_length=MAX_SCHEMA_BYTES)]
"""A JSON Schema written as JSON text: a free-form object in the CRD would nest without bound."""


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def parse_schema(text: str) -> JSONSchema:
    """The JSON Schema `text` holds, or ValueError: not JSON, not an object, too deep, not a schema."""
    try:
        schema = json.loads(text)
    except RecursionError:
        raise ValueError(f"must nest at most {MAX_SCHEMA_DEPTH} levels") from None
    except ValueError as exc:
        raise ValueError(f"is not JSON: {str(exc)[:120]}") from None
    if not isinstance(schema, dict):
        raise ValueError("must be a JSON object (a JSON Schema)")
    if _depth(schema) > MAX_SCHEMA_DEPTH:
        raise ValueError(f"must nest at most {MAX_SCHEMA_DEPTH} levels")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"is not a JSON Schema: {exc.message[:200]}") from None
    return schema


class ChatMessage(Model):
    """One message of a probe's conversation."""

    role: Literal["system", "user", "assistant"]
    """Who says it: system (instructions), user (the question) or assistant (an earlier answer)."""
    content: Annotated[str, StringConstraints(min_length=1, max_length=8192)]
    """The message's text."""


class ProbeTool(Model):
    """A function the model may call, sent as an OpenAI `tools` entry."""

    name: ToolName
    """The function's name, as the model must call it."""
    description: Annotated[str, StringConstraints(max_length=1024)] | None = None
    """What the function does, for the model."""
    parameters: JSONSchemaText = Field(
        description="The JSON Schema the call's arguments must match, as JSON text."
    )

    @field_validator("parameters")
    @classmethod
    def _a_schema(cls, value: str) -> str:
        parse_schema(value)
        return value

    def parameters_schema(self) -> JSONSchema:
        return parse_schema(self.parameters)


class Probe(Model):
    """One prompt, sent at temperature 0, and what its answer must be."""

    name: ProbeName = Field(description="Names the probe in checks, events and logs.")
    messages: list[ChatMessage] = Field(min_length=1, max_length=8, description="The chat conversation.")
    max_tokens: int = Field(
        default=256,
        ge=1,
        le=8192,
        description="The answer's token limit; an answer cut at it (finish_reason length) fails.",
    )
    json_schema: JSONSchemaText | None = Field(
        default=None,
        description="Asks for JSON (response_format json_schema): the answer must parse and match "
        "this JSON Schema, written as JSON text.",
    )
    tools: list[ProbeTool] | None = Field(
        default=None,
        min_length=1,
        max_length=8,
        description="Offered to the model: the answer must call one, with arguments that parse "
        "and match its parameters.",
    )
    tool_choice: Literal["auto", "required"] = Field(
        default="auto",
        description="Sent with tools. vLLM answers a request with tools only when it runs with "
        "--enable-auto-tool-choice and a --tool-call-parser, whatever the choice.",
    )
    match: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = Field(
        default=None, description="A regular expression the answer's text must contain a match of."
    )
    model_config = ConfigDict(
        json_schema_extra={
            CEL: [
                {
                    "rule": "!has(self.jsonSchema) || !has(self.tools)",
                    "message": "spec.rollout.analysis.probes.prompts: a probe asks for JSON (jsonSchema) "
                    "or for a tool call (tools), not both",
                }
            ]
        }
    )

    @field_validator("json_schema")
    @classmethod
    def _a_schema(cls, value: str | None) -> str | None:
        if value is not None:
            parse_schema(value)
        return value

    def response_schema(self) -> JSONSchema | None:
        return None if self.json_schema is None else parse_schema(self.json_schema)

    @field_validator("match")
    @classmethod
    def _a_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"is not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _json_or_tools(self) -> "Probe":
        if self.json_schema is not None and self.tools is not None:
            raise ValueError("a probe asks for JSON (jsonSchema) or for a tool call (tools), not both")
        return self

    def tool(self, name: str) -> ProbeTool | None:
        return next((tool for tool in self.tools or () if tool.name == name), None)


class Probes(Model):
    """Prompts sent to the canary and the stable at each reading; the share of answers that pass
    every check is judged as an SLO, with the statistics of the error rate."""

    prompts: list[Probe] = Field(
        min_length=1,
        max_length=10,
        description="Sent one at a time to each revision's own Service at each reading.",
        json_schema_extra={
            CEL: [
                {
                    "rule": "self.all(a, self.exists_one(b, b.name == a.name))",
                    "message": "spec.rollout.analysis.probes.prompts names must be unique",
                }
            ]
        },
    )
    min_pass_rate: float = Field(
        default=1,
        gt=0,
        le=1,
        description="The canary's answers must pass at least this share; 1 (default): a failure is "
        "a breach. Below 1, a one-sided exact binomial test at analysis.confidence decides.",
    )
    max_failure_rate_vs_stable: float | None = Field(
        default=None,
        gt=0,
        le=1000,
        description="The canary's share of failed answers may be at most this many times the "
        "stable's (the error-rate comparison's test); absent: not compared.",
    )
    timeout: Annotated[str, StringConstraints(pattern=BOUNDED_DURATION_PATTERN, max_length=32)] = Field(
        default="30s", description="How long one probe's answer may take; no answer is not judged."
    )

    @field_validator("prompts")
    @classmethod
    def _unique_names(cls, prompts: list[Probe]) -> list[Probe]:
        names = [probe.name for probe in prompts]
        if len(set(names)) != len(names):
            raise ValueError("names must be unique")
        return prompts
