"""The `spec` of a QwenDeployment, as pydantic models.

These models are the one source of truth for the API: the CRD in `crds/` is
generated from them (`make crds`). Every rule a user can break is written
twice on purpose: as a pydantic validator (what the operator enforces, even on
objects stored under an older CRD) and as an OpenAPI keyword or a CEL rule in
`json_schema_extra` (what `kubectl apply` refuses). The corpus under
`tests/manifests/` checks that both refuse the same manifests.

Rules added once objects were already stored (`Rule`s, the affinity's shape) bind what a
person asks for, not the spec-shaped records the operator keeps in `status`
(`stable.model`, `canary.engine`, ...): the models apply them only under the
validation context `parse_spec` sets, and the CRD states them as CEL rules, which
`crd.py` leaves out of the status schema. Tightened there, an old record would
no longer parse (the status would start over) or no longer be written.
`parse_spec` also validates strictly: `"3"` is not a number and `true` not an
integer, as the API server's schema says.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    GetPydanticSchema,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from qwenops.api.durations import DURATION_PATTERN
from qwenops.api.errors import InvalidSpecError
from qwenops.api.naming import MAX_NAME_LENGTH

CEL = "x-kubernetes-validations"

ASKED = "qwenops.io/asked"
"""Validation context key set by `parse_spec`: the spec is what a person asks for (see the module's doc)."""


def asked(info: ValidationInfo) -> bool:
    """Whether this validation reads a spec a person wrote (`parse_spec`), not a record from status."""
    return isinstance(info.context, dict) and info.context.get(ASKED) is True


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


def _search(pattern: str, value: str) -> bool:
    """RE2's `$` (the end of the text); Python's also matches before a final newline."""
    return re.search(pattern.replace("$", r"\Z"), value) is not None


def _cel_string(text: str) -> str:
    """A CEL string literal of `text`."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def cel_rules(field: str, rules: Sequence[Rule], *, each: bool = False) -> dict[str, Any]:
    """`json_schema_extra` holding `rules` as CEL, on a string field or (`each`) on every item of a list."""
    return {
        CEL: [
            {
                "rule": f"self.all(x, {rule.cel('x')})" if each else rule.cel("self"),
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
    f"^(?:--{prefix_pattern(VLLM_MANAGED_FLAGS)}(?:[=.]|$)|-{prefix_pattern(VLLM_MANAGED_SHORT_FLAGS)}(?:=|$))"
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
        r"|[fF][dD]00:[eE][cC]2::254)\])"
        + _URL_HOST_END,
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

BOUNDED_DURATION_PATTERN = r"^([0-9]{1,6}(ms|s|m|h))+$"
"""DURATION_PATTERN with at most six digits a part: 999999h is 114 years; a longer number would
overflow the operator's clock arithmetic (`now + pause`) instead of being refused."""
assert DURATION_PATTERN == r"^([0-9]+(ms|s|m|h))+$", "keep BOUNDED_DURATION_PATTERN a narrowing of it"

Duration = Annotated[str, StringConstraints(pattern=BOUNDED_DURATION_PATTERN, max_length=32)]
Commit = Annotated[str, StringConstraints(max_length=40)]


class Model(BaseModel):
    """The base of every API object: camelCase in YAML, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$"
Quantity = Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN, max_length=32)]
SHA256_PATTERN = r"^[0-9a-f]{64}$"
FILE_NAME_PATTERN = r"^[A-Za-z0-9_.-][A-Za-z0-9_./-]{0,254}$"


class FileDigest(Model):
    """One file of the checkpoint and the sha256 it must have."""

    name: Annotated[str, StringConstraints(pattern=FILE_NAME_PATTERN, max_length=255)] = Field(
        description="Path of the file in the repo, e.g. model-00001-of-00004.safetensors.",
        json_schema_extra={
            CEL: [
                {
                    "rule": "!self.matches('(^|/)[.]{1,2}(/|$)') && !self.contains('//') "
                    "&& !self.endsWith('/')",
                    "message": "spec.model.files[].name must be a relative path inside the repo",
                }
            ]
        },
    )
    sha256: Annotated[str, StringConstraints(pattern=SHA256_PATTERN)] = Field(
        description="Lowercase hex sha256 of the file's bytes (the Hub's LFS digest)."
    )

    @field_validator("name")
    @classmethod
    def _inside_repo(cls, value: str) -> str:
        if any(part in ("", ".", "..") for part in value.split("/")):
            raise ValueError(f"{value!r} is not a relative path inside the repo")
        return value


class ModelCache(Model):
    claim_name: Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)] = Field(
        description="A PersistentVolumeClaim shared by the pods (ReadWriteMany), so a model downloaded "
        "once starts from a warm cache."
    )


class SecretKeyRef(Model):
    name: Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)]
    key: Annotated[str, StringConstraints(pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)] = Field(
        default="token", json_schema_extra=cel_rules("spec.model.tokenSecret.key", SECRET_KEY_RULES)
    )

    @field_validator("key")
    @classmethod
    def _key_is_a_secret_key(cls, value: str, info: ValidationInfo) -> str:
        return check(value, SECRET_KEY_RULES) if asked(info) else value


TOKEN_OVER_HTTPS = (
    "spec.model.hubEndpoint must be https:// when spec.model.tokenSecret is set "
    "(the download step sends the token to it)"
)


class ModelRef(Model):
    """Which checkpoint to serve, pinned to one commit of its Hugging Face repo."""

    model_config = ConfigDict(
        json_schema_extra={
            CEL: [
                {
                    "rule": "!has(self.tokenSecret) || !has(self.hubEndpoint) || "
                    "self.hubEndpoint.startsWith('https://')",
                    "message": TOKEN_OVER_HTTPS,
                }
            ]
        }
    )

    name: Annotated[str, StringConstraints(pattern=HF_REPO_PATTERN, max_length=193)] = Field(
        description="Hugging Face repo id, e.g. Qwen/Qwen3-8B.",
        json_schema_extra=cel_rules("spec.model.name", REPO_RULES),
    )
    revision: Commit = Field(
        description="Full 40-hex commit of the repo: a pin, never a branch, tag or short SHA.",
        json_schema_extra={
            CEL: [
                {
                    "rule": "self.matches('^[0-9a-f]{40}$')",
                    "message": "spec.model.revision must be a full 40-hex commit "
                    "(a branch, tag or short SHA is not a pin)",
                }
            ]
        },
    )
    served_model_name: Annotated[str, StringConstraints(pattern=SERVED_NAME_PATTERN, max_length=128)] = Field(
        description="The name clients ask for; stays the same across versions."
    )
    files: list[FileDigest] = Field(
        default_factory=list,
        max_length=1024,
        description="Expected sha256 of files of the checkpoint. The pods verify every file against "
        "the Hub's own digests anyway; these pin them further, so a repo rewritten upstream is refused.",
        # A map list: the API server itself refuses two entries with one name.
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    size: Quantity | None = Field(
        default=None,
        description="Size of the weights (e.g. 16Gi), at most 9999Ti. Sets how long pods may take to "
        "download, verify and load them; when absent it is estimated from the parameter count in the "
        "repo name.",
        json_schema_extra=cel_rules("spec.model.size", SIZE_RULES),
    )
    cache: ModelCache | None = Field(
        default=None,
        description="Where pods keep the weights. Absent: an emptyDir, so every new pod downloads them.",
    )
    hub_endpoint: Annotated[str, StringConstraints(pattern=HTTP_URL_PATTERN, max_length=2048)] | None = Field(
        default=None,
        description="Where the download step fetches from: a Hugging Face Hub mirror for clusters without "
        "internet access. Absent: the operator's default (QWENOPS_HF_ENDPOINT), else huggingface.co. "
        "A base URL without credentials, query or fragment, not a link-local address.",
        json_schema_extra=cel_rules("spec.model.hubEndpoint", URL_RULES),
    )
    token_secret: SecretKeyRef | None = Field(
        default=None,
        description="A Secret key holding a Hugging Face token, for gated or private repos. Only the "
        "download init container sees it.",
    )

    @model_validator(mode="after")
    def _token_only_over_https(self, info: ValidationInfo) -> "ModelRef":
        endpoint = self.hub_endpoint
        if asked(info) and self.token_secret is not None and endpoint and not endpoint.startswith("https://"):
            raise ValueError(TOKEN_OVER_HTTPS.removeprefix("spec.model."))
        return self

    @field_validator("files")
    @classmethod
    def _each_file_once(cls, files: list[FileDigest]) -> list[FileDigest]:
        names = [f.name for f in files]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"names {', '.join(twice)} more than once")
        return files

    @field_validator("revision")
    @classmethod
    def _revision_is_a_commit(cls, value: str) -> str:
        if not re.fullmatch(COMMIT_PATTERN, value):
            raise ValueError(
                f"{value!r} is not a full 40-hex commit; a branch, tag or short SHA is not a pin"
            )
        return value

    @field_validator("name")
    @classmethod
    def _name_is_a_hub_repo(cls, value: str, info: ValidationInfo) -> str:
        return check(value, REPO_RULES) if asked(info) else value

    @field_validator("size")
    @classmethod
    def _size_is_bounded(cls, value: str | None, info: ValidationInfo) -> str | None:
        return check(value, SIZE_RULES) if value is not None and asked(info) else value

    @field_validator("hub_endpoint")
    @classmethod
    def _hub_endpoint_is_a_plain_base_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        return check(value, URL_RULES) if value is not None and asked(info) else value


class Engine(Model):
    """vLLM settings."""

    image: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = Field(
        default=None,
        description="Serving image; defaults to the operator's configured serving image.",
        json_schema_extra=cel_rules("spec.engine.image", IMAGE_RULES),
    )
    tensor_parallel_size: int = Field(default=1, ge=1, le=64)
    max_model_len: int | None = Field(default=None, ge=1, le=10_000_000)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    extra_args: list[Annotated[str, StringConstraints(min_length=1, max_length=256)]] = Field(
        default_factory=list,
        max_length=64,
        description="More vLLM flags, one argument an item (no shell reads them). The operator's own "
        "flags, in any spelling vLLM accepts, and --disable-log-stats, --config, --uds and "
        "--hf-token are refused.",
        json_schema_extra={
            CEL: [
                {
                    "rule": "self.all(a, !["
                    + ", ".join(f"'{flag}'" for flag in MANAGED_ARGS)
                    + "].exists(f, a == f || a.startsWith(f + '=')))",
                    "message": "spec.engine.extraArgs must not set "
                    + ", ".join(MANAGED_ARGS)
                    + " (the operator sets them from the spec, and --disable-log-stats "
                    "removes the metrics the canary analysis reads)",
                },
                *cel_rules("spec.engine.extraArgs", EXTRA_ARG_RULES, each=True)[CEL],
            ]
        },
    )

    @field_validator("extra_args")
    @classmethod
    def _no_managed_args(cls, args: list[str]) -> list[str]:
        for arg in args:
            flag = arg.split("=", 1)[0]
            if flag in MANAGED_ARGS:
                raise ValueError(
                    f"{arg!r} is not allowed: the operator sets {flag} itself"
                    if flag != "--disable-log-stats"
                    else "--disable-log-stats is not allowed: it removes the vllm:* metrics "
                    "the canary analysis reads"
                )
        return args

    @field_validator("extra_args")
    @classmethod
    def _no_smuggled_flags(cls, args: list[str], info: ValidationInfo) -> list[str]:
        if not asked(info):
            return args
        for index, arg in enumerate(args):
            try:
                check(arg, EXTRA_ARG_RULES)
            except ValueError as exc:
                raise ValueError(f"item {index} ({_flag_name(arg)!r}) {exc}") from None
        return args

    @field_validator("image")
    @classmethod
    def _image_is_a_reference(cls, value: str | None, info: ValidationInfo) -> str | None:
        return check(value, IMAGE_RULES) if value is not None and asked(info) else value


def _flag_name(arg: str) -> str:
    """What to show of a refused argument: its flag's name, never a value (it may be a token)."""
    name = re.split(r"[=\s\x00]", arg, maxsplit=1)[0]
    return name if len(name) <= 48 else name[:45] + "..."


class Toleration(Model):
    model_config = ConfigDict(
        json_schema_extra={
            CEL: [
                {
                    "rule": "(has(self.key) && self.key != '') || "
                    "(has(self.operator) && self.operator == 'Exists')",
                    "message": "spec.nodePool.tolerations[] with an empty key must have operator Exists "
                    "(it tolerates every taint)",
                },
                {
                    "rule": "!has(self.operator) || self.operator != 'Exists' || "
                    "!has(self.value) || self.value == ''",
                    "message": "spec.nodePool.tolerations[] with operator Exists must have no value",
                },
                {
                    "rule": "!has(self.tolerationSeconds) || "
                    "(has(self.effect) && self.effect == 'NoExecute')",
                    "message": "spec.nodePool.tolerations[] with tolerationSeconds must have effect "
                    "NoExecute",
                },
            ]
        }
    )

    key: Annotated[str, StringConstraints(max_length=316)] | None = Field(
        default=None, json_schema_extra=cel_rules("spec.nodePool.tolerations[].key", TOLERATION_KEY_RULES)
    )
    operator: Literal["Exists", "Equal"] | None = None
    value: Annotated[str, StringConstraints(max_length=63)] | None = Field(
        default=None, json_schema_extra=cel_rules("spec.nodePool.tolerations[].value", TOLERATION_VALUE_RULES)
    )
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None

    @field_validator("key")
    @classmethod
    def _key_is_a_label_key(cls, value: str | None, info: ValidationInfo) -> str | None:
        return check(value, TOLERATION_KEY_RULES) if value is not None and asked(info) else value

    @field_validator("value")
    @classmethod
    def _value_is_a_label_value(cls, value: str | None, info: ValidationInfo) -> str | None:
        return check(value, TOLERATION_VALUE_RULES) if value is not None and asked(info) else value

    @model_validator(mode="after")
    def _as_kubernetes_validates_it(self, info: ValidationInfo) -> "Toleration":
        """The API server's checks of a pod's toleration: they refuse the spec, not the Deployment."""
        if not asked(info):
            return self
        if not self.key and self.operator != "Exists":
            raise ValueError(
                "a toleration with an empty key must have operator Exists (it tolerates every taint)"
            )
        if self.operator == "Exists" and self.value:
            raise ValueError("a toleration with operator Exists must have no value")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("a toleration with tolerationSeconds must have effect NoExecute")
        return self


# --- core/v1 Affinity, as the API server reads it: structured, so nothing nests without bound ---


class LabelSelectorRequirement(Model):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = None


class LabelSelector(Model):
    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class NodeSelectorRequirement(Model):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] | None = None


