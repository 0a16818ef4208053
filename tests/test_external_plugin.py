"""The worked external plugin (examples/popliteal_aneurysm_plugin) adds a condition."""

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
    assert_red_flag,
    assert_triage,
    case,
    data_plugin,
    load_case,
)

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "examples" / "popliteal_aneurysm_plugin"
DATA = PROJECT / "src" / "kneerules_popliteal_aneurysm" / "popliteal_aneurysm.yaml"
PULSING_LUMP = PROJECT / "examples" / "pulsing-lump.json"
COLD_FOOT = PROJECT / "examples" / "cold-foot.json"


@pytest.fixture
def kneerules_plugins() -> list[object]:
    """kneerules_engine with the example's rule data beside the built-in plugins."""
    return [data_plugin(DATA)]


def test_rule_data_passes_check() -> None:
    """`kneerules check` finds no problem in the example plugin's data."""
    assert_lint_clean(PROJECT)


def test_pulsing_lump_puts_aneurysm_first(kneerules_engine: Any,
                                          make_engine: Callable[..., Any]) -> None:
    """Without the plugin the aneurysm is not in the differential; with it, it leads."""
    without = make_engine().evaluate(load_case(PULSING_LUMP))
    assert_not_in_differential(without, "popliteal_aneurysm")
    assessment = kneerules_engine.evaluate(load_case(PULSING_LUMP))
    assert_ranks(assessment, "popliteal_aneurysm")
    assert_advice(assessment, "popliteal_aneurysm.see_a_doctor")
    assert_triage(assessment, "urgent")  # the core's floor for a pulsing lump is kept


def test_new_finding_makes_an_emergency(kneerules_engine: Any) -> None:
    """The finding the plugin adds (a cold, pale foot) raises an emergency and a red flag."""
    assessment = kneerules_engine.evaluate(load_case(COLD_FOOT))
    assert_triage(assessment, "emergency")
    assert_red_flag(assessment, "popliteal_aneurysm.limb_ischaemia")
    assert_ranks(assessment, "popliteal_aneurysm")


def test_new_finding_is_unknown_without_the_plugin(make_engine: Callable[..., Any]) -> None:
    """Without the plugin its finding is a case error naming the field, not ignored."""
    from kneerules.errors import CaseError

    with pytest.raises(CaseError, match=r"popliteal_aneurysm\.foot_cold_pale"):
        make_engine().evaluate(case({"popliteal_aneurysm.foot_cold_pale": True}))


def _eval_json(env: FreshEnv, path: Path, *options: str) -> dict[str, Any]:
    result = env.run("kneerules", "eval", path, "--format", "json", *options)
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture(scope="module")
def installed(fresh_env: FreshEnv) -> tuple[FreshEnv, dict[str, Any]]:
    """The fresh environment after pip installs the example, and an assessment from before."""
    before = _eval_json(fresh_env, PULSING_LUMP)
    fresh_env.pip_install(PROJECT)
    return fresh_env, before


@pytest.mark.slow
def test_installed_plugin_is_listed(installed: tuple[FreshEnv, dict[str, Any]]) -> None:
    """After pip install, `kneerules plugins` lists it with its distribution and version."""
    env, _ = installed
    listing = env.run("kneerules", "plugins").stdout
    assert "popliteal_aneurysm 0.1.0  [entry point (kneerules-popliteal-aneurysm)]" in listing


@pytest.mark.slow
def test_installed_plugin_changes_the_assessment(
        installed: tuple[FreshEnv, dict[str, Any]]) -> None:
    """After pip install, the same case gets the aneurysm first; --disable takes it away."""
    env, before = installed
    after = _eval_json(env, PULSING_LUMP)
    ranked_before = [e["condition"] for e in before["differential"]]
    ranked_after = [e["condition"] for e in after["differential"]]
    assert "popliteal_aneurysm" not in ranked_before
    assert ranked_after[0] == "popliteal_aneurysm"
    assert "popliteal_aneurysm" in [p["name"] for p in after["engine"]["plugins"]]
    disabled = _eval_json(env, PULSING_LUMP, "--disable", "popliteal_aneurysm")
    assert [e["condition"] for e in disabled["differential"]] == ranked_before


@pytest.mark.slow
def test_installed_plugin_own_tests_pass(installed: tuple[FreshEnv, dict[str, Any]]) -> None:
    """The example's own test suite, using kneerules.testing, passes against the install."""
    env, _ = installed
    result = env.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                     cwd=env.root / "projects" / PROJECT.name)
    assert "5 passed" in result.stdout
