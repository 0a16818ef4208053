"""Triage policy v3, read straight from the contract (assessment format, "Triage policy,
version 3") in plain Python.

An independent oracle for the property tests: it does not read the rule data, the
plugins or the engine, only a case dictionary in the case format. Each function is one
definition or rule of the spec; ``expected`` gives the level, the most pressing
timeframe, every condition the applying rules name, and the conditions R1 puts at the
head of the differential, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

RANK = {"routine": 0, "within_2_weeks": 1, "within_48_hours": 2, "today": 3, "now": 4}
LEVEL = {"now": "emergency", "today": "urgent", "within_48_hours": "urgent",
         "within_2_weeks": "urgent", "routine": "routine"}

ACUTE = ("injury.twisting", "injury.large_force", "injury.hyperextension",
         "injury.direction_change", "injury.overstretch", "injury.pop")
ALL_INJURIES = (*ACUTE, "injury.overuse")
WELLS_RISK_ITEMS = ("risk.active_cancer", "risk.leg_in_plaster", "risk.bedridden",
                    "risk.recent_surgery", "risk.previous_dvt")
FOOT_SIGNS = ("sign.cold_pale_foot", "sign.absent_foot_pulses", "sign.foot_numbness_weakness")
LIMP = ("sign.difficulty_walking", "sign.unable_to_bear_weight")
KNEE_SIGNS_D8 = ("sign.knee_swelling", "sign.swelling_behind_knee", "sign.redness",
                 "sign.warmth", "sign.stiffness", "sign.restricted_movement",
                 "sign.difficulty_walking", "sign.unable_to_bear_weight", "sign.locking",
                 "sign.instability", "sign.difficulty_straightening", "sign.rapid_swelling")


class Case:
    """A condition on a finding is met only by ``true``; "recorded false" only by ``false``;
    a measurement only when given."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.f: Mapping[str, bool] = data.get("findings", {})
        self.m: Mapping[str, float] = data.get("measurements", {})
        self.side = data.get("side")
        self.onset = data.get("onset")
        patient = data.get("patient") or {}
        self.age = patient.get("age")
        self.sex = patient.get("sex")

    def t(self, *names: str) -> bool:
        """Any of the findings is recorded true."""
        return any(self.f.get(n) is True for n in names)

    def false(self, name: str) -> bool:
        """The finding is recorded false."""
        return self.f.get(name) is False

    def num(self, name: str) -> float | None:
        value = self.m.get(name)
        return None if value is None else float(value)

    def cm(self, test: Callable[[float], bool]) -> bool:
        value = self.num("calf_swelling_cm")
        return value is not None and test(value)

    def days(self, test: Callable[[float], bool], or_not_given: bool = False) -> bool:
        value = self.num("duration_days")
        return or_not_given if value is None else test(value)

    def age_is(self, test: Callable[[int], bool], or_not_given: bool = False) -> bool:
        return or_not_given if self.age is None else bool(test(self.age))

    # --- D1 ---
    def leg_pain(self) -> bool:
        return self.t("pain.behind_knee", "pain.calf")

    def calf_sign(self) -> bool:  # D4b
        return (self.t("sign.calf_tenderness", "sign.pitting_oedema",
                       "sign.visible_superficial_veins", "test.dorsiflexion_pain")
                or self.calf_swelling())

    def calf_pain(self) -> bool:
        return self.t("pain.calf") or (self.t("pain.behind_knee") and self.calf_sign())

    def acute_injury(self) -> bool:
        return self.t(*ACUTE)

    def injury_v1(self) -> bool:
        return self.onset == "sudden" or self.t(*ALL_INJURIES)

    def knee_injury_ottawa(self) -> bool:
        return (self.t("injury.twisting", "injury.large_force", "injury.hyperextension")
                and self.days(lambda d: d <= 7, or_not_given=True))

    def fever(self) -> bool:
        temp = self.num("temperature_c")
        return self.t("sign.fever") or (temp is not None and temp >= 38)

    # --- D2, D3 ---
    def calf_swelling(self) -> bool:
        return self.t("sign.calf_swelling", "sign.whole_leg_swelling") or self.cm(
            lambda v: v >= 2)

    def one_sided_finding(self) -> bool:
        return self.cm(lambda v: v >= 2) or self.t(
            "sign.calf_swelling", "sign.whole_leg_swelling", "sign.pitting_oedema",
            "sign.calf_tenderness")

    def one_leg(self) -> bool:
        return self.side in ("left", "right", None) or (
            self.side == "both" and self.one_sided_finding())

    def both_legs(self) -> bool:
        return not self.one_leg()

    # --- D4 ---
    def weak_risk(self) -> bool:
        bmi = self.num("bmi")
        return self.t("risk.hormonal_therapy", "risk.obesity", "risk.family_history_clots") or (
            bmi is not None and bmi >= 30)

    # --- D5 ---
    def clear_muscle_injury(self) -> bool:
        bmi = self.num("bmi")
        cm = self.num("calf_swelling_cm")
        return (self.t("pain.calf")
                and self.onset != "gradual"
                and self.t("injury.pop", "injury.direction_change", "injury.overstretch")
                and self.days(lambda d: d <= 14, or_not_given=True)
                and all(self.false(n) for n in WELLS_RISK_ITEMS)
                and (self.false("risk.pregnancy") or self.sex == "male")
                and self.false("risk.hormonal_therapy")
                and self.false("risk.long_haul_travel")
                and not self.t("risk.obesity", "risk.family_history_clots")
                and not (bmi is not None and bmi >= 30)
                and not self.t("sign.whole_leg_swelling", "sign.pitting_oedema",
                               "sign.visible_superficial_veins", "sign.redness")
                and (cm is None or cm < 2)
                and (cm is not None or not self.t("sign.calf_swelling"))
                and not self.t("test.d_dimer_positive"))

    # --- D5b ---
    def wells(self) -> int:
        score = sum([
            self.t("risk.active_cancer"), self.t("risk.leg_in_plaster"),
            self.t("risk.bedridden", "risk.recent_surgery"), self.t("sign.calf_tenderness"),
            self.t("sign.whole_leg_swelling"), self.cm(lambda v: v >= 3),
            self.t("sign.pitting_oedema"), self.t("sign.visible_superficial_veins"),
            self.t("risk.previous_dvt"),
        ])
        if self.t("test.alternative_diagnosis_likely") or self.clear_muscle_injury():
            score -= 2
        return score

    # --- D6 ---
    def wells_worst_case(self) -> int:
        def open_(name: str) -> bool:
            return not self.false(name)
        cm = self.num("calf_swelling_cm")
        return sum([
            open_("risk.active_cancer"), open_("risk.leg_in_plaster"),
            not (self.false("risk.bedridden") and self.false("risk.recent_surgery")),
            open_("sign.calf_tenderness"), open_("sign.whole_leg_swelling"),
            (cm is not None and cm >= 3) or (cm is None and open_("sign.calf_swelling")),
            open_("sign.pitting_oedema"), open_("sign.visible_superficial_veins"),
            open_("risk.previous_dvt"),
        ])

    def dvt_excluded(self) -> bool:
        return (self.false("test.d_dimer_positive") and not self.t("risk.pregnancy")
                and not self.t("risk.anticoagulant") and self.wells_worst_case() <= 1)

    # --- D6b ---
    def long_standing(self) -> bool:
        return self.days(lambda d: d > 28) and self.false("sign.getting_worse")

    # --- D8, D9 ---
    def knee_symptom(self) -> bool:
        return any(v is True and (k.startswith(("pain.", "worse.")) or k in KNEE_SIGNS_D8)
                   for k, v in self.f.items())

    def limp(self) -> bool:
        return self.t(*LIMP)

    def foot_sign(self) -> bool:
        return self.t(*FOOT_SIGNS)


