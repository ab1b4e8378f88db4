"""What model servers import: ``DriftClient`` (batches samples to the sidecar in the
background, never blocks, never raises) and ``DriftMiddleware`` (an ASGI middleware that
captures a model server's requests and predictions for it).

Retries follow a ``RetryPolicy`` (the one of ``drift.retry``, shared with alert delivery);
``CLIENT_RETRY`` is the client's default.

Kept light: the standard library and ``drift.retry`` only. It imports nothing of the service,
the core or the exporters, so installing it into a model server costs no pandas or numpy.
"""

from drift.client.client import (
    CLIENT_RETRY,
    ClientStats,
    DriftClient,
    HttpTransport,
    InMemoryTransport,
    RetryPolicy,
    Transport,
    TransportResponse,
)
from drift.client.middleware import CaptureError, DriftMiddleware

__all__ = [
    "CLIENT_RETRY",
    "CaptureError",
    "ClientStats",
    "DriftClient",
    "DriftMiddleware",
    "HttpTransport",
    "InMemoryTransport",
    "RetryPolicy",
    "Transport",
    "TransportResponse",
]
