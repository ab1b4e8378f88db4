"""Ports: the small interfaces the core needs from the outside world."""

from __future__ import annotations

from typing import Protocol

import pandas as pd


class ReferenceSource(Protocol):
    """Loads a reference dataset as a frame. One adapter module per backend in ``exporters``."""

    @property
    def description(self) -> str:
        """Where the data comes from, for messages and the ``source`` of a profile."""
        ...

    def load(self) -> pd.DataFrame: ...
