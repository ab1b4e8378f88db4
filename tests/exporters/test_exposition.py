"""``/metrics`` content negotiation: text 0.0.4 by default, OpenMetrics for Prometheus' Accept
header, gzip on request, ``name[]`` selection, and never a ``*_created`` series.

The pure function is checked against prometheus_client's own WSGI exposition (the peer: same
headers, same body but for the ``_created`` lines), then the same through the real FastAPI app.
``promtool`` (Debian package ``prometheus``) lints the app's text output; missing, that test is
skipped locally and fails under ``CI=true``.
"""

from __future__ import annotations

import gzip
import subprocess
from collections.abc import Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from fastapi.testclient import TestClient
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Summary,
    make_wsgi_app,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from drift.service.app import create_app
from drift.service.service import DriftService
from exporters.prometheus.exposition import Exposition, expose
from tests.conftest import sample, wait_until
from tests.integration.conftest import binary

#: what Prometheus 2.x sends when it scrapes (scrape.go, ``scrapeAcceptHeader``)
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

Series = set[tuple[str, tuple[tuple[str, str], ...]]]


class _JobsCollector:
    """A custom collector that passes ``created=``, which ``disable_created_metrics()`` ignores."""

    def collect(self) -> Iterator[Metric]:
        jobs = CounterMetricFamily("jobs", "Jobs run", labels=["kind"])
        jobs.add_metric(["batch"], 3.0, created=1_700_000_000.0)
        yield jobs


def populated_registry() -> CollectorRegistry:
    """Every family type that carries ``_created``, with samples, plus a gauge."""
    registry = CollectorRegistry()
    Counter("requests", "Requests", ["path"], registry=registry).labels("/a").inc(2)
    Histogram("latency_seconds", "Latency", registry=registry).observe(0.3)
    Summary("payload_bytes", "Payload sizes", registry=registry).observe(512)
    Gauge("queue_depth", "Queue depth", registry=registry).set(4)
    registry.register(_JobsCollector())
    return registry


def series_of(families: Any) -> Series:
    return {(s.name, tuple(sorted(s.labels.items()))) for f in families for s in f.samples}


def assert_no_created(body: str) -> None:
    assert "_created" not in body, [line for line in body.splitlines() if "_created" in line]


# the pure function -------------------------------------------------------------------------


def test_text_format_by_default() -> None:
    out = expose(populated_registry())
    assert out.content_type == TEXT_TYPE
    assert out.content_encoding is None
    assert out.headers == {}
    body = out.body.decode()
    assert 'requests_total{path="/a"} 2.0' in body
    assert "# EOF" not in body
    assert_no_created(body)
    assert series_of(parse_text(body))  # parses as the text format


@pytest.mark.parametrize("accept", [PROMETHEUS_ACCEPT, "application/openmetrics-text"])
def test_openmetrics_for_an_openmetrics_accept_header(accept: str) -> None:
    out = expose(populated_registry(), accept=accept)
    assert out.content_type.startswith(OPENMETRICS_TYPE)
    body = out.body.decode()
    assert body.endswith("# EOF\n")
    assert_no_created(body)
    families = {f.name: f for f in parse_openmetrics(body)}
    assert families["requests"].type == "counter"
    assert families["jobs"].type == "counter"
    assert families["latency_seconds"].type == "histogram"


@pytest.mark.parametrize("accept", [None, PROMETHEUS_ACCEPT])
@pytest.mark.parametrize("accept_encoding", ["gzip", "br, gzip;q=0.9", "GZIP"])
def test_gzip_when_accepted(accept: str | None, accept_encoding: str) -> None:
    registry = populated_registry()
    plain = expose(registry, accept=accept)
    zipped = expose(registry, accept=accept, accept_encoding=accept_encoding)
    assert zipped.content_encoding == "gzip"
    assert zipped.headers == {"Content-Encoding": "gzip"}
    assert zipped.content_type == plain.content_type
    assert gzip.decompress(zipped.body) == plain.body


@pytest.mark.parametrize("accept_encoding", [None, "", "identity", "deflate, br"])
def test_no_gzip_otherwise(accept_encoding: str | None) -> None:
    out = expose(populated_registry(), accept_encoding=accept_encoding)
    assert out.content_encoding is None
    assert out.body.startswith(b"# HELP")