def rules(c: Case) -> list[tuple[str, str, tuple[str, ...]]]:
    """(rule, timeframe, conditions named) for every rule of policy v3 that applies."""
    out: list[tuple[str, str, tuple[str, ...]]] = []

    def add(rule: str, timeframe: str, *names: str) -> None:
        out.append((rule, timeframe, names))

    fever, acute, sudden = c.fever(), c.acute_injury(), c.onset == "sudden"
    not_gradual = c.onset != "gradual"
    d5 = c.clear_muscle_injury()
    scope = c.one_leg() and not c.dvt_excluded() and not c.long_standing()

    # --- now ---
    if c.t("sign.whole_leg_swelling") and c.t("sign.cold_pale_foot"):
        add("1p", "now", "dvt", "limb_ischaemia")
    if c.t("sign.breathlessness", "sign.chest_pain"):
        add("2", "now", "pulmonary_embolism")
    if c.t("sign.coughing_blood", "sign.collapse"):
        add("8", "now", "pulmonary_embolism")
    if fever and c.t("sign.knee_swelling", "sign.swelling_behind_knee") and c.t(
            "sign.redness", "sign.warmth"):
        add("3", "now", "joint_infection")
    if c.t("sign.unable_to_bear_weight") and fever:
        add("19", "now", "joint_infection")
    rule4 = (c.t("sign.cold_pale_foot")
             or (c.t("sign.foot_numbness_weakness")
                 and (acute or not_gradual or c.t("sign.pulsatile_mass")))
             or (c.t("sign.absent_foot_pulses")
                 and (acute or not_gradual
                      or c.t("sign.cold_pale_foot", "sign.foot_numbness_weakness"))))
    if rule4:
        add("4", "now", "limb_ischaemia")
    if (sudden and c.t("pain.at_rest") and c.leg_pain() and not c.false("pain.continuous")
            and c.age_is(lambda a: a >= 50, or_not_given=True) and not acute
            and (c.t("sign.pain_out_of_proportion")
                 or (c.num("pain_score") or 0) >= 8)
            and not c.false("sign.absent_foot_pulses")):
        add("4d", "now", "limb_ischaemia")
    deformity = c.t("sign.knee_deformity") and not (c.onset == "gradual" and not acute)
    foot_unchecked = any(not c.false(n) for n in FOOT_SIGNS)
    rule5 = c.t("sign.knee_deformity_now") or (deformity and (
        c.t("injury.large_force", "injury.hyperextension") or c.foot_sign() or foot_unchecked))
    if rule5:
        add("5", "now", "knee_dislocation", "limb_ischaemia")
    rule5b = c.t("injury.hyperextension", "injury.large_force") and c.t(
        "sign.absent_foot_pulses", "sign.cold_pale_foot")
    if rule5b:
        add("5b", "now", "knee_dislocation")
    calf_neither = (c.false("sign.tense_calf") and not c.calf_swelling()
                    and (c.false("sign.calf_swelling") or c.cm(lambda v: v < 2)))
    rule6 = c.t("sign.pain_out_of_proportion", "sign.pain_on_passive_stretch") and (
        c.t("sign.tense_calf") or c.t("sign.cast_or_tight_bandage")
        or c.t("injury.large_force")
        or (c.t("sign.pain_on_passive_stretch") and acute)
        or (c.t("risk.anticoagulant") and not calf_neither))
    if rule6:
        add("6", "now", "compartment_syndrome")
    rule6b = c.t("sign.tense_calf") and (acute or c.t(
        "sign.cast_or_tight_bandage", "risk.anticoagulant", "sign.foot_numbness_weakness"))
    if rule6b:
        add("6b", "now", "compartment_syndrome")
    if fever and c.t("sign.redness") and c.t("sign.pain_out_of_proportion"):
        add("7c", "now", "cellulitis")
    if c.t("sign.systemically_unwell"):
        add("S", "now")

    # --- today ---
    rule1 = scope and (
        (c.leg_pain() and c.t("test.d_dimer_positive"))
        or (c.leg_pain() and c.wells() >= 2)
        or (c.calf_pain() and c.t(*WELLS_RISK_ITEMS, "risk.long_haul_travel",
                                  "risk.pregnancy"))
        or (not d5 and c.leg_pain() and (c.calf_swelling() or c.t(
            "sign.pitting_oedema", "sign.visible_superficial_veins")))
        or (not d5 and c.calf_pain() and c.t("sign.redness") and c.t("sign.warmth")))
    if rule1:
        add("1", "today", "dvt")
    if (c.calf_swelling() and c.one_leg() and not c.dvt_excluded() and not d5
            and not c.long_standing()):
        add("11", "today", "dvt")
    if c.t("risk.pregnancy") and (c.leg_pain() or c.calf_swelling()) and c.one_leg():
        add("12", "today", "dvt")
    if c.t("test.d_dimer_positive") and c.leg_pain() and c.both_legs():
        add("9", "today", "dvt")
    if c.leg_pain() and c.both_legs() and c.wells() >= 2:
        add("13", "today", "dvt")
    if fever and c.t("sign.redness") and c.t("sign.warmth") and c.leg_pain():
        add("7b", "today", "cellulitis", *(() if c.dvt_excluded() else ("dvt",)))
    if c.injury_v1() and c.t("sign.unable_to_bear_weight"):
        add("U1b", "today", *(("knee_fracture",) if acute else ()))
    if c.t("sign.absent_foot_pulses") and not rule4:
        add("4b", "today", "limb_ischaemia")
    if c.t("sign.foot_numbness_weakness") and not rule4:
        add("4c", "today")
    if deformity and not rule5:
        add("5c", "today", "knee_dislocation")
    if c.t("sign.kneecap_dislocated"):
        add("5d", "today")
    if c.t("injury.hyperextension", "injury.large_force") and c.t("sign.instability") and c.t(
            "sign.knee_swelling", "sign.rapid_swelling", "sign.unable_to_bear_weight"):
        add("5e", "today", "knee_dislocation")
    if c.t("sign.tense_calf") and not rule6 and not rule6b:
        add("6c", "today", "compartment_syndrome")
    if c.t("sign.knee_swelling") and c.t("sign.redness", "sign.warmth") and c.t(
            "history.knee_replacement", "risk.recent_surgery"):
        add("7", "today", "joint_infection")
    if c.t("history.knee_replacement") and fever and c.knee_symptom():
        add("7a", "today", "joint_infection")
    if c.t("history.knee_replacement") and c.t("risk.recent_surgery") and c.t(
            "sign.knee_swelling", "pain.at_rest"):
        add("7d", "today", "joint_infection")
    if c.t("risk.immunosuppressed") and c.t("sign.knee_swelling"):
        add("7e", "today", "joint_infection")
    recent = sudden or c.days(lambda d: d <= 14, or_not_given=True)
    rule10 = c.t("sign.knee_swelling") and recent and (
        c.t("sign.redness") or fever or (c.t("sign.warmth") and not acute))
    if rule10:
        add("10", "today", "joint_infection")
    if (c.t("risk.pregnancy") and c.side == "both"
            and c.t("sign.calf_swelling", "sign.whole_leg_swelling", "sign.pitting_oedema")
            and (sudden or c.days(lambda d: d <= 7, or_not_given=True)
                 or c.t("sign.face_or_hands_swelling"))):
        add("12b", "today")
    ottawa_exam = c.t("sign.fibular_head_tenderness", "sign.patellar_tenderness_only",
                      "sign.cannot_flex_90", "sign.unable_to_bear_weight")
    if c.knee_injury_ottawa() and (c.age_is(lambda a: a >= 55) or ottawa_exam):
        add("14", "today", "knee_fracture")
    if c.t("sign.cannot_straight_leg_raise"):
        add("15", "today", "extensor_mechanism_rupture")
    if c.t("sign.unable_to_bear_weight") and not c.injury_v1():
        add("20", "today")
    if c.age_is(lambda a: a < 3) and c.limp() and not acute:
        add("21a", "today")
    if c.age_is(lambda a: a < 17, or_not_given=True) and fever and (
            c.limp() or c.knee_symptom()):
        add("21c", "today", "joint_infection")

    # --- within_48_hours ---
    rule1w = (scope and not d5 and not rule1 and c.calf_pain() and c.weak_risk())
    if rule1w:
        add("1w", "within_48_hours", "dvt")
    if c.injury_v1() and (
            (c.t("sign.locking") and c.t("sign.difficulty_straightening"))
            or (c.t("injury.pop") and c.t("sign.knee_swelling"))):
        add("U1", "within_48_hours")
    if c.t("sign.pulsatile_mass"):
        add("U2", "within_48_hours", "popliteal_aneurysm")
    if c.t("history.knee_replacement") and c.t("sign.knee_swelling", "pain.at_rest") and not \
            c.t("risk.recent_surgery"):
        add("7f", "within_48_hours", "joint_infection")
    if c.t("sign.knee_swelling") and not rule10 and (
            (c.days(lambda d: d > 14) and not sudden
             and (c.t("sign.redness", "sign.warmth") or fever))
            or (c.t("sign.warmth") and acute and not c.t("sign.rapid_swelling"))):
        add("10b", "within_48_hours", "joint_infection")
    if acute and c.t("injury.pop") and c.t("pain.back_of_thigh") and c.t(
            "sign.bruising", "sign.difficulty_walking"):
        add("16", "within_48_hours", "hamstring_avulsion")
    rule17 = (c.age_is(lambda a: a < 25) and c.t("pain.at_rest") and c.side in ("left", "right")
              and not c.t("risk.leg_in_plaster", "sign.cast_or_tight_bandage")
              and (not c.t(*ALL_INJURIES) or c.days(lambda d: d >= 14)))
    if rule17:
        add("17", "within_48_hours", "tumour")
    rule18a = c.t("sign.lump_growing") and c.age_is(lambda a: a < 25)
    if rule18a:
        add("18a", "within_48_hours", "tumour")
    if c.age_is(lambda a: 3 <= a < 17) and c.limp() and not acute:
        add("21", "within_48_hours")
    if (c.age_is(lambda a: 9 <= a < 17) and c.t("pain.behind_knee", "pain.behind_kneecap")
            and c.one_leg() and not c.t(*ALL_INJURIES)
            and (c.limp() or c.t("sign.hip_pain_or_stiffness", "pain.at_rest"))):
        add("21b", "within_48_hours")
    if acute and c.t("sign.rapid_swelling"):
        add("22", "within_48_hours")

    # --- within_2_weeks ---
    if c.t("sign.lump_growing") or (c.t("pain.at_rest") and c.t("sign.weight_loss")):
        add("18", "within_2_weeks", "tumour")
    if c.t("risk.active_cancer") and c.t("pain.at_rest") and not acute:
        add("18b", "within_2_weeks", "tumour")
    if c.age_is(lambda a: a < 40) and c.t("sign.locking") and c.t("sign.knee_swelling") and (
            c.t("history.knee_injury") or c.days(lambda d: d >= 14)):
        add("23", "within_2_weeks")

    # R1 needs to know these; stored on the case for leading().
    c.r1 = {"rule17": rule17, "rule18a": rule18a}  # type: ignore[attr-defined]
    return out


