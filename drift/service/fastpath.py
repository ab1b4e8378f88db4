"""The CloudEvents routes served inside uvicorn's HTTP protocol, and how the sidecar runs uvicorn.

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

The subclass relies on attributes of uvicorn's ``HttpToolsProtocol`` (``parser``, ``url``,
``headers``, ``expect_100_continue``, ``cycle``, ``transport``, ``server_state``, ...);
``fast_path_supported`` checks them on the installed uvicorn, and ``run`` falls back to plain
uvicorn (with a warning) when they are missing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, ClassVar
from urllib.parse import unquote

import httptools  # a dependency of drift-sidecar (uvicorn[standard] brings it too)
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from drift.errors import InvalidRequest, body_too_large
from drift.ingest import jsonbody
from drift.ingest.cloudevents import binary_attributes
from drift.service.auth import Authenticator
from drift.service.cloudevents import INLINE_ITEMS, CloudEventsEndpoint, inline

log = logging.getLogger("drift.service")

_REQUIRED = (
    "on_message_begin",
    "on_headers_complete",
    "on_body",
    "on_message_complete",
    "_unset_keepalive_if_required",
    "timeout_keep_alive_handler",
)
SWITCH_INTERVAL = 0.001
"""Seconds a thread holds the GIL at most while another waits for it (``sys.setswitchinterval``,
set by ``run``; Python's default is 0.005)."""
_JSON = b"content-type: application/json\r\n"
# header lines as RFC 9110 has them: a token, a colon, a value without control characters
# (HTAB allowed), CRLF; no obsolete line folding
_HEADER_LINES = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*\r\n)*")
# headers after which a request is not a plain one for _serve_whole
_NOT_PLAIN = frozenset([b"transfer-encoding", b"expect", b"upgrade"])


def fast_path_supported() -> str | None:
    """None when the installed uvicorn can take the fast path, else why not."""
    missing = [name for name in _REQUIRED if not hasattr(HttpToolsProtocol, name)]
    if missing:
        return f"uvicorn's HttpToolsProtocol lacks {', '.join(missing)}"
    return None


class _Pending:
    """A fast-path request between its headers and the end of its body."""

    __slots__ = ("chunks", "keep_alive", "refused", "size")

    def __init__(self, keep_alive: bool, refused: InvalidRequest | None) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.refused = refused
        self.keep_alive = keep_alive


class CloudEventsHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; ``endpoint``'s POSTs answered in the callbacks."""

    endpoint: ClassVar[CloudEventsEndpoint]
    authenticator: ClassVar[Authenticator | None]
    _raw_paths: ClassVar[frozenset[bytes]]
    _request_lines: ClassVar[frozenset[bytes]]
    _pending: _Pending | None = None
    _between_messages = True  # the parser has not started a message it has not finished

    def data_received(self, data: bytes) -> None:
        if self._between_messages and self._free():
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
        if self._take():
            return
        super().on_headers_complete()

    def _take(self) -> bool:
        parser = self.parser
        if parser.get_method() != b"POST" or self.expect_100_continue:
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
    endpoint: CloudEventsEndpoint, authenticator: Authenticator | None = None
) -> type[asyncio.Protocol]:
    """The protocol class for ``uvicorn.run(http=...)`` that serves ``endpoint``'s paths,
    checking ``authenticator`` (the app's, ``server.auth``) as the ASGI stack does."""
    reason = fast_path_supported()
    if reason is not None:
        raise RuntimeError(f"the CloudEvents fast path does not fit this uvicorn: {reason}")
    raw_paths = frozenset(path.encode("ascii") for path in endpoint.paths)
    lines = frozenset(b"POST %s HTTP/1.1\r\n" % path for path in raw_paths)
    attrs = {
        "endpoint": endpoint,
        "authenticator": authenticator,
        "_raw_paths": raw_paths,
        "_request_lines": lines,
        "__module__": __name__,
    }
    return type("CloudEventsHttpProtocol", (CloudEventsHttpProtocol,), attrs)


def run(app: Any, host: str, port: int, **options: Any) -> None:
    """``uvicorn.run`` for the sidecar's app: the CloudEvents fast path when the installed
    uvicorn can take it, no proxy-headers middleware (the sidecar never reads the client
    address, and it costs every request a pass over the headers), the start-up heap frozen."""
    import gc
    import sys

    import uvicorn

    # what exists now (modules, settings, the app) lives as long as the process: frozen, full
    # collections stop scanning it; GC time while ingesting CloudEvents drops from ~4% to ~1%
    # (a one-off: objects made later, references included, are collected as usual)
    gc.collect()
    gc.freeze()
    # a thread decoding a large body (``cloudevents.off_loop``) gives the GIL up to the event
    # loop after at most this long, instead of 5 ms: the loop needs it two or three times per
    # request, so a probe's answer waited ~10 ms (p50) during such work, now ~2 ms
    sys.setswitchinterval(SWITCH_INTERVAL)
    endpoint: CloudEventsEndpoint | None = getattr(app.state, "cloudevents_endpoint", None)
    reason = "the app has no CloudEvents" if endpoint is None else fast_path_supported()
    if reason is not None:
        log.warning("CloudEvents served through ASGI (slower): %s", reason)
    else:
        assert endpoint is not None
        options["http"] = protocol_for(endpoint, getattr(app.state, "authenticator", None))
    uvicorn.run(app, host=host, port=port, proxy_headers=False, **options)
