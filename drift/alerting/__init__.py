"""Native alerting, pure: notifications, the per-(model, kind) state machine, policies, the
Alertmanager webhook payload, the Kafka event and Slack message formats, and the sink port with
its in-memory fake (``testing``).

May import: ``drift.core``, ``drift.config``, ``drift.errors``/``drift.retry``. No I/O: the
sinks (Slack, Kafka) and the bounded delivery queue live in ``exporters.alerts``.
"""
