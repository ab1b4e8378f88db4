"""Native alerting, the pure core: notifications, the per-(model, kind) state machine, the
Kafka event and Slack message formats, the retry policy and the sink port.

No I/O here: the sinks (Slack, Kafka) and the delivery queue live in ``exporters``.
"""
