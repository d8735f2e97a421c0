"""The rules a spec must keep, each written once for both the models and the CRD.

Every rule a user can break is enforced twice on purpose: by the pydantic models (what the
operator enforces, even on objects stored under an older CRD) and by an OpenAPI keyword or a
CEL rule in the CRD (what `kubectl apply` refuses). The corpus under `tests/manifests/` checks
that both refuse the same manifests. So that the two cannot drift, a rule is declared once:

* a `Rule` on a string is a pair of patterns, which the models search with Python's `re` and
  the CRD with CEL's `matches()` (RE2);
* an `Invariant` across an object's fields (or one CEL cannot say as a pattern) holds its CEL
  expression and its Python predicate side by side, with one message.

This module holds the framework and the rules on strings; the models attach them to fields.
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from qwenops.api.durations import DURATION_PATTERN
from qwenops.api.naming import TRACK_CANARY, TRACK_STABLE

CEL = "x-kubernetes-validations"

T = TypeVar("T")


@dataclass(frozen=True)
class Rule:
    """One rule on a string, written once for both the models and the CRD.

    A value is refused when `refuse` is found in it (unset: always) unless `unless` is found
    (unset: never); the patterns are searched, as CEL's `matches()` does, and read alike by RE2 and
    Python's `re`. `message` follows the field's name: "spec.model.hubEndpoint must not ...".
    """

    message: str
    refuse: str | None = None
    unless: str | None = None

    def __post_init__(self) -> None:
        for pattern in (self.refuse, self.unless):
            assert pattern is None or "\\$" not in pattern, "`$` is an anchor here, read as RE2 reads it"

    def refuses(self, value: str) -> bool:
        found = self.refuse is None or _search(self.refuse, value)
        return found and not (self.unless is not None and _search(self.unless, value))

    def cel(self, subject: str) -> str:
        terms = []
        if self.refuse is not None:
            terms.append(f"!{subject}.matches({_cel_string(self.refuse)})")
        if self.unless is not None:
            terms.append(f"{subject}.matches({_cel_string(self.unless)})")
        return " || ".join(terms)

    def openapi(self) -> dict[str, Any]:
        """The rule as an OpenAPI `pattern` (searched, as CEL's `matches()`): only an `unless` can be one.

        The API server then answers "<field> ... should match '<pattern>'" instead of the message.
        """
        assert self.refuse is None and self.unless is not None, "a pattern says what must be found"
        return {"pattern": self.unless}


def _search(pattern: str, value: str) -> bool:
    """RE2's `$` (the end of the text); Python's also matches before a final newline."""
    return re.search(pattern.replace("$", r"\Z"), value) is not None


def _cel_string(text: str) -> str:
    """A CEL string literal of `text`."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def cel_rules(
    field: str, rules: Sequence[Rule], *, each: bool = False, subject: str = "self"
) -> dict[str, Any]:
    """`json_schema_extra` holding `rules` as CEL, on a string field or (`each`) on every item of a list.

    `subject` is the CEL expression of the string, where the rules sit on an enclosing object.
    """
    return {
        CEL: [
            {
                "rule": f"{subject}.all(x, {rule.cel('x')})" if each else rule.cel(subject),
                "message": f"{field} {rule.message}",
            }
            for rule in rules
        ]
    }


def check(value: str, rules: Sequence[Rule]) -> str:
    """`value`, or ValueError with the first rule it breaks (never echoing the value: it may be a secret)."""
    for rule in rules:
        if rule.refuses(value):
            raise ValueError(rule.message)
    return value


@dataclass(frozen=True)
class Invariant(Generic[T]):
    """One rule across an object's fields (or on a value, where no pattern says it), written once.

    `cel` (on `self`) is what the CRD checks and `holds` what the models check: two spellings of
    one rule, side by side under one `message`, which follows the subject's name.
    """

    message: str
    cel: str
    holds: Callable[[T], bool]


def cel_invariants(subject: str, invariants: Sequence[Invariant[Any]]) -> dict[str, Any]:
    """`json_schema_extra` holding `invariants` as CEL rules; `subject` names the object in messages."""
    return {CEL: [{"rule": rule.cel, "message": f"{subject} {rule.message}"} for rule in invariants]}


def check_invariants(value: T, invariants: Sequence[Invariant[T]], subject: str = "") -> T:
    """`value`, or ValueError naming (after `subject`) the first invariant it breaks."""
    for rule in invariants:
        if not rule.holds(value):
            raise ValueError(f"{subject} {rule.message}".lstrip())
    return value


# --- patterns -----------------------------------------------------------------------------------

