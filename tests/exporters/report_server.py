"""A loopback HTTP server that serves one HTML page with the given response headers.

For loading a rendered report in a real browser with the headers the sidecar's report route
sends (``REPORT_HEADERS``), without starting the sidecar. It records the path of every request,
so a test can check that the page fetched nothing else.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE_PATH = "/report"


@dataclass
class ServedPage:
    url: str
    requests: list[str] = field(default_factory=list)


@contextmanager
def serve_page(page: str, headers: Mapping[str, str]) -> Iterator[ServedPage]:
    """Serve ``page`` at ``ServedPage.url`` (127.0.0.1, a free port) with ``headers``; any other
    path is a 404. Stops the server on exit."""
    body = page.encode("utf-8")
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            if self.path != PAGE_PATH:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="report-server", daemon=True)
    thread.start()
    try:
        yield ServedPage(f"http://127.0.0.1:{server.server_port}{PAGE_PATH}", requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
