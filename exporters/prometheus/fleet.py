"""Metrics of the fleet roles (``fleet`` configured): what a shipper produced, buffered and
dropped; what an aggregator owns, consumed, replayed and skipped, and how far it lags.

Labels are bounded: ``topic`` is one of the two configured topics, ``partition`` one of their
partitions, ``reason`` a fixed set."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

LAG_HELP = (
    "Messages in the partition not yet consumed by this aggregator (high watermark minus "
    "position), per assigned partition"
)


class ShipperMetrics:
    def __init__(self, registry: CollectorRegistry, topics: tuple[str, str]) -> None:
        self.produced = Counter(
            "drift_fleet_produced_messages",
            "Messages the broker acknowledged (acks=all), per topic",
            ["topic"],
            registry=registry,
        )
        self.produced_items = Counter(
            "drift_fleet_produced_items",
            "Samples or labels in the messages the broker acknowledged, per topic",
            ["topic"],
            registry=registry,
        )
        self.dropped = Counter(
            "drift_fleet_dropped_items",
            "Samples or labels not delivered to Kafka, per topic and reason: buffer_full (the "
            "producer's buffer, fleet.max_buffer_bytes, was full), delivery_failed (the broker "
            "refused or the message timed out), shutdown (still buffered at the stop's deadline)",
            ["topic", "reason"],
            registry=registry,
        )
        self.sampled_out = Counter(
            "drift_fleet_sampled_out_samples",
            "Accepted samples not produced because of fleet.sample_rate",
            registry=registry,
        )
        self.buffer_bytes = Gauge(
            "drift_fleet_buffer_bytes",
            "Bytes of messages produced but not yet acknowledged by the broker",
            registry=registry,
        )
        for topic in topics:
            self.produced.labels(topic)
            self.produced_items.labels(topic)
            for reason in ("buffer_full", "delivery_failed", "shutdown"):
                self.dropped.labels(topic, reason)


class AggregatorMetrics:
    def __init__(self, registry: CollectorRegistry, topics: tuple[str, str]) -> None:
        self.owned_models = Gauge(
            "drift_fleet_owned_models",
            "Models whose partition this aggregator owns and whose window is rebuilt",
            registry=registry,
        )
        self.assigned_partitions = Gauge(
            "drift_fleet_assigned_partitions",
            "Partitions of the samples topic assigned to this aggregator",
            registry=registry,
        )
        self.consumed = Counter(
            "drift_fleet_consumed_messages",
            "Messages consumed and applied, per topic (replayed ones excluded)",
            ["topic"],
            registry=registry,
        )
        self.replayed = Counter(
            "drift_fleet_replayed_messages",
            "Messages read again after an assignment to rebuild windows and label joins, per "
            "topic (not counted in drift_samples_total)",
            ["topic"],
            registry=registry,
        )
        self.skipped = Counter(
            "drift_fleet_skipped_messages",
            "Messages skipped, per topic and reason: invalid_json, invalid_body (not the "
            "route's body), unknown_model (key not a configured model), no_key, not_ready "
            "(the model's reference is not loaded)",
            ["topic", "reason"],
            registry=registry,
        )
        self.rebalances = Counter(
            "drift_fleet_rebalances",
            "Partition assignments and revocations this aggregator went through, by kind",
            ["kind"],
            registry=registry,
        )
        self.lag = Gauge(
            "drift_fleet_consumer_lag", LAG_HELP, ["topic", "partition"], registry=registry
        )
        self.state_errors = Counter(
            "drift_fleet_state_errors",
            "Failures to publish or read the owners' state records (fleet.state_topic)",
            registry=registry,
        )
        for topic in topics:
            self.consumed.labels(topic)
            self.replayed.labels(topic)
        for kind in ("assigned", "revoked", "lost"):
            self.rebalances.labels(kind)
