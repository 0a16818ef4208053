"""Helpers and pytest fixtures for testing kneerules plugins.

Registered as a pytest plugin (the ``pytest11`` entry point), so a plugin's
own tests get the fixtures with no import:

    def test_my_rule(make_engine):
        engine = make_engine(plugins=[my_plugin.plugin])
        assessment = engine.evaluate({"findings": {...}})
        assert_fires(assessment, "my_condition.my_rule")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from kneerules.model import Assessment


def make_test_engine(
    plugins: Sequence[object] = (),
    disable: Sequence[str] = (),
    ruleset: str = "posterior-knee",
    builtins: bool = True,
    entry_points: bool = False,
) -> Any:
    """A new engine with a fresh plugin manager: the built-in plugins, plus ``plugins``.

    Installed external plugins are left out unless ``entry_points`` is true, so a test
    does not depend on what else happens to be installed."""
    from kneerules.engine import Engine
    from kneerules.plugins import get_plugin_manager

    pm = get_plugin_manager(disable=disable, builtins=builtins, entry_points=entry_points,
                            extra=plugins)
    return Engine(ruleset, disable=disable, plugin_manager=pm)


def fired_rules(assessment: Assessment) -> list[str]:
    return [step.rule for step in assessment.trace]


def assert_fires(assessment: Assessment, rule_id: str) -> None:
    """Fails unless ``rule_id`` fired, showing the rules that did."""
    fired = fired_rules(assessment)
    assert rule_id in fired, f"{rule_id} did not fire; fired: {fired}"


def assert_does_not_fire(assessment: Assessment, rule_id: str) -> None:
    fired = fired_rules(assessment)
    assert rule_id not in fired, f"{rule_id} fired; fired: {fired}"


def assert_triage(assessment: Assessment, level: str) -> None:
    """Fails unless the triage level is ``level``, showing the rules that set it."""
    got = assessment.triage
    assert got.level == level, f"triage {got.level} (because {list(got.because)}), not {level}"


def assert_ranks(assessment: Assessment, condition: str, within: int = 1) -> None:
    """Fails unless ``condition`` is among the first ``within`` of the differential."""
    ranked = [entry.condition for entry in assessment.differential]
    assert condition in ranked[:within], f"{condition} not in top {within}: {ranked}"


def assert_trace(assessment: Assessment, rule_ids: Sequence[str]) -> None:
    """Fails unless ``rule_ids`` fired in this relative order."""
    fired = fired_rules(assessment)
    missing = [r for r in rule_ids if r not in fired]
    assert not missing, f"did not fire: {missing}; fired: {fired}"
    positions = [fired.index(r) for r in rule_ids]
    assert positions == sorted(positions), f"fired in another order: {fired}"


def case(findings: Mapping[str, bool] | None = None, **fields: Any) -> dict[str, Any]:
    """A case dict in the case format: ``case({"pain.calf": True}, side="left")``."""
    return {"format": "kneerules.case/1", "findings": dict(findings or {}), **fields}


@pytest.fixture
def make_engine() -> Callable[..., Any]:
    """A factory for engines with a fresh plugin manager: ``make_engine(plugins=[...])``."""
    return make_test_engine
