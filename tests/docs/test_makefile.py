"""What the Makefile tells a newcomer: ``make run``'s URLs, port override and CLI hint, the
``report`` extra it installs, ``make shell``, the message when ``python3 -m venv`` is missing,
and the docs build inside ``make test``. Dry runs (``make -n``) against a venv path that does
not exist, so nothing is installed; the missing-venv case runs for real with a Python whose
``venv``/``ensurepip`` cannot be imported (Debian without ``python3-venv``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.blocks import ROOT


def make(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    if shutil.which("make") is None:
        pytest.fail("make is not installed (apt-get install make)")
    result = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_make_run_prints_the_urls_port_override_and_cli(tmp_path: Path) -> None:
    out = make("-n", "run", "PORT=8123", f"VENV={tmp_path}/venv").stdout
    pages = ("/metrics", "/v1/models/diabetes/drift", "/v1/models/diabetes/report")
    for path in (*pages, "/v1/models/diabetes/estimation"):
        assert f"http://127.0.0.1:8123{path}" in out, path
    assert "make run PORT=8080" in out
    assert f"{tmp_path}/venv/bin/drift-sidecar --help" in out
    assert "make shell" in out
    assert f"{tmp_path}/venv/bin/drift-sidecar demo --host 127.0.0.1 --port 8123" in out
    # the demo links to its HTML report and estimates its model's error: the report extra
    # (evidently) and the estimation extra (LightGBM) are installed with it
    assert "pip install --quiet -e '.[demo,report,estimation]'" in out


def test_make_shell_activates_the_venv(tmp_path: Path) -> None:
    out = make("-n", "shell", f"VENV={tmp_path}/venv").stdout
    assert f". {tmp_path}/venv/bin/activate" in out


def test_a_missing_venv_module_is_named_with_the_debian_package(tmp_path: Path) -> None:
    fake = tmp_path / "python3"
    fake.write_text(
        "#!/bin/sh\n"
        "# a Python whose venv module is missing, like Debian without python3-venv\n"
        'case "$*" in *ensurepip*|*"-m venv"*)\n'
        '  echo "No module named ensurepip" >&2; exit 1;;\n'
        "esac\n"
        f'exec {sys.executable} "$@"\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    venv = tmp_path / "venv"
    result = make("run", f"VENV={venv}", f"PYTHON={fake}", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "-m venv' is unavailable" in output
    assert "sudo apt-get install python3-venv" in output
    assert not venv.exists()


def test_make_test_builds_the_docs_strictly_after_pytest(tmp_path: Path) -> None:
    out = make("-n", "test", f"VENV={tmp_path}/venv").stdout.splitlines()
    pytest_line = next(i for i, line in enumerate(out) if line.endswith("/bin/pytest"))
    generate = next(i for i, line in enumerate(out) if "docs/gen_reference.py" in line)
    build = next(i for i, line in enumerate(out) if "mkdocs build --strict" in line)
    assert pytest_line < generate < build
    assert "--site-dir site" in out[build]
    assert "site/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