PRECEDENCE = [
    "2", "8", "1p", "1", "11", "12", "9", "13", "1w", "7b", "7c", "S", "3", "19", "4", "4d",
    "5", "5b", "6", "6b", "U1b", "4b", "4c", "5c", "5d", "5e", "6c", "7", "7a", "7d", "7e",
    "10", "12b", "14", "15", "20", "21a", "21c", "U1", "U2", "7f", "10b", "16", "17", "18a",
    "21", "21b", "22", "18", "18b", "23",
]
"""The message precedence: triage.message is the message of the first of the rules that
set the timeframe, in this order."""


def message_rule(data: Mapping[str, Any]) -> str | None:
    """The rule whose message is triage.message (None when no rule sets a timeframe)."""
    applying = rules(Case(data))
    if not applying:
        return None
    top = max(RANK[tf] for _, tf, _ in applying)
    return min((rule for rule, tf, _ in applying if RANK[tf] == top), key=PRECEDENCE.index)


def leading(c: Case, applying: list[tuple[str, str, tuple[str, ...]]]) -> list[str]:
    """R1: the conditions decisive rules put first, in order (each once, only if named)."""
    fired = {rule for rule, _, _ in applying}
    named = {name for _, _, names in applying for name in names}
    head: list[str] = []

    def put(*conditions: str) -> None:
        for condition in conditions:
            if condition in named and condition not in head:
                head.append(condition)

    if fired & {"2", "8"}:
        put("pulmonary_embolism", "dvt")
    if fired & {"5", "5b"}:
        put("knee_dislocation", "limb_ischaemia")
    if fired & {"6", "6b"}:
        put("compartment_syndrome")
    if fired & {"4", "4d", "1p"}:
        put("limb_ischaemia")
        if "1p" in fired:
            put("dvt")
    if fired & {"3", "19", "7", "7a", "10"}:
        put("joint_infection")
    if "15" in fired and c.acute_injury():
        put("extensor_mechanism_rupture")
    if "14" in fired and c.age_is(lambda a: a >= 55) and c.t(
            "sign.fibular_head_tenderness", "sign.patellar_tenderness_only",
            "sign.cannot_flex_90", "sign.unable_to_bear_weight"):
        put("knee_fracture")
    r1 = c.r1  # type: ignore[attr-defined]
    if (r1["rule17"] and c.t("sign.swelling_behind_knee", "sign.lump_growing")) or r1["rule18a"]:
        put("tumour")
    return head


def notes(c: Case) -> set[str]:
    """The input notes the policy asks for."""
    return ({"input.side_both_one_sided_swelling"}
            if c.side == "both" and c.one_sided_finding() else set())


def expected(data: Mapping[str, Any]) -> tuple[str, str, set[str], list[str]]:
    """(level, timeframe, conditions named, leading conditions) of a case under policy v3."""
    case = Case(data)
    applying = rules(case)
    timeframe = max((tf for _, tf, _ in applying), key=RANK.__getitem__, default="routine")
    named = {name for _, _, names in applying for name in names}
    return LEVEL[timeframe], timeframe, named, leading(case, applying)


def expected_notes(data: Mapping[str, Any]) -> set[str]:
    return notes(Case(data))
