"""A real HTTP server on 127.0.0.1 that records every request and answers from a script of
(status, headers, body) responses, then 200 ``ok`` once the script is used up. Used as the Slack
webhook / Web API endpoint in the alerting tests (slack-sdk talks to it over real HTTP)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Recorded:
    at: float  # time.monotonic() when the request arrived
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the server answered

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RecordingServer:
    url: str
    script: list[tuple[int, dict[str, str], str]]
    ok_body: str = "ok"
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def delivered(self) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.status == 200]


@contextmanager
def recording_server(
    script: list[tuple[int, dict[str, str], str]] | None = None,
    ok_body: str = "ok",
    always: tuple[int, dict[str, str], str] | None = None,
) -> Iterator[RecordingServer]:
    """Serve until the block ends. ``always``: answer every request with this (never recovers)."""
    state = RecordingServer(url="", script=list(script or []), ok_body=ok_body)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with state.lock:
                if always is not None:
                    status, headers, text = always
                elif state.script:
                    status, headers, text = state.script.pop(0)
                else:
                    status, headers, text = 200, {}, state.ok_body
                state.requests.append(
                    Recorded(time.monotonic(), "POST", self.path, dict(self.headers), body, status)
                )
            payload = text.encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