COMMIT_PATTERN = r"^[0-9a-f]{40}$"
HF_REPO_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$"
SERVED_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$"
LABEL_KEY_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE_PATTERN = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
DNS_LABEL_PATTERN = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
HTTP_URL_PATTERN = r"^https?://[^\s/$.?#][^\s]*$"
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
FILE_NAME_PATTERN = r"^[A-Za-z0-9_.-][A-Za-z0-9_./-]{0,254}$"
PROM_LABEL_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"

BOUNDED_DURATION_PATTERN = r"^([0-9]{1,6}(ms|s|m|h))+$"
"""DURATION_PATTERN with at most six digits a part: 999999h is 114 years; a longer number would
overflow the operator's clock arithmetic (`now + pause`) instead of being refused."""
assert DURATION_PATTERN == r"^([0-9]+(ms|s|m|h))+$", "keep BOUNDED_DURATION_PATTERN a narrowing of it"


# --- rules on strings ---------------------------------------------------------------------------

NAME_RULE = Rule(
    "must be a DNS label starting with a letter (it names Services and Deployments)", unless=NAME_PATTERN
)
"""The object's name (`metadata.name`)."""

TRACK_SUFFIX_RULE = Rule(
    f"must not end in -{TRACK_STABLE} or -{TRACK_CANARY}: those name the track Services of the "
    "QwenDeployment without the suffix, and two QwenDeployments would claim one Service",
    refuse=f"-({TRACK_STABLE}|{TRACK_CANARY})$",
)
"""The object's name (`metadata.name`): `chat-stable` would be the name of `chat`'s stable track
Service, so no QwenDeployment name ends like a track Service's. Checked on create only (the CRD)."""

COMMIT_RULES = (
    Rule("must be a full 40-hex commit (a branch, tag or short SHA is not a pin)", unless=COMMIT_PATTERN),
)

SELECTOR_RULES = (
    Rule("must contain {selector}, the label matchers of one revision", unless=r"\{selector\}"),
)
"""A PromQL template of `analysis.queries`: without `{selector}` it reads every revision alike."""

MANAGED_ARGS = (
    "--model",
    "--served-model-name",
    "--revision",
    "--tensor-parallel-size",
    "--max-model-len",
    "--gpu-memory-utilization",
    "--host",
    "--port",
    "--disable-log-stats",
)
"""Flags the operator sets itself (or must never set): refused in `engine.extraArgs`."""

VLLM_MANAGED_FLAGS = (
    "model",
    "served-model-name",
    "revision",
    "tensor-parallel-size",
    "max-model-len",
    "gpu-memory-utilization",
    "device-memory-utilization",  # vLLM's alias of --gpu-memory-utilization
    "host",
    "port",
    "uds",  # serves on a Unix socket instead of --host/--port: the probes and Services find nothing
    "config",  # reads flags from a YAML file the operator cannot see (disable-log-stats: true ...)
    "hf-token",  # a credential in the spec; the download step reads model.tokenSecret, serve is offline
    "disable-log-stats",
)
"""Long flags of vLLM's serve parser refused in `engine.extraArgs` in every spelling vLLM accepts.

vLLM's FlexibleArgumentParser reads `_` as `-` up to the first `.` (`--served_model_name`), turns
`--flag.key value` into `--flag '{"key": value}'`, and keeps argparse's `allow_abbrev`: any
unambiguous prefix is the flag (`--served-mod x`, `--max-model 5`, `--disable-log-s`). So a
flag is refused when its name, before any `=` or `.`, is a prefix of one of these.
tests/contract/test_vllm_flags.py checks this against vLLM's own parser."""
VLLM_MANAGED_SHORT_FLAGS = ("tp",)
"""Single-dash aliases (`-tp` is --tensor-parallel-size); argparse expands `-t` to `-tp` too."""


