"""`qwenops`: run the operator, or write the CRD."""

import argparse
import asyncio
import logging
import os
import sys

import kopf

from qwenops.api import crd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qwenops", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the operator (kopf) against the current kubeconfig")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    scope.add_argument("-n", "--namespace", action="append", default=[], help="watch this namespace")
    run.add_argument(
        "--standalone", action="store_true",
        help="act at once, without leader election: only when no other operator runs",
    )  # fmt: skip
    run.add_argument("--lease-name", help="the leader election's Lease (env QWENOPS_LEASE_NAME; qwenops)")
    run.add_argument(
        "--lease-namespace",
        help="the Lease's namespace (env QWENOPS_LEASE_NAMESPACE, else POD_NAMESPACE, else default)",
    )
    run.add_argument(
        "--liveness", metavar="URL", help="serve kopf's health endpoint, e.g. http://0.0.0.0:8080/healthz"
    )
    run.add_argument("-v", "--verbose", action="store_true")
    crds = commands.add_parser("crds", help="print the CustomResourceDefinition generated from the models")
    crd.add_arguments(crds)
    args = parser.parse_args(argv)

    if args.command == "crds":
        return crd.emit(args.output, check=args.check)

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The handlers read their settings from the environment when imported: flags go there first.
    if args.standalone:
        os.environ["QWENOPS_LEADER_ELECTION"] = "false"
    if args.lease_name:
        os.environ["QWENOPS_LEASE_NAME"] = args.lease_name
    if args.lease_namespace:
        os.environ["QWENOPS_LEASE_NAMESPACE"] = args.lease_namespace
    import qwenops.controller.handlers  # noqa: F401, PLC0415 - importing registers the handlers

    asyncio.run(
        kopf.operator(
            clusterwide=args.all_namespaces or not args.namespace,
            namespaces=args.namespace,
            standalone=True,  # no kopf peering: the Lease elects the operator that acts
            liveness_endpoint=args.liveness,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
