"""Ports: the small interfaces the core needs from the outside world."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import pandas as pd


@dataclass(frozen=True)
class ReferenceVersion:
    """One concrete version of a reference dataset.

    ``id`` identifies the content (a ClearML dataset id, a hash of S3 ETags, a file's mtime and
    size): a new id means new data. ``label`` is the short human version for metrics and logs
    (e.g. the ClearML dataset version ``1.2.0``); ``description`` says where it is, for messages.
    """

    id: str
    label: str
    description: str


class ReferenceSource(Protocol):
    """Loads a reference dataset as a frame. One adapter module per backend in ``exporters``."""

    @property
    def kind(self) -> str:
        """``file``, ``s3`` or ``clearml``: the ``source`` label of the metrics."""
        ...

    @property
    def description(self) -> str:
        """Where the data comes from, for messages and the ``source`` of a profile."""
        ...

    def current(self) -> ReferenceVersion:
        """The version the source would serve now (cheap: no data is downloaded)."""
        ...

    def load(self, version: ReferenceVersion | None = None) -> pd.DataFrame:
        """The data of ``version`` (default: the current one)."""
        ...
