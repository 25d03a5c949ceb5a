"""Benchmarks behind `sendwise bench …`: each sets up its own workspace, measures, and reports a figure
beside a baseline measured in the same run (so the ratio holds on a noisy machine).

One module per benchmark; each exposes `run(...) -> BenchResult` usable from tests at tiny sizes.
"""

from __future__ import annotations

import shlex
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from app.core.db import session_scope


@dataclass
class BenchResult:
    """What a benchmark measured: named rows (figure, baseline, ratio, target) and free-form details."""

    name: str
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)  # metric, figure, baseline, ratio, target
    details: dict[str, Any] = field(default_factory=dict)
    met: bool | None = None

    def add(self, metric: str, figure: float, unit: str, baseline: float | None = None, target: str = "",
            higher_is_better: bool = True) -> None:
        ratio = ""
        if baseline:
            ratio = f"{figure / baseline:.2f}×" if higher_is_better else f"{baseline / figure:.2f}×" if figure else ""
        self.rows.append((metric, f"{_num(figure)} {unit}", f"{_num(baseline)} {unit}" if baseline is not None else "—",
                          ratio or "—", target))


def _num(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"


def command_line() -> str:
    """The exact command line of this run, as typed."""
    argv = list(sys.argv)
    if argv and argv[0].endswith(("sendwise", "__main__.py")):
        argv[0] = "sendwise"
    return shlex.join(argv)


def print_result(result: BenchResult) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Console(width=max(Console().width, 130))
    table = Table(title=f"sendwise bench {result.name}")
    for col in ("metric", "figure", "baseline", "ratio", "target"):
        table.add_column(col, justify="right" if col in {"figure", "baseline", "ratio"} else "left")
    for row in result.rows:
        table.add_row(*row)
    out.print(table)
    for k, v in result.details.items():
        out.print(f"  {k}: {v}")
    if result.met is not None:
        out.print("  targets met" if result.met else "  [bold red]targets NOT met[/bold red]")
    out.print(f"  command: {command_line()}")




def create_bench_workspace(name: str, timezone: str = "UTC") -> tuple[str, str]:
    """A fresh workspace (and its API key) for one benchmark run."""
    from app.platform.workspaces import create_workspace

    with session_scope() as s:
        ws, key = create_workspace(s, f"bench-{name}", timezone)
    return ws.id, key


# Children first: no foreign key is violated while deleting.
_WS_TABLES = ("event", "send", "message", "customer_stats", "customer_profile", "webhook_inbox", "webhook_nonce",
              "model_version", "job", "erasure", "campaign", "customer", "esp_connection", "api_key")


def drop_workspace(workspace_id: str) -> None:
    """Delete everything a benchmark wrote for its workspace (`--keep` skips this)."""
    with session_scope() as s:
        for table in _WS_TABLES:
            s.execute(text(f"DELETE FROM {table} WHERE workspace_id = :ws"), {"ws": workspace_id})
        s.execute(text("DELETE FROM workspace WHERE id = :ws"), {"ws": workspace_id})
        s.commit()
    if is_postgres_url():
        # The deleted rows' space made reusable now, not when autovacuum comes round: otherwise each run
        # leaves its tables and indexes bigger, and the next run measures a bloated database.
        from app.core.db import get_engine

        with get_engine().connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in (*_WS_TABLES, "workspace"):
                conn.execute(text(f"VACUUM (ANALYZE) {table}"))


def scratch_copy(table_sql: str, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> float:
    """Seconds to bulk-load `rows` into a fresh scratch table (COPY on PostgreSQL, executemany on SQLite)."""
    from app.core.bulk import bulk_insert

    with session_scope() as s:
        s.execute(text(f"DROP TABLE IF EXISTS {table}"))
        s.execute(text(table_sql))
        s.commit()
    try:
        with session_scope() as s:
            t0 = time.perf_counter()
            bulk_insert(s, table, columns, rows)
            s.commit()
            return time.perf_counter() - t0
    finally:
        with session_scope() as s:
            s.execute(text(f"DROP TABLE IF EXISTS {table}"))
            s.commit()


def is_postgres_url() -> bool:
    from app.core.config import get_settings

    return get_settings().DATABASE_URL.startswith("postgresql")
