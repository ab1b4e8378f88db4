"""``/metrics`` content negotiation: the bytes and headers of one scrape, with no I/O.

The same steps as prometheus_client's own ``MetricsHandler`` / ``make_wsgi_app`` (its private
``exposition._bake_output``), built from its public pieces: ``choose_encoder`` picks OpenMetrics
when the Accept header asks for ``application/openmetrics-text`` (Prometheus does by default),
else the text format 0.0.4; ``name[]`` query parameters select series through
``CollectorRegistry.restricted_registry``; the body is gzipped when ``gzip_accepted`` says the
Accept-Encoding header allows it.

One difference: no ``*_created`` series. They are dropped here, per scrape, rather than with
``prometheus_client.disable_created_metrics()``, which flips a process-wide switch (every
registry in the process, the host application's too) and misses custom collectors that pass
``created=`` to a metric family.
"""

from __future__ import annotations

import copy
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

#: metric types whose families carry a ``<name>_created`` sample (OpenMetrics 1.0)
_WITH_CREATED = frozenset({"counter", "histogram", "summary"})


@dataclass(frozen=True)
class Exposition:
    """One scrape's answer: the body as sent and the headers that describe it."""

    body: bytes
    content_type: str
    content_encoding: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        """Response headers other than Content-Type (which frameworks set from ``media_type``)."""
        return {"Content-Encoding": self.content_encoding} if self.content_encoding else {}


class _WithoutCreated:
    """A collector that yields another collector's families minus their ``_created`` samples."""

    def __init__(self, collector: Collector) -> None:
        self._collector = collector

    def collect(self) -> Iterator[Metric]:
        for family in self._collector.collect():
            if family.type not in _WITH_CREATED:
                yield family
                continue
            created = family.name + "_created"
            samples = [s for s in family.samples if s.name != created]
            if len(samples) == len(family.samples):
                yield family
                continue
            trimmed = copy.copy(family)  # the collector's own family object is left as it was
            trimmed.samples = samples
            yield trimmed


def expose(
    registry: CollectorRegistry,
    accept: str | None = None,
    accept_encoding: str | None = None,
    query: str = "",
) -> Exposition:
    """Encode ``registry`` for a request with these Accept / Accept-Encoding headers and this raw
    query string (``name[]=a&name[]=b`` restricts the answer to those series)."""
    encoder, content_type = choose_encoder(accept or "")
    params = parse_qs(query)  # as prometheus_client: blank values are dropped
    source: Collector = registry
    if "name[]" in params:
        source = registry.restricted_registry(params["name[]"])
    body = encoder(_WithoutCreated(source))
    if gzip_accepted(accept_encoding or ""):
        return Exposition(gzip.compress(body), content_type, "gzip")
    return Exposition(body, content_type)
