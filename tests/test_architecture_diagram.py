"""docs/architecture.md's package diagram is the code's imports: every arrow exists, and none is missing."""

from __future__ import annotations

import re
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
# Everything may import these two; the diagram leaves their arrows out.
FOUNDATION = {"core", "models"}


def _package(module: str) -> str:
    parts = module.split(".")
    return "tasks" if parts[0] == "tasks" else parts[1]


def code_edges() -> set[tuple[str, str]]:
    graph = grimp.build_graph("app", "tasks", cache_dir=None)
    edges = set()
    for module in graph.modules:
        if module in {"app", "tasks"}:
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            if imported in {"app", "tasks"}:
                continue
            a, b = _package(module), _package(imported)
            if a != b and b not in FOUNDATION and a not in FOUNDATION:
                edges.add((a, b))
    return edges


def diagram_edges() -> set[tuple[str, str]]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text.split("```mermaid", 1)[1].split("```", 1)[0]
    return set(re.findall(r"^\s*(\w+)\s*-->\s*(\w+)\s*$", block, flags=re.M))


def test_diagram_matches_imports() -> None:
    code, drawn = code_edges(), diagram_edges()
    wanted = "\n".join(f"  {a} --> {b}" for a, b in sorted(code))
    assert drawn == code, (
        f"missing from the diagram: {sorted(code - drawn)}; not in the code: {sorted(drawn - code)}.\n"
        f"The arrows of docs/architecture.md's mermaid block should read:\n{wanted}"
    )
