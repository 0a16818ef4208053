"""The cases every benchmark runs: the examples and the test case files (vignettes included)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _as_case(data: Any) -> dict[str, Any] | None:
    if isinstance(data, dict) and isinstance(data.get("case"), dict):
        data = data["case"]  # a vignette: the case plus what is expected of it
    if isinstance(data, dict) and ("findings" in data or "measurements" in data):
        return data
    return None


def load_cases() -> list[tuple[str, dict[str, Any]]]:
    """(name, case) for every case file found."""
    paths = sorted((ROOT / "examples").glob("*.json"))
    paths += sorted((ROOT / "tests").rglob("*.json"))
    found = []
    for path in paths:
        try:
            case = _as_case(json.loads(path.read_text(encoding="utf-8")))
        except ValueError:
            continue
        if case is not None:
            found.append((str(path.relative_to(path.parents[1])), case))
    if not found:
        raise SystemExit("no cases found under examples/ or tests/")
    return found
