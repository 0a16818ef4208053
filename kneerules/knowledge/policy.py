"""Triage policy v3 as the engine enforces it: timeframes, the policy floor, the message
precedence, safe advice.

The clinical rules themselves are data in the plugins; this module holds what the
engine must know whatever the plugins say (``docs/triage-policy.md``):

- the timeframes, their order and the level each one means;
- the policy floor: the plugins and rules that hold the policy, which no rule set may
  leave out and no one may switch off;
- the message precedence: which rule's message is ``triage.message`` when several set the
  timeframe (a rule says which policy rule it carries in its ``policy`` field);
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
    "cellulitis",
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
"""The serious conditions of triage policy v2 and v3 (v3 adds cellulitis), each named by
red-flag rules of its own plugin; no compression, exercise, stretching or massage is
advised while one of them is named (:data:`UNSAFE_WHILE_NAMED`)."""

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
    "cellulitis",
)
"""Plugins that hold triage policy v3: every rule set includes them, none can be switched
off. ``general`` holds the definitions, the rules that name nothing and the advice every
case needs; ``dvt`` (the safety plugin, first to fire) the DVT rules; each serious
condition's plugin the rules that name it."""

MESSAGE_PRECEDENCE: tuple[str, ...] = (
    "2", "8", "1p", "1", "11", "12", "9", "13", "1w", "7b", "7c", "S", "3", "19", "4", "4d",
    "5", "5b", "6", "6b", "U1b", "4b", "4c", "5c", "5d", "5e", "6c", "7", "7a", "7d", "7e",
    "10", "12b", "14", "15", "20", "21a", "21c", "U1", "U2", "7f", "10b", "16", "17", "18a",
    "21", "21b", "22", "18", "18b", "23",
)
"""Policy v3's message precedence: when several rules set the timeframe, ``triage.message``
is the message of the first of them in this order (a rule's ``policy`` field); PE first,
then DVT, so that the same-day clot test is not hidden behind another message."""

