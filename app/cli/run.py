"""`sendwise up`: the API, one Celery worker and Celery beat as child processes, stopped together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from app.cli.common import console
from app.core.config import get_settings


def _children(host: str, port: int) -> list[tuple[str, list[str]]]:
    py = sys.executable
    settings = get_settings()
    return [
        ("api", [py, "-m", "uvicorn", "app.main:app", "--host", host, "--port", str(port),
                 "--no-access-log", "--workers", "1"]),
        ("worker", [py, "-m", "celery", "-A", "tasks.celery_app", "worker", "-Q",
                    "default,ingest,plan,dispatch,models", "-c", "2", "--loglevel", settings.LOG_LEVEL,
                    "-n", f"sendwise-{os.getpid()}@%h"]),
        ("beat", [py, "-m", "celery", "-A", "tasks.celery_app", "beat", "--loglevel", settings.LOG_LEVEL,
                  "-s", str(settings.VAR_DIR / "celerybeat-schedule")]),
    ]


def run_all(host: str, port: int, seed: bool) -> int:
    """Start everything, print where to look, and wait; Ctrl-C (or one child dying) stops all three."""
    from app.demo.workspace import ensure_demo
    from app.platform.migrations import migrate

    settings = get_settings()
    settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
    migrate()
    demo = ensure_demo() if seed else None
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    stopping = False

    def stop(*_a: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for name, cmd in _children(host, port):
        # Children ignore the terminal's Ctrl-C; we stop them in order ourselves.
        procs.append((name, subprocess.Popen(cmd, start_new_session=True)))
    console.print(f"[bold green]sendwise is starting[/bold green] on http://{host}:{port}")
    console.print(f"  dashboard: {settings.PUBLIC_BASE_URL}/   API docs: {settings.PUBLIC_BASE_URL}/docs")
    console.print(f"  database: {_redact(settings.DATABASE_URL)}   broker: {_redact(settings.broker_url)}")
    if demo:
        console.print(f"  demo workspace: {demo['workspace_id']}   demo API key: [bold]{demo['api_key']}[/bold]")
    console.print("  Ctrl-C stops everything.")
    code = 0
    while not stopping:
        for name, p in procs:
            if p.poll() is not None:
                console.print(f"[red]{name} exited with {p.returncode}; stopping the rest[/red]")
                stopping, code = True, 1
        time.sleep(0.5)
    for _name, p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.time() + 20
    for _name, p in procs:
        try:
            p.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
    console.print("sendwise stopped")
    return code


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