class NodeSelectorTerm(Model):
    match_expressions: list[NodeSelectorRequirement] | None = None
    match_fields: list[NodeSelectorRequirement] | None = None


class NodeSelector(Model):
    node_selector_terms: list[NodeSelectorTerm]


class PreferredSchedulingTerm(Model):
    weight: int = Field(ge=1, le=100)
    preference: NodeSelectorTerm


class NodeAffinity(Model):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] | None = None


class PodAffinityTerm(Model):
    label_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    namespaces: list[str] | None = None
    topology_key: str
    match_label_keys: list[str] | None = None
    mismatch_label_keys: list[str] | None = None


class WeightedPodAffinityTerm(Model):
    weight: int = Field(ge=1, le=100)
    pod_affinity_term: PodAffinityTerm


class PodAffinity(Model):
    """podAffinity and podAntiAffinity alike."""

    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] | None = None
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] | None = None


class Affinity(Model):
    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAffinity | None = None


_AFFINITY = TypeAdapter(Affinity)


def _affinity_json_schema(_: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
    return handler(Affinity.__pydantic_core_schema__)


AffinityObject = Annotated[dict[str, Any], GetPydanticSchema(get_pydantic_json_schema=_affinity_json_schema)]
"""A core/v1 Affinity kept as the dict it was written as (the pods get it as it is); the CRD has
its structure, and `parse_spec` checks it (a free-form object would take any nesting, and a few
thousand levels stop every JSON reader of the object, the operator's included)."""


class NodePool(Model):
    """Where the GPUs are."""

    node_selector: dict[
        Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN, max_length=316)],
        Annotated[str, StringConstraints(pattern=LABEL_VALUE_PATTERN, max_length=63)],
    ] = Field(default_factory=dict, max_length=32)
    tolerations: list[Toleration] = Field(default_factory=list, max_length=32)
    affinity: AffinityObject | None = Field(
        default=None, description="A core/v1 Affinity, passed to the pods as it is."
    )
    gpus_per_replica: int = Field(default=1, ge=1, le=64)
    gpu_resource: Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN, max_length=316)] = Field(
        default="nvidia.com/gpu",
        description="The extended resource that counts GPUs.",
        json_schema_extra=cel_rules("spec.nodePool.gpuResource", GPU_RESOURCE_RULES),
    )

    @field_validator("affinity")
    @classmethod
    def _affinity_is_a_core_affinity(cls, value: dict[str, Any] | None, info: ValidationInfo) -> Any:
        if value is None or not asked(info):
            return value
        try:
            _AFFINITY.validate_python(value, strict=True)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise ValueError(f"{where}: {first['msg']}{more}") from None
        return value

    @field_validator("gpu_resource")
    @classmethod
    def _gpu_resource_is_extended(cls, value: str, info: ValidationInfo) -> str:
        return check(value, GPU_RESOURCE_RULES) if asked(info) else value


