"""Prometheus alerting rules for drift-sidecar, as data, rendered two ways.

The rules below are the single source of truth. Pure functions render them as a plain Prometheus
rule file (``groups:``) and as a Prometheus Operator ``PrometheusRule``; ``export_rules`` writes
both. The committed copies are regenerated with::

    drift-sidecar rules export alert_rules
    drift-sidecar rules export deploy/kustomize/base --prometheus-rule-only \
        --job-regex '.+/drift-sidecar' --label release=kube-prometheus-stack \
        --runbook-base-url https://github.com/drift-sidecar/drift-sidecar/blob/main/docs/runbook.md

The first is the rule file for a plain Prometheus (scrape job ``drift-sidecar``); the second is
the PrometheusRule of the Kustomize base (``KUSTOMIZE_BASE`` below), whose job selector matches
the job a PodMonitor named ``drift-sidecar`` gets from the Prometheus Operator,
``<namespace>/drift-sidecar``. ``alert_rules/tests/`` tests both with ``promtool test rules``.

``drift_alerts_total`` has series only for the alert channels a sidecar is configured with;
``drift_model_performance_degraded`` only for models with a ``performance.alert``;
``drift_model_performance_estimated*`` and ``drift_multivariate_*`` only for models with an
``estimation`` section, once a window was estimated; ``drift_estimation_ready`` for every model
with an ``estimation`` section that the sidecar judges, from start (0 until the reference is
loaded);
``drift_labels_total`` and ``drift_cloudevents_*`` only once labels or CloudEvents arrive. The
rules that compare two outcomes of a counter use ``unless``/``or`` so that an outcome without a
series (never happened) counts as zero instead of hiding the alert.

``DriftEstimationFailing`` says that estimation is not running where it is configured
(``drift_estimation_ready == 0``): without it, a failed fit on the first reference would leave
the model without any estimate series, which the two estimation alerts cannot tell from a model
whose estimates are fine.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from exporters.yaml_files import generated_header, to_yaml

RUNBOOK_URL = "docs/runbook.md"
"""Where the runbook lives; each rule links to its section (``#<alert name in lower case>``).
Relative to the repository root; pass an absolute URL (``--runbook-base-url``) when deploying:
Alertmanager and Slack show the annotation as it is."""

JOB_REGEX = "drift-sidecar.*"
"""The scrape job(s) of the sidecars (README: ``job_name: drift-sidecar``)."""

OPERATOR_JOB_REGEX = ".+/drift-sidecar"
"""The job of a PodMonitor named ``drift-sidecar`` in any namespace: the Prometheus Operator
names a PodMonitor's job ``<namespace>/<name>``."""

PROJECT_RUNBOOK_URL = "https://github.com/drift-sidecar/drift-sidecar/blob/main/docs/runbook.md"
"""The published runbook (GitHub renders ``## DriftSidecarDown`` as ``#driftsidecardown``)."""


@dataclass(frozen=True)
class RuleOptions:
    """How one set of rules is rendered: the job selector of ``up``, the runbook links and the
    PrometheusRule's extra labels (those your Prometheus' ``ruleSelector`` matches)."""

    job_selector: str = f'job=~"{JOB_REGEX}"'
    runbook_url: str = RUNBOOK_URL
    labels: tuple[tuple[str, str], ...] = ()


KUSTOMIZE_BASE = RuleOptions(
    job_selector=f'job=~"{OPERATOR_JOB_REGEX}"',
    runbook_url=PROJECT_RUNBOOK_URL,
    labels=(("release", "kube-prometheus-stack"),),
)
"""The PrometheusRule of ``deploy/kustomize/base``: it matches the base's PodMonitor
(``drift-sidecar``, job ``<namespace>/drift-sidecar``) and kube-prometheus-stack's default
``ruleSelector`` (``release: kube-prometheus-stack``)."""

_MATCHER = r'\s*[A-Za-z_][A-Za-z0-9_]*\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*'
_SELECTOR = re.compile(rf"^{_MATCHER}(?:,{_MATCHER})*$")
_LABEL_NAME = re.compile(
    r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")


def job_selector(selector: str | None = None, regex: str | None = None) -> str:
    """The label matchers inside ``up{...}``: ``selector`` as given (``job="ns/name"``, or
    several matchers separated by commas), else ``job=~"<regex>"`` (default ``JOB_REGEX``)."""
    if selector is not None and regex is not None:
        raise ValueError("give a job selector or a job regex, not both")
    if selector is None:
        escaped = (regex or JOB_REGEX).replace("\\", "\\\\").replace('"', '\\"')
        return f'job=~"{escaped}"'
    if not _SELECTOR.match(selector):
        raise ValueError(
            f"not a list of PromQL label matchers: {selector!r} "
            '(e.g. job="kserve-test/drift-sidecar")'
        )
    return selector.strip()


def absolute_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL without query or fragment (anchors are added)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"the runbook base URL takes no query or fragment: {url!r}")
    return url


def label_pairs(items: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``KEY=VALUE`` strings as Kubernetes label pairs (names and values checked)."""
    pairs: list[tuple[str, str]] = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not _LABEL_NAME.match(key) or len(key.rpartition("/")[2]) > 63:
            raise ValueError(f"not a label KEY=VALUE: {item!r}")
        if not _LABEL_VALUE.match(value) or len(value) > 63:
            raise ValueError(f"not a Kubernetes label value: {value!r} (in {item!r})")
        pairs.append((key, value))
    return tuple(pairs)


REJECTED_SHARE = 0.1
"""DriftSamplesRejected fires above this share of rejected samples."""

REFERENCE_MAX_AGE_DAYS = 30
"""DriftReferenceStale fires when the loaded reference is older than this."""

ALERT_RETRIES_PER_15M = 10
"""DriftAlertDeliveryRetrying fires above this many retries in 15 minutes."""

PERFORMANCE_DEGRADED_FOR = timedelta(minutes=30)
"""DriftModelPerformanceDegraded fires after the model's ``performance.alert`` condition has held
this long (``for:``); change it here and regenerate the rules."""

LABELS_EXPIRED_WINDOW = timedelta(minutes=30)
"""DriftLabelsNotJoining: labels expired (or evicted) unmatched within this window ..."""
LABELS_MATCHED_WINDOW = timedelta(hours=2)
"""... and no label matched within this longer one. A label expires
``performance.label_ttl_seconds`` (default 1 h) after it arrived, so the matches of the same
batch of labels were counted up to that long before its expiries: this window must exceed
that TTL plus ``LABELS_EXPIRED_WINDOW``."""

ESTIMATED_HIGHER_IS_BETTER = "cbpe"
"""The estimation ``method`` whose metrics (roc_auc, f1, accuracy, ...) degrade downwards ...
"""
ESTIMATED_LOWER_IS_BETTER = "dle"
"""... and the one whose metrics (mae, mse, rmse) degrade upwards. The sidecar's
``drift_model_performance_estimated_alert`` is two-sided (NannyML's thresholds); an estimate
past the other threshold (better than the reference) is no degradation and fires nothing.
"""

ESTIMATION_FAILING_FOR = timedelta(minutes=15)
"""DriftEstimationFailing fires after ``drift_estimation_ready`` has been 0 (with the reference
loaded) this long. The estimators are fitted once per reference load, before the reference is
installed (so ``drift_reference_loaded`` turns 1 with them ready, and a start-up or a slow fit
never shows 0 with the reference loaded); a failed fit holds the gauge at 0 until the next
reference version loads, so waiting longer only delays that alert. An estimation runs with
every evaluation (each ``window.step`` samples) and a success sets the gauge back to 1, so a
single failing window is cleared by the next good one: 15 minutes, as for
DriftEvaluationErrors, spans several evaluations at ordinary traffic and fires only when they
keep failing."""

UNPAIRED_SHARE = 0.1
"""DriftCloudEventsUnpaired fires above this share of expired (or evicted) halves over those
plus completed pairs (``paired``, and ``error_response``: a pair whose response was an error)."""

RULE_FILE_NAME = "drift-sidecar.rules.yaml"
PROMETHEUS_RULE_FILE_NAME = "prometheusrule.yaml"
HEADER = generated_header("exporters/prometheus/rules.py", "drift-sidecar rules export")


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule. ``for_`` is Prometheus' ``for:`` (``for`` is a Python keyword)."""

    name: str
    expr: str
    for_: timedelta
    severity: Severity
    summary: str
    description: str
    runbook_url: str


@dataclass(frozen=True)
class RuleGroup:
    name: str
    rules: tuple[AlertRule, ...]


# Alertmanager templates, kept as constants so the descriptions below stay readable f-strings.
MODEL = "{{ $labels.model }}"
INSTANCE = "{{ $labels.instance }}"
COLUMN = "{{ $labels.column }}"
CHANNEL = "{{ $labels.channel }}"
SOURCE = "{{ $labels.source }}"
JOB = "{{ $labels.job }}"
METRIC = "{{ $labels.metric }}"
METHOD = "{{ $labels.method }}"
VALUE = '{{ $value | printf "%.4g" }}'


def series_value(metric: str, labels: Sequence[str], *matchers: str) -> str:
    """A template that shows the value of another series when the alert fires: ``metric`` with
    the alert's own values of ``labels`` plus the fixed ``matchers`` (``bound="lower"``), or
    ``none`` when it has no series. Prometheus runs the query (the ``query`` template function);
    ``%q`` quotes the label values as PromQL strings, so a model name cannot change it."""
    selector = ",".join([*(f"{name}=%q" for name in labels), *matchers])
    values = " ".join(f"$labels.{name}" for name in labels)
    return (
        f"{{{{ with printf `{metric}{{{selector}}}` {values} | query }}}}"
        '{{ . | first | value | printf "%.4g" }}{{ else }}none{{ end }}'
    )


def duration(value: timedelta) -> str:
    """A Prometheus duration in its largest exact unit: ``15m``, ``1h``, ``90s``."""
    seconds = int(value.total_seconds())
    if seconds != value.total_seconds() or seconds < 0:
        raise ValueError(f"not a whole, non-negative number of seconds: {value}")
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def anchor(name: str) -> str:
    """The runbook section of an alert: a ``## <name>`` heading, as GitHub spells its id."""
    return name.lower()


def rule_groups(
    runbook_url: str = RUNBOOK_URL, job_regex: str = JOB_REGEX, selector: str | None = None
) -> tuple[RuleGroup, ...]:
    """Every alerting rule, in three groups: drift of the data, performance of the model (on
    delayed labels, or estimated before they arrive), and health of the sidecar and of its
    inputs. ``selector`` (label matchers, see ``job_selector``) picks the sidecars' ``up``
    series; default ``job=~"<job_regex>"``."""

    def rule(
        name: str, expr: str, for_: timedelta, severity: Severity, summary: str, description: str
    ) -> AlertRule:
        url = f"{runbook_url}#{anchor(name)}"
        return AlertRule(name, expr.strip(), for_, severity, summary, description, url)

    minutes = timedelta(minutes=1)
    matchers = selector if selector is not None else job_selector(regex=job_regex)
    lower, upper = 'bound="lower"', 'bound="upper"'
    score = ("job", "instance", "model", "method")  # the labels of a multivariate series

    def thresholds(metric: str, labels: Sequence[str]) -> str:
        """``lower X, upper Y``: the alert's thresholds, looked up when it fires."""
        low, high = series_value(metric, labels, lower), series_value(metric, labels, upper)
        return f"lower {low}, upper {high}"

    up = f"up{{{matchers}}}"
    drift = RuleGroup(
        "drift-sidecar.drift",
        (
            rule(
                "DriftDatasetDetected",
                "drift_dataset_share and drift_dataset_detected == 1",
                15 * minutes,
                Severity.WARNING,
                f"Dataset drift on model {MODEL}",
                f"{{{{ $value | humanizePercentage }}}} of the feature columns of model {MODEL} "
                f"({INSTANCE}) drifted from the reference, at or above the model's "
                "share_threshold, in every evaluation for 15 minutes.",
            ),
            rule(
                "DriftPredictionDetected",
                "drift_prediction_detected == 1",
                15 * minutes,
                Severity.WARNING,
                f"Prediction drift on model {MODEL}",
                f"The predictions of model {MODEL} ({INSTANCE}) drifted from the reference "
                "in every evaluation for 15 minutes.",
            ),
            rule(
                "DriftColumnDetected",
                "drift_column_detected == 1",
                30 * minutes,
                Severity.INFO,
                f"Column {COLUMN} of model {MODEL} drifted",
                f"Column {COLUMN} of model {MODEL} ({INSTANCE}) drifted from the reference "
                "in every evaluation for 30 minutes.",
            ),
            rule(
                "DriftMultivariateDetected",
                "drift_multivariate_drift == 1",
                15 * minutes,
                Severity.WARNING,
                f"Multivariate drift on model {MODEL} ({METHOD})",
                f"The {METHOD} score of model {MODEL} ({INSTANCE}) is "
                f"{series_value('drift_multivariate_score', score)}, outside its thresholds "
                f"from the reference ({thresholds('drift_multivariate_threshold', score)}), in "
                "every evaluation for 15 minutes: the features changed together, even where "
                f"no single column drifted. See GET /v1/models/{MODEL}/estimation and the model "
                "detail dashboard.",
            ),
        ),
    )
    expired_window = duration(LABELS_EXPIRED_WINDOW)
    matched_window = duration(LABELS_MATCHED_WINDOW)
    performance = RuleGroup(
        "drift-sidecar.performance",
        (
            rule(
                "DriftModelPerformanceDegraded",
                "drift_model_performance_degraded == 1",
                PERFORMANCE_DEGRADED_FOR,
                Severity.WARNING,
                f"Performance of model {MODEL} degraded",
                f"The latest performance evaluation of model {MODEL} ({INSTANCE}) on its "
                "labelled window has met the model's performance.alert condition (a drop "
                "against the reference, or a fixed bound) for "
                f"{_minutes(PERFORMANCE_DEGRADED_FOR)}.",
            ),
            rule(
                "DriftModelPerformanceEstimatedDegraded",
                f"""
(
  drift_model_performance_estimated{{method="{ESTIMATED_HIGHER_IS_BETTER}"}}
  < ignoring (bound) drift_model_performance_estimated_threshold{{{lower}}}
  or
  drift_model_performance_estimated{{method="{ESTIMATED_LOWER_IS_BETTER}"}}
  > ignoring (bound) drift_model_performance_estimated_threshold{{{upper}}}
)
and drift_model_performance_estimated_alert == 1
""",
                30 * minutes,
                Severity.WARNING,
                f"Estimated {METRIC} of model {MODEL} degraded",
                f"{METHOD} estimates the {METRIC} of model {MODEL} ({INSTANCE}) at {VALUE}, on "
                "the worse side of its thresholds from the reference ("
                f"{thresholds('drift_model_performance_estimated_threshold', (*score, 'metric'))}"
                "), in every evaluation for 30 minutes. An estimate without labels, not a "
                "measurement: it assumes no concept drift. See "
                f"GET /v1/models/{MODEL}/estimation and the model detail dashboard; compare "
                "with the realized metric once labels arrive.",
            ),
        ),
    )
    unpaired = "sum without (half) (rate(drift_cloudevents_expired_total[10m]))"
    health = RuleGroup(
        "drift-sidecar.health",
        (
            rule(
                "DriftNoSamples",
                f"""
increase(drift_samples_total[10m]) == 0
and on (job, instance) {up} == 1
unless on (job, instance, model) drift_reference_loaded == 0
""",
                30 * minutes,
                Severity.WARNING,
                f"No samples for model {MODEL}",
                f"The sidecar {INSTANCE} is up but accepted no sample for model {MODEL} "
                "for at least 40 minutes; its drift metrics describe old traffic.",
            ),
            rule(
                "DriftSamplesRejected",
                f"""
sum without (reason) (rate(drift_samples_rejected_total[5m]))
/
(
  sum without (reason) (rate(drift_samples_rejected_total[5m]))
  + rate(drift_samples_total[5m])
)
> {REJECTED_SHARE}
""",
                15 * minutes,
                Severity.WARNING,
                f"Many rejected samples for model {MODEL}",
                f"{{{{ $value | humanizePercentage }}}} of the samples posted for model {MODEL} "
                f"({INSTANCE}) in the last 5 minutes were rejected; the share has been above "
                f"{REJECTED_SHARE:.0%} for 15 minutes.",
            ),
            rule(
                "DriftSidecarDown",
                f"{up} == 0",
                5 * minutes,
                Severity.CRITICAL,
                f"drift-sidecar {INSTANCE} is down",
                f"Prometheus could not scrape the drift-sidecar {INSTANCE} (job {JOB}) "
                "for 5 minutes; drift of its models is not monitored.",
            ),
            rule(
                "DriftSidecarAbsent",
                f"absent({up})",
                10 * minutes,
                Severity.CRITICAL,
                "No drift-sidecar target",
                f"Prometheus has had no scrape target matching {matchers} "
                "for 10 minutes; drift is not monitored anywhere.",
            ),
            rule(
                "DriftReferenceNotLoaded",
                "drift_reference_loaded == 0",
                10 * minutes,
                Severity.CRITICAL,
                f"Reference of model {MODEL} not loaded",
                f"The sidecar {INSTANCE} has not loaded the reference of model {MODEL} for "
                "10 minutes: /readyz answers 503 and samples for the model are refused.",
            ),
            rule(
                "DriftReferenceStale",
                f"drift_reference_age_seconds > {REFERENCE_MAX_AGE_DAYS} * 86400",
                60 * minutes,
                Severity.WARNING,
                f"Reference of model {MODEL} is stale",
                f"The reference of model {MODEL} ({INSTANCE}) is "
                f"{{{{ $value | humanizeDuration }}}} old, more than "
                f"{REFERENCE_MAX_AGE_DAYS} days.",
            ),
            rule(
                "DriftEvaluationErrors",
                "increase(drift_evaluation_errors_total[10m]) > 0",
                15 * minutes,
                Severity.WARNING,
                f"Drift evaluations of model {MODEL} fail",
                f"Drift evaluations of model {MODEL} ({INSTANCE}) have kept failing for "
                "15 minutes; its drift metrics are not updated.",
            ),
            rule(
                "DriftEstimationFailing",
                """
drift_estimation_ready == 0
and on (job, instance, model) drift_reference_loaded == 1
""",
                ESTIMATION_FAILING_FOR,
                Severity.WARNING,
                f"Estimation of model {MODEL} is failing",
                f"The sidecar {INSTANCE} has loaded the reference of model {MODEL}, but its "
                f"estimation has not worked for {_minutes(ESTIMATION_FAILING_FOR)}: the fit of "
                "the estimators on that reference failed, or the estimation of the latest "
                "window did. Estimated performance and multivariate drift of the model are not "
                "being computed, so DriftModelPerformanceEstimatedDegraded and "
                "DriftMultivariateDetected cannot fire (after a failed refit, at most from the "
                f"previous reference's estimators). The reason: GET /v1/models/{MODEL}/estimation"
                ', the sidecar\'s log ("cannot fit the estimators" or "estimation failed") and '
                "drift_estimation_errors_total by stage (fit, evaluate).",
            ),
            rule(
                "DriftAlertDeliveryFailing",
                'increase(drift_alerts_total{status="dropped"}[15m]) > 0',
                0 * minutes,
                Severity.WARNING,
                f"Drift alerts of model {MODEL} to {CHANNEL} were dropped",
                f"The sidecar {INSTANCE} gave up delivering drift alerts of model {MODEL} "
                f"to channel {CHANNEL} in the last 15 minutes.",
            ),
            rule(
                "DriftAlertDeliveryRetrying",
                f'increase(drift_alerts_total{{status="retried"}}[15m]) > {ALERT_RETRIES_PER_15M}',
                15 * minutes,
                Severity.INFO,
                f"Drift alerts of model {MODEL} to {CHANNEL} need many retries",
                f"The sidecar {INSTANCE} retried more than {ALERT_RETRIES_PER_15M} deliveries "
                f"of drift alerts of model {MODEL} to channel {CHANNEL} per 15 minutes, "
                "for 15 minutes.",
            ),
            rule(
                "DriftLabelsNotJoining",
                f"""
sum without (outcome) (
  increase(drift_labels_total{{outcome=~"expired_label|evicted_label"}}[{expired_window}])
) > 0
unless ignoring (outcome)
increase(drift_labels_total{{outcome="matched"}}[{matched_window}]) > 0
""",
                15 * minutes,
                Severity.WARNING,
                f"Labels of model {MODEL} do not match any prediction",
                f"Labels posted for model {MODEL} ({INSTANCE}) expired or were evicted without "
                f"matching a prediction, and none matched in {_minutes(LABELS_MATCHED_WINDOW)}, "
                "for 15 minutes: the label ids are not the ids of the predictions, or labels "
                "arrive later than label_ttl_seconds. Performance metrics are not computed.",
            ),
            rule(
                "DriftCloudEventsUnpaired",
                f"""
{unpaired}
/
(
  {unpaired}
  + (
    sum without (outcome) (
      rate(drift_cloudevents_total{{outcome=~"paired|error_response"}}[10m])
    )
    or
    {unpaired} * 0
  )
)
> {UNPAIRED_SHARE}
""",
                15 * minutes,
                Severity.WARNING,
                f"CloudEvents from {SOURCE} on {INSTANCE} are not paired",
                f"{{{{ $value | humanizePercentage }}}} of the {SOURCE} CloudEvents halves "
                f"(request or response) that waited on the sidecar {INSTANCE} in the last "
                "10 minutes expired without their other half, more than "
                f"{UNPAIRED_SHARE:.0%} for 15 minutes; those predictions are not monitored. "
                "Is the payload logger's mode all?",
            ),
            rule(
                "DriftWindowInsufficientData",
                "drift_window_insufficient_data == 1",
                30 * minutes,
                Severity.INFO,
                f"Time window of model {MODEL} has too few samples",
                f"Every evaluation of the time window of model {MODEL} ({INSTANCE}) for "
                "30 minutes had fewer than min_samples samples: no drift verdict, and the "
                "model's drift gauges are absent.",
            ),
        ),
    )
    return (drift, performance, health)


def _minutes(value: timedelta) -> str:
    """A duration in words for the descriptions: ``30 minutes``, ``2 hours``."""
    seconds = int(value.total_seconds())
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour" if hours == 1 else f"{hours} hours"
    return f"{seconds // 60} minutes"


# rendering -----------------------------------------------------------------------------------


def _rule_dict(rule: AlertRule) -> dict[str, Any]:
    data: dict[str, Any] = {"alert": rule.name, "expr": rule.expr}
    if rule.for_:
        data["for"] = duration(rule.for_)
    data["labels"] = {"severity": rule.severity.value}
    data["annotations"] = {
        "summary": rule.summary,
        "description": rule.description,
        "runbook_url": rule.runbook_url,
    }
    return data


def groups_data(groups: Sequence[RuleGroup]) -> list[dict[str, Any]]:
    """The ``groups`` list shared by the rule file and the PrometheusRule's ``spec``."""
    return [{"name": g.name, "rules": [_rule_dict(r) for r in g.rules]} for g in groups]


def rule_file(groups: Sequence[RuleGroup]) -> dict[str, Any]:
    """A Prometheus rule file (``rule_files:`` in prometheus.yml)."""
    return {"groups": groups_data(groups)}


def prometheus_rule(
    groups: Sequence[RuleGroup], name: str = "drift-sidecar", labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """A Prometheus Operator ``PrometheusRule`` with the same groups. No namespace: it goes
    where it is applied (``kubectl apply -n NS``). Add the labels your Prometheus' ``ruleSelector``
    matches through ``labels``."""
    meta_labels = {
        "app.kubernetes.io/name": "drift-sidecar",
        "app.kubernetes.io/component": "alerts",
    }
    meta_labels.update(labels or {})
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "labels": meta_labels},
        "spec": {"groups": groups_data(groups)},
    }


def render_rule_file(groups: Sequence[RuleGroup] | None = None) -> str:
    return to_yaml(rule_file(rule_groups() if groups is None else groups), HEADER)


def render_prometheus_rule(
    groups: Sequence[RuleGroup] | None = None,
    labels: dict[str, str] | None = None,
    header: str = HEADER,
) -> str:
    resource = prometheus_rule(rule_groups() if groups is None else groups, labels=labels)
    return to_yaml(resource, header)


def groups_for(options: RuleOptions) -> tuple[RuleGroup, ...]:
    return rule_groups(runbook_url=options.runbook_url, selector=options.job_selector)


def export_command(options: RuleOptions, directory: str, prometheus_rule_only: bool) -> str:
    """The ``drift-sidecar rules export`` command line that writes ``options``' files."""
    words = ["drift-sidecar rules export", directory]
    if prometheus_rule_only:
        words.append("--prometheus-rule-only")
    if options.job_selector != RuleOptions.job_selector:
        words.append(f"--job-selector '{options.job_selector}'")
    words += [f"--label {key}={value}" for key, value in options.labels]
    if options.runbook_url != RUNBOOK_URL:
        words.append(f"--runbook-base-url {options.runbook_url}")
    return " ".join(words)


def render_kustomize_base() -> str:
    """``deploy/kustomize/base/prometheusrule.yaml``, as ``KUSTOMIZE_BASE`` renders it."""
    command = export_command(KUSTOMIZE_BASE, "deploy/kustomize/base", prometheus_rule_only=True)
    return render_prometheus_rule(
        groups_for(KUSTOMIZE_BASE),
        labels=dict(KUSTOMIZE_BASE.labels),
        header=generated_header("exporters/prometheus/rules.py", command),
    )


def export_rules(
    directory: Path,
    prometheus_rule_directory: Path | None = None,
    runbook_url: str = RUNBOOK_URL,
    *,
    selector: str | None = None,
    labels: Sequence[tuple[str, str]] = (),
    prometheus_rule_only: bool = False,
) -> list[Path]:
    """Write the rule file into ``directory`` and the PrometheusRule into
    ``prometheus_rule_directory`` (default: the same directory); returns the paths written.
    ``prometheus_rule_only``: the PrometheusRule alone, into ``directory``."""
    options = RuleOptions(
        job_selector=selector if selector is not None else RuleOptions.job_selector,
        runbook_url=runbook_url,
        labels=tuple(labels),
    )
    groups = groups_for(options)
    if options == RuleOptions():
        header = HEADER
    else:  # the header says how to write this file again
        target = str(directory if prometheus_rule_only else prometheus_rule_directory or directory)
        command = export_command(options, target, prometheus_rule_only=True)
        header = generated_header("exporters/prometheus/rules.py", command)
    resource = render_prometheus_rule(groups, labels=dict(options.labels), header=header)
    outputs: list[tuple[Path, str]] = []
    if not prometheus_rule_only:
        outputs.append((directory / RULE_FILE_NAME, render_rule_file(groups)))
        directory = prometheus_rule_directory or directory
    outputs.append((directory / PROMETHEUS_RULE_FILE_NAME, resource))
    for path, text in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return [path for path, _ in outputs]


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``rules export`` (shared by ``drift-sidecar`` and ``python -m``)."""
    parser.add_argument(
        "--prometheus-rule-dir",
        help=f"where to write {PROMETHEUS_RULE_FILE_NAME} (default: DIRECTORY)",
    )
    parser.add_argument(
        "--prometheus-rule-only",
        action="store_true",
        help=f"write only {PROMETHEUS_RULE_FILE_NAME}, into DIRECTORY",
    )
    jobs = parser.add_mutually_exclusive_group()
    jobs.add_argument(
        "--job-selector",
        help='label matchers of the sidecars\' up series, e.g. job="kserve-test/drift-sidecar" '
        "(a PodMonitor's job is <namespace>/<name>)",
    )
    jobs.add_argument(
        "--job-regex", help=f'the sidecars\' job as a regex: job=~"REGEX" (default: {JOB_REGEX})'
    )
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a label of the PrometheusRule, e.g. release=kube-prometheus-stack (repeatable)",
    )
    parser.add_argument(
        "--runbook-base-url",
        "--runbook-url",
        dest="runbook_base_url",
        help="absolute URL of docs/runbook.md for the runbook_url annotations "
        f"(default: the relative path {RUNBOOK_URL})",
    )


def export_from_arguments(directory: str, args: argparse.Namespace) -> list[Path]:
    """Run ``rules export`` with parsed arguments; ``ValueError`` names a bad option."""
    selector = None
    if args.job_selector is not None or args.job_regex is not None:
        selector = job_selector(args.job_selector, args.job_regex)
    runbook = RUNBOOK_URL if args.runbook_base_url is None else absolute_url(args.runbook_base_url)
    return export_rules(
        Path(directory),
        Path(args.prometheus_rule_dir) if args.prometheus_rule_dir else None,
        runbook,
        selector=selector,
        labels=label_pairs(args.label),
        prometheus_rule_only=args.prometheus_rule_only,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m exporters.prometheus.rules DIR [options of drift-sidecar rules export]``"""
    parser = argparse.ArgumentParser(prog="python -m exporters.prometheus.rules")
    parser.add_argument("directory", help=f"where to write {RULE_FILE_NAME}")
    add_export_arguments(parser)
    args = parser.parse_args(argv)
    try:
        paths = export_from_arguments(args.directory, args)
    except ValueError as exc:
        parser.error(str(exc))
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
