"""Regenerate ``docs/img/report.png``: the HTML report of a real sidecar, drawn by headless
Chromium.

A sidecar (``drift-sidecar serve``) starts on a free loopback port with the docs' example
model, takes the drifted traffic of ``docs/examples/current.csv``, evaluates it, and Chromium
screenshots ``GET /v1/models/credit-scoring/report``. Needs the ``report`` extra (evidently)
and Chromium (``apt-get install chromium``).

    .venv/bin/python docs/gen_report_screenshot.py             # rewrite docs/img/report.png
    .venv/bin/python docs/gen_report_screenshot.py --out X.png

``tests/docs/test_report_screenshot.py`` runs it and compares the result with the committed
image.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.chromium import chromium_command  # noqa: E402
from tests.components import stop_process, wait_for_ok  # noqa: E402

EXAMPLES = ROOT / "docs" / "examples"
OUTPUT = ROOT / "docs" / "img" / "report.png"
MODEL = "credit-scoring"
WINDOW = (1280, 2000)
CONFIG = f"""\
models:
  {MODEL}:
    reference: {{path: reference.csv}}
    columns: {{numerical: [age, income], categorical: [city], prediction: score}}
    window: {{size: 500, step: 100}}
"""
SCREENSHOT_FLAGS = (
    "--force-device-scale-factor=1",
    "--virtual-time-budget=20000",  # evidently draws its page with JavaScript
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _call(url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _samples() -> list[dict[str, Any]]:
    with (EXAMPLES / "current.csv").open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return [
        {
            "id": f"r{i}",
            "features": {"age": float(r["age"]), "income": float(r["income"]), "city": r["city"]},
            "prediction": float(r["score"]),
        }
        for i, r in enumerate(rows)
    ]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("no Chromium on PATH (apt-get install -y --no-install-recommends chromium)")


def screenshot(out: Path) -> None:
    """Start a sidecar, drift it, and write Chromium's screenshot of its report to ``out``."""
    browser = chromium()
    with tempfile.TemporaryDirectory(prefix="drift-docs-") as tmp:
        home = Path(tmp)
        shutil.copy(EXAMPLES / "reference.csv", home / "reference.csv")
        (home / "config.yaml").write_text(CONFIG, encoding="utf-8")
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        script = Path(sys.executable).with_name("drift-sidecar")
        command = [str(script), "serve", "--config", "config.yaml"]
        log = home / "sidecar.log"
        with log.open("wb") as stream:
            sidecar = subprocess.Popen(
                [*command, "--host", "127.0.0.1", "--port", str(port)],
                cwd=home,
                stdout=stream,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            wait_for_ok(f"{base}/readyz", sidecar, 30, log=log)
            _call(f"{base}/v1/models/{MODEL}/samples", {"samples": _samples()})
            wait_for_ok(f"{base}/v1/models/{MODEL}/drift", sidecar, 30, log=log)
            report = f"{base}/v1/models/{MODEL}/report"
            wait_for_ok(report, sidecar, 60, log=log)  # rendered once, then cached
            subprocess.run(
                chromium_command(
                    browser,
                    home / "chromium",
                    *SCREENSHOT_FLAGS,
                    f"--window-size={WINDOW[0]},{WINDOW[1]}",
                    f"--screenshot={out}",
                    report,
                ),
                check=True,
                capture_output=True,
                timeout=120,
            )
        finally:
            stop_process(sidecar)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="screenshot of the sidecar's HTML report")
    parser.add_argument("--out", type=Path, default=OUTPUT, help=f"default: {OUTPUT}")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    screenshot(args.out.resolve())
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
