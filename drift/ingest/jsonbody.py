"""Decoding request bodies: orjson when it can, the standard library when it cannot, in slices
when the body is large; and encoding large answers in slices.

The standard library's decoder takes about 2 ms for a batch of 100 samples x 25 features (most
of it turning digits into floats), which bounded ingestion on one core; orjson gives the same
values (exact float round-trip, the same Python types) in a fraction of that. Where the two
differ, the body goes to the standard library's scanner, which keeps what clients could send
before:

- ``NaN`` / ``Infinity`` literals, UTF-16/32 bodies: orjson refuses them, the standard library
  decodes them;
- integers beyond 64 bits: orjson turns them into floats (a sample id would then be refused as
  a float, two ids could collide), so a body with a run of 19 or more digits not preceded by a
  ``.`` or an exponent goes to the standard library. That check costs about a tenth of the
  decode.

Input from the network is hostile. ``loads`` raises ``InvalidJSON`` (field and detail, never
another exception) for a body that is not JSON or that the sidecar will not take:

- nesting deeper than ``MAX_DEPTH`` levels (orjson's limit; the standard library's recursive
  scanner gives up a little earlier, at the interpreter's recursion limit, about 1,000);
- an integer of more digits than the interpreter converts (``sys.get_int_max_str_digits()``,
  4,300 by default);
- invalid UTF-8 (or UTF-16/32), including surrogates encoded in it;
- **lone surrogates** (a ``"\\ud800"`` escape without its pair), which the standard library
  decodes: such a ``str`` cannot be encoded again and would fail later, in an answer, the HTML
  report or a Slack message; a surrogate *pair* (``"\\ud83d\\ude00"``) is one character and
  decodes as always;
- **NUL characters** (``"\\u0000"``): evidently's report fails on a category holding one (a
  500), and no id, category or label needs one. A raw NUL byte is not JSON anyway (control
  characters must be escaped).

The last two are refused naming the field (``samples[3].features.city``); the body is walked
for them only when it holds such an escape (one search of the bytes).

Large bodies: orjson and the standard library's scanner hold the GIL for a whole call (~10 ms
per MiB of small objects on the benchmark VM), so a thread decoding a 10 MiB body would still
stall the event loop for ~100 ms. A body over ``SLICE_BYTES`` is therefore decoded in slices:
the containers that hold many values are walked here, and each piece handed to the scanner is at
most ``SLICE_BYTES`` characters (runs of array elements, one object member), so no single call
takes more than about a millisecond and the interpreter switches threads between them. The
values are those of ``json.loads``. ``dumps`` encodes a large answer (a list of rejections) in
slices the same way, and ``release`` frees a large decoded value a slice at a time (freeing a
million objects at once is another ~40 ms call).
"""

from __future__ import annotations

import codecs
import json
import re
import sys
from collections.abc import Callable
from typing import Any

import orjson

from drift.errors import InvalidRequest

MAX_DEPTH = 1024
"""Nesting deeper than this is refused (orjson's own limit)."""
SLICE_BYTES = 64 * 1024
"""Bodies up to this size are decoded in one call (under a millisecond); larger ones in slices
of at most this many characters. The service decodes larger bodies off the event loop."""
_MIN_PIECE = 512  # characters: the first piece tried for a container, the smallest run
_DUMPS_SLICE = 512  # list items encoded per call by ``dumps``


