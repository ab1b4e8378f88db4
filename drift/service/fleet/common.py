"""What both roles share: the librdkafka settings from ``fleet`` and the sampling rule."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

from drift.config.fleet import FleetConfig

STATE_VERSION = 1
#: offsets of librdkafka meaning "the earliest retained message"
OFFSET_BEGINNING = -2


def kafka_common(config: FleetConfig, client_id: str) -> dict[str, Any]:
    return {"bootstrap.servers": config.bootstrap_servers, "client.id": client_id, **config.client}


def keep_sample(row: dict[str, Any], rate: float, random: Callable[[], float]) -> bool:
    """``fleet.sample_rate``: a sample with an id is kept or dropped by the id's CRC-32, so that
    every replica decides alike (and its label, produced always, finds it or never waits)."""
    if rate >= 1.0:
        return True
    sample_id = row.get("id")
    if sample_id is None:
        return random() < rate
    return zlib.crc32(str(sample_id).encode("utf-8", "surrogatepass")) < rate * 2**32
