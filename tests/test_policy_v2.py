"""Triage policy v2: the engine against an independent plain-Python reading of the spec.

``tests/policy_v2.py`` is written from ../shared/spec/assessment-format.md alone (it
never reads the rule data); over 20,000 random cases drawn from vocabulary 1.1 the engine
must give its level and timeframe exactly (0 under-triage, 0 over-triage) and name the
same conditions (red flags, and must_not_miss in the differential).
"""

from __future__ import annotations

import random
from importlib.resources import files
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_v2 import RANK, expected

from kneerules import Engine
from kneerules.model.records import Assessment

VOCABULARY = yaml.safe_load((files("kneerules.knowledge") / "data" / "vocabulary.yaml")
                            .read_text("utf-8"))["facts"]
FINDINGS = sorted(f["name"] for f in VOCABULARY if f["kind"] == "finding")
# What the policy reads: drawn more often, so that rules and their boundaries are hit.
POLICY_FINDINGS = sorted({
    "pain.behind_knee", "pain.calf", "pain.back_of_thigh", "pain.at_rest",
    "sign.calf_swelling", "sign.whole_leg_swelling", "sign.redness", "sign.warmth",
    "sign.calf_tenderness", "sign.pitting_oedema", "sign.visible_superficial_veins",
    "sign.breathlessness", "sign.chest_pain", "sign.fever", "sign.knee_swelling",
    "sign.swelling_behind_knee", "sign.locking", "sign.difficulty_straightening",
    "sign.unable_to_bear_weight", "sign.pulsatile_mass", "sign.bruising",
    "sign.difficulty_walking", "sign.cold_pale_foot", "sign.absent_foot_pulses",
    "sign.foot_numbness_weakness", "sign.knee_deformity", "sign.pain_out_of_proportion",
    "sign.pain_on_passive_stretch", "sign.tense_calf", "sign.cast_or_tight_bandage",
    "sign.fibular_head_tenderness", "sign.patellar_tenderness_only", "sign.cannot_flex_90",
    "sign.cannot_straight_leg_raise", "sign.lump_growing", "sign.weight_loss",
    "sign.coughing_blood", "sign.collapse", "risk.long_haul_travel", "risk.recent_surgery",
    "risk.bedridden", "risk.leg_in_plaster", "risk.pregnancy", "risk.active_cancer",
    "risk.previous_dvt", "risk.anticoagulant", "history.knee_replacement",
    "test.dorsiflexion_pain", "test.d_dimer_positive", "injury.twisting",
    "injury.large_force", "injury.hyperextension", "injury.direction_change",
    "injury.overstretch", "injury.overuse", "injury.pop",
})
CASES = 20_000


def random_case(rng: random.Random) -> dict[str, Any]:
    """A case in the case format: findings true or false, optional fields and numbers."""
    findings: dict[str, bool] = {}
    for _ in range(rng.randint(0, 10)):
        pool = POLICY_FINDINGS if rng.random() < 0.8 else FINDINGS
        findings[rng.choice(pool)] = rng.random() < 0.75
    case: dict[str, Any] = {"findings": findings}
    if rng.random() < 0.8:
        case["side"] = rng.choice(["left", "right", "both"])
    if rng.random() < 0.8:
        case["onset"] = rng.choice(["sudden", "gradual"])
    if rng.random() < 0.8:
        case["patient"] = {"age": rng.choice([rng.randint(0, 120), 24, 25, 54, 55])}
    measurements: dict[str, float] = {}
    if rng.random() < 0.3:
        measurements["calf_swelling_cm"] = rng.choice([0.0, 2.9, 3.0, rng.uniform(0, 20)])
    if rng.random() < 0.3:
        measurements["temperature_c"] = rng.choice([37.9, 38.0, round(rng.uniform(35, 41), 1)])
    if rng.random() < 0.4:
        measurements["duration_days"] = rng.choice([0, 7, 8, 13, 14, 15, rng.randint(0, 3650)])
    if measurements:
        case["measurements"] = measurements
    return case


def named(assessment: Assessment) -> set[str]:
    return {f.condition for f in assessment.red_flags if f.condition}


def must_not_miss(assessment: Assessment) -> set[str]:
    return {e.condition for e in assessment.differential if e.must_not_miss}