class InvalidJSON(ValueError):
    """A body that is not JSON, or that the sidecar does not take; ``field`` names where
    (``(body)``, or the path of a value: ``samples[3].features.city``)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


# digits -> "0", the characters that end a float's integer part -> ".", anything else -> " "
_SHAPE = bytes(
    ord("0") if chr(b).isdigit() and b < 128 else ord(".") if chr(b) in ".eE" else ord(" ")
    for b in range(256)
)
# orjson reads integers in [-2**63, 2**64) exactly; every one of up to 18 digits is in it, while
# 19 digits may not be (-9223372036854775809 < -2**63) and 2**64 has 20
_LONG_INTEGER = b" " + b"0" * 19


def _has_long_integer(body: bytes) -> bool:
    shape = body.translate(_SHAPE)
    return _LONG_INTEGER in shape or shape.startswith(_LONG_INTEGER[1:])


def loads(body: bytes | str) -> Any:
    """Like ``json.loads`` (the same values and types); raises ``InvalidJSON`` for a body that
    is not JSON or that is refused (see the module's doc: depth, long integers, invalid UTF-8,
    NUL characters, lone surrogates). A body over ``SLICE_BYTES`` is decoded in slices: slower
    than orjson, but no call holds the GIL for long."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if len(raw) > SLICE_BYTES:
        return loads_sliced(raw)
    if not _has_long_integer(raw):
        try:  # refuses lone surrogates, invalid UTF-8, nesting over 1024 levels
            value = orjson.loads(raw)
            # no backslash, no escape (one memchr): the usual body skips the check of NULs
            return _checked(value, raw, surrogates=False) if b"\\" in raw else value
        except orjson.JSONDecodeError:
            pass  # NaN, UTF-16, ... or not JSON: the standard library decides, with its message
    text = _text(raw)
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise InvalidJSON("(body)", str(exc)) from None
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:  # an integer over the interpreter's digit limit
        raise _long_integer(exc) from None
    return _checked(value, text)


def loads_request(body: bytes) -> Any:
    """``loads`` for a request body: a body it refuses is a 400 ``invalid_json`` naming the
    field (``(body)``, or the value that holds a lone surrogate or a NUL)."""
    try:
        return loads(body)
    except InvalidJSON as exc:
        raise InvalidRequest(
            400, "invalid_json", exc.field, f"not valid JSON: {exc.detail}"
        ) from None


# the standard library's way -----------------------------------------------------------------

_DECODER = json.JSONDecoder()
# the C scanner json.loads uses: one value at an index -> (value, end)
_scan: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
_WS = re.compile(r"[ \t\n\r]*")
_BAD = re.compile("[\x00\ud800-\udfff]")  # not taken in a string: NUL, lone surrogates


