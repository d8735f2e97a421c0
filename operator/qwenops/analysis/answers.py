"""One probe's answer, checked: each check a small pure function, all of them in `ANSWER_CHECKS`.

`io.probes` sends a probe (`api.probes.Probe`) and keeps what came back as an :class:`Answer`;
`judge_answer` runs every check that applies and returns a :class:`ProbeResult`: passed, failed
(naming the first check that failed, why, and the answer's first characters: never the whole
answer, which may carry user-like data), or no answer at all (a timeout, a refused connection:
an error, never a failure, as a failed Prometheus query is).

A new check is one function `(probe, answer, context) -> why it failed | None` and one entry in
`ANSWER_CHECKS`, plus its rows in the table-driven tests.
"""

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]

from qwenops.api.probes import Probe

EXCERPT_CHARS = 40
"""How much of an answer a failed check shows (status, events, logs)."""

SPECIAL_TOKENS = ("<|im_start|>", "<|im_end|>", "<|endoftext|>")
"""Qwen's chat-template tokens: a served answer never holds one as text."""
THINK_TOKENS = ("<think>", "</think>")
"""Left in the answer's text only when the reasoning parser failed to separate them."""


@dataclass(frozen=True)
class Answer:
    """What one probe request got back: an HTTP status and body, or no answer (`error`)."""

    status: int | None = None
    body: Any = None
    """The parsed JSON body (None: not JSON)."""
    error: str | None = None
    """Why nothing came back (timeout, connection refused); then `status` is None."""

    def message(self) -> Mapping[str, Any]:
        choice = self.choice()
        message = choice.get("message") if choice else None
        return message if isinstance(message, Mapping) else {}

    def choice(self) -> Mapping[str, Any] | None:
        choices = self.body.get("choices") if isinstance(self.body, Mapping) else None
        first = choices[0] if isinstance(choices, list) and choices else None
        return first if isinstance(first, Mapping) else None

    @property
    def content(self) -> str:
        content = self.message().get("content")
        return content if isinstance(content, str) else ""

    @property
    def tool_calls(self) -> list[Mapping[str, Any]]:
        calls = self.message().get("tool_calls")
        return [c for c in calls if isinstance(c, Mapping)] if isinstance(calls, list) else []

    @property
    def finish_reason(self) -> str | None:
        choice = self.choice()
        reason = choice.get("finish_reason") if choice else None
        return reason if isinstance(reason, str) else None

    def texts(self) -> list[str]:
        """The text the answer shows: its content and each tool call's arguments."""
        return [self.content, *(_arguments_text(call) for call in self.tool_calls)]

    def excerpt(self) -> str:
        """The answer's first characters (its content, else its first tool call's arguments)."""
        text = self.content or next((t for t in self.texts() if t), "")
        return text[:EXCERPT_CHARS] + ("..." if len(text) > EXCERPT_CHARS else "")


@dataclass(frozen=True)
class Context:
    """What the checks know of the revision answering."""

    reasoning_parser: bool = False
    """The engine runs a reasoning parser: `<think>` left in the text is a leak."""

    @classmethod
    def of(cls, extra_args: Sequence[str]) -> "Context":
        """From vLLM's flags (`spec.engine.extraArgs`): `--reasoning-parser NAME` or `=NAME`."""
        return cls(reasoning_parser=any(a.split("=", 1)[0] == "--reasoning-parser" for a in extra_args))


Failure = str | None
"""Why a check failed, in a few words (None: it passed or does not apply)."""
AnswerCheck = Callable[[Probe, Answer, Context], Failure]


def _arguments_text(call: Mapping[str, Any]) -> str:
    function = call.get("function")
    arguments = function.get("arguments") if isinstance(function, Mapping) else None
    return arguments if isinstance(arguments, str) else ""


def success_status(probe: Probe, answer: Answer, context: Context) -> Failure:
    if answer.status is not None and not 200 <= answer.status < 300:
        # vLLM's error says why (`tool_choice="required" requires --tool-call-parser`): its start.
        error = answer.body.get("error") if isinstance(answer.body, Mapping) else None
        said = error.get("message") if isinstance(error, Mapping) else None
        return f"HTTP {answer.status}" + (f": {said[: EXCERPT_CHARS * 2]}" if isinstance(said, str) else "")
    if answer.choice() is None:
        return "no choices in the answer"
    return None


def non_empty(probe: Probe, answer: Answer, context: Context) -> Failure:
    if answer.content.strip() or answer.tool_calls:
        return None
    return "empty content"


