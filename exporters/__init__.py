"""Outbound adapters only, one subpackage per integration: ``prometheus`` (the collector and
the rules generator), ``grafana`` (dashboards as code and provisioning), ``alerts`` (bounded
delivery to Slack and Kafka), ``clearml`` (reporting evaluations back), ``report`` (the
evidently HTML report).

May import: ``drift.core``, ``drift.config``, ``drift.alerting``, ``drift.ingest`` (value types),
``drift.sources`` (the shared ClearML session) and ``drift.errors``/``drift.ports``/
``drift.retry``. Never ``drift.service``: the service gives exporters what they show.
"""