def test_same_series_in_both_formats_and_as_the_registry_minus_created() -> None:
    registry = populated_registry()
    everything = series_of(registry.collect())
    assert any(name.endswith("_created") for name, _ in everything)  # the registry has them
    wanted = {(name, labels) for name, labels in everything if not name.endswith("_created")}
    text = expose(registry).body.decode()
    openmetrics = expose(registry, accept=PROMETHEUS_ACCEPT).body.decode()
    assert series_of(parse_text(text)) == wanted
    assert series_of(parse_openmetrics(openmetrics)) == wanted


def test_name_query_parameters_restrict_the_series() -> None:
    out = expose(
        populated_registry(),
        accept=PROMETHEUS_ACCEPT,
        query="name[]=requests_total&name[]=queue_depth&name[]=requests_created",
    )
    series = series_of(parse_openmetrics(out.body.decode()))
    assert series == {("requests_total", (("path", "/a"),)), ("queue_depth", ())}


def test_only_created_series_are_dropped() -> None:
    """A gauge whose own name ends in ``_created`` is an ordinary series and stays."""

    class Cache:
        def collect(self) -> Iterator[Metric]:
            yield GaugeMetricFamily("cache_created", "When the cache was built", value=12.0)

    registry = CollectorRegistry()
    registry.register(Cache())
    assert "cache_created 12.0" in expose(registry).body.decode()
    assert "cache_created 12.0" in expose(registry, accept=PROMETHEUS_ACCEPT).body.decode()


def test_nothing_global_is_switched_off() -> None:
    """The collectors' own families keep ``_created`` (dropped per scrape, not process-wide)."""
    registry = populated_registry()
    expose(registry)
    assert registry.get_sample_value("requests_created", {"path": "/a"}) is not None
    assert registry.get_sample_value("jobs_created", {"kind": "batch"}) == 1_700_000_000.0


# parity with prometheus_client's own exposition (make_wsgi_app) -----------------------------


def wsgi_scrape(
    registry: CollectorRegistry, accept: str | None, accept_encoding: str | None, query: str
) -> tuple[list[tuple[str, str]], bytes]:
    environ: dict[str, Any] = {"QUERY_STRING": query, "PATH_INFO": "/metrics"}
    if accept is not None:
        environ["HTTP_ACCEPT"] = accept
    if accept_encoding is not None:
        environ["HTTP_ACCEPT_ENCODING"] = accept_encoding
    setup_testing_defaults(environ)
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        started.append((status, headers))

    body = b"".join(make_wsgi_app(registry)(environ, start_response))
    assert started[0][0] == "200 OK"
    return started[0][1], body


def headers_of(out: Exposition) -> list[tuple[str, str]]:
    return [("Content-Type", out.content_type), *out.headers.items()]


def without_created_lines(body: bytes) -> bytes:
    return b"".join(line for line in body.splitlines(keepends=True) if b"_created" not in line)


@pytest.mark.parametrize(
    "accept",
    [None, "*/*", PROMETHEUS_ACCEPT, "application/openmetrics-text", "text/plain;version=1.0.0"],
)
@pytest.mark.parametrize("accept_encoding", [None, "gzip, deflate"])
@pytest.mark.parametrize("query", ["", "name[]=requests_total&name[]=latency_seconds_bucket"])
def test_same_answer_as_prometheus_client(
    accept: str | None, accept_encoding: str | None, query: str
) -> None:
    registry = populated_registry()
    their_headers, their_body = wsgi_scrape(registry, accept, accept_encoding, query)
    ours = expose(registry, accept=accept, accept_encoding=accept_encoding, query=query)
    assert headers_of(ours) == their_headers
    if ours.content_encoding == "gzip":
        their_body, our_body = gzip.decompress(their_body), gzip.decompress(ours.body)
    else:
        our_body = ours.body
    assert our_body == without_created_lines(their_body)


def test_a_blank_name_parameter_selects_everything_as_prometheus_client_does() -> None:
    registry = populated_registry()
    _, theirs = wsgi_scrape(registry, None, None, "name[]=")
    assert expose(registry, query="name[]=").body == without_created_lines(theirs)
    assert b"queue_depth 4.0" in theirs


# through the real FastAPI app --------------------------------------------------------------


@pytest.fixture
def evaluated(client: TestClient, service: DriftService) -> TestClient:
    """The app after one evaluation, so that its counters and histograms have samples."""
    samples = [sample(age=float(i)) for i in range(60)]
    response = client.post("/v1/models/credit-scoring/samples", json={"samples": samples})
    assert response.status_code == 200
    wait_until(lambda: service.monitors["credit-scoring"].latest is not None, what="evaluation")
    return client


