"""What the dashboard tests need to read PromQL: Grafana's variables filled in, names, brackets.

Not a parser: `promtool check rules` (Debian's prometheus package) is the parser, where it is
installed. These checks stand without it: balanced brackets outside strings, and the names of
the series an expression selects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

GRAFANA_GLOBALS = {"__rate_interval": "5m", "__range": "6h", "__interval": "30s"}
"""Grafana's own variables, with the values a 6h dashboard would give them."""

_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:])")
_NAME_MATCHER = re.compile(r'__name__\s*(=~|=)\s*"((?:[^"\\]|\\.)*)"')
_OFFSET_OR_DURATION = re.compile(r"\b\d+(?:ms|s|m|h|d|w|y)\b")

KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset", "atan2", "inf", "nan", "Inf", "NaN",
}  # fmt: skip


def variables(text: str) -> set[str]:
    """The names of the `$name` / `${name}` / `${name:format}` variables in `text`."""
    return {braced or bare for braced, bare in _VARIABLE.findall(text)}


def substitute(text: str, values: Mapping[str, str]) -> str:
    """`text` with each variable replaced by its value; KeyError names an unknown one."""
    return _VARIABLE.sub(lambda m: values[m.group(1) or m.group(2)], text)


def balanced(expr: str) -> bool:
    """Brackets pair up and strings close (outside strings)."""
    rest = _STRING.sub('""', expr)
    if any(quote in rest.replace('""', "") for quote in "\"'`"):
        return False
    stack: list[str] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for char in rest:
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


def functions_and_names(expr: str) -> tuple[set[str], set[str]]:
    """(functions called, metric names selected by name) in a PromQL expression."""
    text = _STRING.sub('""', expr)
    text = _VARIABLE.sub(" 0 ", text)
    text = _RANGE.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _OFFSET_OR_DURATION.sub(" ", text)
    functions: set[str] = set()
    names: set[str] = set()
    for match in _IDENTIFIER.finditer(text):
        word = match.group(1)
        if word in KEYWORDS:
            continue
        following = text[match.end() :].lstrip()
        (functions if following.startswith("(") else names).add(word)
    return functions, names


def name_patterns(expr: str) -> Iterator[tuple[str, str]]:
    """The `__name__` matchers of an expression: (operator, value)."""
    for operator, value in _NAME_MATCHER.findall(expr):
        yield operator, value.replace('\\"', '"').replace("\\\\", "\\")


def matching(pattern: str, names: Iterable[str]) -> set[str]:
    """The names a Prometheus regex matcher (anchored at both ends) selects."""
    compiled = re.compile(pattern)
    return {name for name in names if compiled.fullmatch(name)}
