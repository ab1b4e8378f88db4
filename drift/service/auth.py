"""Bearer-token authentication per route class (``server.auth``), as an ASGI middleware in
front of everything and as a check the CloudEvents fast path calls with the same answer.

Route classes: ``ingest`` (POST samples and labels, the CloudEvents routes), ``alertmanager``
(POST /v1/alertmanager), ``read`` (everything else: the model routes, the report, the OpenAPI
document, unknown paths), ``metrics`` (/metrics: open unless ``server.auth.metrics``) and the
open probes ``/healthz`` and ``/readyz``. Tokens are compared with ``hmac.compare_digest``
against every accepted token (no early exit); a token file is re-read when it changes (checked
at most once a second), so a rotated Kubernetes Secret takes effect without a restart.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from drift.config import AuthConfig, TokenConfig
from drift.redact import register_secrets

log = logging.getLogger(__name__)

REALM = 'Bearer realm="drift-sidecar"'
_MODEL_WRITE = re.compile(r"^/v1/models/[^/]+/(samples|labels)/?$")
_CLOUDEVENTS = frozenset({"/", "/v1/cloudevents", "/v1/cloudevents/"})
_OPEN = frozenset({"/healthz", "/readyz"})
#: how often a token file is looked at for a change (seconds)
FILE_CHECK_SECONDS = 1.0


class RouteClass(StrEnum):
    OPEN = "open"
    INGEST = "ingest"
    ALERTMANAGER = "alertmanager"
    READ = "read"


def route_class(method: str, path: str, metrics_protected: bool) -> RouteClass:
    """Which token a request needs; unknown paths need the read token (default deny)."""
    if path in _OPEN and method in ("GET", "HEAD"):
        return RouteClass.OPEN
    if path == "/metrics" and method in ("GET", "HEAD"):
        return RouteClass.READ if metrics_protected else RouteClass.OPEN
    if method == "POST":
        if path in _CLOUDEVENTS or _MODEL_WRITE.match(path):
            return RouteClass.INGEST
        if path.rstrip("/") == "/v1/alertmanager":
            return RouteClass.ALERTMANAGER
    return RouteClass.READ


class TokenSource:
    """The accepted tokens of one class: inline, or the lines of a file re-read on change."""

    def __init__(self, config: TokenConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._file = config.token_file
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: tuple[bytes, ...] = ()
        self._stamp: tuple[int, int, int] | None = None
        self._checked = float("-inf")
        if config.token is not None:
            self._tokens = (config.token.strip().encode(),)
        else:
            self._reload(force=True)

    @property
    def tokens(self) -> tuple[bytes, ...]:
        if self._file is not None and self._clock() - self._checked >= FILE_CHECK_SECONDS:
            self._reload()
        return self._tokens

    def _reload(self, force: bool = False) -> None:
        assert self._file is not None
        with self._lock:
            self._checked = self._clock()
            path: Path = self._file
            try:
                stat = path.stat()
                stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
                if stamp == self._stamp and not force:
                    return
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                if self._tokens or force:
                    log.error("auth: cannot read token file %s (%s): refusing its class", path, exc)
                self._tokens, self._stamp = (), None
                return
            tokens = tuple(line.strip().encode() for line in lines if line.strip())
            register_secrets(token.decode() for token in tokens)  # never in a log or answer
            if not tokens:
                log.error("auth: token file %s is empty: refusing its class", path)
            elif self._stamp is not None:
                log.info("auth: token file %s changed; %d token(s) accepted", path, len(tokens))
            self._tokens, self._stamp = tokens, stamp

    def accepts(self, presented: bytes) -> bool:
        ok = False
        for token in self.tokens:  # every token compared: the time says nothing of which matched
            ok |= hmac.compare_digest(presented, token)
        return ok


@dataclass(frozen=True)
class Refusal:
    """A 401: ``detail`` for the body; ``invalid``: a token was presented but is wrong."""

    detail: str
    invalid: bool

    @property
    def www_authenticate(self) -> str:
        return f'{REALM}, error="invalid_token"' if self.invalid else REALM

    def body(self) -> bytes:
        return b'{"error":"unauthorized","detail":"' + self.detail.encode() + b'"}'


_MISSING = Refusal("missing bearer token (Authorization: Bearer <token>)", invalid=False)
_WRONG = Refusal("invalid bearer token", invalid=True)


class Authenticator:
    def __init__(self, config: AuthConfig) -> None:
        self.metrics_protected = config.metrics
        self._sources: dict[RouteClass, TokenSource] = {}
        for cls in (RouteClass.INGEST, RouteClass.ALERTMANAGER, RouteClass.READ):
            token = getattr(config, cls.value)
            assert token is not None  # AuthConfig requires every class
            self._sources[cls] = TokenSource(token)

    def check(self, method: str, path: str, authorization: bytes | None) -> Refusal | None:
        """None when the request may go on, else why it may not."""
        cls = route_class(method, path, self.metrics_protected)
        if cls is RouteClass.OPEN:
            return None
        presented = bearer_token(authorization)
        if presented is None:
            return _MISSING
        return None if self._sources[cls].accepts(presented) else _WRONG


def bearer_token(authorization: bytes | None) -> bytes | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme in any case)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(b" ")
    if scheme.lower() != b"bearer" or not token.strip():
        return None
    return token.strip()


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class AuthMiddleware:
    """Refuses what ``Authenticator.check`` refuses with 401 + ``WWW-Authenticate``, before
    routing; ``on_refused`` counts it."""

    def __init__(
        self, app: Any, authenticator: Authenticator, on_refused: Callable[[], None]
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        refusal = self.authenticator.check(scope["method"], scope["path"], authorization)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        self.on_refused()
        body = refusal.body()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", refusal.www_authenticate.encode()),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})
