"""What model servers import: ``DriftClient`` (batches samples to the sidecar in the
background, never blocks, never raises) and ``DriftMiddleware`` (an ASGI middleware that
captures a model server's requests and predictions for it).

Retries follow a ``RetryPolicy`` (``retry``: the one policy of every sender, which the
server's alert delivery uses as ``drift.retry``); ``CLIENT_RETRY`` is the client's default.

Kept light: the standard library only, and relative imports within this package, so that the
same files are two things (docs/client.md): ``drift.client`` in the ``drift-sidecar``
distribution, and ``drift_sidecar_client`` in the ``drift-sidecar-client`` distribution that
model servers install alone (``clients/python/``: no pandas, numpy, pydantic or web framework).
"""

from .client import (
    CLIENT_RETRY,
    ClientStats,
    DriftClient,
    HttpTransport,
    InMemoryTransport,
    RetryPolicy,
    Transport,
    TransportResponse,
)
from .middleware import CaptureError, DriftMiddleware

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
