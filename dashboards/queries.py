"""The metric names and PromQL the panels read, from where the names are defined.

The operator's own metrics come from `qwenops.io.metrics` and the series the analysis reads
from the SLO registry (`qwenops.api.slos`), so a renamed metric makes the checked-in dashboard
stale instead of silently empty.

Series labels, as the operator's analysis reads them: the vLLM pods' series carry `namespace`,
`qwenops_io_deployment` and `qwenops_io_revision` (a PodMonitor's labelmap of the pods' labels).
The track (stable or canary) is a label of the Deployment, not of the pods, so the vLLM panels
are per revision: during a rollout the canary is the newer of the two. The operator's own
series carry `namespace` and `name` of the QwenDeployment, so its scrape must keep them
(`honorLabels: true` on its PodMonitor or ServiceMonitor; else Prometheus renames the
metric's `namespace` to `exported_namespace`).

vLLM's names have a colon (`vllm:e2e_request_latency_seconds`); Prometheus stores them as they
are, or escaped to `vllm_...` when the exporter escapes them for the OpenMetrics format the
scraper asked for (prometheus-client 0.26 scraped by Prometheus 2.x does). The panels select
`{__name__=~"vllm[:_]..."}`, like the operator's default queries, so they work either way.
"""

from prometheus_client.metrics import MetricWrapperBase

from qwenops.api.slos import Count, Quantile, name_matcher
from qwenops.api.spec import SeriesLabels
from qwenops.io import metrics as operator_metrics

# -- names --------------------------------------------------------------------------------------


def family(metric: MetricWrapperBase) -> str:
    """The family name a prometheus-client metric object exposes (`_total` stripped for counters)."""
    names = {each.name for each in metric.describe()}
    assert len(names) == 1, names
    return str(names.pop())


ROLLBACKS = family(operator_metrics.ROLLBACKS) + "_total"
BREACH_TO_ROLLBACK = family(operator_metrics.BREACH_TO_ROLLBACK)
CANARY_WEIGHT = family(operator_metrics.CANARY_WEIGHT)
PHASE = family(operator_metrics.PHASE)
RECONCILE_SECONDS = family(operator_metrics.RECONCILE_SECONDS)
RECONCILE_ERRORS = family(operator_metrics.RECONCILE_ERRORS) + "_total"
PROBE_ANSWERS = family(operator_metrics.PROBES) + "_total"

# -- selectors ----------------------------------------------------------------------------------

LABELS = SeriesLabels()
"""The series labels of the pods, as the operator's analysis reads them by default."""
NAMESPACE, DEPLOYMENT, REVISION = LABELS.namespace, LABELS.deployment, LABELS.revision
REVISIONS = f'{NAMESPACE}="$namespace",{DEPLOYMENT}="$deployment",{REVISION}=~"$revision"'
"""The vLLM pods' series of the chosen QwenDeployment and revisions."""
OBJECT = 'namespace="$namespace",name="$deployment"'
"""The operator's own series of the chosen QwenDeployment."""
BY_NAME = "{{" + REVISION + "}}"
"""The legend of a per-revision series: its revision hash."""
BY_REVISION = f"sum by ({REVISION})"


def rate_by_revision(count: Count) -> str:
    """What the analysis counts with `count` (the requests it judges, their errors), per second."""
    return f"{BY_REVISION} (rate({count.series(REVISIONS)}[$__rate_interval]))"


def quantile_by_revision(quantile: Quantile) -> str:
    return (
        f"histogram_quantile({quantile.quantile:g}, sum by (le, {REVISION}) "
        f"(rate({quantile.buckets(REVISIONS)}[$__rate_interval])))"
    )


def by_revision(name: str) -> str:
    return f"{BY_REVISION} ({{{name_matcher(name)},{REVISIONS}}})"


def added_over(metric: str, window: str) -> str:
    """How much a counter grew over `window`, counting a series born inside it from 0.

    prometheus-client creates a labelled counter's series at its first increment, at 1, so
    `increase()` never sees the first rollback of a reason; a series absent `window` ago counts
    from 0 instead.
    """
    selector = f"{metric}{{{OBJECT}}}"
    return f"({selector} - ({selector} offset {window} or {selector} * 0))"
