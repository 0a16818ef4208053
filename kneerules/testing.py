"""Helpers and pytest fixtures for testing kneerules plugins.

Registered as a pytest plugin (the ``pytest11`` entry point), so a plugin's
own tests get the fixtures with no import:

    def test_my_rule(make_engine):
        engine = make_engine(plugins=[my_plugin.plugin])
        assessment = engine.evaluate(case({"my_condition.sign": True}))
        assert_fires(assessment, "my_condition.my_rule")

or, choosing the plugins once for a whole test module:

    @pytest.fixture
    def kneerules_plugins():
        return [my_plugin.plugin]

    def test_it(kneerules_engine): ...

Every ``assert_*`` helper fails with a message that shows what happened instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from kneerules.model.records import Assessment, TraceStep

if TYPE_CHECKING:
    from kneerules.cli.whynot import RuleExplanation
    from kneerules.engine import Engine
    from kneerules.knowledge.dataplugin import DataPlugin


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
    from kneerules.knowledge.plugins import get_plugin_manager

    pm = get_plugin_manager(disable=disable, builtins=builtins, entry_points=entry_points,
                            extra=plugins)
    return Engine(ruleset, disable=disable, plugin_manager=pm)


def data_plugin(path: str | Path, name: str | None = None) -> DataPlugin:
    """A plugin made from one rule data file, named after the file: for testing rule data
    before it is packaged (``make_engine(plugins=[data_plugin("my.yaml")])``)."""
    from kneerules.knowledge.dataplugin import DataPlugin

    path = Path(path)
    return DataPlugin(name or path.stem, path)


def load_case(path: str | Path) -> dict[str, Any]:
    """A case file (``kneerules.case/1`` JSON) as a dict, ready for ``engine.evaluate``."""
    with open(path, encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def case(findings: Mapping[str, bool] | None = None, **fields: Any) -> dict[str, Any]:
    """A case dict in the case format: ``case({"pain.calf": True}, side="left")``."""
    return {"format": "kneerules.case/1", "findings": dict(findings or {}), **fields}


def fired_rules(assessment: Assessment) -> list[str]:
    """The ids of the rules that fired, in firing order."""
    return [step.rule for step in assessment.trace]


def assert_fires(assessment: Assessment, rule_id: str) -> None:
    """Fails unless ``rule_id`` fired, showing the rules that did."""
    __tracebackhide__ = True
    fired = fired_rules(assessment)
    assert rule_id in fired, f"{rule_id} did not fire; fired: {fired}"


def assert_does_not_fire(assessment: Assessment, rule_id: str) -> None:
    """Fails if ``rule_id`` fired."""
    __tracebackhide__ = True
    fired = fired_rules(assessment)
    assert rule_id not in fired, f"{rule_id} fired; fired: {fired}"


def assert_triage(assessment: Assessment, level: str) -> None:
    """Fails unless the triage level is ``level``, showing the rules that set it."""
    __tracebackhide__ = True
    got = assessment.triage
    assert got.level == level, f"triage {got.level} (because {list(got.because)}), not {level}"


def assert_ranks(assessment: Assessment, condition: str, within: int = 1) -> None:
    """Fails unless ``condition`` is among the first ``within`` of the differential."""
    __tracebackhide__ = True
    ranked = [entry.condition for entry in assessment.differential]
    assert condition in ranked[:within], f"{condition} not in top {within}: {ranked}"


def assert_likelihood(assessment: Assessment, condition: str, likelihood: str) -> None:
    """Fails unless ``condition`` is in the differential with this ``likelihood``."""
    __tracebackhide__ = True
    found = {e.condition: (e.likelihood, e.score) for e in assessment.differential}
    assert condition in found, f"{condition} is not in the differential: {found}"
    assert found[condition][0] == likelihood, (
        f"{condition} is {found[condition][0]} (score {found[condition][1]:g}), not {likelihood}")


def assert_not_in_differential(assessment: Assessment, condition: str) -> None:
    """Fails if ``condition`` is in the differential, showing its evidence."""
    __tracebackhide__ = True
    for entry in assessment.differential:
        assert entry.condition != condition, (
            f"{condition} is in the differential: {[e.rule for e in entry.evidence]}")


def assert_red_flag(assessment: Assessment, flag_id: str) -> None:
    """Fails unless a red flag ``flag_id`` was raised, showing those that were."""
    __tracebackhide__ = True
    raised = [flag.id for flag in assessment.red_flags]
    assert flag_id in raised, f"no red flag {flag_id}; raised: {raised}"


def assert_advice(assessment: Assessment, advice_id: str) -> None:
    """Fails unless the advice ``advice_id`` is given, showing the advice that is."""
    __tracebackhide__ = True
    given = [item.id for item in assessment.advice]
    assert advice_id in given, f"advice {advice_id} not given; given: {given}"


def assert_trace(assessment: Assessment, rule_ids: Sequence[str]) -> None:
    """Fails unless ``rule_ids`` fired in this relative order."""
    __tracebackhide__ = True
    fired = fired_rules(assessment)
    missing = [r for r in rule_ids if r not in fired]
    assert not missing, f"did not fire: {missing}; fired: {fired}"
    positions = [fired.index(r) for r in rule_ids]
    assert positions == sorted(positions), f"fired in another order: {fired}"


def trace_step(assessment: Assessment, rule_id: str) -> TraceStep:
    """The trace step of ``rule_id`` (what it matched, what it concluded); fails if it
    did not fire."""
    __tracebackhide__ = True
    assert_fires(assessment, rule_id)
    return next(step for step in assessment.trace if step.rule == rule_id)


def why_not(engine: Engine, case_data: Mapping[str, Any], rule_id: str) -> RuleExplanation:
    """Whether ``rule_id`` fired for a case and, if not, the first condition that failed
    (``.failure``) or the ``after`` conclusions it waited on (``.missing``)."""
    from kneerules.cli.whynot import explain_rules

    parsed = engine.parse(dict(case_data))
    return explain_rules(engine, parsed, engine.evaluate(parsed), [rule_id])[0]


def assert_installed(plugin: str) -> None:
    """Fails unless ``plugin`` is installed under the ``kneerules`` entry point and loads."""
    __tracebackhide__ = True
    from kneerules.knowledge.plugins import ENTRY_POINT_GROUP, describe_plugins, get_plugin_manager

    names = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    assert plugin in names, f"no {ENTRY_POINT_GROUP!r} entry point named {plugin!r}: {names}"
    loaded = [p.name for p in describe_plugins(get_plugin_manager())]
    assert plugin in loaded, f"{plugin} did not load; loaded: {loaded}"


def assert_lint_clean(*paths: str | Path) -> None:
    """Fails unless ``kneerules check`` finds no problem in ``paths`` (with the installed
    plugins), listing every problem it finds."""
    __tracebackhide__ = True
    from kneerules.cli.lint import lint

    report = lint([Path(p) for p in paths])
    assert not report.problems, "\n".join(str(p) for p in report.problems)


@pytest.fixture
def make_engine() -> Callable[..., Any]:
    """A factory for engines with a fresh plugin manager: ``make_engine(plugins=[...])``."""
    return make_test_engine


@pytest.fixture
def kneerules_plugins() -> Sequence[object]:
    """Plugin objects added to the built-in ones by ``kneerules_engine``: override it."""
    return ()


@pytest.fixture
def kneerules_disable() -> Sequence[str]:
    """Plugins ``kneerules_engine`` leaves out: override it."""
    return ()


@pytest.fixture
def kneerules_ruleset() -> str:
    """The rule set of ``kneerules_engine``: override it."""
    return "posterior-knee"


@pytest.fixture(scope="session")
def _kneerules_engines() -> dict[tuple[Any, ...], Any]:
    # Building an engine compiles every rule: tests asking for the same plugins share one.
    return {}


@pytest.fixture
def kneerules_engine(
    kneerules_plugins: Sequence[object],
    kneerules_disable: Sequence[str],
    kneerules_ruleset: str,
    _kneerules_engines: dict[tuple[Any, ...], Any],
) -> Any:
    """An engine with the built-in plugins plus ``kneerules_plugins``, without
    ``kneerules_disable``, for rule set ``kneerules_ruleset``; shared by tests that ask
    for the same."""
    key = (tuple(kneerules_plugins), tuple(kneerules_disable), kneerules_ruleset)
    if key not in _kneerules_engines:
        _kneerules_engines[key] = make_test_engine(kneerules_plugins, kneerules_disable,
                                                   kneerules_ruleset)
    return _kneerules_engines[key]