def _text(raw: bytes) -> str:
    """The body as text, decoded as ``json.loads`` decodes bytes (UTF-8, a BOM, UTF-16/32
    detected) but strictly: surrogates encoded in the bytes are refused. A large body is
    decoded ``SLICE_BYTES`` at a time (one call for 10 MiB holds the GIL for ~10 ms)."""
    encoding = json.detect_encoding(raw)
    decoder = codecs.getincrementaldecoder(encoding)()
    pieces = []
    start = 0
    try:
        for start in range(0, len(raw), SLICE_BYTES):
            pieces.append(decoder.decode(raw[start : start + SLICE_BYTES]))
        start = len(raw)
        pieces.append(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        position = start - len(decoder.getstate()[0]) + exc.start  # bytes held back included
        name = codecs.lookup(encoding).name.replace("-sig", "").upper()
        detail = f"not valid {name}: {exc.reason} at byte {position}"
        raise InvalidJSON("(body)", detail) from None
    return pieces[0] if len(pieces) == 1 else "".join(pieces)


def _too_deep() -> InvalidJSON:
    return InvalidJSON("(body)", f"nested deeper than the decoder takes ({MAX_DEPTH} levels)")


def _long_integer(exc: ValueError) -> InvalidJSON:
    limit = sys.get_int_max_str_digits()
    detail = f"an integer with more than {limit} digits" if limit else str(exc)
    return InvalidJSON("(body)", detail)


_NOT_DATA = {
    "\x00": "a NUL character (\\u0000) is not taken in a string",
    "surrogate": "a lone surrogate (\\ud800-\\udfff without its pair) is not a character; "
    "send the character in UTF-8, or its escaped surrogate pair",
}


def _checked(value: Any, text: str | bytes, surrogates: bool = True) -> Any:
    """``value``, unless one of its strings (or keys) holds a NUL or a lone surrogate: only a
    ``\\u0000`` or ``\\udxxx`` escape in ``text`` can give one (the text was decoded strictly;
    raw control characters are not JSON), so the value is walked, to name the field, only when
    the text has such an escape. A surrogate pair is one character and passes."""
    needles: tuple[str, ...] = ("\\u0000", "\\ud", "\\uD") if surrogates else ("\\u0000",)
    if not _contains(text, needles):
        return value
    found = _not_data(value)
    if found is None:
        return value
    path, char, in_name = found
    reason = _NOT_DATA["\x00" if char == "\x00" else "surrogate"]
    raise InvalidJSON(path or "(body)", f"{reason} (in a member name)" if in_name else reason)


def _contains(text: str | bytes, needles: tuple[str, ...]) -> bool:
    """Whether ``text`` holds one of ``needles`` (escapes: a backslash, then ASCII), searched
    ``SLICE_BYTES`` at a time (one search of a 10 MiB text holds the GIL ~15 ms). A piece
    without a backslash, the usual case, is passed by one ``memchr``: a search for the needle
    itself costs ~30 us per 55 KB of digits (its last character is a digit)."""
    size = len(text)
    if isinstance(text, bytes):
        if size <= SLICE_BYTES:
            return b"\\" in text and any(needle.encode() in text for needle in needles)
        found: list[Any] = [needle.encode() for needle in needles]
        slash: Any = b"\\"
    else:
        if size <= SLICE_BYTES:
            return "\\" in text and any(needle in text for needle in needles)
        found, slash = list(needles), "\\"
    pieces = (text[i : i + SLICE_BYTES + 8] for i in range(0, size, SLICE_BYTES))
    return any(slash in piece and any(n in piece for n in found) for piece in pieces)


def _not_data(value: Any) -> tuple[str, str, bool] | None:
    """The path of the first string or member name holding a NUL or a lone surrogate, that
    character, and whether it was in a name (the path is then the object's); None when there is
    none. Iterative: a body may nest ``MAX_DEPTH`` levels."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if (bad := _BAD.search(item)) is not None:
                return path, bad.group(), False
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                if (bad := _BAD.search(key)) is not None:
                    return path, bad.group(), True
                children.append((f"{path}.{_segment(key)}" if path else _segment(key), child))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in reversed(list(enumerate(item))))
    return None


def _segment(key: str) -> str:
    return key if len(key) <= 64 else key[:61] + "..."


# slices -------------------------------------------------------------------------------------


def _error(message: str, text: str, pos: int) -> InvalidJSON:
    return InvalidJSON("(body)", str(json.JSONDecodeError(message, text, pos)))


def _scan_value(text: str, pos: int) -> tuple[Any, int]:
    """One value at ``pos`` of ``text`` by the standard library's scanner; errors translated."""
    try:
        return _scan(text, pos)
    except StopIteration as stop:
        raise _error("Expecting value", text, stop.value) from None
    except json.JSONDecodeError as exc:
        raise InvalidJSON("(body)", str(exc)) from None
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:
        raise _long_integer(exc) from None


def _scan_piece(piece: str) -> tuple[Any, int] | None:
    """``piece`` parsed from its start, if it holds a whole value; None when not (it was cut
    short, or is not JSON: the caller then goes on in smaller steps and finds the error)."""
    try:
        return _scan(piece, 0)
    except (StopIteration, json.JSONDecodeError):
        return None
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:  # a digit run over the limit is one whatever follows it
        raise _long_integer(exc) from None


def _key(text: str, pos: int) -> tuple[str, int]:
    """An object member's name and the position after its ``:`` (and whitespace)."""
    if text[pos : pos + 1] != '"':
        raise _error("Expecting property name enclosed in double quotes", text, pos)
    key, pos = _scan_value(text, pos)
    pos = _skip(text, pos)
    if text[pos : pos + 1] != ":":
        raise _error("Expecting ':' delimiter", text, pos)
    return key, _skip(text, pos + 1)


def _skip(text: str, pos: int) -> int:
    """The position of the first non-whitespace character from ``pos``."""
    return _WS.match(text, pos).end()  # type: ignore[union-attr]


class _Open:
    """A container being filled, element by element (or run by run)."""

    __slots__ = ("backoff", "key", "run_size", "skip", "value")

    def __init__(self, value: list[Any] | dict[str, Any], run_size: int) -> None:
        self.value = value
        self.key = ""  # objects: the name of the member being parsed
        self.run_size = run_size  # arrays: characters tried in the next run
        self.skip = 0  # arrays: elements to parse one by one before the next run
        self.backoff = 1


def loads_sliced(body: bytes | str, piece: int = SLICE_BYTES) -> Any:
    """``loads`` handing the scanner at most ``piece`` characters per call (a single string or
    number longer than that is the exception: one call for it). ``loads`` uses it for bodies
    over ``SLICE_BYTES``; a small ``piece`` exercises it on small bodies."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    text = _text(raw)
    return _checked(_Slicer(text, piece).value(), text)


class _Slicer:
    """``json.loads(text)`` in pieces: containers too large for one piece are walked here,
    with an explicit stack (no recursion); the values in them are parsed by the scanner, runs
    of array elements at a time."""

    def __init__(self, text: str, piece: int) -> None:
        self.text = text
        self.end = len(text)
        self.piece = piece
        self.min_piece = min(_MIN_PIECE, piece)

    def value(self) -> Any:
        text = self.text
        pos = _skip(text, 0)
        stack: list[_Open] = []
        while True:
            # one value at pos: a scalar, a container that fits a piece, or one to open
            char = text[pos : pos + 1]
            got = self._container(pos) if char in ("[", "{") else _scan_value(text, pos)
            if got is None:
                if len(stack) >= MAX_DEPTH:
                    raise _too_deep()
                opened = _Open([] if char == "[" else {}, self.piece)
                stack.append(opened)
                pos = _skip(text, pos + 1)
                if text[pos : pos + 1] == ("]" if char == "[" else "}"):
                    value: Any = opened.value
                    stack.pop()
                    pos += 1
                else:
                    if char == "{":
                        opened.key, pos = _key(text, pos)
                    continue
            else:
                value, pos = got
            # the value is complete: into its container; then close what is complete
            while True:
                if not stack:
                    pos = _skip(text, pos)
                    if pos != self.end:
                        raise _error("Extra data", text, pos)
                    return value
                top = stack[-1]
                container = top.value
                if isinstance(container, list):
                    container.append(value)
                else:
                    container[top.key] = value
                pos = _skip(text, pos)
                char = text[pos : pos + 1]
                if char == ",":
                    pos = _skip(text, pos + 1)
                    if isinstance(container, dict):
                        top.key, pos = _key(text, pos)
                    else:
                        pos = self._runs(top, container, pos)
                    break
                if char == ("]" if isinstance(container, list) else "}"):
                    stack.pop()
                    value = container
                    pos += 1
                    continue
                expected = "','" if isinstance(container, list) else "',' or '}'"
                raise _error(f"Expecting {expected} delimiter", text, pos)

    def _container(self, pos: int) -> tuple[Any, int] | None:
        """The array or object at ``pos`` when it closes within ``piece`` characters, else
        None. Tried in pieces of growing size (most elements are small); a container cut short
        cannot parse, so a piece that parses holds the whole container."""
        size = self.min_piece
        while True:
            if self.end - pos <= size:
                return _scan_value(self.text, pos)  # the rest of the text: errors are real
            got = _scan_piece(self.text[pos : pos + size])
            if got is not None:
                return got[0], pos + got[1]
            if size >= self.piece:
                return None
            size = min(self.piece, size * 8)

    def _runs(self, top: _Open, container: list[Any], pos: int) -> int:
        """After a ``,`` in an array: take whole runs of its elements while they parse, and
        return where the next element (to parse on its own) starts. A run that does not parse
        costs up to ``run_size`` characters: after one, elements are parsed one by one for a
        while (doubling) and the next run is tried smaller, so that no body makes the runs cost
        more than the elements."""
        while pos < self.end:
            if top.skip:
                top.skip -= 1
                return pos
            got = self._run(pos, top.run_size)
            if got is None:
                top.skip = top.backoff
                top.backoff = min(2 * top.backoff, 1024)
                top.run_size = max(self.min_piece, top.run_size // 2)
                return pos
            elements, pos = got
            container.extend(elements)
            top.backoff = 1
            top.run_size = self.piece
            pos = _skip(self.text, pos)
        return pos

    def _run(self, pos: int, size: int) -> tuple[list[Any], int] | None:
        """Array elements from ``pos`` up to a ``,`` within ``size`` characters, parsed as one
        array, and the position after that comma; None when that piece is not a run of whole
        elements (the comma was inside a string or a nested container, or after the array).
        Correct whatever the cut: the scanner parses ``[piece]`` wholly only when the piece is
        whole elements of this array (an unmatched bracket or quote would end it early or not
        at all). The cut is chosen to make that likely: the last comma for scalar elements,
        the last ``},{`` (``], [``, ...) for containers."""
        piece = self.text[pos : min(self.end, pos + size)]
        first = piece[:1]
        if first in ("[", "{"):
            close = "]" if first == "[" else "}"
            cut = max(piece.rfind(close + "," + first), piece.rfind(close + ", " + first))
            cut = cut + 1 if cut >= 0 else -1
        else:
            cut = piece.rfind(",")
        if cut <= 0:
            return None
        body = "[" + piece[:cut] + "]"
        got = _scan_piece(body)
        if got is None or got[1] != len(body):
            return None
        return got[0], pos + cut + 1


# answers ------------------------------------------------------------------------------------


def dumps(value: Any, *, ensure_ascii: bool = False, allow_nan: bool = False) -> bytes:
    """``json.dumps(value, separators=(",", ":")).encode()``: Starlette's ``JSONResponse`` bytes
    by default. Lists of more than ``_DUMPS_SLICE`` items (inside dicts and lists) are encoded
    in slices, so that a large answer (100,000 rejections) holds the GIL in short calls only."""
    options: dict[str, Any] = {
        "ensure_ascii": ensure_ascii,
        "allow_nan": allow_nan,
        "separators": (",", ":"),
    }
    return b"".join(_encode(value, options))


def _encode(value: Any, options: dict[str, Any]) -> list[bytes]:
    if isinstance(value, dict) and any(
        isinstance(v, list | dict) and _large(v) for v in value.values()
    ):
        out = [b"{"]
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(b",")
            out.append(json.dumps(str(key), **options).encode() + b":")
            out.extend(_encode(item, options))
        out.append(b"}")
        return out
    if isinstance(value, list) and len(value) > _DUMPS_SLICE:
        out = [b"["]
        for start in range(0, len(value), _DUMPS_SLICE):
            if start:
                out.append(b",")
            out.append(json.dumps(value[start : start + _DUMPS_SLICE], **options)[1:-1].encode())
        out.append(b"]")
        return out
    return [json.dumps(value, **options).encode()]


def _large(value: list[Any] | dict[str, Any]) -> bool:
    if isinstance(value, list):
        return len(value) > _DUMPS_SLICE
    return any(isinstance(v, list | dict) and _large(v) for v in value.values())


# releasing ----------------------------------------------------------------------------------

_RELEASE_SLICE = 1024  # list items dropped per step by ``release``
_SMALL = 64  # containers of at most this many items are freed with their parent's slice


def release(value: Any, owners: int = 1) -> None:
    """Drop what a large decoded value holds a slice at a time: freeing the million objects of
    a 10 MiB body in one go holds the GIL for ~40 ms. ``owners``: the references the caller
    still holds to ``value`` (its variables); the value is taken apart only if nothing else
    refers to it, and so is every container in it (CPython's reference count tells), so that a
    container still used elsewhere (a row kept for pairing) is left whole."""
    if not isinstance(value, list | dict) or sys.getrefcount(value) > owners + 2:
        return
    stack: list[Any] = []
    _take_apart(value, stack)
    while stack:
        item = stack.pop()
        if sys.getrefcount(item) <= 2:  # this variable and the call's argument: ours alone
            _take_apart(item, stack)


def _take_apart(item: list[Any] | dict[str, Any], stack: list[Any]) -> None:
    if isinstance(item, dict):
        stack.extend([v for v in item.values() if isinstance(v, list | dict)])
        item.clear()
    elif len(item) <= _RELEASE_SLICE:
        children = [c for c in item if isinstance(c, list | dict)]
        if children:
            stack.extend(children)
            del children
            item.clear()
    else:
        while item:
            chunk = item[-_RELEASE_SLICE:]
            del item[-_RELEASE_SLICE:]
            stack.extend([c for c in chunk if isinstance(c, list | dict) and len(c) > _SMALL])
            del chunk
