"""A local fake ESP (SendGrid's mail/send shape) that misbehaves on cue: status codes, slowness, dropped connections."""

from __future__ import annotations

import http.server
import json
import re
import socket
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fake_esp import FakeESP

# Actions, one per call (later calls get `default`):
#   ("ok",)                     accept (202)
#   ("status", code, headers)   answer `code` with those headers; nothing accepted
#   ("slow", seconds)           accept, but answer after `seconds`
#   ("drop_before",)            close the connection before reading the request: nothing accepted
#   ("drop_after",)             read and accept the request, then close without answering


_QUERY_ID = re.compile(r"unique_args\['message_id'\]=\"([0-9a-f]{32})\"")


class FaultyESP:
    """`query`: whether SendGrid's Email Activity API (GET /v3/messages) answers from what was accepted,
    or refuses with 403 as for an account without the add-on."""

    def __init__(self, script: list[tuple[Any, ...]] | None = None, default: tuple[Any, ...] = ("ok",),
                 query: bool = False):
        self.script = list(script or [])
        self.default = default
        self.query = query
        self.queries: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.calls: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        me = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                found = _QUERY_ID.findall(parse_qs(urlsplit(self.path).query).get("query", [""])[0])
                with me.lock:
                    me.queries.extend(found)
                    accepted = {c["custom_args"].get("message_id") for c in me.recipients()}
                if not me.query:
                    status, out = 403, json.dumps({"errors": [{"message": "access forbidden"}]}).encode()
                else:
                    status = 200
                    out = json.dumps({"messages": [{"msg_id": f"x.{m}", "status": "delivered"}
                                                   for m in found if m in accepted]}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def do_POST(self) -> None:
                with me.lock:
                    action = me.script.pop(0) if me.script else me.default
                    me.calls.append((time.time(), action[0]))
                if action[0] == "drop_before":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if action[0] == "status":
                    out = json.dumps({"errors": [{"message": f"scripted {action[1]}"}]}).encode()
                    self.send_response(action[1])
                    for k, v in action[2].items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    return
                with me.lock:  # accepted on arrival, as a real ESP would have it
                    me.requests.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body),
                                        "at": time.time()})
                if action[0] == "drop_after":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if action[0] == "slow":
                    time.sleep(action[1])
                self.send_response(202)
                self.send_header("X-Message-Id", f"fx{len(me.calls)}")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *a: None  # type: ignore[method-assign]  # dropped connections are the point
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    url = FakeESP.url
    close = FakeESP.close
    recipients = FakeESP.recipients
    counts = FakeESP.counts
