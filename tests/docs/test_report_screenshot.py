"""docs/img/report.png is what headless Chromium draws of a real sidecar's HTML report today.

``docs/gen_report_screenshot.py`` runs again into a temporary file (a real sidecar, the example
model's drifted traffic, Chromium); the result must be a drawn page (not blank, not an error
page) and look like the committed image: same size, and close pixel by pixel once both are
shrunk (the evaluation time and the reference's version hash differ from run to run). Needs
Chromium and evidently: missing, the test skips, and fails under CI=true."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

from tests.components import missing_component
from tests.docs.blocks import DOCS, ROOT

COMMITTED = DOCS / "img" / "report.png"
SCRIPT = ROOT / "docs" / "gen_report_screenshot.py"
#: mean absolute difference of the shrunk grayscale images, 0-255 (two runs: ~0.02; the image
#: upside down: ~16)
TOLERANCE = 3.0


def _gray(path: Path) -> tuple[tuple[int, int], list[int]]:
    from PIL import Image

    with Image.open(path) as image:
        size = image.size
        small = image.convert("L").resize((128, 200))
        return size, list(small.tobytes())


def test_the_committed_screenshot_is_current(tmp_path: Path) -> None:
    if shutil.which("chromium") is None:
        missing_component("chromium is not on PATH (apt-get install -y chromium)")
    if importlib.util.find_spec("evidently") is None:
        missing_component("evidently is not installed (pip install -e '.[report]')")
    spec = importlib.util.spec_from_file_location("gen_report_screenshot", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    gen_report_screenshot = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = gen_report_screenshot
    spec.loader.exec_module(gen_report_screenshot)
    fresh = tmp_path / "report.png"
    gen_report_screenshot.screenshot(fresh)
    size, pixels = _gray(fresh)
    committed_size, committed = _gray(COMMITTED)
    assert size == committed_size == gen_report_screenshot.WINDOW
    assert max(pixels) - min(pixels) > 128, "a blank page"
    assert sum(p < 200 for p in pixels) > len(pixels) // 50, "hardly any text or chart drawn"
    difference = sum(abs(a - b) for a, b in zip(pixels, committed, strict=True)) / len(pixels)
    assert difference < TOLERANCE, (
        f"the report looks different ({difference:.1f}): run "
        ".venv/bin/python docs/gen_report_screenshot.py and review docs/img/report.png"
    )
