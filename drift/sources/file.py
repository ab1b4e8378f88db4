"""Reference datasets from local CSV or Parquet files, and the readers the other sources use.

Files are read with pyarrow directly (multi-threaded, no Python string per cell): string
columns stay Arrow-backed (``pandas.ArrowDtype``), which the profile codes with pyarrow's
dictionary encoding. The frame otherwise has the dtypes ``pandas.read_parquet`` /
``pandas.read_csv`` give. For CSV that needs care, because pyarrow's type inference is not
pandas': the same missing-value spellings and booleans are passed to pyarrow, all-empty columns
become float64 as in pandas, and where pyarrow would still read a column as another kind of
value than pandas does (dates, times, numbers beyond int64, unnamed or repeated header names, a
kind that differs on the first rows) the file is read with ``pandas.read_csv`` instead. One
difference is kept on purpose: pyarrow parses decimal numbers exactly (the nearest double),
where pandas' default parser can be one unit in the last place off.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from drift.errors import ReferenceUnavailable
from drift.ports import ReferenceVersion

#: pandas.read_csv's default missing-value spellings (``pandas._libs.parsers.STR_NA_VALUES``)
CSV_NA_VALUES = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)
CSV_TRUE_VALUES = ("True", "TRUE", "true")  # pandas' C parser's
CSV_FALSE_VALUES = ("False", "FALSE", "false")
#: rows pandas reads to check that pyarrow sees the same kind of column
CSV_CHECK_ROWS = 1_000


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
    """A local file as a frame; ``ReferenceUnavailable`` when it cannot be read."""
    return read_data(path, fmt, source, path.name)


def read_data(data: Path | bytes, fmt: str, source: str, name: str) -> pd.DataFrame:
    """A file (a path, or its bytes) as a frame; ``ReferenceUnavailable`` naming ``name``
    when it cannot be read."""
    try:
        if fmt == "parquet":
            return _read_parquet(data)
        return _read_csv(data)
    except Exception as exc:  # pandas/pyarrow raise many types for a bad file
        raise ReferenceUnavailable(source, f"cannot read {fmt} {name}: {exc}") from exc


def _arrow_strings(arrow_type: Any) -> Any:
    """``types_mapper`` for ``Table.to_pandas``: strings stay in Arrow memory."""
    import pyarrow as pa

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.ArrowDtype(arrow_type)
    return None


def _arrow_source(data: Path | bytes) -> Any:
    import pyarrow as pa

    return pa.BufferReader(data) if isinstance(data, bytes) else str(data)


def _read_parquet(data: Path | bytes) -> pd.DataFrame:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(_arrow_source(data)).read()  # no pyarrow.dataset to import
    frame: pd.DataFrame = table.to_pandas(types_mapper=_arrow_strings)
    return frame


def _read_csv(data: Path | bytes) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    options = pacsv.ConvertOptions(
        null_values=list(CSV_NA_VALUES),
        strings_can_be_null=True,
        true_values=list(CSV_TRUE_VALUES),
        false_values=list(CSV_FALSE_VALUES),
    )
    try:
        table = pacsv.read_csv(_arrow_source(data), convert_options=options)
    except pa.ArrowInvalid:  # e.g. a header shorter than the rows (pandas: an index column)
        return _pandas_csv(data)
    names = table.column_names
    if "" in names or len(set(names)) != len(names):
        return _pandas_csv(data)  # pandas names them "Unnamed: 0" and "a.1"
    kinds = {name: _arrow_kind(field.type) for name, field in zip(names, table.schema, strict=True)}
    if None in kinds.values():
        return _pandas_csv(data)
    sample = _pandas_csv(data, nrows=CSV_CHECK_ROWS)
    if list(sample.columns) != names or any(
        _pandas_kind(sample[name]) not in (kinds[name], "empty") for name in names
    ):
        return _pandas_csv(data)
    for i, field in enumerate(table.schema):
        if pa.types.is_null(field.type):  # all empty: pandas reads NaN
            table = table.set_column(i, field.name, table.column(i).cast(pa.float64()))
    frame: pd.DataFrame = table.to_pandas(types_mapper=_arrow_strings)
    return frame


def _pandas_csv(data: Path | bytes, nrows: int | None = None) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data) if isinstance(data, bytes) else data, nrows=nrows)


def _arrow_kind(arrow_type: Any) -> str | None:
    """The kind of column pandas would make of it; None: a type pandas' CSV reader does not
    infer (dates, times, ...)."""
    import pyarrow as pa

    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return "number"
    if pa.types.is_null(arrow_type):
        return "empty"
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "text"
    return None


def _pandas_kind(column: pd.Series) -> str:
    non_null = column.dropna()
    if non_null.empty:
        return "empty"
    if pd.api.types.is_bool_dtype(column.dtype) or all(
        isinstance(v, bool) for v in non_null.iloc[:CSV_CHECK_ROWS]
    ):
        return "bool"
    if pd.api.types.is_numeric_dtype(column.dtype):
        return "number"
    return "text"


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
