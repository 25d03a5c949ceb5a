"""The `sendwise` command line (typer)."""

from __future__ import annotations

from pathlib import Path

import typer

from app.cli import common, modeling
from app.cli.api_keys import api_key_app
from app.cli.bench import bench_app
from app.core.db import session_scope

app = typer.Typer(help="sendwise: email send-time and content personalization.", no_args_is_help=True)
workspace_app = typer.Typer(help="Manage workspaces.", no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")
app.add_typer(bench_app, name="bench")
app.add_typer(api_key_app, name="api-key")
app.command("fit")(modeling.fit)
app.command("simulate")(modeling.simulate)
app.command("evaluate-policy")(modeling.evaluate_policy)


@app.command()
def migrate() -> None:
    """Upgrade the database to the latest schema."""
    from app.platform.migrations import migrate as run_migrate

    run_migrate()
    common.console.print("database is at the latest migration")


@app.command()
def up(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    seed: bool = typer.Option(True, help="Seed a demo workspace when the database is empty."),
) -> None:
    """Migrate, seed a demo if empty, then run the API, a Celery worker and Celery beat until Ctrl-C."""
    from app.cli.run import run_all

    raise typer.Exit(run_all(host, port, seed))


@workspace_app.command("create")
def workspace_create(
    name: str,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON line."),
    timezone: str = typer.Option("UTC", help="The workspace's default time zone."),
) -> None:
    """Create a workspace and print its API key (shown once, stored hashed)."""
    from app.customers.validation import check_timezone
    from app.platform.workspaces import create_workspace

    try:
        check_timezone(timezone)
    except ValueError as exc:
        common.console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    with session_scope() as s:
        ws, key = create_workspace(s, name, timezone)
    if as_json:
        common.print_json({"workspace_id": ws.id, "api_key": key})
    else:
        print(f"workspace {ws.id} created\nAPI key (shown once): {key}")


@app.command("import-customers")
def import_customers(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    workspace: str | None = typer.Option(None, "--workspace", "-w"),
    map_: str = typer.Option("", "--map", help='Columns to fields, e.g. "Email Address=email,Vorname=first_name".'),
) -> None:
    """Import customers from a CSV: exports of Mailchimp, Klaviyo, SendGrid and Brevo are recognised; other
    files need an email column (or --map). Any delimiter; UTF-8 or Latin-1. Other columns become attributes."""
    from app.customers.csv_import import import_customers_csv
    from app.customers.mapping import parse_map

    try:
        given = parse_map(map_) if map_ else None
        with session_scope() as s, common.progress_bar() as bar, file.open("rb") as fh:
            ws = common.resolve_workspace(s, workspace)
            task = bar.add_task("customers", total=max(1, _count_lines(file) - 1))
            res = import_customers_csv(s, ws.id, iter(lambda: fh.read(1 << 20), b""), given,
                                       progress=lambda n: bar.advance(task, n))
    except ValueError as exc:
        common.console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    common.console.print(f"recognised as: {res['source']}; columns: " + ", ".join(
        f"{k} → {v}" for k, v in res["mapping"].items() if not v.startswith("attributes.")))
    _report({k: v for k, v in res.items() if k not in ("mapping", "source")})


@app.command("import-history")
def import_history(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    workspace: str | None = typer.Option(None, "--workspace", "-w"),
    fmt: str = typer.Option("", "--format", help="csv or ndjson (default: from the file name)."),
    timezone: str = typer.Option("UTC", "--timezone", help="Zone of times written without an offset."),
) -> None:
    """Import past sends (external_id or email, sent_at, opened_at, clicked_at, subject, category, machine_open).

    SendGrid's Email Activity export is recognised. Importing the same rows again changes nothing."""
    from app.ingest.history import import_file

    kind = fmt or ("ndjson" if file.suffix.lower() in {".ndjson", ".jsonl"} else "csv")
    if kind not in {"csv", "ndjson"}:
        common.console.print("[red]--format must be csv or ndjson[/red]")
        raise typer.Exit(2)
    try:
        with session_scope() as s, common.progress_bar() as bar, file.open("rb") as fh:
            ws = common.resolve_workspace(s, workspace)
            task = bar.add_task("history", total=max(1, _count_lines(file) - (kind == "csv")))
            res = import_file(s, ws.id, fh, kind, timezone, progress=lambda n: bar.advance(task, n))
    except ValueError as exc:
        common.console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    common.console.print(f"times without an offset were read in {res['timezone']}")
    _report(res)


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def _report(res: dict) -> None:
    errors = res["errors"]
    for e in errors[:20]:
        common.console.print(f"line {e['line']}: {e['error']}")
    if len(errors) > 20:
        common.console.print(f"… and {len(errors) - 20} more errors")
    common.print_json({k: (len(v) if isinstance(v, list) else v) for k, v in res.items()})


def main() -> None:
    app()


if __name__ == "__main__":
    main()
