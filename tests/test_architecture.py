"""The package layout's rules that import-linter cannot state: Celery finds every task module, and the demo's
beat entry exists only outside production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_celery_includes_every_task_module() -> None:
    from tasks.celery_app import TASK_MODULES

    with_tasks = {f"tasks.{p.stem}" for p in (ROOT / "tasks").glob("*.py") if "@app.task" in p.read_text()}
    assert with_tasks == set(TASK_MODULES)


def _beat_entries(env: str) -> set[str]:
    code = "import celery_config; print(','.join(sorted(celery_config.beat_schedule)))"
    environ = {**os.environ, "ENV": env, "SECRET_KEY": "x" * 40}
    argv = [sys.executable, "-c", code]
    out = subprocess.run(argv, cwd=ROOT, env=environ, capture_output=True, text=True, check=True)
    return set(out.stdout.strip().split(","))


def test_demo_beat_entry_only_outside_production() -> None:
    assert "demo-readers" in _beat_entries("development")
    production = _beat_entries("production")
    assert "demo-readers" not in production
    assert "dispatch-due-messages" in production
