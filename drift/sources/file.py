"""Reference datasets from local CSV or Parquet files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from drift.errors import ReferenceUnavailable
from drift.ports import ReferenceVersion


def detect_format(name: str, fmt: str, source: str) -> str:
    """``csv`` or ``parquet``: ``fmt`` unless it is ``auto``, else by the name's extension."""
    if fmt != "auto":
        return fmt
    suffixes = [s.lower() for s in Path(name).suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        return "parquet"
    if ".csv" in suffixes:
        return "csv"
    raise ReferenceUnavailable(
        source, f"cannot tell the format of {name!r} from the extension; set reference.format"
    )


def read_frame(path: Path, fmt: str, source: str) -> pd.DataFrame:
    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as exc:  # pandas/pyarrow raise many types for a bad file
        raise ReferenceUnavailable(source, f"cannot read {fmt} {path.name}: {exc}") from exc


def concat_frames(frames: list[pd.DataFrame], source: str) -> pd.DataFrame:
    """Several files of one dataset are one reference; their columns must agree."""
    first = list(frames[0].columns)
    for frame in frames[1:]:
        if sorted(frame.columns) != sorted(first):
            raise ReferenceUnavailable(
                source, f"files have different columns: {first} vs {list(frame.columns)}"
            )
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class FileReference:
    path: Path
    format: str = "auto"

    @property
    def kind(self) -> str:
        return "file"

    @property
    def description(self) -> str:
        return str(self.path)

    def current(self) -> ReferenceVersion:
        try:
            stat = self.path.stat()
        except OSError:
            raise ReferenceUnavailable(str(self.path), "file not found") from None
        version = f"{stat.st_mtime_ns:x}-{stat.st_size:x}"
        return ReferenceVersion(version, version, str(self.path))

    def load(self, version: ReferenceVersion | None = None) -> pd.DataFrame:
        fmt = detect_format(self.path.name, self.format, str(self.path))
        if not self.path.is_file():
            raise ReferenceUnavailable(str(self.path), "file not found")
        return read_frame(self.path, fmt, str(self.path))