def prefix_pattern(words: Sequence[str]) -> str:
    """A regex matching every non-empty prefix of each word, `-` in a word matching `_` as well."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})

    def alternatives(node: dict[str, Any]) -> str:
        parts = [
            ("[-_]" if char == "-" else re.escape(char)) + (f"(?:{alternatives(child)})?" if child else "")
            for char, child in sorted(node.items())
        ]
        return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"

    return alternatives(trie)


MANAGED_FLAG_PATTERN = (
    f"^(?:--{prefix_pattern(VLLM_MANAGED_FLAGS)}(?:[=.]|$)"
    f"|-{prefix_pattern(VLLM_MANAGED_SHORT_FLAGS)}(?:=|$))"
)

EXTRA_ARG_RULES = (
    Rule(
        "must not set a flag the operator sets itself ("
        + ", ".join(f"--{flag}" for flag in VLLM_MANAGED_FLAGS)
        + ", -tp) in any spelling vLLM accepts: abbreviated (--served-mod), with underscores "
        "(--served_model_name), dotted (--port.x) or with =",
        refuse=MANAGED_FLAG_PATTERN,
    ),
    Rule(
        "must not hold whitespace in a flag's name: each item is one argument, no shell splits it "
        "(write ['--max-num-seqs', '256'], not ['--max-num-seqs 256'])",
        refuse=r"^-[^=]*[ \t\n\r\f\v]",
    ),
    Rule("must not contain a NUL character: no program argument can", refuse=r"\x00"),
)

_URL_AUTHORITY = r"^[A-Za-z][A-Za-z0-9+.-]*://"
_URL_HOST = _URL_AUTHORITY + r"(?:[^/?#@]*@)?"
_URL_HOST_END = r"\.?(?::[0-9]*)?(?:[/?#]|$)"
_IPV4_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_NUMERIC_LABEL = r"(?:0[xX][0-9A-Fa-f]*|[0-9]+)"

URL_RULES = (
    Rule(
        "must not carry credentials (user:password@): they would be readable in the spec, the pods "
        "and every copy of them; keep credentials in a Secret",
        refuse=_URL_AUTHORITY + r"[^/?#]*@",
    ),
    Rule(
        "must be a base URL without a query or fragment: a path is appended to it",
        refuse=r"[?#]",
    ),
    Rule(
        "must be printable ASCII (an internationalised host in its xn-- form)",
        refuse=r"[^!-~]",
    ),
    Rule(
        "must not point at a link-local or cloud metadata address "
        "(169.254.0.0/16, fe80::/10, fd00:ec2::254, 100.100.100.200)",
        refuse=_URL_HOST
        + r"(?:169\.254\.[0-9]+\.[0-9]+|100\.100\.100\.200|\[(?:[fF][eE][89aAbB][0-9a-fA-F]:[^\]]*"
        r"|[0-9a-fA-F:]*[fF][fF][fF][fF]:(?:[aA]9[fF][eE]:|169\.254\.)[^\]]*|::169\.254\.[^\]]*"
        r"|[fF][dD]00:[eE][cC]2::254)\])" + _URL_HOST_END,
    ),
    Rule(
        "must write an IPv4 host as four decimal octets: resolvers read 2852039166, 0xa9fea9fe "
        "and 0251.0376.0251.0376 as 169.254.169.254",
        refuse=_URL_HOST + _NUMERIC_LABEL + r"(?:\." + _NUMERIC_LABEL + r")*" + _URL_HOST_END,
        unless=_URL_HOST + r"(?:" + _IPV4_OCTET + r"\.){3}" + _IPV4_OCTET + r"(?::[0-9]*)?(?:[/?#]|$)",
    ),
)
"""Refused in the Prometheus URL (the operator queries it) and the Hub mirror (the download step
sends the Hugging Face token there). A name that resolves to such an address cannot be seen at
admission: egress rules are the control for that; these refuse what the text itself says."""

REPO_RULES = (
    Rule(
        "must not contain -- or .., end a part with - or ., or end with .git: Hugging Face refuses "
        "such repo ids, and with -- two repos would share one cache directory (models--a--b--c)",
        refuse=r"--|\.\.|[-.]/|[-.]$|\.git$",
    ),
    Rule(
        "must not claim 10,000B parameters or more: no checkpoint has that many, and the startup "
        "budget is estimated from the count in the name",
        refuse=r"(?:^|[-_./])(?:[0-9]{5,}(?:\.[0-9]+)?[Bb]|[0-9]{8,}(?:\.[0-9]+)?[Mm])(?:$|[-_.])",
    ),
)

SIZE_RULES = (
    Rule(
        "must be at most 9999Ti: the startup budget derived from it must fit a Deployment's "
        "progressDeadlineSeconds",
        unless=r"^(?:[0-9]{1,6}(?:\.[0-9]{1,6})?(?:Ki|Mi|Gi|k|M|G)?|[0-9]{1,4}(?:\.[0-9]{1,6})?(?:Ti|T))$",
    ),
)

IMAGE_RULES = (
    Rule(
        "must be an image reference (registry/repository[:tag][@digest]): no spaces, quotes or "
        "shell characters",
        unless=r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$",
    ),
)

SECRET_KEY_RULES = (
    Rule("must not be . or .., nor start with ..", unless=r"^\.?[-_A-Za-z0-9][-._A-Za-z0-9]*$"),
)

TOLERATION_KEY_RULES = (
    Rule("must be empty or a label key (prefix/name)", unless=r"^$|" + LABEL_KEY_PATTERN),
)
TOLERATION_VALUE_RULES = (Rule("must be a label value", unless=LABEL_VALUE_PATTERN),)
GPU_RESOURCE_RULES = (
    Rule("must be an extended resource named domain/name (nvidia.com/gpu, amd.com/gpu)", unless=r"/"),
    Rule(
        "must not be in the kubernetes.io domain, which has no extended resources",
        refuse=r"^(?:[^/]*\.)?kubernetes\.io/",
    ),
)
