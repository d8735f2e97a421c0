"""Run by the contract interpreter (it imports vLLM): parse argument lists with `vllm serve`'s parser.

Reads a JSON request from the file named by argv[1] and writes the answer to argv[2] (stdout is
vLLM's log). The request: `base`, the arguments a pod's `vllm serve` gets before the spec's
`engine.extraArgs`; `dests`, the parser destinations to report; `cases`, lists of extra arguments.
The answer: `allow_abbrev`; `options`, every option string of the serve parser, its destination and whether it takes a value;
`baseline`, the reported destinations for `base` alone; `results`, for each case, the reported
destinations, or null where vLLM refuses the command line. `repr()` makes every value comparable.

It builds the parser exactly as `vllm serve` does (vllm.entrypoints.cli.main): a
FlexibleArgumentParser with a `serve` subparser from ServeSubcommand, so vLLM's own rewriting
(`_` to `-`, dotted keys, `--config`, `-O`) happens before argparse.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path
from typing import Any

from vllm.entrypoints.cli.serve import ServeSubcommand  # type: ignore[import-not-found]
from vllm.utils.argparse_utils import FlexibleArgumentParser  # type: ignore[import-not-found]


def main() -> None:
    request = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    top = FlexibleArgumentParser(prog="vllm")
    serve = ServeSubcommand().subparser_init(top.add_subparsers(dest="subparser"))
    dests: list[str] = request["dests"]

    def parse(extra: list[str]) -> dict[str, str] | None:
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                namespace = top.parse_args(["serve", *request["base"], *extra])
        except (SystemExit, Exception):  # argparse exits on a refusal; vLLM's rewriting may raise
            return None
        return {dest: repr(getattr(namespace, dest, None)) for dest in dests}

    answer: dict[str, Any] = {
        "allow_abbrev": serve.allow_abbrev,
        "options": {
            option: [action.dest, action.nargs != 0]
            for action in serve._actions
            for option in action.option_strings
        },
        "baseline": parse([]),
        "results": [parse(case) for case in request["cases"]],
    }
    Path(sys.argv[2]).write_text(json.dumps(answer), encoding="utf-8")


if __name__ == "__main__":
    main()
