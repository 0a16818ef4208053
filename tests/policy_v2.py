"""Triage policy v2, read straight from ../shared/spec/assessment-format.md in plain Python.

An independent oracle for the property tests: it does not read the rule data, the
plugins or the engine, only a case dictionary in the case format. Each function is one
sentence of the spec; ``expected`` gives the most pressing timeframe and every condition
the applying rules name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RANK = {"routine": 0, "within_2_weeks": 1, "within_48_hours": 2, "today": 3, "now": 4}
LEVEL = {"now": "emergency", "today": "urgent", "within_48_hours": "urgent",
         "within_2_weeks": "urgent", "routine": "routine"}

DVT_RISKS = ("risk.long_haul_travel", "risk.recent_surgery", "risk.bedridden",
             "risk.leg_in_plaster", "risk.pregnancy", "risk.active_cancer", "risk.previous_dvt")
ACUTE = ("injury.twisting", "injury.large_force", "injury.hyperextension",
         "injury.direction_change", "injury.overstretch", "injury.pop")
ALL_INJURIES = (*ACUTE, "injury.overuse")


class Case:
    """Reads only what is recorded true (a measurement: what is given)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.f = data.get("findings", {})
        self.m = data.get("measurements", {})
        self.side = data.get("side")
        self.onset = data.get("onset")
        self.age = (data.get("patient") or {}).get("age")

    def t(self, *names: str) -> bool:
        """Any of the findings is recorded true."""
        return any(self.f.get(n) is True for n in names)

    def num(self, name: str) -> float | None:
        value = self.m.get(name)
        return None if value is None else float(value)

    # --- Definitions ---
    def leg_pain(self) -> bool:
        return self.t("pain.behind_knee", "pain.calf")

    def calf_swelling(self) -> bool:
        cm = self.num("calf_swelling_cm")
        return self.t("sign.calf_swelling", "sign.whole_leg_swelling") or (
            cm is not None and cm >= 3)

    def one_leg(self) -> bool:
        return self.side in ("left", "right", None)

    def injury_v1(self) -> bool:
        return self.onset == "sudden" or self.t(*ALL_INJURIES)

    def acute_injury(self) -> bool:
        return self.t(*ACUTE)

    def knee_injury_ottawa(self) -> bool:
        days = self.num("duration_days")
        return self.t("injury.twisting", "injury.large_force", "injury.hyperextension") and (
            days is None or days <= 7)

    def fever(self) -> bool:
        temp = self.num("temperature_c")
        return self.t("sign.fever") or (temp is not None and temp >= 38)

    def wells(self) -> int:
        cm = self.num("calf_swelling_cm")
        return sum([
            self.t("risk.active_cancer"), self.t("risk.leg_in_plaster"),
            self.t("risk.bedridden", "risk.recent_surgery"), self.t("sign.calf_tenderness"),
            self.t("sign.whole_leg_swelling"), cm is not None and cm >= 3,
            self.t("sign.pitting_oedema"), self.t("sign.visible_superficial_veins"),
            self.t("risk.previous_dvt"),
        ])

    def age_is(self, test: Any) -> bool:
        return self.age is not None and bool(test(self.age))


