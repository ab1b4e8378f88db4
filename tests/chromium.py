"""Headless Chromium as the report tests (``tests/exporters/test_report_html.py``) and
``docs/gen_report_screenshot.py`` run it: no sandbox, GPU, network chatter, first-run pages or
scrollbars, and a fresh profile directory per run."""

from __future__ import annotations

from pathlib import Path

FLAGS = (
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


def chromium_command(browser: str, profile: Path, *args: str) -> list[str]:
    """``browser`` with ``FLAGS`` and the profile directory ``profile``, then ``args``."""
    return [browser, *FLAGS, f"--user-data-dir={profile}", *args]
