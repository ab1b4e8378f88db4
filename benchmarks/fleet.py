"""Fleet mode on a real Kafka-protocol broker (tansu): aggregator throughput, end-to-end latency,
handover time after ``kill -9``.

``.venv/bin/python benchmarks/fleet.py [--samples 200000] [--window 100000] [--trials 40]``

- **Throughput**: ``--samples`` samples of 25 features (20 numerical, 5 string categorical) are
  produced to the samples topic as messages of 100 samples (the shippers' format) *before* an
  aggregator starts, pinned to one core (``taskset -c 0``) with a count window of ``--window``
  and a step of 10,000; timed from its first applied message to its ``drift_samples_total``
  reaching the total (``/metrics`` polled every 50 ms). Target: >= 100,000 samples/s.
- **End-to-end latency**: with the aggregator idle, ``--trials`` times (after one to warm up the
  connections): POST 100 samples to a
  shipper (model ``lat``: window 1,000, step 100, no rate limit on evaluations, so each POST is
  one evaluation), then poll the
  aggregator's ``/v1/models/lat/drift`` every 2 ms until its ``samples_seen`` includes them.
  Reports p50 / p99 from the POST to the verdict that includes the samples.
- **Handover**: a second aggregator joins; the one owning ``m1`` (a full ``--window`` window) is
  killed with SIGKILL; timed until the other answers ``/v1/models/m1/drift`` with the full window
  (session timeout 6 s + the replay). Target: under 15 s for a 100k window.

Prints a markdown report on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.footprint import free_port, sidecar_command
from benchmarks.workload import CATEGORICAL, NUMERICAL, PREDICTED_CLASS, workload
from tests.integration.fleet_components import SAMPLES, start_broker

BATCH = 100


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def columns_yaml() -> str:
    return (
        f"{{numerical: [{', '.join(NUMERICAL)}], categorical: [{', '.join(CATEGORICAL)}], "
        f"prediction: {PREDICTED_CLASS}, prediction_type: categorical}}"
    )


def write_config(home: Path, name: str, role: str, bootstrap: str, window: int, cols: str) -> Path:
    path = home / f"{name}.yaml"
    path.write_text(
        f"server: {{log_level: warning}}\n"
        f"fleet: {{role: {role}, bootstrap_servers: '{bootstrap}', session_timeout_ms: 6000, "
        "commit_seconds: 1, linger_ms: 2}\n"
        "models:\n"
        "  m1:\n"
        f"    reference: {{path: {home / 'reference.parquet'}}}\n"
        f"    columns: {cols}\n"
        f"    window: {{size: {window}, step: 10000}}\n"
        "  lat:\n"
        f"    reference: {{path: {home / 'reference.parquet'}}}\n"
        f"    columns: {cols}\n"
        "    window: {size: 1000, step: 100, min_seconds_between_evaluations: 0}\n",
        encoding="utf-8",
    )
    return path


def start(config: Path, log: Path, pin: bool = False) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [*sidecar_command(), "serve", "--config", str(config), "--port", str(port)]
    command += ["--host", "127.0.0.1"]
    if pin and shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{config.name} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{config.name} not ready: {log.read_text()[-2000:]}")


def samples_total(url: str, model: str = "m1") -> float:
    want = f'drift_samples_total{{model="{model}"}} '
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith(want):
            return float(line.split()[-1])
    return 0.0


def rows_of(frame: Any) -> list[dict[str, Any]]:
    features = frame[[*NUMERICAL, *CATEGORICAL]].to_dict("records")
    return [
        {"features": f, "prediction": p}
        for f, p in zip(features, frame[PREDICTED_CLASS].tolist(), strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--window", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="drift-fleet-bench-"))
    reference = workload(20_000, drifted=False, seed=1)
    reference.to_parquet(home / "reference.parquet")
    cols = columns_yaml()
    traffic = workload(args.samples, drifted=True, seed=2)
    processes: list[subprocess.Popen[bytes]] = []
    broker = start_broker(home / "tansu")
    try:
        from confluent_kafka import Producer

        say(f"producing {args.samples} samples in messages of {BATCH}")
        producer = Producer(
            {
                "bootstrap.servers": broker.bootstrap,
                "partitioner": "murmur2_random",
                "linger.ms": 20,
                "enable.idempotence": True,
            }
        )
        rows = rows_of(traffic)
        for i in range(0, len(rows), BATCH):
            producer.produce(
                SAMPLES, key=b"m1", value=orjson.dumps({"samples": rows[i : i + BATCH]})
            )
            if i % 20_000 == 0:
                producer.poll(0)
        assert producer.flush(60) == 0

        say("throughput: one aggregator on one core")
        agg = write_config(home, "agg0", "aggregator", broker.bootstrap, args.window, cols)
        p0, url0 = start(agg, home / "agg0.log", pin=True)
        processes.append(p0)
        first = None
        while True:
            seen = samples_total(url0)
            now = time.perf_counter()
            if seen > 0 and first is None:
                first = (now, seen)
            if seen >= args.samples:
                break
            time.sleep(0.05)
        assert first is not None
        rate = (args.samples - first[1]) / (now - first[0]) if now > first[0] else float("inf")

        say("end-to-end latency through a shipper")
        ship = write_config(home, "ship", "shipper", broker.bootstrap, args.window, cols)
        ps, urls = start(ship, home / "ship.log")
        processes.append(ps)
        batch = rows_of(workload(BATCH * (args.trials + 1), drifted=False, seed=3))
        latencies = []
        with httpx.Client(timeout=10) as client:
            sent = 0
            for t in range(args.trials + 1):  # the first warms up: connections, producer id
                body = {"samples": batch[t * BATCH : (t + 1) * BATCH]}
                started = time.perf_counter()
                assert (
                    client.post(
                        f"{urls}/v1/models/lat/samples",
                        content=orjson.dumps(body),  # NaN as null, as a model server sends
                        headers={"content-type": "application/json"},
                    ).status_code
                    == 200
                )
                sent += BATCH
                while True:
                    response = client.get(f"{url0}/v1/models/lat/drift")
                    if (
                        response.status_code == 200
                        and response.json()["window"]["samples_seen"] >= sent
                    ):
                        break
                    time.sleep(0.002)
                if t:
                    latencies.append(time.perf_counter() - started)

        say("handover after kill -9")
        agg1 = write_config(home, "agg1", "aggregator", broker.bootstrap, args.window, cols)
        p1, url1 = start(agg1, home / "agg1.log")
        processes.append(p1)

        def owner_of_m1() -> tuple[subprocess.Popen[bytes], str, str] | None:
            for proc, url, other in ((p0, url0, url1), (p1, url1, url0)):
                r = httpx.get(f"{url}/v1/models/m1/drift", timeout=5)
                if r.status_code == 200 and r.json()["window"]["samples"] == min(
                    args.window, args.samples
                ):
                    return proc, url, other
            return None

        deadline = time.monotonic() + 120
        found = None
        while found is None and time.monotonic() < deadline:
            found = owner_of_m1()
            time.sleep(0.2)
        assert found is not None, "no aggregator reports m1 after the second one joined"
        time.sleep(2.5)  # records and commits
        victim, _url, survivor = found
        victim.kill()
        victim.wait()
        killed = time.perf_counter()
        while True:
            r = httpx.get(f"{survivor}/v1/models/m1/drift", timeout=5)
            if r.status_code == 200 and r.json()["window"]["samples"] == min(
                args.window, args.samples
            ):
                break
            time.sleep(0.02)
        handover = time.perf_counter() - killed
    finally:
        for proc in processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        broker.running.process.kill()
        shutil.rmtree(home, ignore_errors=True)

    cpu = platform.processor() or platform.machine()
    p50 = statistics.median(latencies)
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) >= 2 else latencies[0]
    print(f"## Fleet mode ({os.cpu_count()} cores, {cpu}, tansu 0.6 in memory)\n")
    print("| measure | result | target |")
    print("|---|---|---|")
    print(
        f"| aggregator throughput, 1 core, 25 features, messages of {BATCH} | "
        f"{rate:,.0f} samples/s | >= 100,000 |"
    )
    print(
        f"| produce -> verdict including the samples, p50 / p99 ({args.trials} trials) | "
        f"{p50 * 1000:.0f} / {p99 * 1000:.0f} ms | |"
    )
    print(
        f"| handover after kill -9, {min(args.window, args.samples):,}-sample window "
        f"(session timeout 6 s) | {handover:.1f} s | < 15 s |"
    )


if __name__ == "__main__":
    main()