class Step(Model):
    """One canary step: hold `weight` percent of traffic for `pause` (absent: until promoted)."""

    weight: int = Field(ge=1, le=99)
    pause: Duration | None = None


class HTTPRouteRef(Model):
    name: Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN, max_length=63)]


class TrafficRouting(Model):
    """Default `{}`: replica ratio behind one Service. `httpRoute`: exact weights on a Gateway API route."""

    http_route: HTTPRouteRef | None = None


class PrometheusRef(Model):
    url: Annotated[str, StringConstraints(pattern=HTTP_URL_PATTERN, max_length=2048)] = Field(
        description="Prometheus' base URL: no credentials, query or fragment, not a link-local address.",
        json_schema_extra=cel_rules("spec.rollout.analysis.prometheus.url", URL_RULES),
    )

    @field_validator("url")
    @classmethod
    def _url_is_a_plain_base_url(cls, value: str, info: ValidationInfo) -> str:
        # Not the operator's own default (QWENOPS_PROMETHEUS_URL), which its installer chose.
        return check(value, URL_RULES) if asked(info) else value


class SLOs(Model):
    max_error_rate: float | None = Field(default=None, gt=0, le=1)
    max_error_rate_vs_stable: float | None = Field(
        default=None,
        gt=0,
        le=1000,
        description="The canary's error ratio may be at most this many times the stable's (e.g. 2); "
        "checked only when the stable revision served at least minRequests in the window.",
    )
    p95_latency_seconds: float | None = Field(default=None, gt=0, le=3600)
    p95_time_to_first_token_seconds: float | None = Field(default=None, gt=0, le=3600)


