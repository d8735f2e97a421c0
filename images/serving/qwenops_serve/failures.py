"""The ways a step refuses or fails, each with its exit code and the reason the operator reads.

The first line of the termination message is `<Reason>: <message>`; the exit code tells the operator
whether the kubelet's retries can help (4: a network or Hub error) or not (2, 3: the pin or the bytes
are wrong, and will stay wrong).
"""

from __future__ import annotations

from typing import ClassVar

EXIT_OK = 0
EXIT_INTERNAL_ERROR = 1
EXIT_BAD_ARGUMENTS = 2
EXIT_INVALID_REVISION = 2
EXIT_VERIFICATION_FAILED = 3
EXIT_DOWNLOAD_FAILED = 4
EXIT_NOT_VERIFIED = 5


class StepError(Exception):
    """A failure the operator understands: a reason, a message, an exit code."""

    reason: ClassVar[str] = "Error"
    exit_code: ClassVar[int] = EXIT_INTERNAL_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def line(self) -> str:
        return f"{self.reason}: {self.message}"


class InvalidRevision(StepError):  # noqa: N818 - named after the Reason it reports
    """The revision is not a commit, or not one of this repo: terminal."""

    reason = "InvalidRevision"
    exit_code = EXIT_INVALID_REVISION


class VerificationFailed(StepError):  # noqa: N818 - named after the Reason it reports
    """A file's bytes or presence do not match its pin: terminal. The message starts with the file."""

    reason = "VerificationFailed"
    exit_code = EXIT_VERIFICATION_FAILED

    @classmethod
    def of(cls, name: str, detail: str) -> VerificationFailed:
        return cls(f"{name}: {detail}")


class DownloadFailed(StepError):  # noqa: N818 - named after the Reason it reports
    """The Hub could not be reached or answered an error: transient, the kubelet retries."""

    reason = "DownloadFailed"
    exit_code = EXIT_DOWNLOAD_FAILED


class NotVerified(StepError):  # noqa: N818 - named after the Reason it reports
    """`serve` found no verified snapshot of exactly this repo@commit."""

    reason = "NotVerified"
    exit_code = EXIT_NOT_VERIFIED