FLOOR_RULES: dict[str, tuple[str, ...]] = {
    "1p (phlegmasia)": ("dvt.phlegmasia", "limb_ischaemia.phlegmasia"),
    "1 (suspected DVT, 1.1-1.5)": (
        "dvt.d_dimer_positive", "dvt.wells_two_or_more", "dvt.calf_pain_with_risk",
        "dvt.swollen_leg", "dvt.red_warm_calf"),
    "1w (calf pain with a weak risk factor)": ("dvt.weak_risk_factor",),
    "2 (clot in the lung)": ("pulmonary_embolism.breathless_or_chest_pain",),
    "3 (joint infection with fever)": ("joint_infection.fever_hot_swollen_knee",),
    "4 (threatened leg)": (
        "limb_ischaemia.cold_pale_foot", "limb_ischaemia.numb_foot",
        "limb_ischaemia.absent_pulses"),
    "4b (weak or absent foot pulses)": ("limb_ischaemia.absent_pulses_alone",),
    "4c (new foot numbness or weakness)": ("general.numb_foot",),
    "4d (possible acute limb ischaemia)": ("limb_ischaemia.sudden_rest_pain",),
    "5 (knee dislocation)": ("knee_dislocation.deformity", "limb_ischaemia.dislocation"),
    "5b (dislocation that has gone back)": ("knee_dislocation.went_back_with_foot_sign",),
    "5c (knee that looked deformed)": ("knee_dislocation.deformity_checked",),
    "5d (dislocated kneecap)": ("general.kneecap_dislocated",),
    "5e (possible dislocation that went back)": ("knee_dislocation.possibly_reduced",),
    "6 (compartment syndrome)": ("compartment_syndrome.pain_with_cause",),
    "6b (tense calf with a cause)": ("compartment_syndrome.tense_calf_with_cause",),
    "6c (tense calf)": ("compartment_syndrome.tense_calf_alone",),
    "7 (knee after surgery or replacement)": ("joint_infection.after_knee_surgery",),
    "7a (fever with a knee replacement)": ("joint_infection.fever_knee_replacement",),
    "7b (fever with a red, warm, painful leg)": ("cellulitis.febrile_red_leg",
                                                 "dvt.febrile_red_leg"),
    "7c (possible necrotising infection)": ("cellulitis.necrotising",),
    "7d (knee replacement soon after surgery)": ("joint_infection.replacement_after_surgery",),
    "7e (immunosuppressed, swollen knee)": ("joint_infection.immunosuppressed_swollen_knee",),
    "7f (knee replacement, swollen or painful at rest)": (
        "joint_infection.replacement_swollen_or_rest_pain",),
    "8 (clot in the lung, more signs)": ("pulmonary_embolism.coughing_blood_or_collapse",),
    "9 (raised D-dimer, both legs)": ("dvt.d_dimer_both_legs",),
    "10 (hot swollen knee)": ("joint_infection.hot_swollen_knee",),
    "10b (hot swollen knee, later or after an injury)": (
        "joint_infection.hot_swollen_knee_later", "joint_infection.warm_knee_after_injury"),
    "11 (swollen calf in one leg)": ("dvt.swollen_calf_needs_test",),
    "12 (leg symptoms in pregnancy)": ("dvt.pregnancy_leg_symptoms",),
    "12b (pregnancy, both legs swollen)": ("general.pregnancy_both_legs_swollen",),
    "13 (both legs, Wells 2 or more)": ("dvt.both_legs_wells",),
    "14 (Ottawa knee rule)": ("knee_fracture.ottawa",),
    "15 (extensor mechanism)": ("extensor_mechanism_rupture.cannot_straight_leg_raise",),
    "16 (hamstring avulsion)": ("hamstring_avulsion.pop_thigh_pain",),
    "17 (young person, pain at rest)": ("tumour.young_rest_pain",),
    "18 (possible tumour)": ("tumour.growing_lump", "tumour.rest_pain_weight_loss"),
    "18a (growing lump, under 25)": ("tumour.growing_lump_young",),
    "18b (cancer with pain at rest)": ("tumour.cancer_rest_pain",),
    "19 (cannot bear weight with a fever)": ("joint_infection.cannot_bear_weight_fever",),
    "20 (cannot bear weight, no injury)": ("general.cannot_bear_weight_no_injury",),
    "21 (child aged 3-16 with a limp)": ("general.child_limp",),
    "21a (child under 3 with a limp)": ("general.child_under_3_limp",),
    "21b (child aged 9-16 with knee pain)": ("general.child_knee_pain",),
    "21c (child with a fever)": ("joint_infection.child_fever",),
    "22 (knee swelling soon after an injury)": ("general.rapid_swelling_after_injury",),
    "23 (recurrent locking with swelling, young)": ("general.recurrent_locking_young",),
    "S (possible sepsis)": ("general.sepsis",),
    "U1 (after an injury (v1): locked knee, pop with swelling)": (
        "general.locked_knee", "general.pop_and_swelling"),
    "U1b (cannot bear weight after an injury (v1))": (
        "knee_fracture.cannot_bear_weight", "general.cannot_bear_weight_sudden_onset"),
    "U2 (pulsing lump)": ("popliteal_aneurysm.pulsing_lump",),
    "every case at least routine": ("general.new_pain_review",),
}
"""Each rule of policy v3 and the rule ids that carry it: an engine without any of them
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
    "MESSAGE_PRECEDENCE",
    "POLICY_FLOOR", "SAFETY_NET_KIND", "SAFETY_PLUGIN", "SERIOUS_CONDITIONS", "TIMEFRAMES",
    "TIMEFRAME_LEVEL", "TIMEFRAME_RANK", "TIMEFRAME_WORDS", "TREATMENTS", "UNSAFE_WHILE_NAMED",
    "UNSAFE_WITH_FINDING", "Timeframe", "Treatment",
]