PROM_LABEL_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
PromLabel = Annotated[str, StringConstraints(pattern=PROM_LABEL_PATTERN, max_length=128)]


class SeriesLabels(Model):
    """Names of the series labels that carry the pods' identity (a PodMonitor's labelmap of pod labels)."""

    namespace: PromLabel = "namespace"
    deployment: PromLabel = Field(
        default="qwenops_io_deployment",
        description="Series label copied from the pod label qwenops.io/deployment.",
    )
    revision: PromLabel = Field(
        default="qwenops_io_revision",
        description="Series label copied from the pod label qwenops.io/revision.",
    )


# An unanchored pattern (OpenAPI patterns search), not a CEL rule: the API server answers
# "spec.rollout.analysis.queries.errors ... should match '\{selector\}'".
_SELECTOR_RULE: dict[str, Any] = {"pattern": r"\{selector\}"}


PromQLTemplate = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class QueryTemplates(Model):
    """PromQL overrides. `{selector}` becomes one revision's label matchers, without braces
    (`namespace="llm",qwenops_io_deployment="chat",qwenops_io_revision="a1b2c3"`), `{window}`
    the analysis window (`2m`); no other braces are touched. `requests` and `errors` must
    return counts over the window (one series or a scalar), the p95s seconds."""

    requests: PromQLTemplate | None = Field(default=None, json_schema_extra=_SELECTOR_RULE)
    errors: PromQLTemplate | None = Field(default=None, json_schema_extra=_SELECTOR_RULE)
    p95_latency: PromQLTemplate | None = Field(default=None, json_schema_extra=_SELECTOR_RULE)
    p95_time_to_first_token: PromQLTemplate | None = Field(default=None, json_schema_extra=_SELECTOR_RULE)

    @field_validator("requests", "errors", "p95_latency", "p95_time_to_first_token")
    @classmethod
    def _has_selector(cls, value: str | None) -> str | None:
        if value is not None and "{selector}" not in value:
            raise ValueError("must contain {selector}, the label matchers of one revision")
        return value


