"""CLI commands about models: fit, simulate, evaluate-policy."""

from __future__ import annotations

import json

import typer

from app.cli import common
from app.core.db import session_scope


def fit(workspace: str | None = typer.Option(None, "--workspace", "-w", help="Workspace id (default: the only one).")
        ) -> None:
    """Fit the send-time and propensity models of a workspace now (in this process), with a progress bar."""
    from app.modelling.fitting import fit_workspace

    with session_scope() as s:
        ws = common.resolve_workspace(s, workspace)
    with common.progress_bar() as bar:
        task = bar.add_task("fitting", total=100)
        result = fit_workspace(ws.id, progress=lambda p: bar.update(task, completed=round(100 * p)))
    common.print_json(result)


def simulate(
    seeds: str = typer.Option("1,2,3", help="Comma-separated seeds."),
    customers: int = typer.Option(20_000, help="Customers per simulated world."),
    quick: bool = typer.Option(False, help="Only the default world (faster)."),
    worlds: str = typer.Option("all", help="Send-time worlds: all, classic (the older assumptions) or dials "
                                           "(weekends, freshness, cold, unflagged MPP, unknown zones; plus default)."),
    content: bool = typer.Option(True, help="Also the subject/content simulation."),
    store: str | None = typer.Option(None, "--store", help="Store the report on this workspace's Models page."),
    content_dials: int = typer.Option(0, help="Also the content dial worlds (scanners, tastes, traits) with this "
                                              "many customers each (0: not run)."),
) -> None:
    """Simulate worlds with known truth; compare sendwise's plan with simple rules and the oracle."""
    from app.simulate.content_eval import run_content_simulation
    from app.simulate.sendtime_eval import run_simulation

    seed_list = tuple(int(x) for x in seeds.split(",") if x.strip())
    with common.progress_bar() as bar:
        task = bar.add_task("send-time worlds", total=100)
        from app.simulate.sendtime_eval import DIAL_SCENARIOS, SCENARIOS

        choice = {"all": None, "classic": SCENARIOS, "dials": {"default": {}, **DIAL_SCENARIOS}}
        if worlds not in choice:
            raise typer.BadParameter("--worlds must be all, classic or dials")
        scenarios: dict[str, dict] | None = {"default": {}} if quick else choice[worlds]

        def step(p: float, _msg: str = "") -> None:
            bar.update(task, completed=round(100 * p))

        table = run_simulation(seed_list, customers, scenarios=scenarios, progress=step)
    print(table)
    report = table
    if content:
        common.console.print("content simulation …")
        ctable = run_content_simulation(seed_list, customers)
        print()
        print(ctable)
        report += "\n\n" + ctable
    if content_dials > 0:
        from app.simulate.content_eval import run_content_dials

        common.console.print("content dial worlds …")
        dtable = run_content_dials(seed_list, content_dials)
        print()
        print(dtable)
        report += "\n\n" + dtable
    if store:
        from app.modelling.simulation_store import store_report

        with session_scope() as s:
            ws = common.resolve_workspace(s, store)
            store_report(s, ws.id, report)


def evaluate_policy(campaign_id: str, workspace: str | None = typer.Option(None, "--workspace", "-w"),
                    as_json: bool = typer.Option(False, "--json")) -> None:
    """Off-policy estimates (IPS, DR, 95% CI) of personalized vs first-variant vs uniform for a sent campaign."""
    from app.campaigns.policy_eval import evaluate_campaign, format_report
    from app.core.errors import ServiceError

    with session_scope() as s:
        ws = common.resolve_workspace(s, workspace) if workspace else None
        from app.models import Campaign

        camp = s.get(Campaign, campaign_id)
        if camp is None or (ws is not None and camp.workspace_id != ws.id):
            common.console.print(f"[red]no campaign {campaign_id}[/red]")
            raise typer.Exit(2)
        try:
            report = evaluate_campaign(s, camp.workspace_id, campaign_id)
        except ServiceError as exc:
            common.console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(1) from None
    print(json.dumps(report, default=str) if as_json else format_report(report))
