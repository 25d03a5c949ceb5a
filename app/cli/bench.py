"""`sendwise bench …`: performance measurements, each beside a baseline from the same run."""

from __future__ import annotations

import typer

bench_app = typer.Typer(help="Benchmarks (each prints its figure beside a same-run baseline).", no_args_is_help=True)
