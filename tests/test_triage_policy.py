"""Triage policy (assessment spec, v3 by default): each rule, its timeframe, what it names,
the floor."""

from __future__ import annotations

from typing import Any

import pytest

from kneerules import Engine
from kneerules.knowledge.bibliography import cited
from kneerules.knowledge.policy import FLOOR_RULES, TIMEFRAME_WORDS
from kneerules.testing import assert_triage, case

INJURED = {"pain.behind_knee": True, "injury.twisting": True}
YOUNG = {"patient": {"age": 30}}


@pytest.mark.parametrize(("findings", "fields", "timeframe", "rule", "names"), [
    # v1 emergency 3 (now): fever (or 38 °C or more) + a swollen knee + redness or warmth
    ({"pain.behind_knee": True, "sign.fever": True, "sign.knee_swelling": True,
      "sign.warmth": True}, {}, "now", "joint_infection.fever_hot_swollen_knee",
     "joint_infection"),
    ({"pain.behind_knee": True, "sign.swelling_behind_knee": True, "sign.redness": True},
     {"measurements": {"temperature_c": 38.0}}, "now", "joint_infection.fever_hot_swollen_knee",
     "joint_infection"),
    # v1 urgent 1: after an injury (v1)
    ({**INJURED, "sign.locking": True, "sign.difficulty_straightening": True}, YOUNG,
     "within_48_hours", "general.locked_knee", None),
    ({"pain.behind_knee": True, "sign.locking": True, "sign.difficulty_straightening": True},
     {"onset": "sudden", **YOUNG}, "within_48_hours", "general.locked_knee", None),
    ({"pain.behind_knee": True, "injury.overuse": True, "sign.unable_to_bear_weight": True},
     YOUNG, "today", "general.cannot_bear_weight_sudden_onset", None),  # v3 U1b: no acute injury
    ({**INJURED, "sign.unable_to_bear_weight": True},
     YOUNG, "today", "knee_fracture.cannot_bear_weight", "knee_fracture"),
    ({"pain.behind_knee": True, "injury.pop": True, "sign.knee_swelling": True}, YOUNG,
     "within_48_hours", "general.pop_and_swelling", None),
    # v1 urgent 2: a pulsing lump
    ({"pain.behind_knee": True, "sign.pulsatile_mass": True}, {}, "within_48_hours",
     "popliteal_aneurysm.pulsing_lump", "popliteal_aneurysm"),
    # 4, 4b: a threatened leg
    ({"sign.cold_pale_foot": True}, {}, "now", "limb_ischaemia.cold_pale_foot",
     "limb_ischaemia"),
    ({"sign.foot_numbness_weakness": True, "sign.pulsatile_mass": True}, {}, "now",
     "limb_ischaemia.numb_foot", "limb_ischaemia"),
    ({"sign.absent_foot_pulses": True, "injury.large_force": True}, {}, "now",
     "limb_ischaemia.absent_pulses", "limb_ischaemia"),
    ({"sign.absent_foot_pulses": True}, {"onset": "gradual"}, "today",
     "limb_ischaemia.absent_pulses_alone", "limb_ischaemia"),
    # 5, 6: dislocation, compartment syndrome
    ({"sign.knee_deformity": True}, {"onset": "sudden"}, "now", "knee_dislocation.deformity",
     "knee_dislocation"),
    ({"sign.pain_out_of_proportion": True, "risk.anticoagulant": True}, {}, "now",
     "compartment_syndrome.pain_with_cause", "compartment_syndrome"),
    # 7, 10, 19: joint infection without or with fever
    ({"sign.knee_swelling": True, "sign.redness": True, "history.knee_replacement": True,
      "injury.large_force": True}, {}, "today", "joint_infection.after_knee_surgery",
     "joint_infection"),
    ({"sign.knee_swelling": True, "sign.warmth": True}, {}, "today",
     "joint_infection.hot_swollen_knee", "joint_infection"),
    ({"sign.unable_to_bear_weight": True, "sign.fever": True}, {}, "now",
     "joint_infection.cannot_bear_weight_fever", "joint_infection"),
    # 8: clot in the lung, more signs
    ({"pain.calf": True, "sign.coughing_blood": True}, {"side": "both"}, "now",
     "pulmonary_embolism.coughing_blood_or_collapse", "pulmonary_embolism"),
    # 9, 11, 12, 13: a DVT to exclude today
    ({"pain.calf": True, "test.d_dimer_positive": True}, {"side": "both"}, "today",
     "dvt.d_dimer_both_legs", "dvt"),
    ({"sign.calf_swelling": True}, {"side": "left"}, "today", "dvt.swollen_calf_needs_test",
     "dvt"),
    ({"pain.calf": True, "risk.pregnancy": True}, {}, "today", "dvt.pregnancy_leg_symptoms",
     "dvt"),
    ({"pain.calf": True, "risk.active_cancer": True, "risk.previous_dvt": True},
     {"side": "both"}, "today", "dvt.both_legs_wells", "dvt"),
    # 14, 15, 16: Ottawa, extensor mechanism, hamstring avulsion
    ({**INJURED, "sign.fibular_head_tenderness": True}, YOUNG, "today", "knee_fracture.ottawa",
     "knee_fracture"),
    ({"injury.large_force": True, "sign.cannot_straight_leg_raise": True}, YOUNG, "today",
     "extensor_mechanism_rupture.cannot_straight_leg_raise", "extensor_mechanism_rupture"),
    ({"injury.pop": True, "pain.back_of_thigh": True, "sign.bruising": True}, YOUNG,
     "within_48_hours", "hamstring_avulsion.pop_thigh_pain", "hamstring_avulsion"),
    # 17, 18, 18a: possible tumour
    ({"pain.at_rest": True}, {"patient": {"age": 15}, "side": "left"}, "within_48_hours",
     "tumour.young_rest_pain", "tumour"),
    ({"sign.lump_growing": True}, {"patient": {"age": 60}}, "within_2_weeks",
     "tumour.growing_lump", "tumour"),
    ({"pain.at_rest": True, "sign.weight_loss": True}, {"patient": {"age": 60}},
     "within_2_weeks", "tumour.rest_pain_weight_loss", "tumour"),
    ({"sign.lump_growing": True}, {"patient": {"age": 20}}, "within_48_hours",
     "tumour.growing_lump_young", "tumour"),
    # 20: cannot bear weight with no injury
    ({"sign.unable_to_bear_weight": True}, {"onset": "gradual"}, "today",
     "general.cannot_bear_weight_no_injury", None),
])
def test_policy_rule_sets_its_timeframe_and_names_its_condition(
        engine: Engine, findings: dict[str, bool], fields: dict[str, Any], timeframe: str,
        rule: str, names: str | None) -> None:
    """Each rule of policy v2 sets its timeframe (the level follows), is named as the reason,
    adds a red flag naming its condition, and that condition is must-not-miss."""
    assessment = engine.evaluate(case(findings, **fields))
    assert assessment.triage.timeframe == timeframe, assessment.triage
    assert rule in assessment.triage.because
    flags = [f for f in assessment.red_flags if f.rule == rule]
    assert flags, assessment.red_flags
    assert flags[0].condition == names
    if names is not None:
        entry = next(e for e in assessment.differential if e.condition == names)
        assert entry.must_not_miss
        assert entry.likelihood in ("possible", "likely")


