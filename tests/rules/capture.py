"""A loopback HTTP server that records every POST (path, headers, JSON body) for tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class CaptureServer:
    """Answers every POST with ``status`` and keeps ``(path, headers, body)``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self._lock = threading.Lock()
        cap = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"null")
                with cap._lock:
                    cap.requests.append((self.path, dict(self.headers), body))
                self.send_response(cap.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def bodies(self) -> list[Any]:
        with self._lock:
            return [b for _, _, b in self.requests]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
