"""Bytes of request bodies in flight, bounded for the whole process (``server.max_inflight_bytes``).

``server.max_body_bytes`` bounds one body; without a bound on their sum, a thousand clients each
sending a 10 MiB body at once make the sidecar hold 10 GB while it reads them. ``BodyBudget``
is that sum: the ASGI middleware ``BodyBudgetMiddleware`` reserves a request's declared
``Content-Length`` before the app reads a byte of it, and the bytes of a body without one
(chunked) as they arrive; everything is given back when the request has been answered.

- A request whose declared length does not fit what is left is answered **503** with
  ``Retry-After`` at once (``error: "overloaded"``, ``field: "(body)"``), its body unread, and
  counted in ``drift_requests_rejected_total{reason="overloaded"}``; nothing of it is lost that
  the client does not know about (it retries, as for any 503).
- A chunked body that grows past what is left gets the same 503 through the route that reads it
  (``InvalidRequest`` raised from ``receive``; the routes count it).
- A declared length over ``max_body_bytes`` reserves nothing: the route answers 413 without
  reading it.

Not covered here: the CloudEvents fast path (``drift.service.fastpath``) answers bodies of at
most ``jsonbody.SLICE_BYTES`` (64 KiB) inside uvicorn's protocol, one per connection, so its
bytes are bounded by the number of connections; larger bodies go through this middleware.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from drift.errors import InvalidRequest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

RETRY_AFTER_SECONDS = 1
"""What a 503 ``overloaded`` asks the client to wait: bodies in flight are read in seconds."""


def overloaded(limit: int) -> InvalidRequest:
    return InvalidRequest(
        503,
        "overloaded",
        "(body)",
        f"request bodies in flight would exceed server.max_inflight_bytes {limit}; retry later",
    )


class BodyBudget:
    """A count of bytes that may be reserved up to ``limit``; thread-safe (large bodies are
    decoded in worker threads, but reservations are taken and given back on the event loop)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        return self._used

    def take(self, size: int) -> bool:
        """Reserve ``size`` bytes; False (nothing reserved) when they do not fit."""
        with self._lock:
            if self._used + size > self.limit:
                return False
            self._used += size
            return True

    def give_back(self, size: int) -> None:
        with self._lock:
            self._used -= size


class BodyBudgetMiddleware:
    """Reserves each request's body bytes in ``budget`` (see the module's doc); ``on_refused``
    counts a request answered 503 here."""

    def __init__(
        self,
        app: Any,
        budget: BodyBudget,
        max_body_bytes: int,
        on_refused: Callable[[], None],
    ) -> None:
        self.app = app
        self.budget = budget
        self.max_body_bytes = max_body_bytes
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        budget = self.budget
        reserved = 0
        if declared is not None and declared <= self.max_body_bytes:
            if not budget.take(declared):
                self.on_refused()
                await _answer_overloaded(send, budget.limit)
                return
            reserved = declared
        counted = 0  # body bytes received beyond the declared length (none, or chunked)

        async def counting_receive() -> Message:
            nonlocal reserved, counted
            message = await receive()
            if message["type"] == "http.request":
                counted += len(message.get("body", b""))
                extra = counted - reserved
                if extra > 0:
                    if not budget.take(extra):
                        raise overloaded(budget.limit)
                    reserved += extra
            return message

        try:
            await self.app(scope, counting_receive, send)
        finally:
            budget.give_back(reserved)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _answer_overloaded(send: Send, limit: int) -> None:
    exc = overloaded(limit)
    body = b'{"error":"overloaded","field":"(body)","detail":"' + exc.detail.encode("ascii") + b'"}'
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
        # the body is not read: the connection cannot carry another request after this one
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})
