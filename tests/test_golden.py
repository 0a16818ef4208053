"""Golden assessments: every example case's full assessment JSON, reviewed as a diff.

After an intended change, regenerate with ``KNEERULES_UPDATE_GOLDEN=1 pytest
tests/test_golden.py`` and review ``git diff tests/golden`` like any other change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kneerules import Engine, to_dict
from kneerules.knowledge.plugins import get_plugin_manager

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
GOLDEN = ROOT / "tests" / "golden"


@pytest.fixture(scope="module")
def builtin_engine() -> Engine:
    """Only the built-in plugins, so installed extras cannot change the goldens."""
    return Engine(plugin_manager=get_plugin_manager(entry_points=False))


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_matches_its_golden_assessment(builtin_engine: Engine, example: Path) -> None:
    """The example's assessment is exactly the reviewed golden JSON."""
    got = to_dict(builtin_engine.evaluate_json(example.read_bytes(), str(example)))
    golden = GOLDEN / example.name
    if os.environ.get("KNEERULES_UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
    assert golden.exists(), f"no golden file; run with KNEERULES_UPDATE_GOLDEN=1: {golden}"
    assert got == json.loads(golden.read_text())


def test_every_golden_has_an_example() -> None:
    """No stale golden file outlives its example."""
    assert sorted(p.name for p in GOLDEN.glob("*.json")) == [p.name for p in EXAMPLES]
