"""``GET /v1/models/{model}/report``: evidently's HTML report of the latest evaluation.

The API tests use the TestClient fixtures of ``tests/conftest.py`` and read the numbers back from
the dashboard data evidently embeds in the page. The integration test starts the real service
process (helpers from ``tests/integration/conftest.py``) and loads the page in real headless
Chromium (Debian package ``chromium``; missing: skipped locally, a failure under ``CI=true``):
the DOM after JavaScript must hold evidently's rendered widgets and the screenshot must show them.
The page has to render without network access (evidently inlines its JS bundle).

Hostile data (the last section): a report whose category values, column names, model name and
reference source are script-injection strings. Without a browser: the data script holds no "<"
and the page no element but ours and evidently's. In Chromium (the page served by
``tests/exporters/report_server.py`` with ``REPORT_HEADERS``): no payload runs (each would set
``data-pwned`` on ``<html>``), every string is shown as the text it is, and a script slipped into
the page is stopped by the page's own policy (with a control run showing the check can see it).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from drift.config import settings_from_mapping
from drift.core.comparison import build_options, window_from_frame
from drift.core.engine import evaluate
from drift.core.reference import ReferenceProfile, build_profile
from drift.core.report import DriftReport
from drift.core.stattests import METHODS
from drift.service.app import create_app
from drift.service.service import DriftService
from exporters.report.evidently_html import (
    NO_DATA,
    ReportPages,
    drift_report_html,
    evidently_page_parts,
)
from exporters.report.safe_html import (
    REPORT_CSP,
    REPORT_HEADERS,
    plotly_text,
    script_hashes,
    script_json,
)
from tests.chromium import chromium_command
from tests.components import missing_component
from tests.conftest import CREDIT_COLUMNS, sample, wait_until
from tests.exporters.report_server import PAGE_PATH, serve_page
from tests.integration.conftest import (
    REFERENCE_ROWS,
    Running,
    _wait_http_ok,
    make_rows,
    serving,
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
    assert response.headers["content-security-policy"] == REPORT_CSP
    assert response.headers["x-content-type-options"] == "nosniff"
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
                    "columns": CREDIT_COLUMNS,
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

CHROMIUM_TIMEOUT = 90.0
VIRTUAL_TIME = "--virtual-time-budget=10000"
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
        chromium_command(chromium, profile, *args),
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
    with serving(config, tmp_path) as running:  # ready: /readyz answers 200
        samples = to_samples(make_rows(np.random.default_rng(9), WINDOW_SIZE, drifted=True), "s")
        with httpx.Client(base_url=running.url, timeout=10.0) as api:
            path = f"/v1/models/{INTEGRATION_MODEL}/samples"
            response = api.post(path, json={"samples": samples})
            assert response.status_code == 200, response.text
        _wait_http_ok(running, f"/v1/models/{INTEGRATION_MODEL}/drift", 30.0)
        yield running


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

    # virtual time: Chromium dumps once the page's scripts and timers ran out, not at the
    # first paint (on a loaded machine the first dump could precede React's render)
    dom = run_chromium(
        chromium, tmp_path / "profile-dom", VIRTUAL_TIME, "--dump-dom", url
    ).stdout.decode()
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
        VIRTUAL_TIME,
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


# -------------------------------------------------------- hostile data: data, never markup

# Each payload, if it ever runs, marks the document (``<html data-pwned="1">``, visible in
# Chromium's --dump-dom) as well as setting ``window.__pwned``.
PWN = "document.documentElement.dataset.pwned=1,window.__pwned=1"
HOSTILE_CATEGORIES = (
    f"</script><script>{PWN}</script>",
    f'<img src=x onerror="{PWN}">',
    f"\"'><svg onload={PWN}>",
    "line\u2028separator\u2029paragraph",
    "]]>",
    "<!--",
    f"<!--<script>{PWN}</script>",  # in a <script>, "<!--<script>" makes "</script>" not end it
    "<b>x</b>",  # plotly would draw this bold
    '<a href="https://example.invalid/">link</a>',  # ... and this as a link
    "a&amp;b &lt;i&gt;",  # entities must stay the text they are
)
HOSTILE_NUMERICAL = f"num</script><script>{PWN}</script>"
HOSTILE_CATEGORICAL = f'cat<img src=x onerror="{PWN}">'
HOSTILE_PREDICTION = f"\"'><svg onload={PWN}>]]><!--"
HOSTILE_MODEL = f'm</title><img src=x onerror="{PWN}">\u2028'
HOSTILE_SOURCE = f"/data/</script><script>{PWN}</script>/\"'><svg onload={PWN}>/<!--.csv"


@dataclass(frozen=True)
class HostileReport:
    page: str
    profile: ReferenceProfile
    report: DriftReport


@pytest.fixture(scope="module")
def hostile() -> HostileReport:
    """The page of a report whose column names, categories (a categorical feature and a
    categorical prediction, whose chart shows every category), model name and reference
    source are hostile strings."""
    rng = np.random.default_rng(7)

    def frame(n: int, shift: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                HOSTILE_NUMERICAL: rng.normal(shift, 1, n),
                HOSTILE_CATEGORICAL: rng.choice(HOSTILE_CATEGORIES, n),
                HOSTILE_PREDICTION: rng.choice(HOSTILE_CATEGORIES, n),
            }
        )

    reference, current = frame(400, 0.0), frame(200, 1.0)
    roles, options = build_options(
        None,
        None,
        {
            "numerical": [HOSTILE_NUMERICAL],
            "categorical": [HOSTILE_CATEGORICAL],
            "prediction": HOSTILE_PREDICTION,
            "prediction_type": "categorical",
        },
    )
    profile = build_profile(reference, roles, HOSTILE_SOURCE)
    window = window_from_frame(profile, current)
    report = evaluate(HOSTILE_MODEL, profile, window.snapshot(), options, window.size)
    return HostileReport(drift_report_html(profile, report, current), profile, report)


class PageParts(HTMLParser):
    """What the HTML parser makes of a page: its elements (tag, attributes), the body of each
    script, and the text outside scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.texts: list[str] = []
        self._raw: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._raw = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._raw is not None:
            self.scripts.append(self._raw)
        if tag in ("script", "style"):
            self._raw = None

    def handle_data(self, data: str) -> None:
        if self._raw is not None:
            self._raw += data
        elif data.strip():
            self.texts.append(data)

    @classmethod
    def of(cls, page: str) -> PageParts:
        parser = cls()
        parser.feed(page)
        parser.close()
        return parser

    def meta_csp(self) -> dict[str, list[str]]:
        """The page's ``<meta http-equiv="Content-Security-Policy">``, by directive."""
        (content,) = [
            attrs["content"] or ""
            for tag, attrs in self.tags
            if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"
        ]
        return csp_directives(content)