def compare(engine: Engine, case: dict[str, Any]) -> list[str]:
    """What the engine gets wrong about ``case`` under policy v2 (empty when nothing)."""
    level, timeframe, conditions = expected(case)
    got = engine.evaluate(case)
    wrong = []
    if got.triage.timeframe != timeframe:
        side = "UNDER" if RANK[got.triage.timeframe] < RANK[timeframe] else "OVER"
        wrong.append(f"{side}-triage: {got.triage.timeframe} != {timeframe} "
                     f"because {got.triage.because}")
    if got.triage.level != level:
        wrong.append(f"level {got.triage.level} != {level}")
    if named(got) != conditions:
        wrong.append(f"red flags name {sorted(named(got))}, policy names {sorted(conditions)}")
    if must_not_miss(got) != conditions:
        wrong.append(f"must_not_miss {sorted(must_not_miss(got))} != {sorted(conditions)}")
    for entry in got.differential:
        if entry.must_not_miss:
            assert entry.likelihood in ("possible", "likely"), entry
    return wrong


def test_twenty_thousand_random_cases_match_the_independent_policy(engine: Engine) -> None:
    """0 under-triage, 0 over-triage, same timeframe and named conditions over 20,000 cases."""
    rng = random.Random(20261125)
    failures = []
    counts: dict[str, int] = {}
    for _ in range(CASES):
        case = random_case(rng)
        timeframe = expected(case)[1]
        counts[timeframe] = counts.get(timeframe, 0) + 1
        wrong = compare(engine, case)
        if wrong:
            failures.append((case, wrong))
    assert not failures, f"{len(failures)} of {CASES} disagree; first: {failures[:3]}"
    # The draw reaches every timeframe often enough for the comparison to mean something.
    assert all(counts.get(tf, 0) >= 200 for tf in RANK), counts


SETTINGS = settings(max_examples=1500, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
hypothesis_cases = st.fixed_dictionaries(
    {"findings": st.dictionaries(st.sampled_from(POLICY_FINDINGS), st.booleans(), max_size=10)},
    optional={
        "side": st.sampled_from(["left", "right", "both"]),
        "onset": st.sampled_from(["sudden", "gradual"]),
        "patient": st.fixed_dictionaries({"age": st.integers(0, 120)}),
        "measurements": st.fixed_dictionaries({}, optional={
            "calf_swelling_cm": st.sampled_from([0, 2.5, 3, 3.5, 10]),
            "temperature_c": st.sampled_from([36.5, 37.9, 38, 39.5]),
            "duration_days": st.sampled_from([0, 7, 8, 14, 15, 400]),
        }),
    },
)


@SETTINGS
@given(case=hypothesis_cases)
def test_hypothesis_cases_match_the_independent_policy(engine: Engine,
                                                       case: dict[str, Any]) -> None:
    """Hypothesis searches (and shrinks) for a case where engine and policy disagree."""
    assert compare(engine, case) == []


@pytest.mark.parametrize(("case", "timeframe"), [
    ({"findings": {"sign.absent_foot_pulses": True}}, "today"),
    ({"onset": "sudden", "findings": {"sign.absent_foot_pulses": True}}, "now"),
    ({"findings": {"pain.behind_knee": True, "injury.twisting": True},
      "patient": {"age": 55}}, "today"),
    ({"findings": {"pain.behind_knee": True, "injury.twisting": True},
      "patient": {"age": 55}, "measurements": {"duration_days": 8}}, "routine"),
    ({"findings": {"sign.knee_swelling": True, "sign.warmth": True},
      "measurements": {"duration_days": 15}}, "routine"),
    ({"onset": "sudden", "findings": {"sign.knee_swelling": True, "sign.warmth": True},
      "measurements": {"duration_days": 15}}, "today"),
    ({"patient": {"age": 24}, "findings": {"pain.at_rest": True, "injury.overuse": True},
      "measurements": {"duration_days": 14}}, "within_48_hours"),
    ({"patient": {"age": 24}, "findings": {"pain.at_rest": True, "injury.overuse": True},
      "measurements": {"duration_days": 13}}, "routine"),
    ({"patient": {"age": 30}, "findings": {"sign.lump_growing": True}}, "within_2_weeks"),
    ({"patient": {"age": 20}, "findings": {"sign.lump_growing": True}}, "within_48_hours"),
    ({"findings": {"sign.unable_to_bear_weight": True}}, "today"),
    ({"findings": {"sign.unable_to_bear_weight": True, "sign.fever": True}}, "now"),
])
def test_policy_boundaries(engine: Engine, case: dict[str, Any], timeframe: str) -> None:
    """Boundaries of the definitions (Ottawa's 7 days, rule 10's 14 days, ages 25 and 55)."""
    assert expected(case)[1] == timeframe  # the oracle reads the spec as this table does
    assert engine.evaluate(case).triage.timeframe == timeframe
