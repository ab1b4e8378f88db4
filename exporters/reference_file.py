"""Reference datasets from local CSV or Parquet files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from drift.errors import ReferenceUnavailable


@dataclass(frozen=True)
class FileReference:
    path: Path
    format: str = "auto"

    @property
    def description(self) -> str:
        return str(self.path)

    def _format(self) -> str:
        if self.format != "auto":
            return self.format
        suffixes = [s.lower() for s in self.path.suffixes]
        if ".parquet" in suffixes or ".pq" in suffixes:
            return "parquet"
        if ".csv" in suffixes:
            return "csv"
        raise ReferenceUnavailable(
            str(self.path), "cannot tell the format from the extension; set reference.format"
        )

    def load(self) -> pd.DataFrame:
        fmt = self._format()
        if not self.path.is_file():
            raise ReferenceUnavailable(str(self.path), "file not found")
        try:
            if fmt == "parquet":
                return pd.read_parquet(self.path)
            return pd.read_csv(self.path)
        except Exception as exc:  # pandas/pyarrow raise many types for a bad file
            raise ReferenceUnavailable(str(self.path), f"cannot read {fmt}: {exc}") from exc