def rules(c: Case) -> list[tuple[str, str, str | None]]:
    """(rule, timeframe, condition named) for every rule of policy v2 that applies."""
    out: list[tuple[str, str, str | None]] = []

    def add(rule: str, timeframe: str, names: str | None) -> None:
        out.append((rule, timeframe, names))

    # v1 emergency 1: suspected DVT
    if c.leg_pain() and c.one_leg() and (
            (c.calf_swelling() and c.t("sign.redness", "sign.warmth", "sign.calf_tenderness"))
            or c.wells() >= 2
            or (c.calf_swelling() and c.t(*DVT_RISKS))
            or (c.t("test.dorsiflexion_pain") and (c.calf_swelling() or c.t(*DVT_RISKS)))
            or c.t("test.d_dimer_positive")):
        add("v1e1", "now", "dvt")
    # v1 emergency 2: clot in the lung
    if c.t("sign.breathlessness", "sign.chest_pain") and (c.leg_pain() or c.calf_swelling()):
        add("v1e2", "now", "pulmonary_embolism")
    # v1 emergency 3: joint infection with fever
    if c.fever() and c.t("sign.knee_swelling", "sign.swelling_behind_knee") and c.t(
            "sign.redness", "sign.warmth"):
        add("v1e3", "now", "joint_infection")
    # v1 urgent 1: after an injury (v1)
    if c.injury_v1():
        if c.t("sign.unable_to_bear_weight"):
            add("v1u1-weight", "today", "knee_fracture")
        if c.t("sign.locking") and c.t("sign.difficulty_straightening"):
            add("v1u1-locked", "within_48_hours", None)
        if c.t("injury.pop") and c.t("sign.knee_swelling"):
            add("v1u1-pop", "within_48_hours", None)
    # v1 urgent 2: pulsing lump
    if c.t("sign.pulsatile_mass"):
        add("v1u2", "within_48_hours", "popliteal_aneurysm")
    # 4 and 4b: threatened leg
    sudden = c.onset == "sudden"
    rule4 = (c.t("sign.cold_pale_foot")
             or (c.t("sign.foot_numbness_weakness")
                 and (c.acute_injury() or sudden or c.t("sign.pulsatile_mass")))
             or (c.t("sign.absent_foot_pulses")
                 and (c.acute_injury() or sudden
                      or c.t("sign.cold_pale_foot", "sign.foot_numbness_weakness"))))
    if rule4:
        add("4", "now", "limb_ischaemia")
    companions = (c.acute_injury() or sudden
                  or c.t("sign.cold_pale_foot", "sign.foot_numbness_weakness"))
    if c.t("sign.absent_foot_pulses") and not companions:
        add("4b", "today", "limb_ischaemia")
    # 5: knee dislocation
    if c.t("sign.knee_deformity") and (c.acute_injury() or sudden):
        add("5", "now", "knee_dislocation")
    # 6: compartment syndrome
    if c.t("sign.pain_out_of_proportion", "sign.pain_on_passive_stretch") and (
            c.acute_injury() or c.t("sign.cast_or_tight_bandage", "risk.anticoagulant",
                                    "sign.tense_calf")):
        add("6", "now", "compartment_syndrome")
    # 7: knee after surgery or a replacement
    if c.t("sign.knee_swelling") and c.t("sign.redness", "sign.warmth") and c.t(
            "history.knee_replacement", "risk.recent_surgery"):
        add("7", "today", "joint_infection")
    # 8: clot in the lung, more signs
    if c.t("sign.coughing_blood", "sign.collapse") and (c.leg_pain() or c.calf_swelling()):
        add("8", "now", "pulmonary_embolism")
    # 9: raised D-dimer, both legs
    if c.t("test.d_dimer_positive") and c.leg_pain() and c.side == "both":
        add("9", "today", "dvt")
    # 10: hot swollen knee
    days = c.num("duration_days")
    if c.t("sign.knee_swelling") and (c.t("sign.redness", "sign.warmth") or c.fever()) \
            and not c.acute_injury() and (sudden or days is None or days <= 14):
        add("10", "today", "joint_infection")
    # 11: swollen calf, one leg
    if c.calf_swelling() and c.one_leg():
        add("11", "today", "dvt")
    # 12: pregnancy
    if c.t("risk.pregnancy") and (c.leg_pain() or c.calf_swelling()) and c.one_leg():
        add("12", "today", "dvt")
    # 13: both legs, Wells 2 or more
    if c.leg_pain() and c.side == "both" and c.wells() >= 2:
        add("13", "today", "dvt")
    # 14: Ottawa knee rule
    if c.knee_injury_ottawa() and (
            c.age_is(lambda a: a >= 55)
            or c.t("sign.fibular_head_tenderness", "sign.patellar_tenderness_only",
                   "sign.cannot_flex_90", "sign.unable_to_bear_weight")):
        add("14", "today", "knee_fracture")
    # 15: extensor mechanism
    if c.t("sign.cannot_straight_leg_raise") and c.acute_injury():
        add("15", "today", "extensor_mechanism_rupture")
    # 16: hamstring avulsion
    if c.acute_injury() and c.t("injury.pop") and c.t("pain.back_of_thigh") and c.t(
            "sign.bruising", "sign.difficulty_walking"):
        add("16", "within_2_weeks", "hamstring_avulsion")
    # 17: young person, pain at rest
    if c.age_is(lambda a: a < 25) and c.t("pain.at_rest") and c.one_leg() and (
            not c.t(*ALL_INJURIES) or (days is not None and days >= 14)):
        add("17", "within_48_hours", "tumour")
    # 18 and 18a: possible tumour
    if c.t("sign.lump_growing") or (c.t("pain.at_rest") and c.t("sign.weight_loss")):
        add("18", "within_2_weeks", "tumour")
    if c.t("sign.lump_growing") and c.age_is(lambda a: a < 25):
        add("18a", "within_48_hours", "tumour")
    # 19: cannot bear weight with a fever
    if c.t("sign.unable_to_bear_weight") and c.fever():
        add("19", "now", "joint_infection")
    # 20: cannot bear weight, no injury (v1)
    if c.t("sign.unable_to_bear_weight") and not c.injury_v1():
        add("20", "today", None)
    return out


def expected(data: Mapping[str, Any]) -> tuple[str, str, set[str]]:
    """(level, timeframe, conditions named) of a case under policy v2."""
    applying = rules(Case(data))
    timeframe = max((tf for _, tf, _ in applying), key=RANK.__getitem__, default="routine")
    named = {name for _, _, name in applying if name}
    return LEVEL[timeframe], timeframe, named
