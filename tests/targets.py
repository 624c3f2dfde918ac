"""A scrape target for tests: a stdlib HTTP server in a thread that records what it served."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class MetricsTarget:
    """Serves ``body_fn(n)`` at /metrics, ``n`` counting scrapes from 1."""

    def __init__(
        self, body_fn: Callable[[int], str], content_type: str = "text/plain; version=0.0.4"
    ) -> None:
        self.body_fn = body_fn
        self.content_type = content_type
        self.served: list[int] = []
        self._lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                with target._lock:
                    n = len(target.served) + 1
                    target.served.append(n)
                    body = target.body_fn(n).encode()
                self.send_response(200)
                self.send_header("Content-Type", target.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
