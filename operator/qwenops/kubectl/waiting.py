"""`kubectl qwen wait NAME --for=...`: block until a condition is met, for CI jobs.

Exit codes: 0 the condition is met; 1 timed out ("timed out waiting for the condition",
as kubectl says it); 3 the QwenDeployment does not exist; 5 the rollout of the latest
spec ended (RolledBack, Failed) where the condition can never be met. An API server
that does not answer for a while does not end the wait before its timeout.
"""

import argparse
import time

from qwenops.kubectl.screens.status import render_not_found
from qwenops.kubectl.screens.wait_for import Wanted, met, never, parse_for, state
from qwenops.kubectl.target import EXIT_ERROR, EXIT_NEVER, EXIT_NOT_FOUND, EXIT_OK, CommandError, Target

POLL_SECONDS = 1.0


def wanted(text: str) -> Wanted:
    try:
        return parse_for(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_wait(target: Target, args: argparse.Namespace) -> int:
    condition: Wanted = args.wait_for
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    last_error = None
    request_limit = target.client.timeout
    while True:
        if deadline is not None:  # a server that does not answer must not hold the wait past its end
            left = max(0.5, deadline - time.monotonic())
            target.client.timeout = left if request_limit is None else min(request_limit, left)
        try:
            obj, last_error = target.read(), None
        except CommandError as failed:  # the API may come back before the timeout
            if failed.code != EXIT_ERROR:
                raise
            obj, last_error = None, failed.message
        if obj is None and last_error is None:
            raise CommandError(EXIT_NOT_FOUND, render_not_found(target.namespace, target.name))
        if obj is not None:
            if met(condition, obj):
                print(f"qwendeployment.qwenops.io/{target.name} condition met ({condition.text})")
                return EXIT_OK
            if (why := never(condition, obj)) is not None:
                raise CommandError(EXIT_NEVER, f"{target}: {condition.text} can never be met: {why}")
        if deadline is not None and time.monotonic() >= deadline:
            where = f"last error: {last_error}" if obj is None else f"it is {state(obj)}"
            raise CommandError(
                EXIT_ERROR, f"timed out waiting for the condition on qwendeployments/{target.name} ({where})"
            )
        pause = POLL_SECONDS if deadline is None else min(POLL_SECONDS, deadline - time.monotonic())
        time.sleep(max(0.0, pause))
