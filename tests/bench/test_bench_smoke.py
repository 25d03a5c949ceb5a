"""Tiny runs of every `sendwise bench` function, so the benchmarks cannot rot (figures are not checked)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.core.db import session_scope


def _no_bench_workspace_left() -> bool:
    with session_scope() as s:
        return not s.execute(text("SELECT 1 FROM workspace WHERE name LIKE 'bench-%'")).first()


def test_bench_plan_tiny():
    from app.bench import plan

    res = plan.run(n_customers=300, models=False)
    assert res.details["planned rows"] == 300
    assert res.rows and res.rows[0][0].startswith("plan")
    assert _no_bench_workspace_left()


def test_bench_dispatch_tiny():
    from app.bench import dispatch

    res = dispatch.run(n_messages=200, processes=1, batch_size=100)
    assert res.details["sent"] == 200, res.details
    assert res.details["send rows"] == 200
    assert _no_bench_workspace_left()


def test_bench_fit_tiny():
    from app.bench import fit

    res = fit.run(n_customers=2000, n_sends=20_000)
    assert res.rows[0][0].startswith("full refit")
    assert res.met is True


@pytest.mark.timeout(120)
def test_bench_ingest_tiny():
    from app.bench import ingest

    res = ingest.run(n_events=2000, n_customers=300, clients=2, worker_concurrency=1, timeout=60)
    assert res.details["stored"] == 2000, res.details
    assert res.details["non-200 responses"] == 0
    assert _no_bench_workspace_left()


@pytest.mark.timeout(120)
def test_bench_ingest_paced_offers_batches_at_the_rate():
    """--rate: batch k is due k/rate·1000 s after the start, so 3 batches at 3,000 events/s take ≥ 0.66 s."""
    from app.bench import ingest

    res = ingest.run(n_events=3000, n_customers=300, clients=2, worker_concurrency=1, timeout=60, rate=3000)
    assert res.details["stored"] == 3000 and res.details["non-200 responses"] == 0, res.details
    assert res.details["offered"].startswith("3,000 events/s")
    assert res.details["elapsed s"] >= 0.66
    assert any("at 3,000 events/s offered" in row[0] for row in res.rows)
    assert _no_bench_workspace_left()


def test_bench_table_prints(capsys):
    from app.bench import BenchResult, print_result

    res = BenchResult("x")
    res.add("thing", 10.0, "u/s", 5.0, "≥ 1")
    print_result(res)
    out = capsys.readouterr().out
    assert "2.00×" in out and "command:" in out


def test_the_bench_client_posts_again_on_a_new_connection_when_the_server_dropped_the_idle_one():
    """uvicorn closes idle keep-alive connections after 5 s: at a low --rate the next post met a closed socket,
    and the client thread died with its batches unposted."""
    import socket
    import threading

    from cryptography.hazmat.primitives.asymmetric import ec

    from app.bench import ingest

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    seen: list[bytes] = []

    def serve() -> None:  # HTTP/1.1 keep-alive by the headers, but every connection closed after one answer
        for _ in range(6):
            conn, _addr = server.accept()
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            while len(body) < length:
                body += conn.recv(65536)
            seen.append(body)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    bodies = [b'[{"event":"open"}]', b"[]", b'[{"event":"click"}]']
    latencies, codes = ingest._post_all(url, "w" * 32, ec.generate_private_key(ec.SECP256R1()), bodies, 1,
                                        lambda _n: None)
    server.close()
    assert codes == [200, 200, 200] and len(latencies) == 3
    assert seen == bodies
