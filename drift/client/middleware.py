"""ASGI middleware for model servers (FastAPI, Starlette, any ASGI app): ships each prediction
of one route to the sidecar through a ``DriftClient``::

    client = DriftClient("http://127.0.0.1:8000", "credit-scoring")
    app.add_middleware(DriftMiddleware, client=client, path="/predict")

Pure ASGI and standard library only (no starlette import). The request body and the response
are passed through message by message, unchanged; copies of the bodies (up to
``max_body_bytes``) are kept, and once the last response chunk has been sent, a 2xx JSON
request/response pair is turned into samples and handed to ``client.send`` (which never blocks).
A failure there is logged and counted (``client.stats().capture_errors``), never raised.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from .client import DriftClient

log = logging.getLogger("drift.client.middleware")

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FeaturesOption = str | Callable[[Any], Any] | None
PredictionOption = str | Callable[[Any], Any] | None

FEATURE_KEYS = ("instances", "features", "inputs")
PREDICTION_KEYS = ("predictions", "prediction", "outputs")
LOG_INTERVAL = 30.0


class CaptureError(Exception):
    """A request/response pair could not be turned into samples (the reason is the message)."""


def _rows(value: Any, feature_names: Sequence[str] | None) -> list[dict[str, Any]]:
    """A batch (list) or one instance as feature dicts; positional rows need feature names."""
    items = value if isinstance(value, list) else [value]
    rows: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, dict):
            rows.append(item)
        elif isinstance(item, list) and feature_names is not None:
            if len(item) != len(feature_names):
                raise CaptureError(f"{len(item)} values for {len(feature_names)} feature_names")
            rows.append(dict(zip(feature_names, item, strict=True)))
        elif isinstance(item, list):
            raise CaptureError("positional instances need feature_names=[...]")
        else:
            raise CaptureError(f"an instance is a {type(item).__name__}, not an object or list")
    return rows


def default_features(request: Any) -> Any:
    """``{"instances"|"features"|"inputs": ...}``, else the request object itself."""
    if isinstance(request, dict):
        for key in FEATURE_KEYS:
            if key in request:
                return request[key]
    return request


def default_prediction(response: Any) -> Any:
    """``{"predictions"|"prediction"|"outputs": ...}``, else the response itself."""
    if isinstance(response, dict):
        for key in PREDICTION_KEYS:
            if key in response:
                return response[key]
    return response


class DriftMiddleware:
    """Captures ``method path`` requests of ``app``; see the module docstring.

    ``features``: a key of the request object holding the instance(s), or a callable taking
    the parsed request JSON; default ``default_features``. It yields one feature object, or a
    list of them (a batch: one sample each); list rows are named by ``feature_names``.
    ``prediction``: a key of the response object or a callable taking the parsed response;
    default ``default_prediction``. For a batch it must yield a list of the same length.
    """

    def __init__(
        self,
        app: ASGIApp,
        client: DriftClient,
        path: str = "/predict",
        method: str = "POST",
        features: FeaturesOption = None,
        prediction: PredictionOption = None,
        feature_names: Sequence[str] | None = None,
        max_body_bytes: int = 1_048_576,
        id_header: str | None = "x-request-id",
    ) -> None:
        self.app = app
        self.client = client
        self.path = path
        self.method = method.upper()
        self.features = _getter(features, default_features)
        self.prediction = _getter(prediction, default_prediction)
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.max_body_bytes = max_body_bytes
        self.id_header = id_header.lower().encode("latin-1") if id_header else None
        self._last_warning = -LOG_INTERVAL

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope.get("type") != "http"
            or scope.get("path") != self.path
            or scope.get("method") != self.method
        ):
            await self.app(scope, receive, send)
            return
        capture = _Capture(self.max_body_bytes)
        if self.id_header is not None:
            for name, value in scope.get("headers", ()):
                if name.lower() == self.id_header:
                    capture.request_id = bytes(value).decode("latin-1")
                    break

        async def receive_and_record() -> Message:
            message = await receive()
            try:
                capture.request(message)
            except Exception as exc:
                capture.problem = f"request not recorded: {exc!r}"
            return message

        async def send_and_record(message: Message) -> None:
            await send(message)  # first: the client gets its answer before any capture work
            try:
                complete = capture.response(message)
            except Exception as exc:
                capture.problem, complete = f"response not recorded: {exc!r}", True
            if complete and not capture.shipped:
                capture.shipped = True
                self._ship(capture)

        await self.app(scope, receive_and_record, send_and_record)

    def _ship(self, capture: _Capture) -> None:
        try:
            if capture.problem is not None:
                raise CaptureError(capture.problem)
            if not 200 <= capture.status < 300:
                return  # the app refused the request: not a prediction
            request = _parse(capture.request_body, "request")
            response = _parse(capture.response_body, "response")
            rows = _rows(self.features(request), self.feature_names)
            predictions = self.prediction(response)
            if len(rows) == 1 and not (isinstance(predictions, list) and len(predictions) == 1):
                values = [predictions]
            elif isinstance(predictions, list) and len(predictions) == len(rows):
                values = predictions
            else:
                got = len(predictions) if isinstance(predictions, list) else "one"
                raise CaptureError(f"{len(rows)} instances but {got} predictions")
            rid = capture.request_id
            for i, (row, value) in enumerate(zip(rows, values, strict=True)):
                # the id that delayed labels join on: the request id, per instance in a batch
                sample_id = None if rid is None else (rid if len(rows) == 1 else f"{rid}:{i}")
                self.client.send(row, prediction=value, id=sample_id)
        except Exception as exc:
            self.client.count_capture_error()
            now = time.monotonic()
            if now - self._last_warning >= LOG_INTERVAL:
                self._last_warning = now
                log.warning("drift middleware: %s %s not captured: %s", self.method, self.path, exc)
            else:
                log.debug("drift middleware: %s %s not captured: %s", self.method, self.path, exc)


class _Capture:
    """Copies of the request and response bodies of one call, bounded by ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.status = 0
        self.problem: str | None = None
        self._request: list[bytes] = []
        self._response: list[bytes] = []
        self._sizes = [0, 0]
        self._done = False
        self.shipped = False
        self.request_id: str | None = None

    def _keep(self, chunks: list[bytes], which: int, message: Message) -> None:
        body = message.get("body", b"")
        if self.problem is not None or not isinstance(body, bytes | bytearray):
            return
        self._sizes[which] += len(body)
        if self._sizes[which] > self.limit:
            self.problem = f"body over max_body_bytes={self.limit}"
            chunks.clear()
        else:
            chunks.append(bytes(body))

    def request(self, message: Message) -> None:
        if message.get("type") == "http.request":
            self._keep(self._request, 0, message)

    def response(self, message: Message) -> bool:
        """Record; True once the response is complete (exactly once)."""
        kind = message.get("type")
        if kind == "http.response.start":
            self.status = int(message.get("status", 0))
        elif kind == "http.response.body" and not self._done:
            self._keep(self._response, 1, message)
            if not message.get("more_body", False):
                self._done = True
                return True
        return False

    @property
    def request_body(self) -> bytes:
        return b"".join(self._request)

    @property
    def response_body(self) -> bytes:
        return b"".join(self._response)


def _parse(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CaptureError(f"{what} body is not JSON: {exc}") from None


def _getter(
    option: str | Callable[[Any], Any] | None, default: Callable[[Any], Any]
) -> Callable[[Any], Any]:
    if option is None:
        return default
    if callable(option):
        return option
    key = option

    def by_key(document: Any) -> Any:
        if not isinstance(document, dict) or key not in document:
            raise CaptureError(f"no key {key!r} in the JSON object")
        return document[key]

    return by_key
