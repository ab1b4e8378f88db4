"""The CloudEvents routes served inside uvicorn's HTTP protocol, and how the sidecar runs uvicorn.

A payload logger sends two POSTs per prediction, so ``POST /`` and ``POST /v1/cloudevents``
carry most of a sidecar's requests. Through ASGI each costs an asyncio task, an
``asyncio.Event``, a scope, receive/send messages and the app's middleware stack: measured with
uvicorn 0.55 + httptools on the benchmark machine, a bare ASGI app that answers at once tops out
at ~12,000 requests/s on one core, before any CloudEvents work. ``protocol_for`` returns a
subclass of uvicorn's httptools protocol that answers those two routes in the parser callbacks
(``on_headers_complete`` / ``on_body`` / ``on_message_complete``), with the same
``CloudEventsEndpoint.answer`` the ASGI route uses, and hands every other request to uvicorn
unchanged.

It takes a request only when nothing about it needs the ASGI machinery: a POST to one of the
paths, no ``Expect: 100-continue``, no upgrade, no earlier request of the connection still being
answered (pipelining), the concurrency limit not reached. Keep-alive, ``Connection: close``,
HTTP/1.0, chunked bodies, the body limit (413, the rest of the body read and dropped), the
server's default headers (``date``) and the request counter for ``--limit-max-requests`` behave
as uvicorn's own. Not done on this path: the access log (the sidecar runs without it) and
``root_path`` (the sidecar does not set one).

The subclass relies on attributes of uvicorn's ``HttpToolsProtocol`` (``parser``, ``url``,
``headers``, ``expect_100_continue``, ``cycle``, ``transport``, ``server_state``, ...);
``fast_path_supported`` checks them on the installed uvicorn, and ``run`` falls back to plain
uvicorn (with a warning) when they are missing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar
from urllib.parse import unquote

import httptools  # a dependency of drift-sidecar (uvicorn[standard] brings it too)
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from drift.errors import InvalidRequest
from drift.service.cloudevents import CloudEventsEndpoint

log = logging.getLogger("drift.service")

_REQUIRED = (
    "on_message_begin",
    "on_header",
    "on_headers_complete",
    "on_body",
    "on_message_complete",
    "_unset_keepalive_if_required",
    "timeout_keep_alive_handler",
)
_JSON = b"content-type: application/json\r\n"


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
    _raw_paths: ClassVar[frozenset[bytes]]
    _pending: _Pending | None = None

    def on_message_begin(self) -> None:
        self._pending = None
        self._attrs: dict[str, str] = {}
        self._content_type: str | None = None
        self._length: bytes | None = None
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        # uvicorn's on_header, reading the CloudEvents attributes on the way as
        # drift.cloudevents.binary_attributes does (saves a second pass over the headers)
        name = name.lower()
        value = value.rstrip(b" \t")  # llhttp keeps trailing whitespace (RFC 9110 5.5)
        if name[:3] == b"ce-":
            text = value.decode("latin-1")
            self._attrs[name[3:].decode("latin-1")] = unquote(text) if "%" in text else text
        elif name == b"content-type":
            self._content_type = value.decode("latin-1")
        elif name == b"content-length":
            self._length = value
        elif name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self._take():
            return
        super().on_headers_complete()

    def _take(self) -> bool:
        parser = self.parser
        if parser.get_method() != b"POST" or self.expect_100_continue:
            return False
        if self.cycle is not None and not self.cycle.response_complete:
            return False  # pipelined behind a request still being answered: uvicorn queues it
        if parser.should_upgrade():
            return False
        limit = self.limit_concurrency
        if limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit):
            return False  # uvicorn answers 503
        url = self.url
        if url not in self._raw_paths:  # the usual request line has neither query nor %
            path = httptools.parse_url(url).path
            if b"%" in path or path.decode("ascii", "replace") not in self.endpoint.paths:
                return False
        refused = None
        length = self._length
        if length is not None and length.isdigit() and int(length) > self.endpoint.limit:
            refused = self.endpoint.too_large(int(length))
        keep_alive = parser.get_http_version() != "1.0" and parser.should_keep_alive()
        self._pending = _Pending(keep_alive, refused)
        return True

    def on_body(self, body: bytes) -> None:
        pending = self._pending
        if pending is None:
            super().on_body(body)
            return
        if pending.refused is not None:
            return  # read and dropped
        pending.size += len(body)
        if pending.size > self.endpoint.limit:
            pending.refused = self.endpoint.too_large()
            pending.chunks.clear()
        else:
            pending.chunks.append(body)

    def on_message_complete(self) -> None:
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
        try:
            reply = self.endpoint.answer_parts(self._attrs, self._content_type, body)
            status, content = reply.status, reply.encode()
        except Exception:  # what ServerErrorMiddleware does for the ASGI routes
            log.exception("CloudEvents request failed")
            status, content = 500, b'{"error":"internal","detail":"see the sidecar log"}'
        self._respond(status, content, pending.keep_alive)

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


def protocol_for(endpoint: CloudEventsEndpoint) -> type[asyncio.Protocol]:
    """The protocol class for ``uvicorn.run(http=...)`` that serves ``endpoint``'s paths."""
    reason = fast_path_supported()
    if reason is not None:
        raise RuntimeError(f"the CloudEvents fast path does not fit this uvicorn: {reason}")
    raw_paths = frozenset(path.encode("ascii") for path in endpoint.paths)
    attrs = {"endpoint": endpoint, "_raw_paths": raw_paths, "__module__": __name__}
    return type("CloudEventsHttpProtocol", (CloudEventsHttpProtocol,), attrs)


def run(app: Any, host: str, port: int, **options: Any) -> None:
    """``uvicorn.run`` for the sidecar's app: the CloudEvents fast path when the installed
    uvicorn can take it, no proxy-headers middleware (the sidecar never reads the client
    address, and it costs every request a pass over the headers), the start-up heap frozen."""
    import gc

    import uvicorn

    # what exists now (modules, settings, the app) lives as long as the process: frozen, full
    # collections stop scanning it; GC time while ingesting CloudEvents drops from ~4% to ~1%
    # (a one-off: objects made later, references included, are collected as usual)
    gc.collect()
    gc.freeze()
    endpoint: CloudEventsEndpoint | None = getattr(app.state, "cloudevents_endpoint", None)
    reason = fast_path_supported() if endpoint is not None else "the app has no CloudEvents"
    if reason is None and endpoint is not None:
        options["http"] = protocol_for(endpoint)
    else:
        log.warning("CloudEvents served through ASGI (slower): %s", reason)
    uvicorn.run(app, host=host, port=port, proxy_headers=False, **options)
