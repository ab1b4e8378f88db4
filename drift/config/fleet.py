"""``fleet``: one verdict per model over all its replicas, through Kafka (absent: stand-alone).

::

    fleet:
      role: shipper                     # shipper | aggregator
      bootstrap_servers: kafka:9092
      samples_topic: drift.samples      # default
      labels_topic: drift.labels        # default
      group_id: drift-aggregators       # aggregators only; default
      state_topic: drift.fleet-state    # aggregators only; default (compacted)
      client: {}                        # extra librdkafka settings (security.protocol, sasl.*)

A **shipper** (the sidecar in each model pod) validates what it is sent exactly as a stand-alone
sidecar does and produces the accepted samples and labels to Kafka, keyed by model name, each
message value being the body of the HTTP route (``{"samples": [...]}``, ``{"labels": [...]}``).
An **aggregator** consumes both topics in one consumer group: Kafka gives each partition, hence
each model, to exactly one aggregator, which keeps the model's window, evaluates it, exports its
metrics and sends its alerts. ``drift.service.fleet`` implements both roles.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from drift.core.options import StrictModel

TOPIC = r"^[A-Za-z0-9._-]{1,249}$"

#: librdkafka properties the fleet sets itself: a ``client`` entry may not change them
RESERVED_CLIENT_KEYS = frozenset(
    {
        "bootstrap.servers",
        "group.id",
        "enable.idempotence",
        "acks",
        "enable.auto.commit",
        "enable.auto.offset.store",
        "auto.offset.reset",
        "key.serializer",
        "value.serializer",
    }
)


class FleetConfig(StrictModel):
    """``fleet``: this process's role in a fleet of sidecars sharing Kafka topics."""

    role: Literal["shipper", "aggregator"] = Field(
        description="shipper: validate and produce to Kafka, no windows of its own; "
        "aggregator: consume in one consumer group and judge the models it owns"
    )
    bootstrap_servers: str = Field(min_length=1, description="host:port[,host:port...]")
    samples_topic: str = Field(
        "drift.samples", pattern=TOPIC, description='messages {"samples": [...]} keyed by model'
    )
    labels_topic: str = Field(
        "drift.labels", pattern=TOPIC, description='messages {"labels": [...]} keyed by model'
    )
    state_topic: str = Field(
        "drift.fleet-state",
        pattern=TOPIC,
        description="aggregators only: each owner's per-model record (where a new owner starts "
        "replaying, the alert state), keyed by model; make it compacted",
    )
    group_id: str = Field(
        "drift-aggregators",
        min_length=1,
        max_length=255,
        description="the aggregators' consumer group (aggregators only)",
    )
    client: dict[str, str] = Field(
        default_factory=dict,
        description="more librdkafka properties for the producer and the consumer, e.g. "
        "security.protocol, sasl.mechanism, sasl.username, sasl.password (use ${VAR}), "
        "ssl.ca.location",
    )
    sample_rate: float = Field(
        1.0,
        gt=0,
        le=1,
        description="shippers only: the share of accepted samples produced (labels always are); "
        "a sample's fate is decided by its request id when it has one, so every replica "
        "keeps or drops the same ids",
    )
    max_buffer_bytes: int = Field(
        64 * 1024 * 1024,
        gt=0,
        description="shippers only: messages waiting for the broker, at most this many bytes; "
        "past it new messages are dropped and counted (drift_fleet_dropped_total)",
    )
    linger_ms: float = Field(
        20.0, ge=0, le=10_000, description="shippers only: how long the producer batches"
    )
    session_timeout_ms: int = Field(
        10_000,
        ge=1_000,
        le=300_000,
        description="aggregators only: an instance silent this long loses its models to the "
        "others (the failover time is about this plus the replay)",
    )

    commit_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="aggregators only: how often the owner publishes its state records and "
        "commits what it consumed (a kill -9 replays at most this much more)",
    )

    @field_validator("client")
    @classmethod
    def _client_keys(cls, value: dict[str, str]) -> dict[str, str]:
        taken = sorted(set(value) & RESERVED_CLIENT_KEYS)
        if taken:
            raise ValueError(f"set by the fleet itself, not in client: {', '.join(taken)}")
        return value

    @model_validator(mode="after")
    def _distinct_topics(self) -> FleetConfig:
        topics = (self.samples_topic, self.labels_topic, self.state_topic)
        if len(set(topics)) < len(topics):
            raise ValueError("samples_topic, labels_topic and state_topic must differ")
        return self

    def secrets(self) -> list[str]:
        """The client values that are credentials (redacted from logs and responses)."""
        return [v for k, v in self.client.items() if "password" in k or "secret" in k or "key" in k]
