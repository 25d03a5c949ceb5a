"""Helpers shared by CLI commands: workspace lookup, progress bars, JSON output."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlmodel import Session, select

from app.models import Workspace

console = Console(stderr=True, soft_wrap=True)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def resolve_workspace(session: Session, workspace: str | None) -> Workspace:
    """The workspace named by id (or by name); the only one when none is given."""
    if workspace:
        ws = session.get(Workspace, workspace) or session.exec(
            select(Workspace).where(Workspace.name == workspace)
        ).first()
        if ws is None:
            console.print(f"[red]no workspace {workspace!r}[/red]")
            raise typer.Exit(2)
        return ws
    all_ws = session.exec(select(Workspace).limit(2)).all()
    if len(all_ws) != 1:
        console.print("[red]several (or no) workspaces: pass --workspace ID[/red]")
        raise typer.Exit(2)
    return all_ws[0]


def print_json(obj: Any) -> None:
    print(json.dumps(obj, default=str))
