"""The fuzz properties of `sendwise bench fuzz` at a CI budget (webhook parsers, CSV and history importers)."""

from __future__ import annotations

import pytest

from app.bench.fuzz import properties, run_fuzz

PROPS = properties(max_examples=60)


@pytest.mark.parametrize("name", sorted(PROPS))
def test_property(name):
    PROPS[name]()


def test_bench_fuzz_reports_a_table():
    out = run_fuzz(1)
    assert "customer CSV import" in out and "failures: 0" in out
