"""Tests of the popliteal aneurysm plugin; run `pytest` here once it is installed."""

from pathlib import Path

import pytest

import kneerules_popliteal_aneurysm
from kneerules.testing import (
    assert_advice,
    assert_does_not_fire,
    assert_installed,
    assert_lint_clean,
    assert_not_in_differential,
    assert_ranks,
    assert_red_flag,
    assert_trace,
    assert_triage,
    case,
    load_case,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def kneerules_plugins():
    """The plugins of kneerules_engine: the built-in ones and this one."""
    return [kneerules_popliteal_aneurysm.plugin]


def test_pulsing_lump_ranks_aneurysm_first(kneerules_engine):
    """A pulsing lump behind the knee puts the aneurysm first, urgent, with its advice."""
    assessment = kneerules_engine.evaluate(load_case(EXAMPLES / "pulsing-lump.json"))
    assert_ranks(assessment, "popliteal_aneurysm")
    assert_triage(assessment, "urgent")
    assert_advice(assessment, "popliteal_aneurysm.see_a_doctor")


def test_cold_foot_below_lump_is_an_emergency(kneerules_engine):
    """A pulsing lump above a cold, pale foot is an emergency, the aneurysm first."""
    assessment = kneerules_engine.evaluate(load_case(EXAMPLES / "cold-foot.json"))
    assert_trace(assessment, ["popliteal_aneurysm.limb_ischaemia",
                              "popliteal_aneurysm.blocked_aneurysm"])
    assert_red_flag(assessment, "popliteal_aneurysm.limb_ischaemia")
    assert_triage(assessment, "emergency")
    assert_ranks(assessment, "popliteal_aneurysm")


def test_cold_foot_alone_is_an_emergency_not_an_aneurysm(kneerules_engine):
    """A cold, pale foot without a lump is an emergency, but no evidence of an aneurysm."""
    assessment = kneerules_engine.evaluate(
        case({"pain.calf": True, "popliteal_aneurysm.foot_cold_pale": True}))
    assert_triage(assessment, "emergency")
    assert_does_not_fire(assessment, "popliteal_aneurysm.blocked_aneurysm")
    assert_not_in_differential(assessment, "popliteal_aneurysm")


def test_rule_data_is_clean():
    """`kneerules check` finds no problem in the plugin's rule data."""
    assert_lint_clean(Path(kneerules_popliteal_aneurysm.__file__).parent)


def test_installed():
    """Installed, kneerules finds the plugin through its entry point."""
    assert_installed("popliteal_aneurysm")
