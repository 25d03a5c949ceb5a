"""A local fake ESP HTTP server (the outside edge): records what it is asked to send, answers as scripted."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections import Counter
from typing import Any


class FakeESP:
    """Serves SendGrid's /v3/mail/send and Postmark's /email/batch on 127.0.0.1.

    `script` is a list of (status, headers) answers for the first calls; later calls succeed.
    `delay` seconds are slept before each answer.
    """

    def __init__(self, script: list[tuple[int, dict[str, str]]] | None = None, delay: float = 0.0):
        self.script = list(script or [])
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.call_times: list[float] = []
        self.lock = threading.Lock()
        me = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with me.lock:
                    me.call_times.append(time.time())
                    answer = me.script.pop(0) if me.script else None
                accepted = answer is None or answer[0] < 300
                data = json.loads(body) if body and accepted else {}
                if accepted:  # recorded on arrival: a client killed while waiting was still "sent"
                    with me.lock:
                        me.requests.append({"path": self.path, "headers": dict(self.headers), "json": data})
                if me.delay:
                    time.sleep(me.delay)
                if answer is not None and answer[0] >= 300:
                    payload = json.dumps({"errors": [{"message": f"scripted {answer[0]}"}]}).encode()
                    self.send_response(answer[0])
                    for k, v in answer[1].items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if self.path.startswith("/email/batch"):
                    out = json.dumps([{"ErrorCode": 0, "MessageID": f"pm-{i}", "Message": "OK"}
                                      for i, _ in enumerate(data)]).encode()
                    self.send_response(200)
                else:
                    out = b""
                    self.send_response(202)
                    self.send_header("X-Message-Id", f"fake{len(me.call_times)}")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def recipients(self) -> list[dict[str, Any]]:
        """One row per SendGrid personalization recipient: email, subject, headers, custom_args."""
        out = []
        for rq in self.requests:
            j = rq["json"]
            for p in j.get("personalizations", []) if isinstance(j, dict) else []:
                for to in p.get("to", []):
                    out.append({"email": to.get("email"), "subject": p.get("subject", j.get("subject")),
                                "headers": {**(j.get("headers") or {}), **(p.get("headers") or {})},
                                "custom_args": {**(j.get("custom_args") or {}), **(p.get("custom_args") or {})},
                                "substitutions": p.get("substitutions") or {}})
        return out

    def counts(self) -> Counter:
        return Counter(r["email"] for r in self.recipients())
