"""The aggregator: consumes the fleet's topics in one consumer group and judges the models of
its partitions, rebuilding their windows by replay on assignment (``drift.service.fleet``)."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from drift.config.fleet import FleetConfig
from drift.errors import DriftError, NotReady
from drift.ingest import jsonbody
from drift.service.fleet.common import OFFSET_BEGINNING, STATE_VERSION, kafka_common
from exporters.prometheus.fleet import AggregatorMetrics

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from drift.service.service import DriftService

log = logging.getLogger(__name__)


@dataclass
class Span:
    """One applied samples message of a model: the model's samples seen after it, its
    offset, and the labels partition's position when it was applied."""

    seen_after: int
    offset: int
    labels_position: int


@dataclass
class Owned:
    partition: int
    spans: deque[Span] = field(default_factory=deque)
    published: tuple[Any, ...] | None = None


@dataclass
class Partition:
    position: int  # the offset of the next message to apply (-1: not known yet)
    replay_until: int  # messages below are replays of what an earlier owner applied


class Aggregator:
    """Consumes both topics in the consumer group; owns the models of its partitions."""

    def __init__(
        self,
        service: DriftService,
        config: FleetConfig,
        registry: CollectorRegistry,
        client_id: str,
    ) -> None:
        self.service = service
        self.config = config
        self.metrics = AggregatorMetrics(registry, (config.samples_topic, config.labels_topic))
        self._client_id = client_id
        self._lock = threading.RLock()
        self._owned: dict[str, Owned] = {}
        self._parts: dict[tuple[str, int], Partition] = {}
        self._suspended: dict[tuple[str, int], int] = {}
        self._records: dict[str, dict[str, Any]] = {}
        self._rebuilt: set[int] = set()  # samples partitions whose replay is done
        self._consumer: Any = None
        self._producer: Any = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.joined = threading.Event()
        self.error: str | None = None
        self._next_checkpoint = 0.0
        self._next_lag = 0.0
        self._dirty_alerts = threading.Event()

    # ownership, as the service asks ----------------------------------------------------------
    def reports(self, model: str) -> bool:
        """Whether this instance owns ``model`` with its window rebuilt (exports it)."""
        with self._lock:
            owned = self._owned.get(model)
            return owned is not None and owned.partition in self._rebuilt

    def owned_models(self) -> list[str]:
        with self._lock:
            return sorted(m for m, o in self._owned.items() if o.partition in self._rebuilt)

    def alerts_changed(self) -> None:
        """An evaluation changed an alert state: publish the records at the next loop turn."""
        self._dirty_alerts.set()

    # lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="drift-aggregator", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def consumer_config(self) -> dict[str, Any]:
        session = self.config.session_timeout_ms
        return {
            **kafka_common(self.config, self._client_id),
            "group.id": self.config.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "range",  # co-partitions samples and labels
            "session.timeout.ms": session,
            "heartbeat.interval.ms": max(100, session // 10),
            "max.poll.interval.ms": max(300_000, session),
            "enable.partition.eof": False,
        }

    def _run(self) -> None:
        try:
            self._wait_for_references()
            if self._stopping.is_set():
                return
            from confluent_kafka import Consumer, Producer

            self._producer = Producer(
                {**kafka_common(self.config, self._client_id), "enable.idempotence": True}
            )
            if not self._check_partitions_until_reachable():
                return
            self._consumer = Consumer(self.consumer_config())
            self._consumer.subscribe(
                [self.config.samples_topic, self.config.labels_topic],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            self._loop()
        except DriftError as exc:  # a configuration the fleet cannot work with
            self.error = str(exc)
            log.error("%s", exc)
        except Exception as exc:  # never silently: /readyz says it
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("fleet: the aggregator stopped")
        finally:
            self._close()

    def _wait_for_references(self) -> None:
        """Messages of a model are applied against its reference: join the group only once
        every reference is loaded (as /readyz requires)."""
        while not self._stopping.is_set() and not self.service.references_ready():
            self._stopping.wait(0.2)

    def _check_partitions_until_reachable(self) -> bool:
        """``_check_partitions`` once the broker answers (retried every 2 s, one log line per
        change of cause, /readyz naming it); False when the service stops first."""
        from confluent_kafka import KafkaException

        last = None
        while not self._stopping.is_set():
            try:
                self._check_partitions()
            except KafkaException as exc:
                cause = str(exc.args[0].str() if exc.args else exc)
                self.error = f"broker {self.config.bootstrap_servers} not reachable: {cause}"
                if cause != last:
                    log.warning("fleet: %s (retrying every 2 s)", self.error)
                    last = cause
                self._stopping.wait(2.0)
                continue
            self.error = None
            return True
        return False

    def _check_partitions(self) -> None:
        """Samples and labels topics need the same partition count (created when missing,
        as auto-creation would, but with the samples topic's count for the labels topic)."""
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(kafka_common(self.config, self._client_id))
        topics = admin.list_topics(timeout=2).topics
        counts = {
            name: len(topics[name].partitions)
            for name in (self.config.samples_topic, self.config.labels_topic)
            if name in topics and topics[name].error is None
        }
        if len(counts) == 2 and len(set(counts.values())) > 1:
            raise DriftError(
                f"fleet: {self.config.samples_topic} has {counts[self.config.samples_topic]} "
                f"partitions and {self.config.labels_topic} "
                f"{counts[self.config.labels_topic]}: they need the same count so that a model's "
                "samples and labels go to the same aggregator"
            )

    def _loop(self) -> None:
        consumer = self._consumer
        while not self._stopping.is_set():
            messages = consumer.consume(num_messages=500, timeout=0.2)
            for message in messages:
                self._apply(message)
            now = time.monotonic()
            if now >= self._next_checkpoint or self._dirty_alerts.is_set():
                self._checkpoint()
                self._next_checkpoint = now + self.config.commit_seconds
            if now >= self._next_lag:
                self._update_lag()
                self._next_lag = now + 5.0

    def _close(self) -> None:
        if self._consumer is not None:
            try:
                self._checkpoint()
                self._consumer.close()  # leaves the group: the others take over at once
            except Exception:
                log.exception("fleet: closing the consumer failed")
        if self._producer is not None:
            self._producer.flush(2.0)

    # messages ------------------------------------------------------------------------------------
    def _apply(self, message: Any) -> None:
        error = message.error()
        if error is not None:
            log.warning("fleet: consumer error: %s", error)
            return
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        key = (topic, partition)
        with self._lock:
            part = self._parts.get(key)
            if part is None:  # a message of a partition revoked meanwhile
                return
            replay = offset < part.replay_until
            part.position = offset + 1
        self._apply_message(message, topic, partition, offset, replay)
        if topic == self.config.samples_topic and offset + 1 >= part.replay_until:
            self._replay_done(partition)

    def _apply_message(
        self, message: Any, topic: str, partition: int, offset: int, replay: bool
    ) -> None:
        samples = topic == self.config.samples_topic
        counter = self.metrics.replayed if replay else self.metrics.consumed
        raw_key = message.key()
        if raw_key is None:
            self.metrics.skipped.labels(topic, "no_key").inc()
            return
        model = raw_key.decode("utf-8", "replace")
        if model not in self.service.monitors:
            self.metrics.skipped.labels(topic, "unknown_model").inc()
            return
        try:
            payload = jsonbody.loads_request(message.value() or b"")
        except DriftError:
            self.metrics.skipped.labels(topic, "invalid_json").inc()
            return
        at = _monotonic_of(message)
        # partition p of both topics is this instance's (range assignor): a label may come
        # before the model's first sample, and must not be wiped by the take-over after it
        self._take(model, partition)
        try:
            if samples:
                self.service.ingest_consumed(model, payload, at, replay)
                self._track(model, partition, offset)
            else:
                self.service.ingest_labels_consumed(model, payload, at)
        except NotReady:
            self.metrics.skipped.labels(topic, "not_ready").inc()
            return
        except DriftError:
            self.metrics.skipped.labels(topic, "invalid_body").inc()
            return
        except Exception:  # a bug must not stall the partition behind one message
            self.metrics.skipped.labels(topic, "invalid_body").inc()
            log.exception("fleet: %s[%d]@%d of model %s failed", topic, partition, offset, model)
            return
        counter.labels(topic).inc()

    def _take(self, model: str, partition: int) -> None:
        """The first message of ``model`` since this instance got its partition: start from
        nothing, with the alert trackers of the previous owner's record."""
        with self._lock:
            owned = self._owned.get(model)
            if owned is not None and owned.partition == partition:
                return
            self._owned[model] = Owned(partition)
            record = self._records.get(model)
        self.service.take_over(model, None if record is None else record.get("alerts"))
        self.metrics.owned_models.set(len(self.owned_models()))

    def _track(self, model: str, partition: int, offset: int) -> None:
        seen, _held = self.service.monitors[model].window_bounds()
        labels = self._parts.get((self.config.labels_topic, partition))
        position = -1 if labels is None else labels.position
        with self._lock:
            owned = self._owned.get(model)
            if owned is not None:
                owned.spans.append(Span(seen, offset, position))

    def _replay_done(self, partition: int) -> None:
        with self._lock:
            if partition in self._rebuilt:
                return
            self._rebuilt.add(partition)
            models = [m for m, o in self._owned.items() if o.partition == partition]
        for model in models:  # the rebuilt window's first verdict
            self.service.request_evaluation(model)
        self.metrics.owned_models.set(len(self.owned_models()))
        log.info("fleet: partition %d rebuilt, models %s", partition, models or "(none yet)")

    # checkpoints ---------------------------------------------------------------------------
    def _record(self, model: str, owned: Owned) -> dict[str, Any] | None:
        seen, held = self.service.monitors[model].window_bounds()
        oldest = seen - held  # samples before the oldest one in the window
        while owned.spans and owned.spans[0].seen_after <= oldest:
            owned.spans.popleft()
        first = owned.spans[0] if owned.spans else None
        return {
            "v": STATE_VERSION,
            "model": model,
            "partition": owned.partition,
            "samples_from": None if first is None else first.offset,
            "labels_from": None
            if first is None or first.labels_position < 0
            else first.labels_position,
            "alerts": self.service.alert_trackers(model),
        }

    def _checkpoint(self) -> None:
        """Publish the changed records of the models this instance owns, wait for the broker,
        then commit the positions: a record never lags behind the commit it explains."""
        self._dirty_alerts.clear()
        if self._consumer is None or self._producer is None:
            return
        with self._lock:
            owned = [(m, o) for m, o in self._owned.items() if o.partition in self._rebuilt]
            positions = [
                (topic, p, part.position)
                for (topic, p), part in self._parts.items()
                if part.position >= 0
            ]
        published = 0
        for model, o in owned:
            record = self._record(model, o)
            if record is None:
                continue
            token = (record["samples_from"], record["labels_from"], orjson.dumps(record["alerts"]))
            if token == o.published:
                continue
            try:
                self._producer.produce(
                    self.config.state_topic,
                    key=model.encode("utf-8"),
                    value=orjson.dumps({**record, "written_at": time.time()}),
                )
            except Exception as exc:
                self.metrics.state_errors.inc()
                log.warning("fleet: cannot publish the record of %s: %s", model, exc)
                return  # commit nothing this time: a later record would be missing
            o.published = token
            published += 1
        if published and self._producer.flush(10.0):
            self.metrics.state_errors.inc()
            log.warning("fleet: records not acknowledged: offsets not committed this time")
            with self._lock:
                for _, o in owned:
                    o.published = None
            return
        if positions:
            from confluent_kafka import TopicPartition

            try:
                self._consumer.commit(
                    offsets=[TopicPartition(t, p, o) for t, p, o in positions],
                    asynchronous=False,
                )
            except Exception as exc:  # e.g. during a rebalance: the next checkpoint retries
                log.info("fleet: commit failed: %s", exc)

    def _read_records(self) -> dict[str, dict[str, Any]]:
        """The latest record of every model in the state topic (read to its end)."""
        from confluent_kafka import Consumer, TopicPartition

        reader = Consumer(
            {
                **kafka_common(self.config, self._client_id + "-state"),
                "group.id": self.config.group_id + ".state-reader",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        records: dict[str, dict[str, Any]] = {}
        try:
            meta = reader.list_topics(self.config.state_topic, timeout=10).topics
            topic = meta.get(self.config.state_topic)
            if topic is None or topic.error is not None:
                return records
            ends: dict[int, int] = {}
            for p in topic.partitions:
                low, high = reader.get_watermark_offsets(
                    TopicPartition(self.config.state_topic, p), timeout=10
                )
                if high > low:
                    ends[p] = high
            if not ends:
                return records
            reader.assign(
                [TopicPartition(self.config.state_topic, p, OFFSET_BEGINNING) for p in ends]
            )
            # to the high watermarks, then until the topic is quiet for a moment: a broker may
            # report a watermark below the last offset (tansu 0.6 counts record batches)
            deadline = time.monotonic() + 30
            quiet_since: float | None = None
            while time.monotonic() < deadline:
                messages = reader.consume(500, 0.1)
                if not messages and not ends:
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since >= 0.3:
                        break
                    continue
                quiet_since = None
                for message in messages:
                    if message.error() is not None:
                        continue
                    p, offset = message.partition(), message.offset()
                    try:
                        record = orjson.loads(message.value() or b"")
                        if isinstance(record, dict) and record.get("v") == STATE_VERSION:
                            records[str(record["model"])] = record
                    except (orjson.JSONDecodeError, KeyError):
                        self.metrics.state_errors.inc()
                    if p in ends and (offset or 0) + 1 >= ends[p]:
                        del ends[p]
            else:
                raise DriftError(f"fleet: {self.config.state_topic} not read to its end in 30 s")
        finally:
            reader.close()
        return records

    # rebalances --------------------------------------------------------------------------------
    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        self.metrics.rebalances.labels("assigned").inc()
        committed = {
            (tp.topic, tp.partition): tp.offset for tp in consumer.committed(partitions, timeout=30)
        }
        records = self._read_records()
        with self._lock:
            self._records = records
            for tp in partitions:
                key = (tp.topic, tp.partition)
                done = committed.get(key, -1)
                mine = self._suspended.pop(key, None)
                if mine is not None and mine == done:  # back to this instance untouched
                    self._parts[key] = Partition(position=done, replay_until=done)
                    tp.offset = done
                    if tp.topic == self.config.samples_topic:
                        self._rebuilt.add(tp.partition)
                    continue
                self._forget(key)
                start = self._replay_start(tp.topic, tp.partition, records, done)
                self._parts[key] = Partition(position=-1, replay_until=max(done, 0))
                tp.offset = start
                if tp.topic == self.config.samples_topic and start == done:
                    self._rebuilt.add(tp.partition)  # nothing to replay
            for key in list(self._suspended):  # went to another instance
                self._forget(key)
            self._suspended.clear()
        consumer.assign(partitions)
        self.metrics.assigned_partitions.set(
            sum(1 for t, _ in self._parts if t == self.config.samples_topic)
        )
        self.metrics.owned_models.set(len(self.owned_models()))
        self.joined.set()
        log.info(
            "fleet: assigned %s",
            ", ".join(f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in partitions) or "nothing",
        )

    def _replay_start(
        self, topic: str, partition: int, records: dict[str, dict[str, Any]], done: int
    ) -> int:
        """Where to start reading ``topic[partition]``: the oldest offset a model of the
        partition still needs (its record), else the committed offset, else the beginning."""
        if done < 0:
            return OFFSET_BEGINNING
        field_name = "samples_from" if topic == self.config.samples_topic else "labels_from"
        starts = [
            r[field_name]
            for r in records.values()
            if r.get("partition") == partition
            and isinstance(r.get(field_name), int)
            and 0 <= r[field_name] < done
            and r.get("model") in self.service.monitors
        ]
        return min(starts, default=done)

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        self.metrics.rebalances.labels("revoked").inc()
        self._checkpoint()  # what this instance applied is committed before another takes it
        with self._lock:
            for tp in partitions:
                key = (tp.topic, tp.partition)
                part = self._parts.pop(key, None)
                if part is not None and part.position >= 0 and part.position >= part.replay_until:
                    self._suspended[key] = part.position
                else:
                    self._forget(key)
            self._rebuilt -= {p for t, p in self._suspended if t == self.config.samples_topic}
        self.metrics.owned_models.set(len(self.owned_models()))

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        """The session timed out: another instance may own these already; commit nothing."""
        self.metrics.rebalances.labels("lost").inc()
        with self._lock:
            for tp in partitions:
                key = (tp.topic, tp.partition)
                self._parts.pop(key, None)
                self._forget(key)
        self.metrics.owned_models.set(len(self.owned_models()))

    def _forget(self, key: tuple[str, int]) -> None:
        """Drop the models of a samples partition (called with the lock held)."""
        topic, partition = key
        if topic != self.config.samples_topic:
            return
        self._rebuilt.discard(partition)
        for model in [m for m, o in self._owned.items() if o.partition == partition]:
            del self._owned[model]
            self.service.release(model)

    def _update_lag(self) -> None:
        from confluent_kafka import TopicPartition

        with self._lock:
            parts = [(t, p, part.position) for (t, p), part in self._parts.items()]
        for topic, p, position in parts:
            try:  # the high watermark of the last fetch response: no request to the broker
                # (asking the broker takes ~0.5 s per partition on some, stalling the loop)
                _low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(topic, p), cached=True
                )
            except Exception:
                continue
            if position >= 0 and high >= 0:
                self.metrics.lag.labels(topic, str(p)).set(max(0, high - position))


def _monotonic_of(message: Any) -> float:
    """The message's produce time on this process's monotonic clock (time windows keep
    replayed samples at their age, not at the time of the replay)."""
    kind, millis = message.timestamp()
    now = time.monotonic()
    if kind == 0 or millis <= 0:  # TIMESTAMP_NOT_AVAILABLE
        return now
    return float(now - max(0.0, time.time() - millis / 1000.0))
