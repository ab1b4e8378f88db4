"""The Kafka sink: confluent-kafka's ``Producer`` (imported on the first send). One JSON event
per notification (``drift.alerting.event``), key = model name, settings from ``alerts.kafka``.

Each ``send`` waits for the broker's delivery report: librdkafka gives up on a message after
``message_timeout_seconds``, then the delivery worker's retry policy takes over.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from drift.alerting.event import encode
from drift.alerting.notification import Notification
from drift.alerting.ports import SinkDeliveryError
from drift.config import KafkaConfig

log = logging.getLogger(__name__)


def producer_config(config: KafkaConfig) -> dict[str, str | int]:
    """librdkafka properties for the producer (``extra`` last, so it can set anything)."""
    out: dict[str, str | int] = {
        "bootstrap.servers": config.bootstrap_servers,
        "client.id": config.client_id,
        "acks": config.acks,
        "security.protocol": config.security_protocol,
        "message.timeout.ms": round(config.message_timeout_seconds * 1000),
    }
    optional = {
        "sasl.mechanism": config.sasl_mechanism,
        "sasl.username": config.sasl_username,
        "sasl.password": config.sasl_password,
        "ssl.ca.location": config.ssl_ca_location,
        "ssl.certificate.location": config.ssl_certificate_location,
        "ssl.key.location": config.ssl_key_location,
    }
    out.update({key: value for key, value in optional.items() if value is not None})
    out.update(config.extra)
    return out


class KafkaSink:
    def __init__(self, config: KafkaConfig) -> None:
        self.config = config
        self._producer: Any = None

    @property
    def channel(self) -> str:
        return "kafka"

    def _get_producer(self) -> Any:
        if self._producer is None:
            try:
                from confluent_kafka import Producer
            except ImportError as exc:
                raise SinkDeliveryError(
                    "kafka",
                    f"confluent-kafka is not installed ({exc}): pip install confluent-kafka",
                    permanent=True,
                ) from None
            try:
                self._producer = Producer(producer_config(self.config), logger=log)
            except Exception as exc:  # KafkaException: an invalid property
                raise SinkDeliveryError("kafka", f"producer: {exc}", permanent=True) from None
        return self._producer

    def send(self, notification: Notification) -> None:
        producer = self._get_producer()
        done = threading.Event()
        errors: list[Any] = []

        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(err)
            done.set()

        key = None if notification.model is None else notification.model.encode()
        try:
            producer.produce(
                self.config.topic, key=key, value=encode(notification), on_delivery=delivered
            )
        except Exception as exc:  # BufferError (local queue full), KafkaException
            raise SinkDeliveryError("kafka", f"produce: {exc}") from None
        producer.flush(self.config.message_timeout_seconds + 5.0)
        if not done.is_set():
            raise SinkDeliveryError("kafka", "no delivery report in time")
        if errors:
            err = errors[0]
            raise SinkDeliveryError("kafka", str(err), permanent=bool(err.fatal()))

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(1.0)
            self._producer = None