class Analysis(Model):
    prometheus: PrometheusRef | None = None
    interval: Duration = "30s"
    window: Duration = "2m"
    min_requests: int = Field(default=100, ge=0, le=1_000_000_000)
    failure_limit: int = Field(default=2, ge=1, le=100)
    slos: SLOs = Field(default_factory=SLOs)
    confidence: float = Field(
        default=0.99,
        ge=0.5,
        lt=1,
        description="An error-rate SLO fails only when a one-sided exact binomial test says the "
        "canary's error ratio exceeds it at this confidence.",
    )
    labels: SeriesLabels = Field(default_factory=SeriesLabels)
    queries: QueryTemplates = Field(default_factory=QueryTemplates)


class Rollout(Model):
    steps: list[Step] = Field(
        default_factory=list,
        max_length=20,
        description="Canary weights in order; after the last step the canary is promoted.",
        json_schema_extra={
            CEL: [
                {
                    "rule": "self.map(s, s.weight).isSorted() && "
                    "self.all(a, self.exists_one(b, b.weight == a.weight))",
                    "message": "spec.rollout.steps weights must be strictly increasing",
                }
            ]
        },
    )
    traffic_routing: TrafficRouting = Field(default_factory=TrafficRouting)
    analysis: Analysis = Field(default_factory=Analysis)
    progress_deadline: Duration | None = Field(
        default=None,
        description="A canary whose pods are not all ready this long after it started is rolled back. "
        "Absent: derived from the model's size and whether the cache is warm (see status.startup).",
    )

    @field_validator("steps")
    @classmethod
    def _weights_increase(cls, steps: list[Step]) -> list[Step]:
        for before, after in pairwise(steps):
            if after.weight <= before.weight:
                raise ValueError(
                    f"weights must be strictly increasing, but {after.weight} follows {before.weight}"
                )
        return steps


