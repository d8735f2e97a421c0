"""What to serve: `spec.model`, a Hugging Face checkpoint pinned to one commit, and where it comes from."""

from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, ValidationInfo, field_validator, model_validator

from qwenops.api.base import Model, asked
from qwenops.api.rules import (
    COMMIT_RULES,
    DNS_SUBDOMAIN_PATTERN,
    FILE_NAME_PATTERN,
    HF_REPO_PATTERN,
    HTTP_URL_PATTERN,
    QUANTITY_PATTERN,
    REPO_RULES,
    SECRET_KEY_RULES,
    SERVED_NAME_PATTERN,
    SHA256_PATTERN,
    SIZE_RULES,
    URL_RULES,
    Invariant,
    cel_invariants,
    cel_rules,
    check,
    check_invariants,
)

Commit = Annotated[str, StringConstraints(max_length=40)]
Quantity = Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN, max_length=32)]

FILE_NAME_INVARIANTS: tuple[Invariant[str], ...] = (
    Invariant(
        "must be a relative path inside the repo",
        cel="!self.matches('(^|/)[.]{1,2}(/|$)') && !self.contains('//') && !self.endsWith('/')",
        holds=lambda name: all(part not in ("", ".", "..") for part in name.split("/")),
    ),
)


class FileDigest(Model):
    """One file of the checkpoint and the sha256 it must have."""

    name: Annotated[str, StringConstraints(pattern=FILE_NAME_PATTERN, max_length=255)] = Field(
        description="Path of the file in the repo, e.g. model-00001-of-00004.safetensors.",
        json_schema_extra=cel_invariants("spec.model.files[].name", FILE_NAME_INVARIANTS),
    )
    sha256: Annotated[str, StringConstraints(pattern=SHA256_PATTERN)] = Field(
        description="Lowercase hex sha256 of the file's bytes (the Hub's LFS digest)."
    )

    @field_validator("name")
    @classmethod
    def _inside_repo(cls, value: str) -> str:
        return check_invariants(value, FILE_NAME_INVARIANTS)


class ModelCache(Model):
    """A volume the pods keep the weights on."""

    claim_name: Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)] = Field(
        description="A PersistentVolumeClaim shared by the pods (ReadWriteMany), so a model downloaded "
        "once starts from a warm cache."
    )


class SecretKeyRef(Model):
    name: Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)]
    """The Secret, in this namespace."""
    key: Annotated[str, StringConstraints(pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)] = Field(
        default="token", json_schema_extra=cel_rules("spec.model.tokenSecret.key", SECRET_KEY_RULES)
    )
    """The key of the Secret holding the token (default token)."""

    @field_validator("key")
    @classmethod
    def _key_is_a_secret_key(cls, value: str, info: ValidationInfo) -> str:
        return check(value, SECRET_KEY_RULES) if asked(info) else value


TOKEN_INVARIANTS: tuple[Invariant["ModelRef"], ...] = (
    Invariant(
        "must be https:// when spec.model.tokenSecret is set (the download step sends the token to it)",
        cel="!has(self.tokenSecret) || !has(self.hubEndpoint) || self.hubEndpoint.startsWith('https://')",
        holds=lambda model: (
            model.token_secret is None or not model.hub_endpoint or model.hub_endpoint.startswith("https://")
        ),
    ),
)
"""On `hubEndpoint`, given a `tokenSecret`."""


class ModelRef(Model):
    """Which checkpoint to serve, pinned to one commit of its Hugging Face repo."""

    model_config = ConfigDict(json_schema_extra=cel_invariants("spec.model.hubEndpoint", TOKEN_INVARIANTS))

    name: Annotated[str, StringConstraints(pattern=HF_REPO_PATTERN, max_length=193)] = Field(
        description="Hugging Face repo id, e.g. Qwen/Qwen3-8B.",
        json_schema_extra=cel_rules("spec.model.name", REPO_RULES),
    )
    revision: Commit = Field(
        description="Full 40-hex commit of the repo: a pin, never a branch, tag or short SHA.",
        json_schema_extra=cel_rules("spec.model.revision", COMMIT_RULES),
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
        return check_invariants(self, TOKEN_INVARIANTS, "hubEndpoint") if asked(info) else self

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
        return check(value, COMMIT_RULES)

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
