"""The shipper: produces the samples and labels a sidecar accepted (``drift.service.fleet``)."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from drift.config.fleet import FleetConfig
from drift.core.columns import SampleSchema
from drift.ingest import wire
from drift.ingest.samples import Batch
from drift.service.fleet.common import kafka_common, keep_sample
from exporters.prometheus.fleet import ShipperMetrics

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)


class Shipper:
    """Produces accepted samples and labels; thread-safe, never blocks the caller."""

    def __init__(self, config: FleetConfig, registry: CollectorRegistry, client_id: str) -> None:
        self.config = config
        self.metrics = ShipperMetrics(registry, (config.samples_topic, config.labels_topic))
        self._random = random.Random().random
        self._lock = threading.Lock()
        self._buffered = 0
        self._outstanding = {config.samples_topic: 0, config.labels_topic: 0}
        self._client_id = client_id
        self._producer: Any = None
        self._poller: threading.Thread | None = None
        self._stopping = threading.Event()

    def producer_config(self) -> dict[str, Any]:
        return {
            **kafka_common(self.config, self._client_id),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": self.config.linger_ms,
            "partitioner": "murmur2_random",  # the Java client's default: same key, same partition
            # librdkafka's own bound, above ours (which counts message values only)
            "queue.buffering.max.kbytes": max(1, self.config.max_buffer_bytes // 1024 * 2),
            "queue.buffering.max.messages": 1_000_000,
            "message.timeout.ms": 0,  # retried until delivered; the byte bound drops new ones
        }

    def start(self) -> None:
        from confluent_kafka import Producer

        self._producer = Producer(self.producer_config())
        self._poller = threading.Thread(target=self._poll, name="drift-shipper", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stopping.is_set():
            self._producer.poll(0.1)  # runs the delivery callbacks

    def ship_samples(self, model: str, batch: Batch, schema: SampleSchema) -> int:
        """Produce the batch (split into messages under 1 MB); how many samples were handed to
        the producer (the others were sampled out or did not fit the buffer)."""
        rows = wire.sample_rows(batch, schema)
        if self.config.sample_rate < 1.0:
            kept = [r for r in rows if keep_sample(r, self.config.sample_rate, self._random)]
            self.metrics.sampled_out.inc(len(rows) - len(kept))
            rows = kept
        return self._produce(self.config.samples_topic, model, wire.split("samples", rows))

    def ship_labels(self, model: str, labels: Sequence[tuple[str, object]]) -> int:
        return self._produce(self.config.labels_topic, model, wire.labels_messages(labels))

    def _produce(self, topic: str, model: str, messages: Any) -> int:
        handed = 0
        key = model.encode("utf-8")
        for body, count in messages:
            size = len(body)
            with self._lock:
                if self._buffered + size > self.config.max_buffer_bytes:
                    full = True
                else:
                    full = False
                    self._buffered += size
                    self._outstanding[topic] += count
            if full:
                self.metrics.dropped.labels(topic, "buffer_full").inc(count)
                continue
            try:
                self._producer.produce(
                    topic, value=body, key=key, on_delivery=self._delivered(topic, count, size)
                )
            except BufferError:  # librdkafka's own queue is full
                self._settle(topic, count, size)
                self.metrics.dropped.labels(topic, "buffer_full").inc(count)
                continue
            except Exception as exc:  # KafkaException: e.g. the topic name is refused
                self._settle(topic, count, size)
                self.metrics.dropped.labels(topic, "delivery_failed").inc(count)
                log.warning("fleet: cannot produce to %s: %s", topic, exc)
                continue
            handed += count
        self.metrics.buffer_bytes.set(self._buffered)
        return handed

    def _settle(self, topic: str, count: int, size: int) -> None:
        with self._lock:
            self._buffered -= size
            self._outstanding[topic] -= count

    def _delivered(self, topic: str, count: int, size: int) -> Callable[[Any, Any], None]:
        def done(err: Any, _msg: Any) -> None:
            self._settle(topic, count, size)
            self.metrics.buffer_bytes.set(self._buffered)
            if err is None:
                self.metrics.produced.labels(topic).inc()
                self.metrics.produced_items.labels(topic).inc(count)
            else:
                self.metrics.dropped.labels(topic, "delivery_failed").inc(count)
                log.warning("fleet: %d item(s) not delivered to %s: %s", count, topic, err)

        return done

    @property
    def buffered_bytes(self) -> int:
        return self._buffered

    def stop(self, timeout: float) -> None:
        """Deliver what is buffered within ``timeout``; what is left is counted (shutdown)."""
        self._stopping.set()
        if self._poller is not None:
            self._poller.join(1.0)
        if self._producer is None:
            return
        left = self._producer.flush(max(0.0, timeout))
        if left:
            with self._lock:
                outstanding = dict(self._outstanding)
            for topic, count in outstanding.items():
                if count:
                    self.metrics.dropped.labels(topic, "shutdown").inc(count)
            log.warning("fleet: %d message(s) still buffered at the stop: not delivered", left)