class QwenDeploymentSpec(Model):
    model_config = ConfigDict(
        json_schema_extra={
            CEL: [
                {
                    # `tensorParallelSize < 1 ||`: the schema refuses 0 already; without it
                    # the rule would also fail to evaluate (modulo by zero) and say so.
                    "rule": "self.engine.tensorParallelSize < 1 || "
                    "self.nodePool.gpusPerReplica % self.engine.tensorParallelSize == 0",
                    "message": "spec.nodePool.gpusPerReplica must be a multiple of "
                    "spec.engine.tensorParallelSize",
                }
            ]
        }
    )

    model: ModelRef
    engine: Engine = Field(default_factory=Engine)
    node_pool: NodePool = Field(default_factory=NodePool)
    replicas: int = Field(default=1, ge=0, le=1000)
    rollout: Rollout = Field(default_factory=Rollout)
    revision_history_limit: int = Field(default=5, ge=0, le=100)

    @model_validator(mode="after")
    def _gpus_fit_tensor_parallelism(self) -> "QwenDeploymentSpec":
        gpus, tp = self.node_pool.gpus_per_replica, self.engine.tensor_parallel_size
        if gpus % tp:
            raise ValueError(
                f"nodePool.gpusPerReplica ({gpus}) must be a multiple of engine.tensorParallelSize ({tp})"
            )
        return self


NAME_RULES = [
    {
        "rule": f"size(self.metadata.name) <= {MAX_NAME_LENGTH}",
        "message": f"metadata.name must be at most {MAX_NAME_LENGTH} characters, so that "
        "`<name>-<revision>` "
        "stays a 63-character DNS label",
    },
    {
        "rule": "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
        "message": "metadata.name must be a DNS label starting with a letter "
        "(it names Services and Deployments)",
    },
]
"""Rules on the object's name, checked at the root of the CRD schema."""

NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"


def parse_spec(name: str, spec: Any) -> QwenDeploymentSpec:
    """Validate a stored object's name and spec; raise InvalidSpecError naming every bad field."""
    problems: list[str] = []
    if len(name) > MAX_NAME_LENGTH:
        problems.append(f"metadata.name: {_shown(name)!r} is longer than {MAX_NAME_LENGTH} characters")
    elif not re.fullmatch(NAME_PATTERN, name):
        problems.append(f"metadata.name: {name!r} is not a DNS label starting with a letter")
    try:
        parsed = QwenDeploymentSpec.model_validate(
            spec if spec is not None else {}, strict=True, context={ASKED: True}
        )
    except ValidationError as exc:
        problems.extend(_describe(error) for error in exc.errors())
        parsed = None
    if problems or parsed is None:
        raise InvalidSpecError(problems)
    return parsed


def _describe(error: Any) -> str:
    path = ".".join(["spec", *(_shown(str(part)) for part in error["loc"])])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{path}: {message}"


def _shown(text: str, limit: int = 64) -> str:
    """A map key or name as a message shows it: a hostile one may be megabytes long."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
