"""``GET /v1/models/{model}/report``: evidently's HTML report of the latest evaluation.

The API tests use the TestClient fixtures of ``tests/conftest.py`` and read the numbers back from
the dashboard data evidently embeds in the page. The integration test starts the real service
process (helpers from ``tests/integration/conftest.py``) and loads the page in real headless
Chromium (Debian package ``chromium``; missing: skipped locally, a failure under ``CI=true``):
the DOM after JavaScript must hold evidently's rendered widgets and the screenshot must show them.
The page has to render without network access (evidently inlines its JS bundle).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from drift.config import settings_from_mapping
from drift.core.stattests import METHODS
from drift.service.app import create_app
from drift.service.service import DriftService
from exporters.report.evidently_html import ReportPages
from tests.components import missing_component
from tests.conftest import sample, wait_until
from tests.integration.conftest import (
    REFERENCE_ROWS,
    Running,
    _start,
    _stop,
    _wait_http_ok,
    free_port,
    make_rows,
    sidecar_command,
    to_samples,
)

MODEL = "credit-scoring"
REPORT = f"/v1/models/{MODEL}/report"
SAMPLES = f"/v1/models/{MODEL}/samples"
REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    # importing evidently imports litestar (for evidently's UI); litestar >= 2.23 warns that the
    # `Dependency` helper evidently uses is deprecated (LitestarDeprecationWarning). Not ours.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:litestar.*"),
]


# ------------------------------------------------------------------------------------ helpers


def pages(client: TestClient) -> ReportPages:
    report_pages: ReportPages = client.app.state.report_pages  # type: ignore[attr-defined]
    return report_pages


def post_clean_samples(client: TestClient, n: int, seed: int = 3) -> None:
    """``n`` samples drawn like the reference of ``tests/conftest.py``."""
    rng = np.random.default_rng(seed)
    samples = [
        sample(age=float(a), income=float(i), city=str(c), score=float(s))
        for a, i, c, s in zip(
            rng.normal(40, 10, n).round(),
            rng.lognormal(10, 0.5, n),
            rng.choice(["berlin", "paris", "rome"], n),
            rng.random(n),
            strict=True,
        )
    ]
    response = client.post(SAMPLES, json={"samples": samples})
    assert response.status_code == 200, response.text


def wait_for_evaluation(service: DriftService, samples_seen: int) -> None:
    wait_until(
        lambda: (
            (r := service.monitors[MODEL].latest) is not None and r.samples_seen >= samples_seen
        ),
        what=f"evaluation of {samples_seen} samples",
    )


def dashboard(page: str) -> dict[str, Any]:
    """The dashboard data evidently embeds in the page (``var metric_<id> = {...};``)."""
    match = re.search(r"var (metric_\w+) = (\{.*?\});\s*var additional_graphs_\1 =", page, re.S)
    assert match is not None, "no evidently dashboard data in the page"
    data: dict[str, Any] = json.loads(match.group(2))
    return data


def widgets(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "type" in node and "params" in node:
            yield node
        for value in node.values():
            yield from widgets(value)
    elif isinstance(node, list):
        for value in node:
            yield from widgets(value)


def drift_table(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The rows of evidently's data drift table, by column name."""
    for widget in widgets(data):
        if widget["type"] == "big_table" and any(
            c.get("field") == "column_name" for c in widget["params"].get("columns", [])
        ):
            return {row["column_name"]: row for row in widget["params"]["data"]}
    raise AssertionError("no data drift table in the dashboard")


def counters(data: dict[str, Any]) -> dict[str, str]:
    """Counter widgets: value -> label (e.g. "Drift in column 'score'" -> "... Drift score: x")."""
    return {
        str(counter["value"]): str(counter["label"])
        for widget in widgets(data)
        if widget["type"] == "counter"
        for counter in widget["params"]["counters"]
    }


# ---------------------------------------------------------------------------------- API tests


def test_no_report_before_the_first_evaluation(client: TestClient) -> None:
    response = client.get(REPORT)
    assert response.status_code == 404
    assert response.json()["error"] == "no_result"
    assert response.json() == client.get(f"/v1/models/{MODEL}/drift").json()


def test_unknown_model_is_404(client: TestClient) -> None:
    response = client.get("/v1/models/nope/report")
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_model"


