"""The fleet roles on Kafka (``fleet`` configured): shippers produce, aggregators judge.

**Shipper** (``Shipper``): the sidecar in each model pod validates what it is sent as a
stand-alone sidecar does, then produces the accepted samples and labels with an idempotent
producer (``acks=all``), key = model name, value = the body of the same HTTP route. ``produce``
never blocks: messages wait in the producer's buffer (at most ``fleet.max_buffer_bytes``) while
the broker is slow or away and are delivered when it returns; past the bound new ones are
dropped and counted. The murmur2 partitioner is the Java client's default, so a model's
messages land in the same partition whichever client produced them.

**Aggregator** (``Aggregator``): one consumer group over both topics with the range assignor, so
partition *p* of the samples topic and partition *p* of the labels topic (the same partition
count: checked) go to the same instance, and with them every model whose key hashes to *p*.
The owner keeps the model's window, label join and alerts. What lets another instance take
over exactly:

- it commits, per partition, the offset of the next message it has not applied (what
  consumer-lag tooling expects), every ``fleet.commit_seconds``;
- before each commit it publishes, per model it owns, a record to ``fleet.state_topic`` (key =
  model): the offset of the message holding the oldest sample still in the window (and the
  labels position when that message was applied), and the alert trackers;
- on assignment, a new owner reads the records, seeks each partition back to the smallest such
  offset of its models and *replays* up to the committed offset: the window is rebuilt with the
  same samples in the same order (a count window keeps the last ``size``; older replayed ones
  fall out), predictions waiting for labels and the labels after them are joined again; replays
  are not counted as new samples, no evaluation runs until the partition reaches the committed
  offset, and the alert trackers continue from the record, so a FIRING is not sent twice;
- a partition without a committed offset starts from the earliest retained message.

An instance that loses a partition forgets its models (window, labels, alerts) and exports
nothing for them. See docs/fleet.md for the topics, retention and the failure cases.
"""

from __future__ import annotations

from drift.service.fleet.aggregator import Aggregator
from drift.service.fleet.shipper import Shipper

__all__ = ["Aggregator", "Shipper"]
