"""Local references read with pyarrow (issue 21): the frame has the kinds of column pandas'
readers give (strings Arrow-backed), CSV files pyarrow would read differently go through
``pandas.read_csv``, and the profile of a file is cached by path, size and modification time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pandas._libs.parsers import STR_NA_VALUES

from drift.config import settings_from_mapping
from drift.core.columns import CategoricalData, NumericData
from drift.errors import ReferenceUnavailable
from drift.ports import ReferenceVersion
from drift.service.references import ReferenceLoader
from drift.sources.cache import KEEP_KEYS, KEEP_VERSIONS, CachedEntry, ProfileCache
from drift.sources.file import CSV_NA_VALUES, read_frame
from tests.conftest import reference_frame


def test_the_missing_value_spellings_are_pandas() -> None:
    assert set(CSV_NA_VALUES) == set(STR_NA_VALUES)


def cell(value: Any) -> Any:
    if pd.isna(value):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def cells(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """Values per column, missing ones as None, numbers as floats."""
    return {str(name): [cell(v) for v in frame[name].astype(object).tolist()] for name in frame}


def kind(dtype: Any) -> str:
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    return "text"


CSV_CASES = {
    "numbers and text": "a,b,c\n1,x,1.5\n2,y,\n3,,2.25\n",
    "missing spellings": "a,b\nNA,None\n1,<NA>\nn/a,x\n#N/A,null\n",
    "bools with a gap": "id,b\n0,True\n1,false\n2,\n3,TRUE\n",
    "all empty column": "a,b\n1,\n2,\n",
    "dates stay text": "a,d\n1,2024-01-01\n2,2024-02-01\n",
    "timestamps stay text": "a,t\n1,2024-01-01T10:00:00\n2,2024-01-02T11:00:00\n",
    "big integers": "a\n99999999999999999999\n1\n",
    "unnamed index column": ",a\n0,1\n1,2\n",
    "repeated names": "a,a\n1,2\n3,4\n",
    "header shorter than rows": "a\n1,2\n3,4\n",
    "quoted and padded": 'a,b\n"1", x\n 2,"y"\n',
    "infinities": "a\ninf\n-inf\n1.5\n",
}


@pytest.mark.parametrize("text", CSV_CASES.values(), ids=CSV_CASES.keys())
def test_csv_reads_as_pandas_reads_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / "ref.csv"
    path.write_text(text)
    ours, theirs = read_frame(path, "csv", "ref"), pd.read_csv(path)
    assert list(ours.columns) == list(theirs.columns)
    assert [kind(t) for t in ours.dtypes] == [kind(t) for t in theirs.dtypes]
    assert cells(ours) == cells(theirs)


def test_string_columns_stay_in_arrow_memory(tmp_path: Path) -> None:
    frame = reference_frame(200)
    frame["count"] = np.arange(200)
    frame.loc[::7, "city"] = None
    frame.to_parquet(tmp_path / "ref.parquet", index=False)
    frame.to_csv(tmp_path / "ref.csv", index=False)
    for fmt in ("parquet", "csv"):
        ours = read_frame(tmp_path / f"ref.{fmt}", fmt, "ref")
        assert isinstance(ours["city"].dtype, pd.ArrowDtype)
        assert ours["count"].dtype == np.int64
        assert ours["income"].dtype == np.float64
        # exact decimals: the CSV's numbers are the Parquet's (pandas' parser can differ by 1 ulp)
        np.testing.assert_array_equal(ours["income"], frame["income"])
        assert cells(ours) == cells(frame)


def test_a_bad_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "ref.parquet"
    path.write_bytes(b"not parquet")
    with pytest.raises(ReferenceUnavailable, match=r"cannot read parquet ref\.parquet"):
        read_frame(path, "parquet", "ref")


# ------------------------------------------------------------------- the profile cache


def loader(path: Path, cache: Path) -> ReferenceLoader:
    settings = settings_from_mapping(
        {
            "models": {
                "m": {
                    "reference": {"path": str(path), "cache_dir": str(cache)},
                    "columns": {"numerical": ["age", "income"], "categorical": ["city"]},
                }
            }
        }
    )
    return ReferenceLoader("m", settings.models["m"])


def test_a_file_profile_is_cached_by_path_size_and_mtime(tmp_path: Path) -> None:
    path = tmp_path / "ref.csv"
    reference_frame(300).to_csv(path, index=False)
    loading = loader(path, tmp_path / "cache")
    first = loading.load()
    assert first is not None
    assert first.profile.columns["city"].data.value_counts().keys() == {"berlin", "paris", "rome"}
    loading.wait_cached()  # written in the background, off the path to ready
    stat = path.stat()
    # other contents, same size and modification time: a restart takes the cached profile
    path.write_text(path.read_text().replace("berlin", "BERLIN"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert len(list(loading.cache.dir.glob("*.npz"))) == 1
    again = loader(path, tmp_path / "cache").load()
    assert again is not None
    assert again.info.version_id == first.info.version_id
    assert not again.info.cached  # the profile of this version, not a fallback
    for name, col in first.profile.columns.items():
        cached = again.profile.columns[name].data
        if isinstance(col.data, NumericData):
            assert isinstance(cached, NumericData)
            np.testing.assert_array_equal(cached.values, col.data.values)
        else:
            assert isinstance(cached, CategoricalData)
            assert cached.counts == col.data.counts
    # a newer file is read again
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    newer = loader(path, tmp_path / "cache").load()
    assert newer is not None
    assert newer.info.version_id != first.info.version_id
    assert "BERLIN" in newer.profile.columns["city"].data.value_counts()


def test_a_missing_file_is_an_error_even_with_a_cached_profile(tmp_path: Path) -> None:
    path = tmp_path / "ref.csv"
    reference_frame(100).to_csv(path, index=False)
    loading = loader(path, tmp_path / "cache")
    assert loading.load() is not None
    loading.wait_cached()
    path.unlink()
    with pytest.raises(ReferenceUnavailable, match="file not found"):
        loader(path, tmp_path / "cache").load()


def test_the_cache_keeps_the_last_versions(tmp_path: Path) -> None:
    path = tmp_path / "ref.csv"
    reference_frame(50).to_csv(path, index=False)
    first = loader(path, tmp_path / "cache")
    loaded = first.load()
    assert loaded is not None
    first.wait_cached()
    cache: ProfileCache = first.cache
    for i in range(KEEP_VERSIONS + 2):
        cache.put(CachedEntry(ReferenceVersion(f"v{i}", f"v{i}", "d"), float(i)), loaded.profile)
    assert len(list(cache.dir.glob("*.npz"))) == KEEP_VERSIONS
    assert len(list(cache.dir.glob("*.json"))) == KEEP_VERSIONS + 1  # and latest.json
    assert cache.get(f"v{KEEP_VERSIONS + 1}") is not None
    assert cache.get("v0") is None


def test_a_process_that_exits_at_once_still_caches_the_profile(tmp_path: Path) -> None:
    path = tmp_path / "ref.csv"
    reference_frame(2_000).to_csv(path, index=False)
    code = f"""
from tests.sources.test_file_reader import loader
from pathlib import Path
assert loader(Path({str(path)!r}), Path({str(tmp_path / "cache")!r})).load() is not None
"""  # no wait_cached(): the exit waits for the write
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=Path.cwd())
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 1
    again = loader(path, tmp_path / "cache")
    version = again.source.current()
    assert again.cache.get(version.id) is not None


def test_the_cache_keeps_the_last_configurations_of_a_model(tmp_path: Path) -> None:
    paths = []
    for i in range(KEEP_KEYS + 2):  # another file is another key
        paths.append(tmp_path / f"ref-{i}.csv")
        reference_frame(30, seed=i).to_csv(paths[-1], index=False)
        loading = loader(paths[-1], tmp_path / "cache")
        assert loading.load() is not None
        loading.wait_cached()
    model_dir = tmp_path / "cache" / "m"
    assert len([d for d in model_dir.iterdir() if d.is_dir()]) == KEEP_KEYS
    assert loading.cache.dir.is_dir()  # the key written last stays
