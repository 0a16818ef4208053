"""The worked external plugin (examples/popliteus_tendinopathy_plugin) adds a condition."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from freshenv import FreshEnv

from kneerules.testing import (
    assert_advice,
    assert_lint_clean,
    assert_not_in_differential,
    assert_ranks,
    assert_triage,
    case,
    data_plugin,
    load_case,
)

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "examples" / "popliteus_tendinopathy_plugin"
DATA = PROJECT / "src" / "kneerules_popliteus_tendinopathy" / "popliteus_tendinopathy.yaml"
RUNNER_PLAIN = ROOT / "tests" / "data" / "downhill-runner-core-findings.json"
RUNNER = PROJECT / "examples" / "downhill-runner.json"
PREGNANT = PROJECT / "examples" / "pregnant-downhill-runner.json"


@pytest.fixture
def kneerules_plugins() -> list[object]:
    """kneerules_engine with the example's rule data beside the built-in plugins."""
    return [data_plugin(DATA)]


def test_rule_data_passes_check() -> None:
    """`kneerules check` finds no problem in the example plugin's data."""
    assert_lint_clean(PROJECT)


def test_downhill_runner_puts_popliteus_first(kneerules_engine: Any,
                                             make_engine: Callable[..., Any]) -> None:
    """The plugin adds a condition the core does not have, and it leads for its case."""
    assessment = kneerules_engine.evaluate(load_case(RUNNER))
    assert_ranks(assessment, "popliteus_tendinopathy")
    assert_advice(assessment, "popliteus_tendinopathy.relative_rest")
    assert_triage(assessment, "routine")
    without = make_engine().evaluate(
        case({"pain.behind_knee": True, "activity.running": True, "worse.stairs_down": True}))
    assert_not_in_differential(without, "popliteus_tendinopathy")


def test_engine_withholds_the_plugins_unsafe_advice(kneerules_engine: Any) -> None:
    """The plugin's anti-inflammatory advice is withheld in pregnancy by the engine."""
    assessment = kneerules_engine.evaluate(load_case(PREGNANT))
    assert_ranks(assessment, "popliteus_tendinopathy")
    assert "popliteus_tendinopathy.anti_inflammatory" not in [a.id for a in assessment.advice]


def test_plugin_sources_resolve_in_the_bibliography(kneerules_engine: Any) -> None:
    """Every source of the plugin cites the bibliography (English & Perret, by alias)."""
    from kneerules.knowledge.bibliography import source_problems

    mine = [r for r in kneerules_engine.knowledge.rules if r.plugin == "popliteus_tendinopathy"]
    assert mine
    for rule in mine:
        assert source_problems(rule.source, kneerules_engine.knowledge.references) == []


def test_new_finding_is_unknown_without_the_plugin(make_engine: Callable[..., Any]) -> None:
    """Without the plugin its finding is a case error naming the field, not ignored."""
    from kneerules.model.errors import CaseError

    with pytest.raises(CaseError, match=r"popliteus_tendinopathy\.worse_downhill"):
        make_engine().evaluate(case({"popliteus_tendinopathy.worse_downhill": True}))


def _eval_json(env: FreshEnv, path: Path, *options: str) -> dict[str, Any]:
    result = env.run("kneerules", "eval", path, "--format", "json", *options)
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture(scope="module")
def installed(fresh_env: FreshEnv) -> tuple[FreshEnv, dict[str, Any]]:
    """The fresh environment after pip installs the example, and an assessment from before."""
    before = _eval_json(fresh_env, RUNNER_PLAIN)
    fresh_env.pip_install(PROJECT)
    return fresh_env, before


@pytest.mark.slow
def test_installed_plugin_is_listed(installed: tuple[FreshEnv, dict[str, Any]]) -> None:
    """After pip install, `kneerules plugins` lists it with its distribution and version."""
    env, _ = installed
    listing = env.run("kneerules", "plugins").stdout
    assert ("popliteus_tendinopathy 0.1.0  [entry point (kneerules-popliteus-tendinopathy)]"
            in listing)


@pytest.mark.slow
def test_installed_plugin_changes_the_assessment(
        installed: tuple[FreshEnv, dict[str, Any]]) -> None:
    """After pip install, the same case gets popliteus first; --disable takes it away."""
    env, before = installed
    after = _eval_json(env, RUNNER_PLAIN)
    ranked_before = [e["condition"] for e in before["differential"]]
    ranked_after = [e["condition"] for e in after["differential"]]
    assert "popliteus_tendinopathy" not in ranked_before
    assert ranked_after[0] == "popliteus_tendinopathy"
    assert "popliteus_tendinopathy" in [p["name"] for p in after["engine"]["plugins"]]
    disabled = _eval_json(env, RUNNER_PLAIN, "--disable", "popliteus_tendinopathy")
    assert [e["condition"] for e in disabled["differential"]] == ranked_before


@pytest.mark.slow
def test_installed_plugin_own_tests_pass(installed: tuple[FreshEnv, dict[str, Any]]) -> None:
    """The example's own test suite, using kneerules.testing, passes against the install."""
    env, _ = installed
    result = env.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                     cwd=env.root / "projects" / PROJECT.name)
    assert "5 passed" in result.stdout
