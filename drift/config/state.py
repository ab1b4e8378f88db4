"""``state``: where the sidecar keeps what a restart would otherwise lose (off when absent).

::

    state:
      dir: /var/lib/drift-sidecar/state   # a volume: emptyDir survives container restarts,
                                          # a PVC survives the pod moving
      snapshot_seconds: 10                # a kill -9 loses at most this much

Per model: the window, the latest report, the alert state, the label join and the performance
window; for the whole process: the CloudEvents halves waiting for their other half, and the
notifications still queued for Slack / Kafka at a stop.
``drift.service.state`` writes and reads the files.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from drift.core.options import StrictModel


class StateConfig(StrictModel):
    """``state``: snapshots of each model's state, restored at start-up when the config that
    shapes them (columns, window, reference data) is unchanged."""

    dir: Path = Field(
        description="directory of the snapshots (created if missing; a relative path is "
        "relative to the working directory); mount a volume here, e.g. "
        "/var/lib/drift-sidecar/state beside the reference cache"
    )
    snapshot_seconds: float = Field(
        10.0,
        gt=0,
        le=86_400,
        description="write a snapshot of every model this often (off the request path); a "
        "final one is written at a stop (SIGTERM), so only a kill -9 loses up to this much",
    )
