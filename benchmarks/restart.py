"""A restart with ``state:``: seconds from process start to ``/readyz`` 200 with a full
100,000-sample window restored, against the 2 s target of issue 15 and against the same start
without ``state`` (the ratio), and whether ``/drift`` answers the pre-restart verdict at once.

``.venv/bin/python benchmarks/restart.py [--repeats 3] [--window 100000]``

What it does: writes a CSV reference (20,000 rows: 10 numerical features, 2 string categorical
ones, a numerical prediction) and a config with one model, a count window of ``--window``
samples and ``state`` (``snapshot_seconds: 1``); starts a real ``drift-sidecar serve``, fills
the window by POSTs of 10,000 drifted samples, waits for the verdict over all of them and for a
snapshot that holds them, then ``kill -9``. Then, ``--repeats`` times each, interleaved: start
with ``state`` (the snapshot restored) and start without it (same config, no ``state``
section: the model starts empty), timing from ``Popen`` to the first 200 of ``/readyz``
(polled every 5 ms); after the start with state ``/drift`` is read once, at once, and must
equal the pre-restart body. Every process is ended by ``kill -9`` (the snapshot is not
rewritten by a stop). Prints a markdown report to stdout, progress to stderr; exit status 1
when ``/drift`` did not answer the pre-restart verdict, 0 otherwise (also when the time target
is missed: a report, not a test).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from footprint import free_port, sidecar_command

from drift.service.state import read_snapshot
from tests.components import wait_for_ok  # footprint put the repository root on sys.path

MODEL = "m"
NUMERICAL = [f"x{i}" for i in range(10)]
CATEGORICAL = ["c_small", "c_large"]
PREDICTION = "score"
REFERENCE_ROWS = 20_000
POST_ROWS = 10_000
TARGET_SECONDS = 2.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def frame(rng: np.random.Generator, n: int, drifted: bool) -> pd.DataFrame:
    shift = 0.7 if drifted else 0.0
    data: dict[str, Any] = {
        name: rng.normal(shift * (i % 2), 1.0 + i / 10, n) for i, name in enumerate(NUMERICAL)
    }
    data["c_small"] = rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1])
    data["c_large"] = np.char.add(
        "v", rng.zipf(1.6 if drifted else 1.4, n).clip(1, 500).astype(str)
    )
    data[PREDICTION] = 1 / (1 + np.exp(-(data["x0"] + data["x1"])))
    return pd.DataFrame(data)


def samples(rows: pd.DataFrame, prefix: str) -> list[dict[str, Any]]:
    out = []
    records = rows.to_dict("records")
    for i, row in enumerate(records):
        features = {k: row[k] for k in (*NUMERICAL, *CATEGORICAL)}
        out.append({"id": f"{prefix}{i}", "features": features, "prediction": row[PREDICTION]})
    return out


def write_config(directory: Path, window: int, state: bool) -> Path:
    state_lines = f"state:\n  dir: {directory / 'state'}\n  snapshot_seconds: 1\n" if state else ""
    path = directory / ("with-state.yaml" if state else "without-state.yaml")
    path.write_text(
        "server:\n  log_level: info\n  max_body_bytes: 67108864\n" + state_lines + "models:\n"
        f"  {MODEL}:\n"
        f"    reference: {{path: {directory / 'reference.csv'}, format: csv}}\n"
        f"    columns: {{numerical: [{', '.join(NUMERICAL)}], "
        f"categorical: [{', '.join(CATEGORICAL)}], prediction: {PREDICTION}, "
        "prediction_type: numerical}\n"
        f"    window: {{size: {window}, step: {window}, min_seconds_between_evaluations: 0}}\n",
        encoding="utf-8",
    )
    return path


def request(url: str, body: Any = None, timeout: float = 60.0) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {} if body is None else {"content-type": "application/json"}
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


class Sidecar:
    def __init__(self, config: Path, logfile: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [*sidecar_command(), "serve", "--config", str(config)]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        self.logfile = logfile
        with logfile.open("wb") as out:
            self.started = time.perf_counter()
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def ready(self, limit: float = 120.0) -> float:
        """Seconds from Popen to the first 200 of /readyz."""
        wait_for_ok(f"{self.url}/readyz", self.process, limit, interval=0.005, log=self.logfile)
        return time.perf_counter() - self.started

    def kill_9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


def fill(directory: Path, window: int) -> tuple[dict[str, Any], int]:
    """Fill a window, wait for its verdict and its snapshot, kill -9; the /drift body and the
    snapshot's size."""
    sidecar = Sidecar(write_config(directory, window, True), directory / "fill.log")
    try:
        sidecar.ready()
        rng = np.random.default_rng(2)
        for start in range(0, window, POST_ROWS):
            n = min(POST_ROWS, window - start)
            status, body = request(
                f"{sidecar.url}/v1/models/{MODEL}/samples",
                {"samples": samples(frame(rng, n, drifted=True), f"s{start}-")},
            )
            if status != 200 or body["accepted"] != n:
                raise RuntimeError(f"POST samples: {status} {body}")
        deadline = time.monotonic() + 120
        verdict = None
        while time.monotonic() < deadline:
            status, verdict = request(f"{sidecar.url}/v1/models/{MODEL}/drift")
            if status == 200 and verdict["window"]["samples_seen"] == window:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("no verdict over the whole window")
        path = directory / "state" / "models" / f"{MODEL}.zip"
        while time.monotonic() < deadline:
            try:
                part = read_snapshot(path).get("drift") or {}
                state = part.get("state") or {}
                if state.get("window", {}).get("samples") == window and state.get("latest"):
                    break
            except Exception:  # missing, or replaced while read: try again
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("no snapshot of the whole window")
        return verdict, path.stat().st_size
    finally:
        sidecar.kill_9()


