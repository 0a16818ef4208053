"""Triage policy v2 as the engine enforces it: timeframes, the policy floor, safe advice.

The clinical rules themselves are data in the plugins; this module holds what the
engine must know whatever the plugins say (``../shared/spec/assessment-format.md``,
"Triage policy, version 2" and "Advice under policy v2"):

- the timeframes, their order and the level each one means;
- the policy floor: the plugins and rules that hold the policy, which no rule set may
  leave out and no one may switch off;
- which treatments advice may never carry while a rule names a serious condition, or
  while a finding is recorded (pregnancy and anti-inflammatories...).
"""

from __future__ import annotations

from kneerules.model.rules import (
    DEFAULT_TIMEFRAME,
    TIMEFRAME_LEVEL,
    TIMEFRAME_RANK,
    TIMEFRAMES,
    Timeframe,
    Treatment,
)

TIMEFRAME_WORDS: dict[str, str] = {
    "now": "seek immediate medical attention",
    "today": "see a doctor today",
    "within_48_hours": "see a doctor within 48 hours",
    "within_2_weeks": "see a doctor within 2 weeks",
    "routine": "see a doctor or physiotherapist; self-care meanwhile",
}
"""What each timeframe asks of the patient, in words; every triage message says it."""

SAFETY_PLUGIN = "dvt"

SERIOUS_CONDITIONS: tuple[str, ...] = (
    "dvt",
    "pulmonary_embolism",
    "compartment_syndrome",
    "limb_ischaemia",
    "knee_dislocation",
    "knee_fracture",
    "joint_infection",
    "popliteal_aneurysm",
    "tumour",
    "hamstring_avulsion",
    "extensor_mechanism_rupture",
)
"""The conditions policy v2's advice rules name: no compression, exercise, stretching or
massage while a rule names one of them."""

POLICY_FLOOR: tuple[str, ...] = (
    "dvt",
    "general",
    "pulmonary_embolism",
    "joint_infection",
    "limb_ischaemia",
    "knee_dislocation",
    "compartment_syndrome",
    "knee_fracture",
    "extensor_mechanism_rupture",
    "hamstring_avulsion",
    "popliteal_aneurysm",
    "tumour",
)
"""Plugins that hold triage policy v2: every rule set includes them, none can be switched
off. ``general`` holds the definitions, the rules that name nothing and the advice every
case needs; ``dvt`` (the safety plugin, first to fire) the DVT rules; each serious
condition's plugin the rules that name it."""

FLOOR_RULES: dict[str, tuple[str, ...]] = {
    "v1 emergency 1 (suspected DVT)": (
        "dvt.red_warm_swollen_calf", "dvt.wells_two_or_more", "dvt.swollen_calf_with_risk",
        "dvt.self_test_with_swelling", "dvt.self_test_with_risk", "dvt.d_dimer_positive",
        "dvt.suspected_is_emergency"),
    "v1 emergency 2 (clot in the lung)": ("pulmonary_embolism.breathless_or_chest_pain",),
    "v1 emergency 3 (joint infection with fever)": ("joint_infection.fever_hot_swollen_knee",),
    "v1 urgent 1 (after an injury)": (
        "general.locked_knee", "general.pop_and_swelling", "knee_fracture.cannot_bear_weight"),
    "v1 urgent 2 (pulsing lump)": ("popliteal_aneurysm.pulsing_lump",),
    "4 (threatened leg)": (
        "limb_ischaemia.cold_pale_foot", "limb_ischaemia.numb_foot",
        "limb_ischaemia.absent_pulses"),
    "4b (weak or absent foot pulses)": ("limb_ischaemia.absent_pulses_alone",),
    "5 (knee dislocation)": ("knee_dislocation.deformity",),
    "6 (compartment syndrome)": ("compartment_syndrome.pain_with_cause",),
    "7 (knee after surgery or replacement)": ("joint_infection.after_knee_surgery",),
    "8 (clot in the lung, more signs)": ("pulmonary_embolism.coughing_blood_or_collapse",),
    "9 (raised D-dimer, both legs)": ("dvt.d_dimer_both_legs",),
    "10 (hot swollen knee)": ("joint_infection.hot_swollen_knee",),
    "11 (swollen calf in one leg)": ("dvt.swollen_calf_needs_test",),
    "12 (leg symptoms in pregnancy)": ("dvt.pregnancy_leg_symptoms",),
    "13 (both legs, Wells 2 or more)": ("dvt.both_legs_wells",),
    "14 (Ottawa knee rule)": ("knee_fracture.ottawa",),
    "15 (extensor mechanism)": ("extensor_mechanism_rupture.cannot_straight_leg_raise",),
    "16 (hamstring avulsion)": ("hamstring_avulsion.pop_thigh_pain",),
    "17 (young person, pain at rest)": ("tumour.young_rest_pain",),
    "18 (possible tumour)": ("tumour.growing_lump", "tumour.rest_pain_weight_loss"),
    "18a (growing lump, under 25)": ("tumour.growing_lump_young",),
    "19 (cannot bear weight with a fever)": ("joint_infection.cannot_bear_weight_fever",),
    "20 (cannot bear weight, no injury)": ("general.cannot_bear_weight_no_injury",),
    "every case at least routine": ("general.new_pain_review",),
}
"""Each rule of policy v2 and the rule ids that carry it: an engine without any of them
is refused (a plugin of the floor replaced by one that lost a rule)."""

