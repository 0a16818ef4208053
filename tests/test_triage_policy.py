"""Triage policy v1 (assessment spec): the urgent rules, the infection emergency, the floor."""

from __future__ import annotations

from typing import Any

import pytest

from kneerules import Engine
from kneerules.testing import assert_triage, case

INJURED = {"pain.behind_knee": True, "injury.twisting": True}


@pytest.mark.parametrize(("findings", "fields", "level", "rule"), [
    # emergency 3: fever (or 38 °C or more) + a swollen knee + redness or warmth
    ({"pain.behind_knee": True, "sign.fever": True, "sign.knee_swelling": True,
      "sign.warmth": True}, {}, "emergency", "general.joint_infection"),
    ({"pain.behind_knee": True, "sign.swelling_behind_knee": True, "sign.redness": True},
     {"measurements": {"temperature_c": 38.0}}, "emergency", "general.joint_infection"),
    # urgent 1: after an injury, locked, cannot bear weight, or a pop with swelling
    ({**INJURED, "sign.locking": True, "sign.difficulty_straightening": True}, {},
     "urgent", "general.locked_knee"),
    ({"pain.behind_knee": True, "sign.locking": True, "sign.difficulty_straightening": True},
     {"onset": "sudden"}, "urgent", "general.locked_knee"),
    ({**INJURED, "sign.unable_to_bear_weight": True}, {}, "urgent", "general.cannot_bear_weight"),
    ({"pain.behind_knee": True, "injury.pop": True, "sign.knee_swelling": True}, {},
     "urgent", "general.pop_and_swelling"),
    # urgent 2: a pulsing lump
    ({"pain.behind_knee": True, "sign.pulsatile_mass": True}, {}, "urgent",
     "general.pulsatile_mass"),
])
def test_policy_raises_the_level(engine: Engine, findings: dict[str, bool],
                                 fields: dict[str, Any], level: str, rule: str) -> None:
    """Each rule of the policy sets its level and is named as the reason."""
    assessment = engine.evaluate(case(findings, **fields))
    assert_triage(assessment, level)
    assert rule in assessment.triage.because


@pytest.mark.parametrize(("findings", "fields"), [
    # no fever, and 37.9 °C is below the threshold
    ({"pain.behind_knee": True, "sign.knee_swelling": True, "sign.warmth": True},
     {"measurements": {"temperature_c": 37.9}}),
    # fever and swelling, but the knee was checked and is neither red nor warm
    ({"pain.behind_knee": True, "sign.fever": True, "sign.knee_swelling": True,
      "sign.redness": False, "sign.warmth": False}, {}),
    # locking that came on gradually, with no injury
    ({"pain.behind_knee": True, "sign.locking": True, "sign.difficulty_straightening": True},
     {"onset": "gradual"}),
    # locking after an injury, but the leg straightens
    ({**INJURED, "sign.locking": True}, {}),
    # a pop without swelling
    ({"pain.behind_knee": True, "injury.pop": True, "sign.knee_swelling": False}, {}),
])
def test_policy_does_not_over_triage(engine: Engine, findings: dict[str, bool],
                                     fields: dict[str, Any]) -> None:
    """Findings short of a policy rule stay routine: no alarm for everything."""
    assert_triage(engine.evaluate(case(findings, **fields)), "routine")


def test_joint_infection_flags_and_considers(engine: Engine) -> None:
    """A possible joint infection raises its red flag and names septic arthritis to consider."""
    assessment = engine.evaluate(case({"pain.behind_knee": True, "sign.fever": True,
                                       "sign.knee_swelling": True, "sign.redness": True}))
    assert [f.id for f in assessment.red_flags] == ["joint_infection.suspected"]
    assert "joint_infection" in {c.id for c in assessment.considerations}
    assert "general.emergency" in [a.id for a in assessment.advice]


def test_pulsatile_lump_considers_aneurysm(engine: Engine) -> None:
    """A pulsing lump names a popliteal aneurysm and gives the urgent advice."""
    assessment = engine.evaluate(case({"sign.pulsatile_mass": True}))
    assert "popliteal_aneurysm" in {c.id for c in assessment.considerations}
    assert "general.urgent" in [a.id for a in assessment.advice]


def test_every_case_is_at_least_routine(engine: Engine) -> None:
    """Even an empty case is routine with the review rule as its reason."""
    assessment = engine.evaluate(case({}))
    assert_triage(assessment, "routine")
    assert assessment.triage.because == ("general.new_pain_review",)


def test_strong_evidence_alone_never_raises_triage(engine: Engine) -> None:
    """A textbook hamstring strain, however certain, is routine: evidence is not an alarm."""
    assessment = engine.evaluate(case({
        "pain.back_of_thigh": True, "pain.behind_knee": True, "pain.sharp": True,
        "injury.overstretch": True, "activity.running": True, "worse.speed_change": True},
        onset="sudden"))
    assert assessment.differential[0].score >= 10
    assert_triage(assessment, "routine")


def test_policy_rules_carry_their_source(engine: Engine) -> None:
    """Every rule that sets a triage level cites triage policy v1 (or the DVT warning)."""
    setting = [r for r in engine.knowledge.rules if r.then.triage]
    assert len(setting) >= 7
    for rule in setting:
        assert "triage policy v1" in rule.source.lower() or "Safety Warning" in rule.source \
            or "Summary" in rule.source, rule.id


def test_unrecorded_fever_beside_a_hot_swollen_knee_asks_for_a_temperature(engine: Engine) -> None:
    """A swollen warm knee with fever unrecorded stays routine but asks for a temperature."""
    findings = {"pain.behind_knee": True, "sign.knee_swelling": True, "sign.warmth": True}
    unknown = engine.evaluate({"findings": findings})
    assert unknown.triage.level == "routine"
    assert "general.check_temperature" in [a.id for a in unknown.advice]
    afebrile = engine.evaluate({"findings": findings, "measurements": {"temperature_c": 36.8}})
    assert "general.check_temperature" not in [a.id for a in afebrile.advice]