@pytest.mark.parametrize(("findings", "fields"), [
    # v3 narrows DVT suspicion: calf pain with tenderness alone (Wells 1, no risk factor)
    ({"pain.calf": True, "sign.calf_tenderness": True}, {"side": "left", **YOUNG}),
    # a clear calf-muscle injury (D5): every provoking risk factor recorded absent
    ({"pain.calf": True, "injury.overstretch": True, "risk.active_cancer": False,
      "risk.leg_in_plaster": False, "risk.bedridden": False, "risk.recent_surgery": False,
      "risk.previous_dvt": False, "risk.hormonal_therapy": False,
      "risk.long_haul_travel": False, "sign.calf_tenderness": True},
     {"side": "left", "onset": "sudden", "patient": {"age": 30, "sex": "male"}}),
    # locking that came on gradually, with no injury
    ({"pain.behind_knee": True, "sign.locking": True, "sign.difficulty_straightening": True},
     {"onset": "gradual"}),
    # locking after an injury, but the leg straightens
    ({**INJURED, "sign.locking": True}, YOUNG),
    # a pop without swelling
    ({"pain.behind_knee": True, "injury.pop": True, "sign.knee_swelling": False}, YOUNG),
    # pain in both calves, nothing one-sided and no risk factor
    ({"pain.calf": True, "sign.calf_swelling": False}, {"side": "both"}),
    # a twist 8 days ago at 60: outside the Ottawa window
    (INJURED, {"patient": {"age": 60}, "measurements": {"duration_days": 8}}),
])
def test_policy_does_not_over_triage(engine: Engine, findings: dict[str, bool],
                                     fields: dict[str, Any]) -> None:
    """Findings short of a policy rule stay routine, with no red flag: no alarm for everything."""
    assessment = engine.evaluate(case(findings, **fields))
    assert_triage(assessment, "routine")
    assert assessment.red_flags == ()