def start_once(directory: Path, state: bool, window: int, i: int) -> tuple[float, Any]:
    name = "with" if state else "without"
    sidecar = Sidecar(write_config(directory, window, state), directory / f"{name}-{i}.log")
    try:
        seconds = sidecar.ready()
        answer: Any = None
        if state:
            status, answer = request(f"{sidecar.url}/v1/models/{MODEL}/drift")
            answer = answer if status == 200 else status
        return seconds, answer
    finally:
        sidecar.kill_9()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="drift-restart-") as tmp:
        directory = Path(tmp)
        frame(np.random.default_rng(1), REFERENCE_ROWS, drifted=False).to_csv(
            directory / "reference.csv", index=False
        )
        log(f"filling a window of {args.window:,} samples ...")
        before, snapshot_bytes = fill(directory, args.window)
        with_state: list[float] = []
        without: list[float] = []
        same = True
        for i in range(args.repeats):
            seconds, answer = start_once(directory, True, args.window, i)
            with_state.append(seconds)
            same = same and answer == before
            log(f"  start {i + 1}: with state {seconds:.3f} s, /drift same: {answer == before}")
            seconds, _ = start_once(directory, False, args.window, i)
            without.append(seconds)
            log(f"  start {i + 1}: without state {seconds:.3f} s")
    median_with, median_without = statistics.median(with_state), statistics.median(without)
    load = os.getloadavg()
    print(f"# Restart with state ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)\n")
    print(
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min) at the end\n"
    )
    print(
        f"Window {args.window:,} samples ({len(NUMERICAL)} numerical, {len(CATEGORICAL)} "
        f"categorical, 1 prediction), reference {REFERENCE_ROWS:,} rows (CSV); snapshot "
        f"{snapshot_bytes / 2**20:.1f} MiB; {args.repeats} starts each, interleaved.\n"
    )
    print("| start | min s | median s | max s |")
    print("|---|---|---|---|")
    for name, runs in (("with state (window restored)", with_state), ("without state", without)):
        print(f"| {name} | {min(runs):.3f} | {statistics.median(runs):.3f} | {max(runs):.3f} |")
    verdict = "PASS" if median_with <= TARGET_SECONDS else "FAIL"
    print(
        f"\n{verdict}: ready in {median_with:.3f} s (median) with a {args.window:,}-sample window "
        f"restored; target {TARGET_SECONDS:.0f} s"
    )
    print(f"ratio with / without state: {median_with / median_without:.2f}x (medians)")
    extra = statistics.median(a - b for a, b in zip(with_state, without, strict=True))
    print(
        f"what the restore adds: {extra:+.3f} s (median of the differences of the interleaved "
        "pairs, less sensitive to the machine's load than either median)"
    )
    print(
        "PASS: /drift answered the pre-restart verdict at once"
        if same
        else "FAIL: /drift did not answer the pre-restart verdict at once"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
