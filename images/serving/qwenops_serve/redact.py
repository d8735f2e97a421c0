"""Keep the Hugging Face token out of every line this process writes.

The token comes from a Kubernetes Secret through `HF_TOKEN`; huggingface_hub sends it as
`Authorization: Bearer ...`. An error from the Hub or an exception's text could echo it, and pod logs
and termination messages are readable by far more people than the Secret. Every log record and the
termination message go through `Redactor`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
MASK = "***"
_MIN_SECRET = 4
# Hugging Face user access tokens, even ones that did not come from our environment.
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{8,}")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\",;]+")


@dataclass(frozen=True)
class Redactor:
    secrets: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str], extra: Iterable[str] = ()) -> Redactor:
        values = [environ.get(name, "") for name in TOKEN_VARIABLES] + list(extra)
        # Longest first, so a secret that contains another is masked whole.
        secrets = sorted({v.strip() for v in values if len(v.strip()) >= _MIN_SECRET}, key=len, reverse=True)
        return cls(tuple(secrets))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        text = _HF_TOKEN.sub("hf_" + MASK, text)
        return _BEARER.sub(r"\g<1>" + MASK, text)