def test_every_case_is_at_least_routine(engine: Engine) -> None:
    """Even an empty case is routine with the review rule as its reason."""
    assessment = engine.evaluate(case({}))
    assert_triage(assessment, "routine")
    assert assessment.triage.timeframe == "routine"
    assert assessment.triage.because == ("general.new_pain_review",)


def test_strong_evidence_alone_never_raises_triage(engine: Engine) -> None:
    """A textbook hamstring strain, however certain, is routine: evidence is not an alarm."""
    assessment = engine.evaluate(case({
        "pain.back_of_thigh": True, "pain.behind_knee": True, "pain.sharp": True,
        "injury.overstretch": True, "activity.running": True, "worse.speed_change": True},
        onset="sudden", patient={"age": 28}))
    assert assessment.differential[0].score >= 10
    assert_triage(assessment, "routine")


@pytest.mark.parametrize("timeframe", ["now", "today", "within_48_hours", "within_2_weeks",
                                       "routine"])
def test_triage_message_says_the_timeframe_in_words(engine: Engine, timeframe: str) -> None:
    """For every timeframe some rule sets, the message says it in words."""
    words = {"now": "immediate", "today": "today", "within_48_hours": "48 hours",
             "within_2_weeks": "2 weeks", "routine": "doctor or physiotherapist"}[timeframe]
    setting = [r for r in engine.knowledge.rules
               if r.then.triage and r.then.triage.timeframe == timeframe]
    assert setting
    for rule in setting:
        assert words in rule.then.triage.message.lower(), rule.id  # type: ignore[union-attr]
    assert TIMEFRAME_WORDS[timeframe]


def test_every_floor_rule_sets_a_timeframe_and_cites_its_guideline(engine: Engine) -> None:
    """Each rule of the policy floor exists, has a plain because, and cites the policy."""
    rules = {r.id: r for r in engine.knowledge.rules}
    for policy_rule, ids in FLOOR_RULES.items():
        for rule_id in ids:
            rule = rules[rule_id]
            assert rule.because.strip(), rule_id
            keys = {ref.key for ref in cited(rule.source, engine.knowledge.references)}
            assert keys & {"policy-v1", "policy-v2", "policy-v3", "pain-behind-the-knee"}, (
                policy_rule, rule_id)


def test_unrecorded_fever_beside_a_hot_swollen_knee_asks_for_a_temperature(engine: Engine) -> None:
    """A swollen warm knee with fever unrecorded asks for a temperature (a fever would make
    it an emergency); recorded afebrile, it does not ask."""
    findings = {"pain.behind_knee": True, "sign.knee_swelling": True, "sign.warmth": True}
    unknown = engine.evaluate({"findings": findings})
    assert unknown.triage.timeframe == "today"  # rule 10, even without a fever
    assert "general.check_temperature" in [a.id for a in unknown.advice]
    afebrile = engine.evaluate({"findings": findings, "measurements": {"temperature_c": 36.8}})
    assert "general.check_temperature" not in [a.id for a in afebrile.advice]
