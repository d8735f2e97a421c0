"""Write the Grafana dashboard of a QwenDeployment's rollouts, `dashboards/qwenops.json`.

    python -m dashboards.build           # rewrite qwenops.json
    python -m dashboards.build --check   # exit 1 if it is stale (tests/dashboards checks it too)

The modules beside this one make it, one job each:

* `panels`: the shapes of Grafana's panels, targets and rows;
* `queries`: the metric names, from where they are defined (the operator's metrics, the SLO
  registry), and the series labels the panels select by;
* `rollout_panels`, `revision_panels`, `track_panels`, `operator_panels`: the rows, per concern;
* `slo_panels`: a panel per SLO of the registry, with a dashed line at the SLO;
* `variables`: the Prometheus, the QwenDeployment, its revisions;
* `document`: the rows laid out on Grafana's grid, the annotations, the whole document.
"""

import argparse
import sys
from pathlib import Path

from dashboards.document import text

OUTPUT = Path(__file__).resolve().parent / "qwenops.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="fail if qwenops.json is stale")
    args = parser.parse_args(argv)
    current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else None
    if args.check:
        if current != text():
            print("qwenops.json is stale: run python -m dashboards.build", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