def csp_directives(policy: str) -> dict[str, list[str]]:
    return {
        name: values
        for name, *values in (part.split() for part in policy.split(";") if part.strip())
    }


def data_script(page: str) -> str:
    """The body of the script that defines evidently's dashboard data."""
    (body,) = [s for s in PageParts.of(page).scripts if re.match(r"\s*var metric_\w+ = ", s)]
    return body


@pytest.mark.parametrize("value", [*HOSTILE_CATEGORIES, HOSTILE_MODEL, HOSTILE_SOURCE])
def test_script_json_has_no_character_that_can_leave_a_script(value: str) -> None:
    encoded = script_json({value: [value, {"v": value}]})
    assert not set(encoded) & set("<>&\u2028\u2029")
    assert json.loads(encoded) == {value: [value, {"v": value}]}


def test_plotly_text_escapes_only_the_strings_of_plotly_figures() -> None:
    trace = {"x": np.array(["<b>x</b>", "a&b"]), "y": pd.Series(["<i>", 2.5], dtype=object)}
    figure = {"data": [trace], "layout": {"title": {"text": "<b>x</b>"}}}
    widget = {"params": figure, "title": "<b>x</b>", "rows": [{"column_name": "<b>x</b>"}]}
    assert plotly_text(widget) == {
        "params": {
            "data": [{"x": ["&lt;b&gt;x&lt;/b&gt;", "a&amp;b"], "y": ["&lt;i&gt;", 2.5]}],
            "layout": {"title": {"text": "&lt;b&gt;x&lt;/b&gt;"}},
        },
        "title": "<b>x</b>",  # React shows these as text: no escaping
        "rows": [{"column_name": "<b>x</b>"}],
    }
    assert trace["x"][0] == "<b>x</b>"  # the input is left as it was


