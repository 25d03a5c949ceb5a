"""`sendwise bench chaos`: the fault-injection suite (tests/reliability) at a larger scale, repeated.

Each round runs pytest on tests/reliability in a subprocess with `SENDWISE_CHAOS_SCALE` (more messages
and events) and `SENDWISE_CHAOS_MESSAGES` (the SIGKILL test), then reports per test: rounds passed,
failed or skipped, and the figures the tests print (sent, suppressed, in flight, restarts). Needs a
source checkout with the dev extras; PostgreSQL and Redis for the outage tests (DATABASE_URL, REDIS_URL).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from app.core.config import PROJECT_ROOT

# `-rA` summary lines: "PASSED tests/reliability/x.py::test_y", "SKIPPED [1] tests/reliability/x.py:58: why".
_RESULT = re.compile(r"^(PASSED|FAILED|ERROR) tests/reliability/\S+?::(\S+)", re.M)
_SKIPPED = re.compile(r"^SKIPPED \[(\d+)\] (tests/reliability/\S+?):\d+: (.*)$", re.M)
_FIGURES = re.compile(r"^(?:\S+::\S+ )?((?:storm|webhooks|dispatch): .*)$", re.M)


def run_chaos(rounds: int = 1, scale: float = 4.0, kill_messages: int = 2000, select: str = "") -> str:
    """Run the reliability suite `rounds` times at `scale`; returns the results table as text (the caller prints it)."""
    from rich.console import Console
    from rich.table import Table

    tests_dir = Path(PROJECT_ROOT) / "tests" / "reliability"
    if not tests_dir.exists():
        raise RuntimeError("sendwise bench chaos needs a source checkout (tests/reliability)")
    env = {**os.environ, "SENDWISE_CHAOS_SCALE": str(scale), "SENDWISE_CHAOS_MESSAGES": str(kill_messages)}
    outcomes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    figures: dict[str, list[str]] = defaultdict(list)
    seconds = 0.0
    for _ in range(max(rounds, 1)):
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-s", "-v", str(tests_dir)]
        if select:
            cmd += ["-k", select]
        t0 = time.monotonic()
        out = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
        seconds += time.monotonic() - t0
        for status, test in _RESULT.findall(out.stdout):
            outcomes[test][status] += 1
        for n, path, why in _SKIPPED.findall(out.stdout):
            outcomes[f"{path} ({why[:60]})"]["SKIPPED"] += int(n)
        for line in _FIGURES.findall(out.stdout):
            figures[line.split(":", 1)[0]].append(line.split(":", 1)[1].strip())
    table = Table(title=f"sendwise bench chaos ({rounds} round(s), scale {scale}, SIGKILL test {kill_messages} msgs)")
    for col in ("fault", "passed", "failed", "skipped"):
        table.add_column(col)
    for test in sorted(outcomes):
        o = outcomes[test]
        table.add_row(test, str(o["PASSED"]), str(o["FAILED"] + o["ERROR"]), str(o["SKIPPED"]))
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(table)
    for name, lines in figures.items():
        for line in lines:
            console.print(f"  {name}: {line}")
    failed = sum(o["FAILED"] + o["ERROR"] for o in outcomes.values())
    console.print(f"  failed: {failed}   seconds: {seconds:.0f}   "
                  f"command: sendwise bench chaos --rounds {rounds} --scale {scale}")
    return console.export_text()
