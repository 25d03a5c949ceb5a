"""`sendwise api-key list|create|revoke`: a workspace's API keys from the command line."""

from __future__ import annotations

import typer

from app.cli import common
from app.core.db import session_scope
from app.core.errors import ServiceError

api_key_app = typer.Typer(help="Manage a workspace's API keys.", no_args_is_help=True)
WorkspaceOpt = typer.Option(None, "--workspace", "-w", help="Workspace id or name (the only one by default).")


@api_key_app.command("list")
def list_keys(workspace: str | None = WorkspaceOpt,
              as_json: bool = typer.Option(False, "--json", help="Print one JSON line.")) -> None:
    """Every key of the workspace (never the key itself)."""
    from app.platform.workspaces import key_view, list_api_keys

    with session_scope() as s:
        ws = common.resolve_workspace(s, workspace)
        items = [key_view(k) for k in list_api_keys(s, ws.id)]
    if as_json:
        common.print_json({"items": items})
        return
    for k in items:
        state = f"revoked {k['revoked_at']:%Y-%m-%d %H:%M}" if k["revoked_at"] else "active"
        used = f"{k['last_used_at']:%Y-%m-%d %H:%M}" if k["last_used_at"] else "never used"
        print(f"{k['id']}  {k['prefix']}…  {k['name'] or '-':<24}  {state:<24}  {used}")


@api_key_app.command("create")
def create_key(name: str = typer.Option("", "--name", help="What the key is for."),
               workspace: str | None = WorkspaceOpt,
               as_json: bool = typer.Option(False, "--json", help="Print one JSON line.")) -> None:
    """Create a key and print it (shown once, stored hashed)."""
    from app.platform.workspaces import add_api_key

    with session_scope() as s:
        ws = common.resolve_workspace(s, workspace)
        try:
            row, key = add_api_key(s, ws.id, name)
        except ServiceError as exc:
            common.console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(2) from None
        s.commit()
    if as_json:
        common.print_json({"id": row.id, "api_key": key})
    else:
        print(f"API key {row.id} created\nAPI key (shown once): {key}")


@api_key_app.command("revoke")
def revoke_key(key_id: str, workspace: str | None = WorkspaceOpt) -> None:
    """Revoke a key: it stops working now and dashboard sessions signed in with it end."""
    from app.platform.workspaces import revoke_api_key

    with session_scope() as s:
        ws = common.resolve_workspace(s, workspace)
        try:
            revoke_api_key(s, ws.id, key_id)
        except ServiceError as exc:
            common.console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(1 if exc.status_code == 404 else 2) from None
    print(f"API key {key_id} revoked")