def test_hostile_data_stays_inside_the_data_script(hostile: HostileReport) -> None:
    """Fast (no browser): the data script has no raw "<" at all (so no "</script" nor "<!--"),
    the page has no element but ours and evidently's, and the data reads back unchanged."""
    body = data_script(hostile.page)
    assert "<" not in body
    assert ">" not in body
    assert "\u2028" not in body
    assert "\u2029" not in body
    parts = PageParts.of(hostile.page)
    expected_tags = {"html", "head", "meta", "title", "style", "script", "body", "div"}
    expected_tags |= {"section", "h1", "p", "ul", "li", "footer"}
    assert {tag for tag, _ in parts.tags} <= expected_tags
    assert not any(name.startswith("on") for _, attrs in parts.tags for name in attrs)
    assert len(parts.scripts) == 4  # the data, "var global", the bundle, drawDashboard

    data = dashboard(hostile.page)  # what the browser's JavaScript gets
    assert set(drift_table(data)) == {HOSTILE_NUMERICAL, HOSTILE_CATEGORICAL}
    assert f"Drift in column '{HOSTILE_PREDICTION}'" in counters(data)
    shown_categories = {
        value
        for widget in widgets(data)
        for trace in (widget["params"] or {}).get("data", [])
        if isinstance(trace, dict) and isinstance(trace.get("x"), list)
        for value in trace["x"]
        if isinstance(value, str)
    }
    # plotly's entity-escaped form of each category, which plotly draws as the category
    assert shown_categories >= {html.escape(c, quote=False) for c in HOSTILE_CATEGORIES}

    # what we wrote ourselves: the title, the header (model name, source) as text
    assert parts.texts.count(f"Drift report: {HOSTILE_MODEL}") == 2  # <title> and <h1>
    assert any(HOSTILE_SOURCE in text for text in parts.texts)
    assert any(f"GET /v1/models/{HOSTILE_MODEL}/drift" in text for text in parts.texts)


def test_only_the_pages_own_scripts_may_run(hostile: HostileReport) -> None:
    """The page's <meta> policy names each of its scripts by hash, and nothing else."""
    parts = PageParts.of(hostile.page)
    policy = parts.meta_csp()
    assert sorted(policy["script-src"]) == sorted(script_hashes(parts.scripts))
    assert policy["default-src"] == ["'none'"]
    head = hostile.page[: hostile.page.index("<script")]
    assert 'http-equiv="Content-Security-Policy"' in head  # before any script


def test_report_headers() -> None:
    assert REPORT_HEADERS["X-Content-Type-Options"] == "nosniff"
    assert REPORT_HEADERS["Referrer-Policy"] == "no-referrer"
    policy = csp_directives(REPORT_HEADERS["Content-Security-Policy"])
    for directive in ("default-src", "base-uri", "form-action", "frame-ancestors"):
        assert policy[directive] == ["'none'"], directive
    sources = {source for values in policy.values() for source in values}
    assert "'unsafe-eval'" not in sources
    assert not {s for s in sources if s.startswith(("http", "*")) or "." in s}  # no host at all


