"""Start-up cost (issue 21): what the service imports before it is ready, and what an evaluation
with the default methods needs. Each check runs in a fresh interpreter and reads
``sys.modules``, since this test process has imported everything already."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy.spatial import distance

from drift.core.stattests.core import jensenshannon_distance

#: modules the configured models do not need at start-up; imported on first use
HEAVY = (
    "scipy.stats",
    "scipy.spatial",
    "evidently",
    "clearml",
    "confluent_kafka",
    "slack_sdk",
    "boto3",
    "botocore",
)


def imported_after(code: str) -> list[str]:
    """The heavy modules in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules "
        "if any(m == h or m.startswith(h + '.') for h in heavy))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    found: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize(
    "module",
    ["drift", "drift.core.comparison", "drift.service.app", "drift.service.server", "drift.cli"],
)
def test_importing_the_service_imports_no_heavy_module(module: str) -> None:
    assert imported_after(f"import {module}") == []


def test_an_evaluation_with_the_default_methods_needs_no_scipy_stats() -> None:
    code = """
import numpy as np, pandas as pd
import drift
rng = np.random.default_rng(0)
def frame(n, shift):
    return pd.DataFrame({"x": rng.normal(shift, 1, n), "k": rng.choice(["a", "b", "c"], n),
                         "few": rng.choice([1.0, 2.0, 3.0], n)})
report = drift.compare(frame(2000, 0), frame(500, 1), numerical=["x", "few"], categorical=["k"])
assert {c.method for c in report.columns} == {"wasserstein", "jensenshannon"}, report.columns
"""
    assert imported_after(code) == []


def test_a_method_imports_scipy_on_first_use() -> None:
    code = """
import pandas as pd
import drift
ref = pd.DataFrame({"x": [float(i % 7) for i in range(50)]})
drift.compare(ref, ref.iloc[:20], numerical=["x"], categorical=[], method="ks")
"""
    assert "scipy.stats" in imported_after(code)


@pytest.mark.parametrize("size", [1, 2, 7, 1000])
def test_jensenshannon_is_scipy_s_bit_for_bit(size: int) -> None:
    rng = np.random.default_rng(size)
    for _ in range(20):
        p, q = rng.random(size), rng.random(size)
        p[rng.random(size) < 0.3] = 0.0  # shares of categories one sample lacks
        p[0] += 0.1
        expected = float(distance.jensenshannon(p, q))
        got = jensenshannon_distance(p, q)
        assert got == expected
