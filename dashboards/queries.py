"""The metric names and PromQL the panels read, from where the names are defined.

The operator's own metrics come from `qwenops.io.metrics` and the series the analysis reads
from the SLO registry (`qwenops.api.slos`), so a renamed metric makes the checked-in dashboard
stale instead of silently empty.

Series labels, as the operator's analysis reads them: the vLLM pods' series carry `namespace`,
`qwenops_io_deployment` and `qwenops_io_revision` (a PodMonitor's labelmap of the pods' labels).
The track (stable or canary) is a label of the Deployment, not of the pods: the operator's
`qwenops_revision_info{revision, track}` names it, and the panels by track join it to vLLM's
series on the revision (`on_track`). The SLO lines are the spec's declarations, which the
operator exports as `qwenops_slo_threshold{slo}`. The operator's own series carry `namespace`
and `name` of the QwenDeployment, so its scrape must keep them (`honorLabels: true` on its
PodMonitor or ServiceMonitor; else Prometheus renames the metric's `namespace` to
`exported_namespace`).

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
GPUS_REQUESTED = family(operator_metrics.GPUS_REQUESTED)
CAPACITY_MISSING = family(operator_metrics.CAPACITY_MISSING)
RECONCILE_SECONDS = family(operator_metrics.RECONCILE_SECONDS)
RECONCILE_ERRORS = family(operator_metrics.RECONCILE_ERRORS) + "_total"
REVISION_INFO = family(operator_metrics.REVISION_INFO)
SLO_THRESHOLD = family(operator_metrics.SLO_THRESHOLD)
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


TRACK = "track"
BY_TRACK = "{{" + TRACK + "}}"
"""The legend of a per-track series: stable or canary."""


def on_track(per_revision: str) -> str:
    """`per_revision` (series keyed by the revision label) with each revision's track joined on.

    `label_join` copies the info metric's `revision` into the vLLM series' label name (no `$1` of
    label_replace, which Grafana would take for a variable)."""
    tracks = f"max by (revision, {TRACK}) ({REVISION_INFO}{{{OBJECT}}})"
    joined = f'label_join({tracks}, "{REVISION}", "", "revision")'
    return f"({per_revision}) * on ({REVISION}) group_left ({TRACK}) {joined}"


def slo_threshold(key: str) -> str:
    """The SLO `key` as the chosen QwenDeployment's spec declares it (no series: not declared)."""
    return f'max({SLO_THRESHOLD}{{{OBJECT},slo="{key}"}})'


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