def no_special_token(probe: Probe, answer: Answer, context: Context) -> Failure:
    tokens = SPECIAL_TOKENS + (THINK_TOKENS if context.reasoning_parser else ())
    for text in answer.texts():
        for token in tokens:
            if token in text:
                return f"{token} in the text"
    return None


def not_cut(probe: Probe, answer: Answer, context: Context) -> Failure:
    if answer.finish_reason == "length":
        return f"cut at maxTokens ({probe.max_tokens}): finish_reason length"
    return None


def valid_json(probe: Probe, answer: Answer, context: Context) -> Failure:
    schema = probe.response_schema()
    if schema is None:
        return None
    try:
        value = json.loads(answer.content)
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc.msg} at char {exc.pos})"
    except RecursionError:
        return "not JSON (nested too deep)"
    return _schema_failure(schema, value, "the JSON")


def tool_call(probe: Probe, answer: Answer, context: Context) -> Failure:
    if probe.tools is None:
        return None
    if not answer.tool_calls:
        return "no tool call"
    for call in answer.tool_calls:
        function = call.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        tool = probe.tool(name) if isinstance(name, str) else None
        if tool is None:
            return f"a call of an unknown tool {str(name)[:64]!r}"
        try:
            arguments = json.loads(_arguments_text(call))
        except (ValueError, RecursionError):
            return f"{tool.name}'s arguments do not parse as JSON"
        schema = tool.parameters_schema()
        if (failed := _schema_failure(schema, arguments, f"{tool.name}'s arguments")) is not None:
            return failed
    return None


def matches(probe: Probe, answer: Answer, context: Context) -> Failure:
    if probe.match is None or re.search(probe.match, answer.content):
        return None
    return "no match of the expected pattern"


def _schema_failure(schema: Mapping[str, Any], value: Any, what: str) -> Failure:
    try:
        error = next(iter(Draft202012Validator(schema).iter_errors(value)), None)
    except RecursionError:  # a value nested deeper than the validator can walk
        return f"{what} nest too deep to check against the schema"
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "the top"
    return f"{what} do not match the schema at {where}: {error.validator}"


ANSWER_CHECKS: tuple[tuple[str, AnswerCheck], ...] = (
    ("status", success_status),
    ("content", non_empty),
    ("specialToken", no_special_token),
    ("finishReason", not_cut),
    ("json", valid_json),
    ("toolCall", tool_call),
    ("match", matches),
)
"""Every check of an answer, by name, in the order they run; the first that fails is the one named."""

Result = Literal["Passed", "Failed", "Error"]


@dataclass(frozen=True)
class ProbeResult:
    probe: str
    result: Result
    check: str | None = None
    """The first check that failed (None: passed, or no answer)."""
    detail: str = ""
    excerpt: str = ""

    def describe(self) -> str:
        """One line, never the whole answer: `name: check (why) in 'first characters...'`."""
        if self.result == "Passed":
            return f"{self.probe}: passed"
        if self.result == "Error":
            return f"{self.probe}: no answer ({self.detail})"
        return f"{self.probe}: {self.check} ({self.detail}) in {self.excerpt!r}"


def request_body(probe: Probe) -> dict[str, Any]:
    """The chat completion request of `probe` (OpenAI's shape, as vLLM reads it), at temperature 0.

    No `model`: vLLM then answers with the one model it serves, whatever name the revision
    serves it under (the stable's may differ from the spec's)."""
    body: dict[str, Any] = {
        "messages": [{"role": m.role, "content": m.content} for m in probe.messages],
        "temperature": 0,
        "max_tokens": probe.max_tokens,
        "stream": False,
    }
    if (response_schema := probe.response_schema()) is not None:
        schema = {"name": probe.name.replace("-", "_"), "schema": response_schema}
        body["response_format"] = {"type": "json_schema", "json_schema": schema}
    if probe.tools is not None:
        body["tools"] = [
            {
                "type": "function",
                "function": {**tool.model_dump(exclude_none=True), "parameters": tool.parameters_schema()},
            }
            for tool in probe.tools
        ]
        body["tool_choice"] = probe.tool_choice
    return body


def judge_answer(probe: Probe, answer: Answer, context: Context) -> ProbeResult:
    """Every check of `answer`, in order, stopping at the first that fails."""
    if answer.error is not None:
        return ProbeResult(probe.name, "Error", detail=answer.error[:200])
    for name, run in ANSWER_CHECKS:
        failure = run(probe, answer, context)
        if failure is not None:
            return ProbeResult(probe.name, "Failed", name, failure, answer.excerpt())
    return ProbeResult(probe.name, "Passed")
