"""The sidecar's subclasses of uvicorn's httptools protocol: a deadline for every request, and
the CloudEvents routes answered inside the protocol.

A payload logger sends two POSTs per prediction, so ``POST /`` and ``POST /v1/cloudevents``
carry most of a sidecar's requests. Through ASGI each costs an asyncio task, an
``asyncio.Event``, a scope, receive/send messages and the app's middleware stack
(``benchmarks/http_ceiling.py``, uvicorn 0.55 on the benchmark VM: an empty ASGI app answers
~20,000 requests/s on one core, this protocol with an answer that costs nothing ~29,000, before
the parse-from-raw-bytes below). ``protocol_for`` returns a
subclass of uvicorn's httptools protocol that answers those two routes itself, with the same
``CloudEventsEndpoint.answer_parts`` the ASGI route uses, and hands every other request to
uvicorn unchanged, in two ways:

- ``data_received``: a plain request that arrived whole (``POST <path> HTTP/1.1``, header lines
  that are ``token: value``, one Content-Length within the limit, no Transfer-Encoding,
  ``Expect`` or ``Upgrade``; what a payload logger sends on a keep-alive connection) is answered
  from the raw bytes, without the parser's per-header callbacks; anything else, from its first
  byte, goes to httptools;
- the parser callbacks (``on_headers_complete`` / ``on_body`` / ``on_message_complete``) take the
  requests httptools parsed: split over several reads, chunked, HTTP/1.0, a query string.

It takes a request only when nothing about it needs the ASGI machinery: a POST to one of the
paths, no ``Expect: 100-continue``, no upgrade, no earlier request of the connection still being
answered (pipelining), the concurrency limit not reached, and a body small enough to handle on
the event loop (``cloudevents.inline``: a Content-Length over ``jsonbody.SLICE_BYTES`` is left to
uvicorn from the start; a chunked body that grows past it, or a body of many values, is handed
to uvicorn once its size is known, with the headers and the body read so far), so that the
ASGI route decodes it in a worker thread while the loop keeps answering. Keep-alive,
``Connection: close``, HTTP/1.0, chunked bodies, the body limit (413, the rest of the body read
and dropped), the server's default headers (``date``) and the request counter for
``--limit-max-requests`` behave as uvicorn's own. Not done on this path: the access log (the
sidecar runs without it) and ``root_path`` (the sidecar does not set one).

``TimedHttpProtocol``, the base of the fast path's class and what ``server.fast_path: false``
runs, bounds how long a client may take to send a request (``server.request_timeout_seconds``,
counted from the request's first byte; uvicorn has no such timeout, so a slowloris client kept
a connection open for as long as it liked): when the headers and the body have not all arrived
by then, the client gets **408** (JSON, ``connection: close``) and the connection is closed, and
``on_timeout`` counts it. When the request was already answered (a 401 or 413 given before its
body), or the server, not the client, is behind (an earlier request of the connection still
being answered, reading paused by uvicorn's flow control), there is no 408: the connection is
closed without one, or the clock starts again. A new connection that sends nothing is idle, as
a keep-alive connection between requests is: uvicorn's keep-alive timeout closes it.

These classes rely on attributes of uvicorn's ``HttpToolsProtocol`` (``parser``, ``url``,
``headers``, ``expect_100_continue``, ``cycle``, ``pipeline``, ``flow``, ``transport``,
``server_state``, ...) and on ``STATUS_LINE`` of its module: the fence around them is an upper
bound on uvicorn in ``pyproject.toml``, ``.ci/newest-uvicorn`` (these tests against the newest
uvicorn), the import below, which does not fail when uvicorn moves them, and
``protocol_support``, which checks the methods on the installed uvicorn;
``drift.service.server`` runs plain uvicorn (with a warning) when either says no.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import unquote

from drift.errors import InvalidRequest, body_too_large
from drift.ingest import jsonbody
from drift.ingest.cloudevents import binary_attributes
from drift.service.auth import Authenticator
from drift.service.cloudevents import INLINE_ITEMS, CloudEventsEndpoint, inline

try:
    import httptools  # a dependency of drift-sidecar (uvicorn[standard] brings it too)
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
except ImportError as exc:  # a uvicorn that moved them: drift.service.server runs it plain
    _IMPORT_ERROR: str | None = f"cannot import uvicorn's httptools protocol ({exc})"
    STATUS_LINE: dict[int, bytes] = {}  # type: ignore[no-redef]
    HttpToolsProtocol = asyncio.Protocol  # type: ignore[misc,assignment]
else:
    _IMPORT_ERROR = None

log = logging.getLogger("drift.service")

_REQUIRED = (
    "on_message_begin",
    "on_headers_complete",
    "on_body",
    "on_message_complete",
    "shutdown",
    "_unset_keepalive_if_required",
    "timeout_keep_alive_handler",
)
SWITCH_INTERVAL = 0.001
"""Seconds a thread holds the GIL at most while another waits for it (``sys.setswitchinterval``,
set by ``drift.service.server.serve``; Python's default is 0.005)."""
_JSON = b"content-type: application/json\r\n"
# header lines as RFC 9110 has them: a token, a colon, a value without control characters
# (HTAB allowed), CRLF; no obsolete line folding
_HEADER_LINES = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*\r\n)*")
# headers after which a request is not a plain one for _serve_whole
_NOT_PLAIN = frozenset([b"transfer-encoding", b"expect", b"upgrade"])


