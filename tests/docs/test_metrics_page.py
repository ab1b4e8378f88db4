"""docs/metrics.md lists exactly the metric families the sidecar exports.

Real sidecar processes are scraped: a stand-alone one with every section that adds families
(``state``, ``reporting.clearml``), and an aggregator (``fleet.role: aggregator``, which
exports the shipper's families too). No broker runs: an aggregator without one never gets
ready, but serves ``/metrics`` with every family declared. The families of the ``# TYPE``
lines (text format 0.0.4: counters under their ``_total`` name) must be the rows of the page's
tables, with the same types. A family the code adds, renames or drops fails here until the page
says so."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.components import stop_process
from tests.docs.blocks import DOCS
from tests.integration.conftest import free_port, serving, sidecar_command

PAGE = DOCS / "metrics.md"
ROW = re.compile(r"^\| `(drift_\w+)` \| (counter|gauge|histogram|summary|info) \|", re.MULTILINE)
TYPE = re.compile(r"^# TYPE (\w+) (\w+)$", re.MULTILINE)
MODEL = (
    "models:\n"
    "  credit-scoring:\n"
    "    reference: {path: reference.csv}\n"
    "    columns: {numerical: [age, income], categorical: [city], prediction: score}\n"
)


def documented() -> dict[str, str]:
    rows = ROW.findall(PAGE.read_text(encoding="utf-8"))
    names = [name for name, _ in rows]
    assert len(names) == len(set(names)), "a metric is listed twice"
    return dict(rows)


def families(text: str) -> dict[str, str]:
    return {name: kind for name, kind in TYPE.findall(text) if name.startswith("drift_")}


def standalone(home: Path) -> dict[str, str]:
    config = home / "config.yaml"
    config.write_text(
        "state: {dir: state}\n"
        "reporting:\n"
        "  clearml: {project: docs, timeout_seconds: 1, retries: 0}\n" + MODEL,
        encoding="utf-8",
    )
    with serving(config, home) as sidecar:
        return families(httpx.get(f"{sidecar.url}/metrics", timeout=10).text)


def aggregator(home: Path) -> dict[str, str]:
    config = home / "aggregator.yaml"
    broker = f"127.0.0.1:{free_port()}"  # nothing listens there
    config.write_text(
        "server: {shutdown_timeout_seconds: 2}\n"  # no broker to flush to: stop at once
        f"fleet: {{role: aggregator, bootstrap_servers: '{broker}'}}\n" + MODEL
    )
    port = free_port()
    address = ["--host", "127.0.0.1", "--port", str(port)]
    with (home / "aggregator.log").open("wb") as log:
        process = subprocess.Popen(
            [*sidecar_command(), "serve", "--config", str(config), *address],
            cwd=home,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, (home / "aggregator.log").read_text()
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            if response.status_code == 200:
                return families(response.text)
            time.sleep(0.1)
        pytest.fail(f"no /metrics after 30 s:\n{(home / 'aggregator.log').read_text()}")
    finally:
        stop_process(process)


def test_the_page_lists_what_the_sidecar_exports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(DOCS / "examples" / "reference.csv", tmp_path / "reference.csv")
    # nothing is reported without samples; should the SDK look for a server, it finds none here
    monkeypatch.setenv("CLEARML_API_HOST", f"http://127.0.0.1:{free_port()}")
    exported = {**standalone(tmp_path), **aggregator(tmp_path)}
    assert "drift_samples_total" in exported  # the scrapes worked
    assert "drift_fleet_consumer_lag" in exported
    page = documented()
    assert sorted(set(exported) - set(page)) == [], "exported but not on docs/metrics.md"
    assert sorted(set(page) - set(exported)) == [], "on docs/metrics.md but not exported"
    wrong = {name: (page[name], kind) for name, kind in exported.items() if page[name] != kind}
    assert wrong == {}, "(page, exported) types differ"