def test_the_data_is_evidentlys_own() -> None:
    """Parity: with harmless data, the data we embed is what evidently would embed itself."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    rng = np.random.default_rng(11)
    frames = [
        pd.DataFrame({"x": rng.normal(shift, 1, 300), "c": rng.choice(["a", "b", "c"], 300)})
        for shift in (0.0, 0.5)
    ]
    definition = DataDefinition(numerical_columns=["x"], categorical_columns=["c"])
    snapshot = Report([DataDriftPreset()]).run(
        *(Dataset.from_pandas(frame, data_definition=definition) for frame in frames)
    )
    theirs = snapshot.get_html_str(as_iframe=False)
    template, body = evidently_page_parts(snapshot)
    ours = template.replace(NO_DATA, f"<script>{body}</script>")

    def data(page: str) -> tuple[Any, Any]:
        match = re.search(
            r"var (metric_\w+) = (\{.*?\});\s*var additional_graphs_\1 = (\{.*?\});\s*</script>",
            page,
            re.S,
        )
        assert match is not None
        nan = "NaN"  # NaN != NaN: compare a stand-in
        dashboard = json.loads(match.group(2), parse_constant=lambda _: nan)
        dashboard["widgets"][0]["id"] = None  # the group around the widgets: new id per render
        return dashboard, json.loads(match.group(3), parse_constant=lambda _: nan)

    assert data(ours) == data(theirs)
    assert len(PageParts.of(ours).scripts) == len(PageParts.of(theirs).scripts)


def load_in_chromium(chromium: str, url: str, profile: Path) -> tuple[str, str]:
    """The DOM of ``url`` once its scripts ran (and virtual time ran out), and Chromium's log
    (with the console: CSP violations are reported there)."""
    done = run_chromium(
        chromium,
        profile,
        "--enable-logging=stderr",
        "--v=0",
        VIRTUAL_TIME,
        "--dump-dom",
        url,
    )
    return done.stdout.decode(), done.stderr.decode(errors="replace")


def pwned(dom: str) -> bool:
    return any("data-pwned" in attrs for _, attrs in PageParts.of(dom).tags)


@pytest.mark.integration
def test_hostile_data_is_shown_as_text_and_never_runs_in_chromium(
    chromium: str, hostile: HostileReport, tmp_path: Path
) -> None:
    """The page served with REPORT_HEADERS: no payload ran, evidently rendered, every hostile
    string is on the page as the text it is, no CSP violation, nothing fetched."""
    with serve_page(hostile.page, REPORT_HEADERS) as served:
        dom, log = load_in_chromium(chromium, served.url, tmp_path / "profile")
        requests = [path for path in served.requests if path != "/favicon.ico"]
    assert not pwned(dom), "a script from the data ran"
    roots, text = RenderedText.of(dom)
    assert roots == 1, "evidently's root element is missing"
    shown = text.split(" | ")
    assert "Dataset Drift" in shown, text[:2000]
    assert HOSTILE_NUMERICAL in shown  # the drift table (React)
    assert HOSTILE_CATEGORICAL in shown
    assert f"Drift in column '{HOSTILE_PREDICTION}'" in shown
    missing = [c for c in HOSTILE_CATEGORIES if c not in shown]  # the chart's ticks (plotly)
    assert not missing, f"not shown as text: {missing}; shown: {text[:3000]}"
    page = PageParts.of(dom)
    assert f"Drift report: {HOSTILE_MODEL}" in page.texts  # <h1> (and the <title>)
    assert any(HOSTILE_SOURCE in t for t in page.texts)
    assert "Content Security Policy" not in log, log[-3000:]
    assert requests == [PAGE_PATH]


@pytest.mark.integration
def test_the_pages_policy_stops_a_script_that_got_in(
    chromium: str, hostile: HostileReport, tmp_path: Path
) -> None:
    """Second wall: a script and an event handler slipped into the page (as a bug in the
    escaping would) do not run, while evidently's own scripts do. Control: the same page
    without its <meta> policy (the route's header alone allows inline scripts) runs them."""
    end = hostile.page.rindex("</body>")
    injected = f'<script>{PWN}</script><img src="data:," onerror="{PWN}">'
    page = hostile.page[:end] + injected + hostile.page[end:]
    meta = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*>')
    assert len(meta.findall(page)) == 1
    with serve_page(page, REPORT_HEADERS) as served:
        dom, log = load_in_chromium(chromium, served.url, tmp_path / "guarded")
    assert not pwned(dom)
    assert RenderedText.of(dom)[0] == 1
    assert "Dataset Drift" in RenderedText.of(dom)[1].split(" | ")
    assert "Content Security Policy" in log  # the attempt was blocked, and reported

    with serve_page(meta.sub("", page), REPORT_HEADERS) as served:
        dom, _ = load_in_chromium(chromium, served.url, tmp_path / "control")
    assert pwned(dom), "the check cannot see a script run: it proves nothing"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's, on the way to evidently's error
def test_a_window_evidently_cannot_draw_is_a_409_cached_per_evaluation() -> None:
    """Values of 1e200 make evidently's histograms overflow (found by the fuzz test): the route
    answers 409 report_failed, once rendered per evaluation, and the service keeps answering."""
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ref.csv"
        pd.DataFrame({"x1": rng.normal(size=300), "x2": rng.normal(size=300)}).to_csv(
            path, index=False
        )
        settings = settings_from_mapping(
            {
                "models": {
                    "m": {
                        "reference": {"path": str(path)},
                        "columns": {"numerical": ["x1", "x2"]},
                        "window": {"size": 100, "step": 100},
                    }
                }
            }
        )
        svc = DriftService(settings)
        svc.start(load_in_background=False)
        try:
            app = create_app(svc, manage_lifecycle=False)
            samples = [{"features": {"x1": 1e200, "x2": 1.0}} for _ in range(100)]
            with TestClient(app) as client:
                assert client.post("/v1/models/m/samples", json={"samples": samples}).is_success
                deadline = time.monotonic() + 10
                while client.get("/v1/models/m/drift").status_code != 200:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
                for _ in range(2):
                    answer = client.get("/v1/models/m/report")
                    assert answer.status_code == 409, answer.text
                    assert answer.json()["error"] == "report_failed"
                assert app.state.report_pages.renders("m") == 1  # the failure is kept
                assert client.get("/healthz").status_code == 200
        finally:
            svc.stop()
