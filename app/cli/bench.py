"""`sendwise bench …`: performance measurements, each beside a baseline from the same run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.progress import TaskID

bench_app = typer.Typer(help="Benchmarks (each prints its figure beside a same-run baseline).", no_args_is_help=True)


@contextmanager
def _bars() -> Iterator[Callable[[str, int, int], None]]:
    """A setup-progress callback `(stage, done, total)` drawing one rich bar per stage."""
    from app.cli.common import progress_bar

    tasks: dict[str, TaskID] = {}
    with progress_bar() as bar:
        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=max(total, 1))
            bar.advance(tasks[stage], done)

        yield advance


def _exit(met: bool | None) -> None:
    if met is False:
        raise typer.Exit(1)


@bench_app.command("ingest")
def ingest(
    events: int = typer.Option(200_000, help="Events to send, in SendGrid batches of 1,000."),
    customers: int = typer.Option(100_000, help="Customers the events are about."),
    clients: int = typer.Option(4, help="Concurrent HTTP clients posting batches."),
    worker_concurrency: int = typer.Option(2, help="Processes of the Celery worker started by the bench."),
    api_workers: int = typer.Option(2, help="uvicorn processes of the API started by the bench."),
    url: str | None = typer.Option(None, help="Base URL of an already running service (default: start one)."),
    keep: bool = typer.Option(False, help="Keep the benchmark's workspace afterwards."),
    rate: float = typer.Option(0.0, help="Offer the batches at this many events/s (latency under a steady load); "
                               "0 posts them as fast as the clients can (the figures held against the targets)."),
) -> None:
    """Webhook ingestion end to end: signed batches POSTed to the running API, until stored and counted."""
    from app.bench import ingest as bench
    from app.bench import print_result

    with _bars() as adv:
        total = (events + 999) // 1000 * 1000

        def posted(n: int) -> None:
            adv("posting batches", n, total)

        res = bench.run(events, customers, clients, worker_concurrency, url, keep, api_workers, adv, posted,
                        rate=rate)
    print_result(res)
    _exit(res.met)


@bench_app.command("plan")
def plan(
    customers: int = typer.Option(1_000_000, help="Customers in the campaign's audience."),
    profile_share: float = typer.Option(0.9, help="Share of customers with a fitted send-time profile."),
    models: bool = typer.Option(True, help="Fit subject/category propensity models first (on a small sample)."),
    keep: bool = typer.Option(False, help="Keep the benchmark's workspace afterwards."),
) -> None:
    """Plan a campaign (hour, subject, category per customer) against a raw COPY of as many message rows."""
    from app.bench import plan as bench
    from app.bench import print_result

    with _bars() as adv:
        res = bench.run(customers, profile_share, models, keep, adv)
    print_result(res)
    _exit(res.met)


@bench_app.command("dispatch")
def dispatch(
    messages: int = typer.Option(100_000, help="Due messages to dispatch."),
    processes: int = typer.Option(2, help="Dispatch processes running ticks at once (claims use row locks)."),
    batch_size: int = typer.Option(1000, help="Messages claimed per batch."),
    keep: bool = typer.Option(False, help="Keep the benchmark's workspace afterwards."),
) -> None:
    """Render and hand to a local fake ESP (SendGrid API shape), against render-only throughput."""
    from app.bench import dispatch as bench
    from app.bench import print_result

    with _bars() as adv:
        res = bench.run(messages, processes, batch_size, keep, adv)
    print_result(res)
    _exit(res.met)


@bench_app.command("fit")
def fit(
    customers: int = typer.Option(1_000_000, help="Customers in the synthetic history."),
    sends: int = typer.Option(20_000_000, help="Sends in the synthetic history."),
    db_customers: int = typer.Option(0, help="Also time the DB path (load + fit + store) at this many customers."),
) -> None:
    """A full send-time refit on synthetic arrays (time and peak memory); optionally the DB path too."""
    from app.bench import fit as bench
    from app.bench import print_result

    with _bars() as adv:
        res = bench.run(customers, sends, db_customers, adv)
    print_result(res)
    _exit(res.met)


@bench_app.command("chaos")
def chaos(
    rounds: int = typer.Option(1, help="Repetitions of the fault-injection suite, each in its own process."),
    scale: float = typer.Option(4.0, help="Multiplier on the suite's message counts."),
    kill_messages: int = typer.Option(2000, help="Messages dispatched while workers are SIGKILLed."),
    select: str = typer.Option("", help="Only tests whose name matches (pytest -k)."),
    settle: int = typer.Option(0, help="Run only the settle scenario with this many messages per evidence mode "
                                       "(PostgreSQL and Redis): interrupted sends, their table."),
    settle_kills: int = typer.Option(10, help="SIGKILLs of the dispatch worker in the settle scenario."),
    settle_batch: int = typer.Option(50, help="DISPATCH_BATCH_SIZE in the settle scenario."),
) -> None:
    """Heavier fault injection: kills, outages, ESP faults and unsubscribe races, with a results table."""
    from app.bench.chaos import run_chaos, run_settle

    if settle:
        print(run_settle(settle, kills=settle_kills, batch=settle_batch))
        return
    print(run_chaos(rounds=rounds, scale=scale, kill_messages=kill_messages, select=select))


@bench_app.command("fuzz")
def fuzz(seconds: int = typer.Option(60, help="Time budget for the fuzzing run.")) -> None:
    """Fuzz the webhook parsers and the CSV importers (the CI properties, with a larger budget)."""
    from app.bench.fuzz import run_fuzz

    print(run_fuzz(seconds))


@bench_app.command("all")
def all_benches() -> None:
    """Every benchmark at its default size, one after another."""
    from app.bench import dispatch as b_dispatch
    from app.bench import fit as b_fit
    from app.bench import ingest as b_ingest
    from app.bench import plan as b_plan
    from app.bench import print_result

    met = True
    with _bars() as adv:
        results = [b_ingest.run(setup_progress=adv), b_plan.run(setup_progress=adv),
                   b_dispatch.run(setup_progress=adv), b_fit.run(setup_progress=adv)]
    for res in results:
        print_result(res)
        met = met and res.met is not False
    _exit(met)
