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


_SETTLE = re.compile(r"settle: (mode=.*)$", re.M)
SETTLE_ROWS = (
    ("accepted_once", "accepted by the ESP exactly once"),
    ("sent_twice", "sent twice"),
    ("sent_never_reached", "marked `sent`, never reached the ESP"),
    ("failed_never_reached", "never reached the ESP, `failed`"),
    ("failed_reached", "reached the ESP, `failed`"),
    ("unsettled", "still `planned` or `sending` at the end"),
    ("resent_once", "re-sent once (the ESP never got the first send)"),
    ("settled_s", "everything settled, seconds after the last kill"),
    ("429s", "429s answered (Retry-After: 1)"),
    ("dropped", "connections dropped after the ESP read the request"),
    ("queries", "questions asked of the ESP's query"),
)


def run_settle(messages: int, kills: int = 10, batch: int = 50) -> str:
    """The settle scenario (tests/reliability/test_settle_chaos.py) once per evidence mode: events posted
    back to the webhook, the ESP's query of sent messages, neither. Returns the table as text."""
    from rich.console import Console
    from rich.table import Table

    tests = Path(PROJECT_ROOT) / "tests" / "reliability" / "test_settle_chaos.py"
    if not tests.exists():
        raise RuntimeError("sendwise bench chaos --settle needs a source checkout (tests/reliability)")
    env = {**os.environ, "SENDWISE_SETTLE_MESSAGES": str(messages), "SENDWISE_SETTLE_KILLS": str(kills),
           "SENDWISE_SETTLE_BATCH": str(batch)}
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-s", "-v", str(tests)]
    t0 = time.monotonic()
    out = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    modes: dict[str, dict[str, str]] = {}
    for line in _SETTLE.findall(out.stdout):
        fields = dict(part.split("=", 1) for part in line.split())
        modes[fields["mode"]] = fields
    table = Table(title=f"sendwise bench chaos --settle {messages} ({kills} SIGKILLs, batch {batch})")
    table.add_column("")
    for mode in modes:
        table.add_column({"events": "events posted back", "query": "query of sent messages",
                          "none": "neither"}.get(mode, mode), justify="right")
    for key, label in SETTLE_ROWS:
        table.add_row(label, *(modes[m].get(key, "—") for m in modes))
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(table)
    passed = [t for s, t in _RESULT.findall(out.stdout) if s == "PASSED"]
    failed = [t for s, t in _RESULT.findall(out.stdout) if s != "PASSED"]
    console.print(f"  passed: {len(passed)}   failed: {len(failed)} {' '.join(failed)}   "
                  f"seconds: {time.monotonic() - t0:.0f}   command: sendwise bench chaos --settle {messages} "
                  f"--settle-kills {kills} --settle-batch {batch}")
    if not modes:
        console.print(out.stdout[-3000:] + out.stderr[-2000:])
    return console.export_text()


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