# --- Advice under policy v2 ------------------------------------------------------------

TREATMENTS: tuple[str, ...] = Treatment.__args__  # type: ignore[attr-defined]

KIND_TREATMENTS: dict[str, tuple[Treatment, ...]] = {
    # What an advice kind always advises, whether or not its author listed it.
    "rice": ("rest", "ice", "compression", "elevation"),
    # Medication "to reduce pain and swelling" is, in practice, an anti-inflammatory:
    # withheld in pregnancy and with a blood thinner, and given with its cautions.
    "medication": ("anti_inflammatory",),
    "exercise": ("exercise",),
    "physiotherapy": ("exercise",),
    "brace": ("brace",),
}

UNSAFE_WHILE_NAMED: dict[str, tuple[str, ...]] = {
    "compression": SERIOUS_CONDITIONS,
    "exercise": SERIOUS_CONDITIONS,
    "stretching": SERIOUS_CONDITIONS,
    "massage": SERIOUS_CONDITIONS,
    "elevation": ("limb_ischaemia", "compartment_syndrome"),
    "ice": ("limb_ischaemia", "compartment_syndrome"),
    "heat": ("limb_ischaemia", "compartment_syndrome"),
    "walking": ("knee_fracture", "knee_dislocation"),
    "drainage": ("popliteal_aneurysm", "tumour"),
}
"""A treatment is never advised while a fired rule's red flag names one of these."""

UNSAFE_WITH_FINDING: dict[str, tuple[str, ...]] = {
    "drainage": ("sign.pulsatile_mass", "sign.lump_growing"),
    "anti_inflammatory": ("risk.pregnancy", "risk.anticoagulant"),
}
"""A treatment is never advised while one of these findings is recorded true."""

CAUTIONS: dict[str, str] = {"anti_inflammatory": "general.anti_inflammatory_cautions"}
"""Wherever a treatment is advised, this advice (its common cautions) goes with it."""

EMERGENCY_KINDS: frozenset[str] = frozenset({"seek_care", "keep_safe", "check", "information"})
"""In an emergency only what keeps the patient safe while help comes: no self-care."""

SAFETY_NET_KIND = "safety_net"
"""Advice of this kind says when to get emergency help at once; every result short of an
emergency carries it."""


__all__ = [
    "CAUTIONS", "DEFAULT_TIMEFRAME", "EMERGENCY_KINDS", "FLOOR_RULES", "KIND_TREATMENTS",
    "POLICY_FLOOR", "SAFETY_NET_KIND", "SAFETY_PLUGIN", "SERIOUS_CONDITIONS", "TIMEFRAMES",
    "TIMEFRAME_LEVEL", "TIMEFRAME_RANK", "TIMEFRAME_WORDS", "TREATMENTS", "UNSAFE_WHILE_NAMED",
    "UNSAFE_WITH_FINDING", "Timeframe", "Treatment",
]
