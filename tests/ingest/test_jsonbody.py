"""drift.ingest.jsonbody decodes every body the standard library decodes, to the same values."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drift.ingest import jsonbody

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@given(_json_values)
def test_same_values_and_types_as_the_standard_library(value: object) -> None:
    body = json.dumps(value).encode()
    decoded = jsonbody.loads(body)
    expected = json.loads(body)
    assert decoded == expected
    assert json.dumps(decoded) == json.dumps(expected)  # same types (int stays int, float float)


def test_floats_round_trip_exactly() -> None:
    values = [0.1, 1e-310, 5e-324, 1.7976931348623157e308, -0.0, 123456789.12345678, 1 / 3]
    decoded = jsonbody.loads(json.dumps(values).encode())
    assert [v.hex() for v in decoded] == [v.hex() for v in values]


def test_what_orjson_refuses_still_decodes_like_before() -> None:
    # NaN / Infinity literals: Python clients (json.dumps) send them by default
    decoded = jsonbody.loads(b'{"samples": [{"x": NaN, "y": Infinity, "z": -Infinity}]}')
    sample = decoded["samples"][0]
    assert math.isnan(sample["x"])
    assert (sample["y"], sample["z"]) == (math.inf, -math.inf)
    # integers beyond 64 bits stay integers (orjson would make floats of them)
    big = b'{"id": 123456789012345678901234567890, "n": [-99999999999999999999, %d]}' % 2**64
    assert jsonbody.loads(big) == {
        "id": 123456789012345678901234567890,
        "n": [-99999999999999999999, 2**64],
    }
    assert jsonbody.loads(b"12345678901234567890") == 12345678901234567890
    # 64-bit integers and floats with many leading zeros are orjson's: same values
    assert jsonbody.loads(
        b"[9223372036854775807, -9223372036854775808, 0.00012345678901234567]"
    ) == [
        2**63 - 1,
        -(2**63),
        0.00012345678901234567,
    ]
    # UTF-16 and UTF-32 bodies (json.loads detects the encoding of bytes)
    for encoding in ("utf-16", "utf-16-le", "utf-32"):
        body = json.dumps({"f\u00e9ature": "\u00e9t\u00e9"}).encode(encoding)
        assert jsonbody.loads(body) == {"f\u00e9ature": "\u00e9t\u00e9"}
    # a UTF-8 byte-order mark
    assert jsonbody.loads(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}
    # str as well as bytes
    assert jsonbody.loads('{"a": [1, 2.5]}') == {"a": [1, 2.5]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"samples": [1, 2,]}', "Expecting value: line 1 column 19 (char 18)"),
        (b"", "Expecting value: line 1 column 1 (char 0)"),
        (b'{"a": 1} trailing', "Extra data: line 1 column 10 (char 9)"),
    ],
)
def test_invalid_json_raises_the_standard_library_error(body: bytes, message: str) -> None:
    with pytest.raises(json.JSONDecodeError) as excinfo:
        jsonbody.loads(body)
    assert str(excinfo.value) == message


def test_invalid_utf8_raises_a_decode_error() -> None:
    with pytest.raises((UnicodeDecodeError, json.JSONDecodeError)):
        jsonbody.loads(b'{"a": "\xff\xfe\xfa"}')
