"""Tests of the popliteus tendinopathy plugin; run `pytest` here once it is installed."""

from pathlib import Path

import pytest

import kneerules_popliteus_tendinopathy
from kneerules.testing import (
    assert_advice,
    assert_installed,
    assert_lint_clean,
    assert_not_in_differential,
    assert_ranks,
    assert_triage,
    case,
    load_case,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def kneerules_plugins():
    """The plugins of kneerules_engine: the built-in ones and this one."""
    return [kneerules_popliteus_tendinopathy.plugin]


def test_downhill_runner_ranks_popliteus_first(kneerules_engine):
    """A runner worse downhill, tender over the tendon, gets popliteus tendinopathy first."""
    assessment = kneerules_engine.evaluate(load_case(EXAMPLES / "downhill-runner.json"))
    assert_ranks(assessment, "popliteus_tendinopathy")
    assert_triage(assessment, "routine")
    assert_advice(assessment, "popliteus_tendinopathy.relative_rest")
    assert_advice(assessment, "popliteus_tendinopathy.anti_inflammatory")


def test_pregnancy_withholds_the_anti_inflammatory(kneerules_engine):
    """The engine withholds the plugin's anti-inflammatory advice in pregnancy; the rest stays."""
    assessment = kneerules_engine.evaluate(load_case(EXAMPLES / "pregnant-downhill-runner.json"))
    assert_ranks(assessment, "popliteus_tendinopathy")
    ids = [a.id for a in assessment.advice]
    assert "popliteus_tendinopathy.anti_inflammatory" not in ids
    assert "popliteus_tendinopathy.relative_rest" in ids


def test_calf_pain_alone_does_not_bring_it_in(kneerules_engine):
    """Calf pain without the downhill pattern or tenderness gives no popliteus evidence."""
    assessment = kneerules_engine.evaluate(case({"pain.calf": True, "worse.tiptoe": True}))
    assert_not_in_differential(assessment, "popliteus_tendinopathy")


def test_rule_data_is_clean():
    """`kneerules check` finds no problem in the plugin's rule data."""
    assert_lint_clean(Path(kneerules_popliteus_tendinopathy.__file__).parent)


def test_installed():
    """Installed, kneerules finds the plugin through its entry point."""
    assert_installed("popliteus_tendinopathy")