def raw_scrape(client: TestClient, headers: dict[str, str]) -> tuple[dict[str, str], bytes]:
    """Status-checked headers and the body as sent (the test client would gunzip it)."""
    with client.stream("GET", "/metrics", headers=headers) as response:
        assert response.status_code == 200
        return dict(response.headers), b"".join(response.iter_raw())


def test_app_serves_text_by_default(evaluated: TestClient, service: DriftService) -> None:
    headers, body = raw_scrape(evaluated, {"Accept-Encoding": "identity"})
    assert headers["content-type"] == TEXT_TYPE
    assert "content-encoding" not in headers
    text = body.decode()
    assert_no_created(text)
    assert 'drift_samples_total{model="credit-scoring"} 60.0' in text
    # every series of the registry is there, the _created ones aside
    everything = series_of(service.registry.collect())
    assert any(name.endswith("_created") for name, _ in everything)
    wanted = {(name, labels) for name, labels in everything if not name.endswith("_created")}
    assert series_of(parse_text(text)) == wanted


def test_app_serves_openmetrics_to_prometheus(evaluated: TestClient) -> None:
    _, text = raw_scrape(evaluated, {"Accept-Encoding": "identity"})
    headers, body = raw_scrape(
        evaluated, {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "identity"}
    )
    assert headers["content-type"].startswith(OPENMETRICS_TYPE)
    openmetrics = body.decode()
    assert openmetrics.endswith("# EOF\n")
    assert_no_created(openmetrics)
    families = {f.name: f for f in parse_openmetrics(openmetrics)}
    assert families["drift_samples"].type == "counter"
    assert families["drift_evaluation_seconds"].type == "histogram"
    assert families["drift_dataset_detected"].type == "gauge"
    assert series_of(families.values()) == series_of(parse_text(text.decode()))


@pytest.mark.parametrize("accept", [None, PROMETHEUS_ACCEPT])
def test_app_gzips_when_asked(evaluated: TestClient, accept: str | None) -> None:
    asked = {"Accept": accept} if accept else {}
    plain_headers, plain = raw_scrape(evaluated, {**asked, "Accept-Encoding": "identity"})
    headers, zipped = raw_scrape(evaluated, {**asked, "Accept-Encoding": "gzip"})
    assert headers["content-encoding"] == "gzip"
    assert headers["content-type"] == plain_headers["content-type"]
    assert int(headers["content-length"]) == len(zipped)
    unzipped = gzip.decompress(zipped).decode()
    assert_no_created(unzipped)
    # the same payload (drift_reference_age_seconds moves between two scrapes: compare series)
    parse = parse_openmetrics if accept else parse_text
    assert series_of(parse(unzipped)) == series_of(parse(plain.decode()))


def test_app_honours_name_parameters(evaluated: TestClient) -> None:
    response = evaluated.get(
        "/metrics",
        params=[("name[]", "drift_samples_total")],
        headers={"Accept": PROMETHEUS_ACCEPT},
    )
    assert series_of(parse_openmetrics(response.text)) == {
        ("drift_samples_total", (("model", "credit-scoring"),))
    }


def test_app_name_parameters_reach_the_collectors_metrics(evaluated: TestClient) -> None:
    # the drift collector computes its families at scrape time and declares no names
    response = evaluated.get("/metrics", params=[("name[]", "drift_dataset_detected")])
    series = series_of(parse_text(response.text))
    assert {name for name, _ in series} == {"drift_dataset_detected"}


def test_apps_created_again_in_one_process_have_no_created_series(
    evaluated: TestClient, service: DriftService
) -> None:
    with TestClient(create_app(service, manage_lifecycle=False)) as again:
        for accept in (None, PROMETHEUS_ACCEPT):
            headers = {"Accept": accept} if accept else {}
            assert_no_created(again.get("/metrics", headers=headers).text)
    # and the process-wide switch of prometheus_client is untouched
    other = CollectorRegistry()
    Counter("elsewhere", "A counter of another registry", registry=other).inc()
    assert other.get_sample_value("elsewhere_created") is not None


@pytest.mark.integration
def test_promtool_accepts_the_text_output(evaluated: TestClient) -> None:
    promtool = binary("promtool")
    text = evaluated.get("/metrics").text
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
