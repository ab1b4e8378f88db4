"""Prometheus alerting rules for drift-sidecar, as data, rendered two ways.

The rules below are the single source of truth. Pure functions render them as a plain Prometheus
rule file (``groups:``) and as a Prometheus Operator ``PrometheusRule``; ``export_rules`` writes
both. The committed copies (``alert_rules/drift-sidecar.rules.yaml``,
``deploy/prometheusrule.yaml``) are regenerated with::

    drift-sidecar rules export alert_rules --prometheus-rule-dir deploy

(or ``python -m exporters.prometheus.rules alert_rules --prometheus-rule-dir deploy``), and
``alert_rules/tests/drift-sidecar.test.yaml`` tests them with ``promtool test rules``.

``drift_alerts_total`` has series only for the alert channels a sidecar is configured with;
``drift_model_performance_degraded`` only for models with a ``performance.alert``;
``drift_labels_total`` and ``drift_cloudevents_*`` only once labels or CloudEvents arrive. The
rules that compare two outcomes of a counter use ``unless``/``or`` so that an outcome without a
series (never happened) counts as zero instead of hiding the alert.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from exporters.yaml_files import generated_header, to_yaml

RUNBOOK_URL = "docs/runbook.md"
"""Where the runbook lives; each rule links to its section (``#<alert name in lower case>``).
Relative to the repository root; pass an absolute URL (``--runbook-url``) when deploying."""

JOB_REGEX = "drift-sidecar.*"
"""The scrape job(s) of the sidecars (README: ``job_name: drift-sidecar``)."""

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
    runbook_url: str = RUNBOOK_URL, job_regex: str = JOB_REGEX
) -> tuple[RuleGroup, ...]:
    """Every alerting rule, in three groups: drift of the data, performance of the model on
    delayed labels, and health of the sidecar and of its inputs."""

    def rule(
        name: str, expr: str, for_: timedelta, severity: Severity, summary: str, description: str
    ) -> AlertRule:
        url = f"{runbook_url}#{anchor(name)}"
        return AlertRule(name, expr.strip(), for_, severity, summary, description, url)

    minutes = timedelta(minutes=1)
    up = f'up{{job=~"{job_regex}"}}'
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
                f'Prometheus has had no scrape target matching job=~"{job_regex}" '
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


def render_prometheus_rule(groups: Sequence[RuleGroup] | None = None) -> str:
    return to_yaml(prometheus_rule(rule_groups() if groups is None else groups), HEADER)


def export_rules(
    directory: Path,
    prometheus_rule_directory: Path | None = None,
    runbook_url: str = RUNBOOK_URL,
) -> list[Path]:
    """Write the rule file into ``directory`` and the PrometheusRule into
    ``prometheus_rule_directory`` (default: the same directory); returns both paths."""
    groups = rule_groups(runbook_url=runbook_url)
    outputs = (
        (directory / RULE_FILE_NAME, render_rule_file(groups)),
        (
            (prometheus_rule_directory or directory) / PROMETHEUS_RULE_FILE_NAME,
            render_prometheus_rule(groups),
        ),
    )
    for path, text in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return [path for path, _ in outputs]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m exporters.prometheus.rules DIR [--prometheus-rule-dir DIR] [--runbook-url U]``"""
    parser = argparse.ArgumentParser(prog="python -m exporters.prometheus.rules")
    parser.add_argument("directory", type=Path, help=f"where to write {RULE_FILE_NAME}")
    parser.add_argument("--prometheus-rule-dir", type=Path, help="default: DIRECTORY")
    parser.add_argument("--runbook-url", default=RUNBOOK_URL)
    args = parser.parse_args(argv)
    for path in export_rules(args.directory, args.prometheus_rule_dir, args.runbook_url):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
