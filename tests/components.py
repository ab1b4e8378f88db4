"""What every test that starts or needs a real component does when that component is missing:
under ``CI=true`` the test fails (CI must prove the integration), elsewhere it is skipped.

And the child processes they start: wait for an HTTP 200, stop by PID. ``benchmarks/`` and
``docs/gen_report_screenshot.py`` use these too, so this module imports pytest only where a
test needs it."""

from __future__ import annotations

import importlib
import os
import subprocess
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any, NoReturn


def missing_component(message: str) -> NoReturn:
    import pytest

    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} - integration components are required under CI=true")
    pytest.skip(message)


def require(module: str, extra: str, quiet: bool = False) -> Any:
    """``import module``, or ``missing_component`` naming the extra that installs it (under
    ``CI=true`` a failure, where ``pytest.importorskip`` would skip). ``quiet`` ignores the
    warnings the import itself emits, as ``pytest.importorskip`` does."""
    try:
        with warnings.catch_warnings():
            # the clearml SDK imports urllib3.contrib.pyopenssl, which the urllib3-future that
            # grafana-client (dev extra) installs deprecates on import; not ours to fix
            warnings.filterwarnings("ignore", "'urllib3.contrib.pyopenssl'", DeprecationWarning)
            if quiet:
                warnings.simplefilter("ignore")
            return importlib.import_module(module)
    except ImportError:
        missing_component(f"{module} is missing: pip install -e '.[{extra}]'")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if the process has not stopped within ``timeout`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def wait_for_ok(
    url: str,
    process: subprocess.Popen[bytes],
    timeout: float,
    *,
    interval: float = 0.1,
    log: Path | None = None,
) -> None:
    """Poll ``GET url`` every ``interval`` seconds until it answers 200. ``RuntimeError`` (with
    the process output from ``log``) when ``process`` exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:
                if response.status == 200:
                    return
        except OSError:  # refused, reset, timed out, or an HTTP error status (URLError)
            pass
        if process.poll() is not None:
            problem = f"the process exited with {process.returncode} before {url} answered 200"
        elif time.monotonic() > deadline:
            problem = f"{url} did not answer 200 within {timeout:g} s"
        else:
            time.sleep(interval)
            continue
        output = "" if log is None else f"; output:\n{log.read_text(errors='replace')}"
        raise RuntimeError(problem + output)
