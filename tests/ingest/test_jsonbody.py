"""drift.ingest.jsonbody decodes every body the standard library decodes, to the same values
(in one call or in slices), except what it refuses on purpose: nesting deeper than it takes,
integers over the digit limit, invalid UTF-8, NUL characters and lone surrogates, each an
``InvalidJSON`` naming the field; never another exception."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drift.ingest import jsonbody

# characters that UTF-8 encodes (no surrogates) but NUL: both are refused on purpose (below)
_chars = st.characters(codec="utf-8", exclude_characters="\x00")
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_chars),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(_chars, max_size=8), children, max_size=5)
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
def test_invalid_json_gives_the_standard_library_message(body: bytes, message: str) -> None:
    with pytest.raises(jsonbody.InvalidJSON) as excinfo:
        jsonbody.loads(body)
    assert (excinfo.value.field, excinfo.value.detail) == ("(body)", message)


def test_invalid_utf8_is_invalid_json() -> None:
    with pytest.raises(jsonbody.InvalidJSON) as excinfo:
        jsonbody.loads(b'{"a": "\xff\xfe\xfa"}')
    assert excinfo.value.detail.startswith("not valid UTF-8: invalid start byte at byte 7")


# hostile bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [5_000, 100_000])
def test_deep_nesting_is_refused_on_every_path(size: int) -> None:
    for body in (b"[" * size + b"]" * size, b'{"a": ' * size + b"1" + b"}" * size):
        for decode in (jsonbody.loads, lambda b: jsonbody.loads_sliced(b, piece=64)):
            with pytest.raises(jsonbody.InvalidJSON) as excinfo:
                decode(body)
            assert excinfo.value.field == "(body)"
            assert "nested deeper" in excinfo.value.detail


def test_nesting_up_to_a_few_hundred_levels_decodes() -> None:
    body = b"[" * 300 + b"1" + b"]" * 300
    assert jsonbody.loads(body) == jsonbody.loads_sliced(body, piece=16) == json.loads(body)


def test_an_integer_over_the_digit_limit_is_refused() -> None:
    for body in (b"7" * 5_000, b'{"id": %s}' % (b"7" * 5_000), b"[1, %s]" % (b"-" + b"7" * 5_000)):
        for decode in (jsonbody.loads, lambda b: jsonbody.loads_sliced(b, piece=8)):
            with pytest.raises(jsonbody.InvalidJSON) as excinfo:
                decode(body)
            assert excinfo.value.detail == "an integer with more than 4300 digits"
    assert jsonbody.loads(b"[%s]" % (b"7" * 4_300)) == [int("7" * 4_300)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"samples": [{"features": {"city": "\\ud800"}}]}', "samples[0].features.city"),
        (b'["ok", "\\udc00\\ud83d"]', "[1]"),
        (b'{"a": {"b\\udfff": 1}}', "a"),  # in a member name: the object's path
        (b'"x\\ud800"', "(body)"),
    ],
)
def test_a_lone_surrogate_is_refused_naming_the_field(body: bytes, field: str) -> None:
    for decode in (jsonbody.loads, lambda b: jsonbody.loads_sliced(b, piece=4)):
        with pytest.raises(jsonbody.InvalidJSON) as excinfo:
            decode(body)
        assert excinfo.value.field == field
        assert "lone surrogate" in excinfo.value.detail


def test_a_surrogate_pair_and_escaped_backslashes_decode() -> None:
    body = b'{"smile": "\\ud83d\\ude00", "text": "\\\\ud800 \\\\u0000"}'
    assert jsonbody.loads(body) == {"smile": "\U0001f600", "text": "\\ud800 \\u0000"}


def test_nul_is_refused_naming_the_field_and_a_raw_nul_is_not_json() -> None:
    with pytest.raises(jsonbody.InvalidJSON) as excinfo:
        jsonbody.loads(b'{"labels": [{"id": "a", "label": "x\\u0000y"}]}')
    assert excinfo.value.field == "labels[0].label"
    assert "NUL" in excinfo.value.detail
    with pytest.raises(jsonbody.InvalidJSON) as excinfo:
        jsonbody.loads(b'{"a": "x\x00y"}')
    assert excinfo.value.field == "(body)"
    assert excinfo.value.detail.startswith("Invalid control character")


def test_invalid_utf8_in_a_large_body_names_the_byte() -> None:
    body = b'["' + b"a" * 70_000 + b'\xed\xa0\x80"]'  # a surrogate, encoded
    with pytest.raises(jsonbody.InvalidJSON) as excinfo:
        jsonbody.loads(body)
    assert excinfo.value.detail == "not valid UTF-8: invalid continuation byte at byte 70002"


def test_large_bodies_decode_in_slices_to_the_same_values() -> None:
    samples = [
        {"id": i, "features": {"x": i / 3, "c": "a,b]"}, "p": [i, None]} for i in range(3000)
    ]
    body = json.dumps({"samples": samples, "n": 2**70, "f": [0.1] * 20_000}).encode()
    assert len(body) > jsonbody.SLICE_BYTES
    assert jsonbody.loads(body) == json.loads(body)


# the sliced decoder against the standard library, on any text -------------------------------

_json_text = st.text(alphabet='[]{}",:0123456789.-+eEtrufalsnNIiy \\u\n', max_size=60)


@settings(max_examples=500, deadline=None)
@given(_json_values, st.sampled_from([1, 2, 3, 8, 64]), st.sampled_from([None, 1]))
def test_sliced_decoding_gives_the_standard_librarys_values(
    value: object, piece: int, indent: int | None
) -> None:
    body = json.dumps(value, indent=indent)
    assert json.dumps(jsonbody.loads_sliced(body, piece)) == json.dumps(json.loads(body))


@settings(max_examples=1000, deadline=None)
@given(_json_text, st.sampled_from([1, 4, 16, 1024]))
def test_any_text_decodes_as_the_standard_library_does_or_is_invalid_json(
    text: str, piece: int
) -> None:
    try:
        expected: object = json.loads(text.encode())
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, digit limit
        expected = jsonbody.InvalidJSON
    for decode in (jsonbody.loads, lambda t: jsonbody.loads_sliced(t, piece)):
        try:
            got: object = decode(text.encode())
        except jsonbody.InvalidJSON:
            got = jsonbody.InvalidJSON
        if _refused(expected):
            expected = jsonbody.InvalidJSON
        assert json.dumps(got, default=repr) == json.dumps(expected, default=repr), text


def _refused(value: object) -> bool:
    """A NUL or a lone surrogate in a string or name: what ``loads`` refuses, ``json.loads``
    takes."""
    if isinstance(value, str):
        return any(c == "\x00" or "\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, list):
        return any(_refused(v) for v in value)
    if isinstance(value, dict):
        return any(_refused(k) or _refused(v) for k, v in value.items())
    return False


@settings(max_examples=200, deadline=None)
@given(st.lists(_json_values, max_size=1200), st.booleans())
def test_dumps_gives_the_bytes_of_json_dumps(items: list[object], ascii: bool) -> None:
    value = {"accepted": len(items), "rejected": items}
    expected = json.dumps(value, ensure_ascii=ascii, separators=(",", ":")).encode()
    assert jsonbody.dumps(value, ensure_ascii=ascii, allow_nan=True) == expected


def test_release_takes_apart_only_what_nothing_else_holds() -> None:
    value = json.loads(json.dumps({"a": [{"x": [1] * 100} for _ in range(3000)], "b": [[1, 2]]}))
    kept = value["a"][10]
    jsonbody.release(value)
    assert value == {}
    assert kept == {"x": [1] * 100}  # held by this test: left whole
    held = [1, 2]
    alias = held
    jsonbody.release(held)  # two references here, the caller said one
    assert alias == [1, 2]