def protocol_support() -> str | None:
    """None when the installed uvicorn can take these protocol classes, else why not."""
    if _IMPORT_ERROR is not None:
        return _IMPORT_ERROR
    missing = [name for name in _REQUIRED if not hasattr(HttpToolsProtocol, name)]
    if missing:
        return f"uvicorn's HttpToolsProtocol lacks {', '.join(missing)}"
    return None


fast_path_supported = protocol_support  # the name the benchmarks and older callers use

TIMEOUT_REASON = "timeout"
"""``drift_requests_rejected_total{reason}`` and the ``error`` of the 408 answer."""


class TimedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline per request (see the module's doc):
    ``request_timeout`` seconds from the request's first byte to its last; ``on_timeout`` is
    called for each request answered 408."""

    request_timeout: ClassVar[float] = 30.0
    on_timeout: ClassVar[Callable[[], None] | None] = None
    _deadline: asyncio.TimerHandle | None = None
    _headers_done = True  # the parser's current message has all its headers (or there is none)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        # idle until its first byte: closed after the keep-alive timeout, as between requests
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:  # the message's first byte
        self._headers_done = False
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._timed_out)
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._headers_done = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _disarm(self) -> None:
        deadline = self._deadline
        if deadline is not None:
            deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        transport = self.transport
        if transport.is_closing():
            return
        if self._server_behind():  # not the client's fault: its clock starts again
            self._deadline = self.loop.call_later(self.request_timeout, self._timed_out)
            return
        if self._answered():  # a 401 or 413 went out before the body: nothing more to say
            transport.close()
            return
        content = (
            b'{"error":"%s","detail":"the request did not arrive within %gs of its first byte"}'
            % (TIMEOUT_REASON.encode(), self.request_timeout)
        )
        parts = [STATUS_LINE[408]]
        for name, value in self.server_state.default_headers:
            parts += [name, b": ", value, b"\r\n"]
        parts += [_JSON, b"content-length: ", str(len(content)).encode(), b"\r\n"]
        parts += [b"connection: close\r\n\r\n", content]
        transport.write(b"".join(parts))
        transport.close()
        log.debug("closed a connection whose request did not arrive in time (408)")
        on_timeout = type(self).on_timeout
        if on_timeout is not None:
            on_timeout()

    def _server_behind(self) -> bool:
        """Whether the request is waiting for the server rather than for the client."""
        if self.flow.read_paused or self.pipeline:
            return True
        cycle = self.cycle  # before the headers are complete: an earlier request's
        return not self._headers_done and cycle is not None and not cycle.response_complete

    def _answered(self) -> bool:
        """Whether a response to the current request has begun (the ASGI app answered before
        reading all of the body)."""
        cycle = self.cycle
        return self._headers_done and cycle is not None and cycle.response_started


class _Pending:
    """A fast-path request between its headers and the end of its body."""

    __slots__ = ("chunks", "keep_alive", "refused", "size")

    def __init__(self, keep_alive: bool, refused: InvalidRequest | None) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.refused = refused
        self.keep_alive = keep_alive


class CloudEventsHttpProtocol(TimedHttpProtocol):
    """uvicorn's httptools protocol with request deadlines; ``endpoint``'s POSTs answered in
    the callbacks, except on ``plain_ports`` (the metrics port: ASGI, which refuses them)."""

    endpoint: ClassVar[CloudEventsEndpoint]
    authenticator: ClassVar[Authenticator | None]
    plain_ports: ClassVar[frozenset[int]] = frozenset()
    _raw_paths: ClassVar[frozenset[bytes]]
    _request_lines: ClassVar[frozenset[bytes]]
    _pending: _Pending | None = None
    _between_messages = True  # the parser has not started a message it has not finished
    _events = True  # this connection's port takes CloudEvents here

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        server = self.server
        self._events = server is None or server[1] not in self.plain_ports

    def data_received(self, data: bytes) -> None:
        if self._between_messages and self._events and self._free():
            self._unset_keepalive_if_required()
            data = self._serve_whole(data)
            if not data:
                return
        super().data_received(data)

    def _free(self) -> bool:
        """No earlier request of the connection is still being answered, no limit is hit."""
        if self.cycle is not None and not self.cycle.response_complete:
            return False
        if self.pipeline or self.transport.is_closing():
            return False
        limit = self.limit_concurrency
        return limit is None or (len(self.connections) < limit and len(self.tasks) < limit)

    def _serve_whole(self, data: bytes) -> bytes:
        """Answer the complete, plain CloudEvents POSTs at the start of ``data`` without the
        parser; returns the rest, from the first request that is anything else (another path
        or method, HTTP/1.0, chunked, ``Expect``, ``Upgrade``, no or several Content-Length,
        over the body limit, a header line that is not ``token: value``, incomplete, a body too
        large to handle on the loop), which httptools then parses from its start as usual."""
        while data:
            line_end = data.find(b"\r\n")
            if data[: line_end + 2] not in self._request_lines:
                return data
            end = data.find(b"\r\n\r\n", line_end)
            if end < 0:
                return data
            block = data[line_end + 2 : end + 2]  # the header lines, each ending in CRLF
            if _HEADER_LINES.fullmatch(block) is None:
                return data
            attrs: dict[str, str] = {}
            content_type = None
            length = -1
            keep_alive = True
            authorization = None
            for line in block.split(b"\r\n")[:-1]:
                raw_name, _, raw_value = line.partition(b":")
                name = raw_name.lower()
                value = raw_value.strip(b" \t")
                if name[:3] == b"ce-":  # as drift.ingest.cloudevents.binary_attributes
                    text = value.decode("latin-1")
                    attrs[name[3:].decode("latin-1")] = unquote(text) if "%" in text else text
                elif name == b"content-type":
                    content_type = value.decode("latin-1")
                elif name == b"content-length":
                    if length >= 0 or not value.isdigit():
                        return data
                    length = int(value)
                elif name == b"authorization":
                    authorization = value
                elif name in _NOT_PLAIN:
                    return data
                elif name == b"connection":
                    tokens = {token.strip().lower() for token in value.split(b",")}
                    if b"upgrade" in tokens:
                        return data
                    keep_alive = b"close" not in tokens
            start = end + 4
            if length < 0 or length > self.endpoint.limit or len(data) < start + length:
                return data
            if not self._authorized(authorization):
                return data  # the ASGI stack answers 401 (and counts it), as for any route
            body = data[start : start + length]
            if length > INLINE_ITEMS and not inline(body):  # shorter: too few commas to count
                return data
            self._answer(attrs, content_type, body, keep_alive)
            if not keep_alive:
                return b""
            data = data[start + length :]
        return b""

    def on_message_begin(self) -> None:
        self._between_messages = False
        self._pending = None
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._headers_done = True
        if self._take():
            return
        super().on_headers_complete()

    def _take(self) -> bool:
        parser = self.parser
        if parser.get_method() != b"POST" or self.expect_100_continue or not self._events:
            return False
        if parser.should_upgrade() or not self._free():
            return False  # pipelined: uvicorn queues it; over the limit: uvicorn answers 503
        url = self.url
        if url not in self._raw_paths:  # the usual request line has neither query nor %
            path = httptools.parse_url(url).path
            if b"%" in path or path.decode("ascii", "replace") not in self.endpoint.paths:
                return False
        refused = None
        authorization = None
        for name, value in self.headers:
            if name == b"content-length" and value.isdigit():
                if int(value) > self.endpoint.limit:
                    refused = body_too_large(self.endpoint.limit, int(value))
                elif int(value) > jsonbody.SLICE_BYTES:
                    return False  # the ASGI route decodes it in a worker thread
            elif name == b"authorization":
                authorization = value
        if not self._authorized(authorization):
            return False  # the ASGI stack answers 401 (and counts it), before the body limit
        keep_alive = parser.get_http_version() != "1.0" and parser.should_keep_alive()
        self._pending = _Pending(keep_alive, refused)
        return True

    def _authorized(self, authorization: bytes | None) -> bool:
        """Whether ``server.auth`` lets a CloudEvents POST through: the ``Authenticator`` of
        the ASGI stack, so both answer alike; a refused request is left to that stack, which
        answers 401 with ``WWW-Authenticate`` and counts it."""
        authenticator = self.authenticator
        return authenticator is None or authenticator.check("POST", "/", authorization) is None

    def on_body(self, body: bytes) -> None:
        pending = self._pending
        if pending is None:
            super().on_body(body)
            return
        if pending.refused is not None:
            return  # read and dropped
        pending.size += len(body)
        if pending.size > self.endpoint.limit:
            pending.refused = body_too_large(self.endpoint.limit)
            pending.chunks.clear()
        else:
            pending.chunks.append(body)
            if pending.size > jsonbody.SLICE_BYTES:  # chunked, and large after all
                self._hand_over(pending, complete=False)

    def on_message_complete(self) -> None:
        self._between_messages = True
        pending = self._pending
        if pending is None:
            super().on_message_complete()
            return
        self._disarm()
        self._pending = None
        body: bytes | InvalidRequest
        if pending.refused is not None:
            body = pending.refused
        else:
            chunks = pending.chunks
            body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if len(body) > INLINE_ITEMS and not inline(body):
                self._hand_over(pending, complete=True)
                return
        attrs, content_type = binary_attributes(self.headers)
        self._answer(attrs, content_type, body, pending.keep_alive)

    def _answered(self) -> bool:
        return self._pending is None and super()._answered()

    def shutdown(self) -> None:
        """uvicorn's; a CloudEvent whose body is still arriving is treated as uvicorn treats an
        ASGI request in progress: answered, with ``connection: close``, if the rest of it comes
        before the request's deadline and before the graceful part of the shutdown ends."""
        pending = self._pending
        if pending is not None:
            pending.keep_alive = False
            return
        super().shutdown()

    def _hand_over(self, pending: _Pending, complete: bool) -> None:
        """Leave a request taken in ``on_headers_complete`` to uvicorn after all (its body is
        too large to handle on the loop): what uvicorn's callbacks would have done with its
        headers and the body read so far is done now; the rest of the body, if any, reaches
        uvicorn's ``on_body`` as it comes. ``_take`` took the request only when no other one
        of the connection was being answered, so the ASGI task starts at once."""
        self._pending = None
        HttpToolsProtocol.on_headers_complete(self)
        body = b"".join(pending.chunks)
        pending.chunks.clear()
        if body:
            HttpToolsProtocol.on_body(self, body)
        if complete:
            HttpToolsProtocol.on_message_complete(self)

    def _answer(
        self,
        attrs: dict[str, str],
        content_type: str | None,
        body: bytes | InvalidRequest,
        keep_alive: bool,
    ) -> None:
        try:
            reply = self.endpoint.answer_parts(attrs, content_type, body)
            status, content = reply.status, reply.encode()
        except Exception:  # what ServerErrorMiddleware does for the ASGI routes
            log.exception("CloudEvents request failed")
            status, content = 500, b'{"error":"internal","detail":"see the sidecar log"}'
        self._respond(status, content, keep_alive)

    def _respond(self, status: int, content: bytes, keep_alive: bool) -> None:
        parts = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            parts += [name, b": ", value, b"\r\n"]
        parts += [_JSON, b"content-length: ", str(len(content)).encode(), b"\r\n"]
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        parts += [b"\r\n", content]
        transport = self.transport
        transport.write(b"".join(parts))
        self.server_state.total_requests += 1
        if not keep_alive:
            transport.close()
            return
        if transport.is_closing():
            return
        # as uvicorn's on_response_complete: the keep-alive timeout starts now
        self._unset_keepalive_if_required()
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )


def protocol_for(
    endpoint: CloudEventsEndpoint,
    authenticator: Authenticator | None = None,
    *,
    request_timeout: float = 30.0,
    on_timeout: Callable[[], None] | None = None,
    plain_ports: frozenset[int] = frozenset(),
) -> type[asyncio.Protocol]:
    """The protocol class for ``uvicorn.Config(http=...)`` that serves ``endpoint``'s paths,
    checking ``authenticator`` (the app's, ``server.auth``) as the ASGI stack does, with the
    request deadline of ``timed_protocol``; connections to ``plain_ports`` take no CloudEvents
    here."""
    reason = protocol_support()
    if reason is not None:
        raise RuntimeError(f"the CloudEvents fast path does not fit this uvicorn: {reason}")
    raw_paths = frozenset(path.encode("ascii") for path in endpoint.paths)
    lines = frozenset(b"POST %s HTTP/1.1\r\n" % path for path in raw_paths)
    attrs = {
        "endpoint": endpoint,
        "authenticator": authenticator,
        "plain_ports": plain_ports,
        "request_timeout": request_timeout,
        "on_timeout": None if on_timeout is None else staticmethod(on_timeout),
        "_raw_paths": raw_paths,
        "_request_lines": lines,
        "__module__": __name__,
    }
    return type("CloudEventsHttpProtocol", (CloudEventsHttpProtocol,), attrs)


def timed_protocol(
    request_timeout: float, on_timeout: Callable[[], None] | None = None
) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with the request deadline alone (``server.fast_path:
    false``)."""
    reason = protocol_support()
    if reason is not None:
        raise RuntimeError(f"the request deadline does not fit this uvicorn: {reason}")
    attrs = {
        "request_timeout": request_timeout,
        "on_timeout": None if on_timeout is None else staticmethod(on_timeout),
        "__module__": __name__,
    }
    return type("TimedHttpProtocol", (TimedHttpProtocol,), attrs)


def run(app: Any, host: str, port: int, **options: Any) -> None:
    """Kept for ``drift.demo``: ``drift.service.server.serve`` with the app's server settings
    (``log_level`` is the one option taken)."""
    from drift.service.server import serve

    serve(app, app.state.service.settings.server, host, port, log_level=options.get("log_level"))
