"""What one uvicorn worker can serve before any sidecar work: the ceiling of the CloudEvents
benchmark on this machine.

Two servers that answer every request at once with a fixed 200 JSON body, each pinned to CPU 0
and driven by the ingestion benchmark's load generator (``benchmarks/loadgen.py --scenario
cloudevents``, the same KServe events and connections) pinned to CPU 1:

- ``asgi``: an empty ASGI app under uvicorn (uvloop, httptools, no proxy-headers middleware),
  i.e. the cost of uvicorn's HTTP server and ASGI cycle alone;
- ``fastpath``: ``drift.service.fastpath``'s protocol with an endpoint that only answers, i.e.
  the cost of uvicorn's parser and the sidecar's fast path without the CloudEvents work.

Run from the repository root::

    .venv/bin/python -m benchmarks.http_ceiling --duration 20

A report, not a test: it prints requests/s (and pairs/s: two requests per pair), latency and CPU
of both processes. When the load generator's CPU is near 100%, the number is its limit, not the
server's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.ingest import cpu_seconds, free_port, pinned

ROOT = Path(__file__).resolve().parent.parent
ANSWER = b'{"outcome":"waiting","model":"bench"}'


async def empty_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    message = await receive()
    while message.get("more_body"):
        message = await receive()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ANSWER))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": ANSWER})


def serve(kind: str, port: int) -> None:
    import uvicorn

    options: dict[str, Any] = {}
    if kind == "fastpath":
        from drift.service import fastpath
        from drift.service.cloudevents import Reply

        reply = Reply(200, json.loads(ANSWER), ANSWER)

        class AnswerOnly:
            """The attributes and methods of CloudEventsEndpoint the protocol uses."""

            paths = frozenset(["/", "/v1/cloudevents"])
            limit = 10 * 1024 * 1024

            def answer_parts(self, attrs: Any, content_type: Any, body: Any) -> Reply:
                return reply

        options["http"] = fastpath.protocol_for(AnswerOnly())  # type: ignore[arg-type]
    uvicorn.run(
        empty_app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        **options,
    )


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def measure(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.http_ceiling", "--serve", kind, "--port", str(port)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        preexec_fn=pinned(0),
    )
    try:
        wait_listening(port, server)
        cpu0 = cpu_seconds(server.pid)
        print(
            f"[{kind}] server pid {server.pid} on CPU 0, load for {args.duration} s",
            file=sys.stderr,
        )
        load = subprocess.run(
            [
                *(sys.executable, "-m", "benchmarks.loadgen", "--port", str(port)),
                *("--scenario", "cloudevents", "--connections", str(args.connections)),
                *("--duration", str(args.duration), "--warmup", str(args.warmup)),
                *("--interval", str(args.duration)),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            preexec_fn=pinned(1),
        )
        server_cpu = cpu_seconds(server.pid) - cpu0
    finally:
        server.terminate()
        server.wait(10)
    final = next(
        data for data in map(json.loads, load.stdout.splitlines()) if data["kind"] == "final"
    )
    elapsed = float(final["elapsed"])
    return {
        "kind": kind,
        "requests_per_s": final["requests"] / final["seconds"],
        "p50": final["p50"],
        "p99": final["p99"],
        "non2xx": final["total_non2xx"] + final["errors"],
        "server_cpu": server_cpu / elapsed,
        "client_cpu": float(final["cpu"]) / elapsed,
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds per server")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--connections", type=int, default=64, help="as the CloudEvents scenario")
    p.add_argument("--serve", choices=["asgi", "fastpath"], help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port)
        return 0
    if not hasattr(os, "sched_setaffinity"):
        print("warning: no CPU pinning on this platform", file=sys.stderr)
    rows = [measure(kind, args) for kind in ("asgi", "fastpath")]
    print(
        f"\nuvicorn answering at once, {args.connections} connections, "
        f"{args.duration:.0f} s each\n\n"
        "| server | requests/s | pairs/s (2 requests) | p50 ms | p99 ms | server CPU "
        "| load generator CPU | failed |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    for r in rows:
        print(
            f"| {r['kind']} | {r['requests_per_s']:,.0f} | {r['requests_per_s'] / 2:,.0f} | "
            f"{r['p50'] * 1000:.2f} | {r['p99'] * 1000:.2f} | {r['server_cpu']:.0%} | "
            f"{r['client_cpu']:.0%} | {r['non2xx']} |"
        )
    return 0 if all(r["non2xx"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