def test_report_shows_the_numbers_of_the_evaluation(
    client: TestClient, service: DriftService
) -> None:
    post_clean_samples(client, 60)
    wait_for_evaluation(service, 60)
    response = client.get(REPORT)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<title>Drift report: credit-scoring</title>" in page
    assert "row order and the joint distribution" in page  # the footnote on the reference
    result = client.get(f"/v1/models/{MODEL}/drift").json()
    data = dashboard(page)
    table = drift_table(data)
    assert set(table) == {"age", "income", "city"}
    for name, row in table.items():
        ours = result["columns"][name]
        # evidently shows our method (by its display name), our score (rounded to 6 digits)
        # and our decision
        assert row["stattest_name"] == METHODS[ours["method"]].display_name, name
        assert row["drift_score"] == pytest.approx(ours["score"], abs=1e-6), name
        assert row["data_drift"] == ("Detected" if ours["drifted"] else "Not Detected"), name
    shown = counters(data)
    detected = "is detected" if result["dataset"]["drifted"] else "is NOT detected"
    assert shown["Dataset Drift"] == (
        f"Dataset Drift {detected}. Dataset drift detection threshold is 0.5"
    )
    prediction = result["prediction"]
    label = shown["Drift in column 'score'"]
    assert f"Drift score: {round(prediction['score'], 3)}" in label
    assert METHODS[prediction["method"]].display_name in label


def test_the_page_of_an_evaluation_is_rendered_once(
    client: TestClient, service: DriftService
) -> None:
    post_clean_samples(client, 60)
    wait_for_evaluation(service, 60)
    started = time.perf_counter()
    first = client.get(REPORT)
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    second = client.get(REPORT)
    second_seconds = time.perf_counter() - started
    assert first.status_code == second.status_code == 200
    assert second.text == first.text  # the same page (evidently's ids are random per render)
    assert pages(client).renders(MODEL) == 1
    print(f"report: first request {first_seconds:.2f} s, cached {second_seconds:.3f} s")

    post_clean_samples(client, 50, seed=4)  # one window step: a new evaluation, a new page
    wait_for_evaluation(service, 110)
    third = client.get(REPORT)
    assert third.status_code == 200
    assert third.text != first.text
    assert pages(client).renders(MODEL) == 2


