"""A local fake ESP for `sendwise bench dispatch`: SendGrid's /v3/mail/send shape, run as a subprocess.

It reads and decodes every request (as a real ESP would; with orjson, so that the fake ESP costs the
machine it shares with the dispatcher as little as possible), counts personalizations, answers 202
with an `X-Message-Id`, and reports the counts on `GET /count`. `python -m app.bench.fake_esp PORT`.
"""

from __future__ import annotations

import http.server
import sys
import threading
from typing import Any

import orjson

_lock = threading.Lock()
_counts = {"requests": 0, "personalizations": 0, "bytes": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a: Any) -> None:
        pass

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        data = orjson.loads(body) if body else {}
        with _lock:
            _counts["requests"] += 1
            _counts["personalizations"] += len(data.get("personalizations") or [])
            _counts["bytes"] += n
            rid = _counts["requests"]
        self.send_response(202)
        self.send_header("X-Message-Id", f"fake{rid}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        with _lock:
            out = orjson.dumps(_counts)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
