"""The hazard log (docs/safety/hazard-log.yaml) names only real controls and covers every
red-flag rule; the readable log (hazard-log.md) lists every hazard."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kneerules import Engine

ROOT = Path(__file__).resolve().parent.parent
LOG: list[dict[str, Any]] = yaml.safe_load(
    (ROOT / "docs" / "safety" / "hazard-log.yaml").read_text(encoding="utf-8"))["hazards"]
READABLE = (ROOT / "docs" / "safety" / "hazard-log.md").read_text(encoding="utf-8")


def test_hazards_have_the_dcb0129_fields() -> None:
    """Each hazard has an id, cause, effect, initial and residual risk, and some control."""
    ids = [h["id"] for h in LOG]
    assert len(ids) == len(set(ids))
    for hazard in LOG:
        for field in ("title", "cause", "effect", "initial", "residual", "controls"):
            assert hazard.get(field), (hazard["id"], field)
        assert hazard["controls"]["rules"] or hazard["controls"]["tests"], hazard["id"]
        assert hazard["residual"]["risk"] <= hazard["initial"]["risk"], hazard["id"]


@pytest.mark.parametrize("hazard", LOG, ids=[h["id"] for h in LOG])
def test_every_control_rule_exists(engine: Engine, hazard: dict[str, Any]) -> None:
    """A control names only rules the installed rule set has."""
    rules = {r.id for r in engine.knowledge.rules}
    missing = [r for r in hazard["controls"]["rules"] if r not in rules]
    assert not missing, missing


@pytest.mark.parametrize("hazard", LOG, ids=[h["id"] for h in LOG])
def test_every_control_test_exists(hazard: dict[str, Any]) -> None:
    """A control names only tests that exist (file and test function)."""
    assert hazard["controls"]["tests"], "every hazard is proved by at least one test"
    for test in hazard["controls"]["tests"]:
        path, _, name = test.partition("::")
        source = (ROOT / path).read_text(encoding="utf-8")
        assert re.search(rf"^def {re.escape(name)}\(", source, re.MULTILINE), test


def test_every_red_flag_rule_controls_a_hazard(engine: Engine) -> None:
    """Each rule that raises a red flag is listed among some hazard's controls."""
    controlled = {r for h in LOG for r in h["controls"]["rules"]}
    uncovered = [r.id for r in engine.knowledge.rules
                 if r.then.red_flag and r.id not in controlled]
    assert not uncovered, uncovered


def test_the_readable_log_lists_every_hazard() -> None:
    """docs/safety/hazard-log.md has a row for each hazard of the data."""
    for hazard in LOG:
        assert f"| {hazard['id']} |" in READABLE, hazard["id"]
