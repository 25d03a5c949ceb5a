"""On the embedded SQLite, one tenant's slow request never holds the database's write lock: while a
history upload trickles in (one line every half second) and a slow template is checked, other tenants'
reads, writes, webhooks and `/healthz` answer at once (real uvicorn, the embedded defaults)."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.core.db import session_scope
from app.platform.workspaces import create_workspace
from tests.integration.helpers import campaign_body

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("sqlite"),
                                reason="SQLite's single write lock")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("uvicorn") / "uvicorn.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, "PUBLIC_BASE_URL": base}, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        t0 = time.time()
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.time() - t0 > 60:
                raise RuntimeError(f"uvicorn did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _workspace() -> tuple[str, dict[str, str]]:
    with session_scope() as s:
        ws, key = create_workspace(s, "lock-" + uuid.uuid4().hex[:6])
    return ws.id, {"Authorization": f"Bearer {key}"}


def _trickle(base: str, auth: dict[str, str], lines: list[bytes], pause: float, out: dict) -> None:
    """POST /v1/history with a chunked body sent one line per `pause` seconds (a slow client)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        head = (f"POST /v1/history HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth['Authorization']}\r\n"
                "Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        sock.sendall(head.encode())
        for line in lines:
            sock.sendall(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            time.sleep(pause)
        sock.sendall(b"0\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    out["response"] = data.decode(errors="replace")


def _slow_check(base: str, auth: dict[str, str], out: dict) -> None:
    loop = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    t0 = time.monotonic()
    r = httpx.post(base + "/v1/campaigns", headers=auth, json=campaign_body(template_html=loop), timeout=60)
    out["check"] = (r.status_code, time.monotonic() - t0)


def test_a_slow_tenant_never_holds_the_write_lock(server):
    from app.esp import outbox
    from app.ingest.webhooks import outbox_key

    _ws_a, auth_a = _workspace()
    ws_b, auth_b = _workspace()
    rows = [{"external_id": f"s{i}", "email": f"s{i}@example.com"} for i in range(10)]
    assert httpx.post(server + "/v1/customers/batch", headers=auth_a, json={"customers": rows}).status_code == 200
    assert httpx.put(server + "/v1/esp", headers=auth_b,
                     json={"provider": "outbox", "from_email": "n@example.com"}).status_code == 200
    lines = [b"external_id,sent_at,opened_at\n"] + [
        f"s{i},2026-11-0{1 + i % 9}T10:00:00Z,\n".encode() for i in range(10)]
    out: dict = {}
    worst: dict[str, float] = {}
    seen: dict[str, list[float]] = {}
    upload = threading.Thread(target=_trickle, args=(server, auth_a, lines, 0.5, out))
    check = threading.Thread(target=_slow_check, args=(server, auth_a, out))
    with httpx.Client(base_url=server, timeout=40) as c:
        def calls(n: int) -> dict:
            body = json.dumps({"events": [{"type": "opened", "email": f"w{n}@example.com", "id": f"e{n}",
                                           "timestamp": int(time.time())}]}).encode()
            sig = {"X-Outbox-Signature": outbox.sign(body, outbox_key(ws_b))}
            return {
                "write": lambda: c.post("/v1/customers/batch", headers=auth_b, json={"customers": [
                    {"external_id": f"b{n}", "email": f"b{n}@example.com"}]}),
                "read": lambda: c.get("/v1/customers/b0", headers=auth_b),
                "webhook": lambda: c.post(f"/v1/webhooks/outbox/{ws_b}", content=body, headers=sig),
                "healthz": lambda: c.get("/healthz"),
                "keys": lambda: c.post("/v1/api-keys", headers=auth_b, json={"name": f"k{n}"}),
            }

        for call in calls(0).values():  # warm up (first-call imports and connections are not the point)
            assert call().status_code in (200, 201)
        upload.start()
        time.sleep(1.0)  # the upload is in flight (and, before, held the write lock from its first byte)
        check.start()
        deadline = time.monotonic() + 5.0
        n = 0
        while time.monotonic() < deadline:
            n += 1
            for name, call in calls(n).items():
                t0 = time.monotonic()
                r = call()
                took = time.monotonic() - t0
                assert r.status_code in (200, 201), (name, r.status_code, r.text[:200])
                worst[name] = max(worst.get(name, 0.0), took)
                seen.setdefault(name, []).append(round(took, 3))
            time.sleep(0.1)
    upload.join(30)
    check.join(30)
    print("\nworst latency while a tenant trickles an upload and checks a slow template: "
          + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in worst.items()))
    assert all(v < 1.0 for v in worst.values()), seen
    assert '"imported":10' in out["response"].replace(" ", ""), out["response"][-300:]
    assert out["check"][0] == 422 and out["check"][1] < 8, out["check"]


def test_reads_and_key_lookups_go_on_while_another_connection_writes(client, auth):
    """A write transaction held elsewhere (another process's `BEGIN IMMEDIATE`) does not stop reads:
    API-key lookups, GETs and `/healthz` begin deferred transactions and never wait for the lock."""
    client.post("/v1/customers/batch", headers=auth, json={"customers": [
        {"external_id": "r1", "email": "r1@example.com"}]})
    url = os.environ["DATABASE_URL"].removeprefix("sqlite:///")
    holder = sqlite3.connect(url, timeout=1, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        for path in ("/v1/customers/r1", "/v1/api-keys", "/v1/models", "/healthz"):
            t0 = time.monotonic()
            r = client.get(path, headers=auth)
            assert r.status_code == 200 and time.monotonic() - t0 < 1.0, (path, r.status_code, r.text[:200])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
