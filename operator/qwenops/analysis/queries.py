"""The PromQL of one revision, and what Prometheus answered to it. Pure: no I/O.

`build_queries` renders every query the registry declares (`api.slos.QUERIES`): the spec's
override where it gives one, the registry's template elsewhere. `io.prom.read_revision` runs
them and returns a `Reading` (it never raises: a failed query is a `Measurement` with an
``error``).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from qwenops.api.durations import parse_duration
from qwenops.api.slos import QUERIES, REQUESTS, SLOS, Count, Query
from qwenops.api.spec import Analysis, SeriesLabels

_PLACEHOLDER = re.compile(r"\{(selector|window)\}")


@dataclass(frozen=True)
class Queries:
    """The PromQL of one revision, ready to run: one per query of the registry."""

    promql: Mapping[Query, str]

    def __getitem__(self, query: Query) -> str:
        return self.promql[query]

    def items(self) -> tuple[tuple[str, str], ...]:
        """(key, PromQL) of each query, in the registry's order."""
        return tuple((query.key, promql) for query, promql in self.promql.items())


@dataclass(frozen=True)
class Measurement:
    """The answer to one query: a value, no data (`value is None`, `note` says why), or an `error`."""

    query: str
    value: float | None = None
    error: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Reading:
    """One revision's measurements over the analysis window, one per query."""

    measurements: Mapping[Query, Measurement]

    def __getitem__(self, query: Query) -> Measurement:
        return self.measurements[query]

    @property
    def error(self) -> str | None:
        """Every failed query, `key: error` joined by `; `; None when every query answered."""
        failed = [f"{query.key}: {m.error}" for query, m in self.measurements.items() if m.error is not None]
        return "; ".join(failed) if failed else None

    @classmethod
    def of(cls, queries: Queries, **values: float | None) -> "Reading":
        """A reading where every query answered the value given by its key (absent: an empty result)."""
        unknown = set(values) - {query.key for query in queries.promql}
        assert not unknown, f"no such queries: {sorted(unknown)}"
        return cls(
            {query: Measurement(promql, values.get(query.key)) for query, promql in queries.promql.items()}
        )

    @classmethod
    def failed(cls, queries: Queries, error: str) -> "Reading":
        """A reading where every query failed with `error`."""
        return cls({query: Measurement(promql, error=error) for query, promql in queries.promql.items()})


def promql_string(value: str) -> str:
    """`value` as a double-quoted PromQL string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def selector(labels: SeriesLabels, *, namespace: str, deployment: str, revision: str) -> str:
    """The label matchers of one revision's series, without braces."""
    return ",".join(
        f"{name}={promql_string(value)}"
        for name, value in (
            (labels.namespace, namespace),
            (labels.deployment, deployment),
            (labels.revision, revision),
        )
    )


def window_text(window: str | timedelta) -> str:
    """The spec's window (or a span) as a PromQL range (`2m` -> `120s`; Prometheus refuses `30s2m`)."""
    span = parse_duration(window) if isinstance(window, str) else window
    milliseconds = round(span.total_seconds() * 1000)
    return f"{milliseconds // 1000}s" if milliseconds % 1000 == 0 else f"{milliseconds}ms"


def render_query(template: str, *, selector: str, window: str) -> str:
    """Replace `{selector}` and `{window}`; every other brace of the template stays as written."""
    values = {"selector": selector, "window": window}
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def build_queries(analysis: Analysis, *, namespace: str, deployment: str, revision: str) -> Queries:
    """The PromQL of one revision: the spec's overrides where given, the registry's templates elsewhere.

    `deployment` is the QwenDeployment's name and `revision` the revision hash,
    as the pods' `qwenops.io/deployment` and `qwenops.io/revision` labels carry them.
    """
    matchers = selector(analysis.labels, namespace=namespace, deployment=deployment, revision=revision)
    window = window_text(analysis.window)
    return Queries(
        {
            query: render_query(
                analysis.queries.template(query) or query.template, selector=matchers, window=window
            )
            for query in QUERIES
        }
    )


STEP_COUNTS: tuple[Count, ...] = tuple(
    dict.fromkeys(
        [
            REQUESTS,
            *(slo.query for slo in SLOS if slo.judged_by != "threshold" and isinstance(slo.query, Count)),
        ]
    )
)
"""The counts the always-valid tests read since the step started: the requests and each error-rate SLO's."""


def build_step_queries(
    analysis: Analysis, *, namespace: str, deployment: str, revision: str, age: timedelta
) -> Queries:
    """The `STEP_COUNTS` of one revision over the step's `age`: the spec's override with `{window}`
    the age, else the registry's `since_template` (which counts a series born in the step from 0).

    `age` is whole seconds at least 1 (what Prometheus extrapolates over); a span shorter than two
    scrapes answers an empty result, which the checks take as no evidence yet.
    """
    matchers = selector(analysis.labels, namespace=namespace, deployment=deployment, revision=revision)
    span = window_text(timedelta(seconds=max(1, int(age.total_seconds()))))
    return Queries(
        {
            query: render_query(
                analysis.queries.template(query) or query.since_template, selector=matchers, window=span
            )
            for query in STEP_COUNTS
        }
    )
