"""What every test that starts or needs a real component does when that component is missing:
under ``CI=true`` the test fails (CI must prove the integration), elsewhere it is skipped."""

from __future__ import annotations

import importlib
import os
import subprocess
import warnings
from typing import Any, NoReturn

import pytest


def missing_component(message: str) -> NoReturn:
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
