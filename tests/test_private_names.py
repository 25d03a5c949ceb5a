"""No underscore name crosses a package boundary: `from app.x.y import _name` only inside `app.x`."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _package(module: str) -> str:
    """`app.delivery.dispatch` → `app.delivery`; `tasks.dispatch` → `tasks`."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "app" else parts[0]


def private_imports(path: Path, module: str) -> list[str]:
    """`from M import _x` and `M._x` attribute reads (of an imported module M) from another package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] not in ("app", "tasks"):
                continue
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    if _package(node.module) != _package(module):
                        found.append(f"{module}:{node.lineno} from {node.module} import {alias.name}")
                else:
                    aliases[alias.asname or alias.name] = target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("app", "tasks") and alias.asname:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name) and node.value.id in aliases):
            owner = aliases[node.value.id]
            if _package(owner) != _package(module):
                found.append(f"{module}:{node.lineno} {owner}.{node.attr}")
    return found


def test_no_private_name_is_used_across_packages():
    found = []
    for base in ("app", "tasks"):
        for path in sorted((ROOT / base).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            module = ".".join(p for p in rel.parts if p != "__init__")
            found += private_imports(path, module)
    assert not found, "private names used across packages:\n" + "\n".join(found)


def test_the_check_sees_both_forms(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("from app.delivery.dispatch import _LOAD\nfrom app.ingest import stats\nstats._secret\n"
                   "from app.bench.data import _ok\n")
    assert private_imports(src, "app.bench.fuzz") == [
        "app.bench.fuzz:1 from app.delivery.dispatch import _LOAD", "app.bench.fuzz:3 app.ingest.stats._secret"]