def test_concurrent_requests_share_one_render(client: TestClient, service: DriftService) -> None:
    post_clean_samples(client, 60)
    wait_for_evaluation(service, 60)
    statuses: list[int] = []
    texts: set[str] = set()

    def fetch() -> None:
        response = client.get(REPORT)
        statuses.append(response.status_code)
        texts.add(response.text)

    threads = [threading.Thread(target=fetch) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [200, 200, 200]
    assert len(texts) == 1
    assert pages(client).renders(MODEL) == 1


def test_a_column_without_values_in_the_window_is_left_out_and_named(
    client: TestClient, service: DriftService
) -> None:
    samples = [
        {"features": {"age": 40.0 + i % 9, "income": None, "city": "paris"}, "prediction": 0.5}
        for i in range(60)
    ]
    assert client.post(SAMPLES, json={"samples": samples}).status_code == 200
    wait_for_evaluation(service, 60)
    assert client.get(f"/v1/models/{MODEL}/drift").json()["columns"]["income"]["status"] == (
        "insufficient_data"
    )
    response = client.get(REPORT)
    assert response.status_code == 200
    assert set(drift_table(dashboard(response.text))) == {"age", "city"}
    assert "Column &#x27;income&#x27; is not in the report" in response.text
    assert "no usable value (all missing, NaN or inf) in the window" in response.text


@pytest.fixture
def corrected_client(reference_csv: Path) -> Iterator[tuple[TestClient, DriftService]]:
    """The model of ``tests/conftest.py`` with a Bonferroni correction across its features."""
    settings = settings_from_mapping(
        {
            "models": {
                MODEL: {
                    "reference": {"path": str(reference_csv)},
                    "columns": {
                        "numerical": ["age", "income"],
                        "categorical": ["city"],
                        "prediction": "score",
                    },
                    "window": {"size": 200, "step": 50},
                    "drift": {"share_threshold": 0.5, "correction": "bonferroni"},
                }
            }
        }
    )
    service = DriftService(settings)
    service.start(load_in_background=False)
    try:
        with TestClient(create_app(service, manage_lifecycle=False)) as client:
            yield client, service
    finally:
        service.stop()


def test_corrected_decisions_are_the_ones_shown(
    corrected_client: tuple[TestClient, DriftService],
) -> None:
    """With a correction our decision uses the adjusted p-value; evidently, given the scaled
    threshold, decides the same while showing the raw p-value."""
    client, service = corrected_client
    rng = np.random.default_rng(3)
    samples = [  # age shifted by 3: raw K-S p ~ 0.027 (< 0.05), Bonferroni-adjusted ~ 0.08
        sample(age=float(a) + 3.0, income=float(i), city=str(c), score=float(s))
        for a, i, c, s in zip(
            rng.normal(40, 10, 60).round(),
            rng.lognormal(10, 0.5, 60),
            rng.choice(["berlin", "paris", "rome"], 60),
            rng.random(60),
            strict=True,
        )
    ]
    assert client.post(SAMPLES, json={"samples": samples}).status_code == 200
    wait_until(lambda: service.monitors[MODEL].latest is not None, what="first evaluation")
    age = client.get(f"/v1/models/{MODEL}/drift").json()["columns"]["age"]
    assert age["score"] < age["threshold"] < age["adjusted_score"]  # the correction decides
    assert age["drifted"] is False
    page = client.get(REPORT).text
    row = drift_table(dashboard(page))["age"]
    assert row["drift_score"] == pytest.approx(age["score"], abs=1e-6)
    assert row["data_drift"] == "Not Detected"
    assert "multiple-testing correction" in page


def test_without_evidently_the_report_is_501(
    client: TestClient, service: DriftService, monkeypatch: pytest.MonkeyPatch
) -> None:
    post_clean_samples(client, 60)
    wait_for_evaluation(service, 60)
    monkeypatch.setitem(sys.modules, "evidently", None)  # `import evidently` raises ImportError
    response = client.get(REPORT)
    assert response.status_code == 501
    body = response.json()
    assert body["error"] == "report_unavailable"
    assert body["install"] == "pip install 'drift-sidecar[report]'"
    assert "pip install 'drift-sidecar[report]'" in body["detail"]


STARTUP_CHECK = textwrap.dedent(
    """
    import sys, time
    from fastapi.testclient import TestClient
    from drift.config import settings_from_mapping
    from drift.service.app import create_app
    from drift.service.service import DriftService

    settings = settings_from_mapping({"models": {"m": {
        "reference": {"path": sys.argv[1]},
        "columns": {"numerical": ["age", "income"], "categorical": ["city"],
                    "prediction": "score"},
        "window": {"size": 100, "step": 50}}}})
    sample = {"features": {"age": 40.0, "income": 2.0e4, "city": "rome"}, "prediction": 0.5}
    with TestClient(create_app(DriftService(settings))) as client:
        deadline = time.monotonic() + 20
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.post("/v1/models/m/samples", json={"samples": [sample] * 50}).is_success
        while client.get("/v1/models/m/drift").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/v1/models/m/drift").status_code == 200
    print(sorted(m for m in sys.modules if m.split(".")[0] == "evidently"))
    """
)


def test_start_up_and_evaluation_do_not_import_evidently(reference_csv: Path) -> None:
    """Importing the app, starting it, ingesting and evaluating: evidently stays unimported."""
    done = subprocess.run(
        [sys.executable, "-c", STARTUP_CHECK, str(reference_csv)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


# ------------------------------------------------------------------- integration: real browser

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
CHROMIUM_TIMEOUT = 90.0
INTEGRATION_MODEL = "m1"
WINDOW_SIZE = 500
FEATURES = ("x1", "x2", "x3", "x4", "segment")
EVIDENTLY_RED = (0xED, 0x04, 0x00)  # evidently's histogram colour


@pytest.fixture
def chromium() -> str:
    """The browser on PATH (requested before the sidecar, so nothing starts in vain). Missing:
    fails the test under CI=true, skips it otherwise."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    message = (
        "chromium is not on PATH; install it (apt-get install -y --no-install-recommends chromium)"
    )
    missing_component(message)


def run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """One headless Chromium run with its own fresh profile directory."""
    profile.mkdir()
    done = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        timeout=CHROMIUM_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    return done


class RenderedText(HTMLParser):
    """The text inside evidently's root element (``<div id="root_...">``), scripts excluded:
    what React rendered, not the data or code the page ships with."""

    VOID = frozenset(
        {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
    )

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.in_script = False
        self.roots = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_script = tag in ("script", "style")
        if tag in self.VOID:
            return
        if self.depth:
            self.depth += 1
        elif tag == "div" and (dict(attrs).get("id") or "").startswith("root_"):
            self.depth = 1
            self.roots += 1

    def handle_endtag(self, tag: str) -> None:
        self.in_script = False
        if self.depth and tag not in self.VOID:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth and not self.in_script and data.strip():
            self.parts.append(data.strip())

    @classmethod
    def of(cls, dom: str) -> tuple[int, str]:
        parser = cls()
        parser.feed(dom)
        parser.close()
        return parser.roots, " | ".join(parser.parts)


def png_rgb(data: bytes) -> np.ndarray:
    """Decode an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes) to a
    height x width x 3 array, with the five PNG row filters."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, bytearray()
    width = height = depth = color = interlace = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    assert depth == 8, f"bit depth {depth}"
    assert color in (2, 6), f"colour type {color}"
    assert interlace == 0, "interlaced"
    bpp = 3 if color == 2 else 4
    stride = width * bpp
    raw = np.frombuffer(zlib.decompress(bytes(idat)), dtype=np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int64)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int64)
        if kind == 0:  # None
            row = line
        elif kind == 1:  # Sub: a running sum per channel
            row = np.cumsum(line.reshape(width, bpp), axis=0).reshape(stride) % 256
        elif kind == 2:  # Up
            row = (line + prev) % 256
        else:  # Average (3) and Paeth (4) depend on the byte just decoded: byte by byte
            cur, up = line.tolist(), prev.tolist()
            for x in range(stride):
                left = cur[x - bpp] if x >= bpp else 0
                if kind == 3:
                    cur[x] = (cur[x] + (left + up[x]) // 2) % 256
                else:
                    upper_left = up[x - bpp] if x >= bpp else 0
                    p = left + up[x] - upper_left
                    pa, pb, pc = abs(p - left), abs(p - up[x]), abs(p - upper_left)
                    pred = left if pa <= pb and pa <= pc else up[x] if pb <= pc else upper_left
                    cur[x] = (cur[x] + pred) % 256
            row = np.array(cur, dtype=np.int64)
        out[y] = row
        prev = row
    return out.reshape(height, width, bpp)[:, :, :3]


@pytest.fixture
def report_sidecar(tmp_path: Path) -> Iterator[Running]:
    """The real service process with one model (a 2000-row reference of the integration data)
    whose window holds 500 drifted samples and has been evaluated."""
    reference = make_rows(np.random.default_rng(1), REFERENCE_ROWS)
    reference.to_csv(tmp_path / "reference.csv", index=False)
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        "models:\n"
        f"  {INTEGRATION_MODEL}:\n"
        "    reference: {path: reference.csv}\n"
        "    columns: {numerical: [x1, x2, x3, x4], categorical: [segment],\n"
        "              prediction: prediction, prediction_type: numerical}\n"
        f"    window: {{size: {WINDOW_SIZE}, step: 100}}\n",
        encoding="utf-8",
    )
    port = free_port()
    command = [
        *sidecar_command(),
        *("serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)),
    ]
    url = f"http://127.0.0.1:{port}"
    running = _start("drift-sidecar", command, url, tmp_path / "sidecar.log", tmp_path)
    try:
        _wait_http_ok(running, "/readyz", 20.0)
        samples = to_samples(make_rows(np.random.default_rng(9), WINDOW_SIZE, drifted=True), "s")
        with httpx.Client(base_url=url, timeout=10.0) as api:
            path = f"/v1/models/{INTEGRATION_MODEL}/samples"
            response = api.post(path, json={"samples": samples})
            assert response.status_code == 200, response.text
        _wait_http_ok(running, f"/v1/models/{INTEGRATION_MODEL}/drift", 30.0)
        yield running
    finally:
        _stop(running)


@pytest.mark.integration
def test_report_renders_in_headless_chromium(
    chromium: str, report_sidecar: Running, tmp_path: Path
) -> None:
    url = f"{report_sidecar.url}/v1/models/{INTEGRATION_MODEL}/report"
    started = time.perf_counter()
    with httpx.Client(timeout=60.0) as http:  # the first render imports evidently (seconds)
        response = http.get(url)
    print(f"first render in the real process: {time.perf_counter() - started:.1f} s")
    assert response.status_code == 200, response.text
    assert "<script src=" not in response.text  # nothing to fetch: the bundle is inline

    dom = run_chromium(chromium, tmp_path / "profile-dom", "--dump-dom", url).stdout.decode()
    roots, text = RenderedText.of(dom)
    assert roots == 1, "evidently's root element is missing"
    assert "Dataset Drift" in text, text[:2000]
    assert "Dataset Drift is detected" in text, text[:2000]
    for column in FEATURES:
        assert column in text.split(" | "), f"{column} not rendered: {text[:2000]}"
    assert "Drift in column 'prediction'" in text

    screenshot = tmp_path / "report.png"
    run_chromium(
        chromium,
        tmp_path / "profile-shot",
        f"--screenshot={screenshot}",
        "--window-size=1280,2000",
        url,
    )
    pixels = png_rgb(screenshot.read_bytes())
    assert pixels.shape == (2000, 1280, 3)
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    non_white = float(np.mean(np.any(pixels < 245, axis=2)))
    red = int(np.sum(np.all(np.abs(pixels.astype(int) - EVIDENTLY_RED) <= 8, axis=2)))
    print(
        f"screenshot {screenshot} ({screenshot.stat().st_size} bytes): {len(colours)} colours, "
        f"{non_white:.1%} non-white, {red} pixels of evidently's red"
    )
    assert len(colours) > 100  # text, charts, borders: not a blank or single-colour page
    assert non_white > 0.02
    assert red > 500  # the histograms evidently draws (its red bars), not just text
