"""Plain helpers for the ESP tests (a module of its own: `conftest` is not importable safely)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "esp"


def fixture_bytes(esp: str, name: str) -> bytes:
    return (FIXTURES / esp / name).read_bytes()


def fixture_json(esp: str, name: str) -> Any:
    return json.loads(fixture_bytes(esp, name))
