"""Advice under policy v2, enforced by the engine: one test (or property) per rule."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_policy_v2 import POLICY_FINDINGS, random_case

from kneerules import Engine
from kneerules.knowledge.advice_safety import treatments, unsafe_reason
from kneerules.knowledge.dataplugin import DataPlugin
from kneerules.knowledge.plugins import get_plugin_manager
from kneerules.knowledge.policy import (
    CAUTIONS,
    EMERGENCY_KINDS,
    SAFETY_NET_KIND,
    SERIOUS_CONDITIONS,
    UNSAFE_WHILE_NAMED,
)
from kneerules.model.records import Assessment
from kneerules.model.rules import AdviceSpec
from kneerules.testing import case

SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
cases = st.fixed_dictionaries(
    {"findings": st.dictionaries(st.sampled_from(POLICY_FINDINGS), st.booleans(), max_size=8)},
    optional={"side": st.sampled_from(["left", "right", "both"]),
              "onset": st.sampled_from(["sudden", "gradual"]),
              "patient": st.fixed_dictionaries({"age": st.integers(0, 120)})},
)


def done(engine: Engine, assessment: Assessment) -> set[str]:
    """Every treatment the given advice tells someone to do."""
    out: set[str] = set()
    for advice in assessment.advice:
        spec = engine.knowledge.advice.get(advice.id)
        if spec is not None:
            out.update(treatments(spec))
    return out


def named(assessment: Assessment) -> set[str]:
    return {f.condition for f in assessment.red_flags if f.condition}


def sample(n: int, seed: int, **extra: Any) -> list[dict[str, Any]]:
    """``n`` random cases (as the policy property test draws them), with ``extra`` findings."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        drawn = random_case(rng)
        drawn["findings"] = {**drawn["findings"], **extra}
        out.append(drawn)
    return out


# --- No anti-inflammatories in pregnancy or with a blood thinner; cautions where advised ---

ROUTINE_SPRAIN = {"pain.behind_knee": True, "injury.large_force": True,
                  "sign.instability": True, "sign.bruising": True}


@pytest.mark.parametrize("finding", ["risk.pregnancy", "risk.anticoagulant"])
def test_no_anti_inflammatory_in_pregnancy_or_with_a_blood_thinner(engine: Engine,
                                                                    finding: str) -> None:
    """A routine sprain gets anti-inflammatory advice, but never when pregnant or anticoagulated."""
    plain = engine.evaluate(case(ROUTINE_SPRAIN, patient={"age": 30}, side="both"))
    assert "anti_inflammatory" in done(engine, plain)
    risky = engine.evaluate(case({**ROUTINE_SPRAIN, finding: True}, patient={"age": 30},
                                 side="both"))
    assert "anti_inflammatory" not in done(engine, risky)
    assert risky.advice, "other advice stays"


@pytest.mark.parametrize("finding", ["risk.pregnancy", "risk.anticoagulant"])
def test_never_anti_inflammatory_over_many_cases(engine: Engine, finding: str) -> None:
    """Over 1,000 random cases with the finding recorded, no advice is an anti-inflammatory."""
    for drawn in sample(1000, 11, **{finding: True}):
        assert "anti_inflammatory" not in done(engine, engine.evaluate(drawn)), drawn


def test_anti_inflammatory_advice_comes_with_its_cautions(engine: Engine) -> None:
    """Wherever an anti-inflammatory is advised, its common cautions are said."""
    for drawn in sample(1000, 12):
        assessment = engine.evaluate(drawn)
        if "anti_inflammatory" in done(engine, assessment):
            assert CAUTIONS["anti_inflammatory"] in [a.id for a in assessment.advice]


# --- No draining or compression of a lump that pulses or grows ---

@pytest.mark.parametrize("finding", ["sign.pulsatile_mass", "sign.lump_growing"])
def test_a_pulsing_or_growing_lump_is_never_drained_or_compressed(engine: Engine,
                                                                  finding: str) -> None:
    """A Baker's cyst picture with a lump that pulses or grows: no drainage, no compression."""
    cyst = {"pain.behind_knee": True, "sign.swelling_behind_knee": True, "pain.tightness": True,
            "worse.bending_knee": True, "worse.kneeling": True}
    plain = engine.evaluate(case(cyst, patient={"age": 55}, onset="gradual"))
    assert "bakers_cyst.drainage" in [a.id for a in plain.advice]
    lump = engine.evaluate(case({**cyst, finding: True}, patient={"age": 55}, onset="gradual"))
    given_treatments = done(engine, lump)
    assert "drainage" not in given_treatments
    assert "compression" not in given_treatments


# --- While a rule names a serious condition ---

@SETTINGS
@given(drawn=cases)
def test_no_treatment_that_a_named_condition_makes_unsafe(engine: Engine,
                                                          drawn: dict[str, Any]) -> None:
    """No compression, exercise, stretching or massage while a serious condition is named; no
    raising, ice or heat with a threatened leg or compartment syndrome; no walking on a
    suspected fracture or dislocation."""
    assessment = engine.evaluate(drawn)
    conditions = named(assessment)
    for treatment in done(engine, assessment):
        assert not conditions & set(UNSAFE_WHILE_NAMED.get(treatment, ())), (treatment,
                                                                             conditions)


def test_compartment_syndrome_keeps_the_leg_level_and_loosens_the_cast(engine: Engine) -> None:
    """Compartment syndrome in a cast: keep-safe advice only, level leg, loosen the cast."""
    assessment = engine.evaluate(case({"pain.calf": True, "sign.pain_out_of_proportion": True,
                                       "sign.cast_or_tight_bandage": True}))
    ids = [a.id for a in assessment.advice]
    assert assessment.triage.timeframe == "now"
    assert "compartment_syndrome.keep_level" in ids
    assert "general.loosen_cast" in ids
    assert not done(engine, assessment)


# --- Emergencies, timeframes and safety-netting ---

@SETTINGS
@given(drawn=cases)
def test_an_emergency_gets_only_keep_safe_advice(engine: Engine, drawn: dict[str, Any]) -> None:
    """In an emergency every piece of advice keeps the patient safe: no self-care at all."""
    assessment = engine.evaluate(drawn)
    if assessment.triage.level == "emergency":
        assert all(a.kind in EMERGENCY_KINDS for a in assessment.advice), assessment.advice
        assert not done(engine, assessment)
        assert "general.now" in [a.id for a in assessment.advice]


@SETTINGS
@given(drawn=cases)
def test_every_result_short_of_an_emergency_is_safety_netted(engine: Engine,
                                                             drawn: dict[str, Any]) -> None:
    """Routine and urgent results say when to get emergency help at once; emergencies do not."""
    assessment = engine.evaluate(drawn)
    nets = [a for a in assessment.advice if a.kind == SAFETY_NET_KIND]
    if assessment.triage.level == "emergency":
        assert not nets
    else:
        assert nets
        text = nets[0].text.lower()
        for sign in ("breathless", "chest pain", "coughing up blood", "cold, pale or numb",
                     "fever", "rapidly worse"):
            assert sign in text


IMMEDIATE = re.compile(r"\b(immediate|at once|emergency department|call the emergency)",
                       re.IGNORECASE)


@SETTINGS
@given(drawn=cases)
def test_no_advice_contradicts_the_timeframe(engine: Engine, drawn: dict[str, Any]) -> None:
    """Only an emergency tells the patient to seek attention immediately (safety-netting and
    checks say what would make it one); the timeframe advice given is the assessment's own."""
    assessment = engine.evaluate(drawn)
    timeframe = assessment.triage.timeframe
    for advice in assessment.advice:
        spec = engine.knowledge.advice.get(advice.id)
        if spec is not None and spec.timeframes:
            assert timeframe in spec.timeframes, (advice.id, timeframe)
        if timeframe != "now" and advice.kind not in (SAFETY_NET_KIND, "check", "caution"):
            assert not IMMEDIATE.search(advice.text), (advice.id, timeframe)
    seek = [a.id for a in assessment.advice if a.id.startswith("general.")
            and a.id.removeprefix("general.") in ("now", "today", "within_48_hours",
                                                  "within_2_weeks", "routine")]
    assert seek == [f"general.{timeframe}"]


# --- Audience ---

@pytest.mark.parametrize("pattern", [r"wells score", r"pulses", r"aspirate", r"full blood count"])
def test_clinician_advice_is_marked_for_the_clinician(engine: Engine, pattern: str) -> None:
    """Advice that asks for a clinician's act (Wells, pulses, aspiration, blood count) is
    marked audience: clinician; every advice item says its audience."""
    matching = [a for a in engine.knowledge.advice.values()
                if re.search(pattern, a.text, re.IGNORECASE) and a.kind == "check"]
    assert matching
    for advice in matching:
        assert advice.audience == "clinician", advice.id
    assert all(a.audience in ("patient", "clinician", "both")
               for a in engine.knowledge.advice.values())


# --- Declared treatments: what the text says, the data declares ---

KEYWORDS = {
    "compression": r"compression", "ice": r"\bice\b", "exercise": r"exercis",
    "stretching": r"\bstretch", "massage": r"massag", "drainage": r"\bdrain",
    "anti_inflammatory": r"anti-inflammator|ibuprofen|naproxen|medication",
}
NOT_ADVISING = {"keep_safe", "caution", "check", "safety_net", "information"}


def test_advice_declares_every_treatment_its_text_advises(engine: Engine) -> None:
    """An advice text that advises compression, ice, exercise, drainage, anti-inflammatories...
    declares it (or its kind implies it), so the engine can withhold it when unsafe."""
    missing = []
    for spec in engine.knowledge.advice.values():
        if spec.kind in NOT_ADVISING:
            continue
        for treatment, pattern in KEYWORDS.items():
            if re.search(pattern, spec.text, re.IGNORECASE) and treatment not in treatments(spec):
                missing.append((spec.id, treatment))
    assert not missing


# --- The machinery itself ---

SPEC = AdviceSpec(id="x.rice", kind="rice", text="RICE", source="s")


@pytest.mark.parametrize(("spec", "timeframe", "named_", "facts", "unsafe"), [
    (SPEC, "routine", set(), {}, False),
    (SPEC, "routine", {"dvt"}, {}, True),  # compression beside a DVT
    (SPEC, "now", set(), {}, True),  # self-care in an emergency
    (AdviceSpec("x.a", "medication", "an NSAID", "s"), "routine", set(),
     {"risk.pregnancy": True}, True),
    (AdviceSpec("x.a", "medication", "an NSAID", "s"), "routine", set(),
     {"risk.pregnancy": False}, False),  # recorded absent: not a contraindication
    (AdviceSpec("x.d", "seek_care", "drain", "s", treatments=("drainage",)), "routine", set(),
     {"sign.lump_growing": True}, True),
    (AdviceSpec("x.t", "seek_care", "today", "s", timeframes=("today",)), "within_2_weeks",
     set(), {}, True),
    (AdviceSpec("x.u", "information", "info", "s", unsafe_with=("tumour",)), "within_2_weeks",
     {"tumour"}, {}, True),
    (AdviceSpec("x.k", "keep_safe", "keep level", "s"), "now", {"limb_ischaemia"}, {}, False),
])
def test_unsafe_reason(spec: AdviceSpec, timeframe: Any, named_: set[str],
                       facts: dict[str, Any], unsafe: bool) -> None:
    """The engine's rule for one advice item: withheld exactly when policy v2 says."""
    assert (unsafe_reason(spec, timeframe, named_, facts) is not None) is unsafe


def test_a_plugin_advice_is_withheld_by_what_it_declares(tmp_path: Any) -> None:
    """A plugin's advice declaring unsafe_with a finding is withheld when it is recorded."""
    data = tmp_path / "demo_advice.yaml"
    data.write_text(
        "conditions:\n  - {id: demo, name: Demo, description: d, source: s}\n"
        "rules:\n  - id: demo.r\n    priority: 500\n    when: worse.kneeling\n"
        "    then: {evidence: {demo: 5}}\n    because: b\n    source: s\n"
        "advice:\n  - {id: demo.kneel, condition: demo, kind: activity, text: Kneel gently.,"
        " source: s, unsafe_with: [sign.knee_swelling]}\n")
    pm = get_plugin_manager(entry_points=False, extra=[DataPlugin("demo_advice", data)])
    engine = Engine(plugin_manager=pm)
    calm = engine.evaluate(case({"worse.kneeling": True}, side="both"))
    assert "demo.kneel" in [a.id for a in calm.advice]
    swollen = engine.evaluate(case({"worse.kneeling": True, "sign.knee_swelling": True,
                                    "injury.twisting": True}, side="both",
                                   patient={"age": 30}))
    assert "demo.kneel" not in [a.id for a in swollen.advice]


def test_serious_conditions_each_have_a_plugin(engine: Engine) -> None:
    """Every condition the advice rules name is loaded, each from its own plugin."""
    for condition in SERIOUS_CONDITIONS:
        assert engine.knowledge.conditions[condition].plugin == condition


def test_a_baker_s_cyst_never_outranks_a_pulsing_lump(engine: Engine) -> None:
    """However strong the Baker's cyst picture, while the lump pulses the aneurysm ranks above."""
    assessment = engine.evaluate(case({
        "pain.behind_knee": True, "sign.swelling_behind_knee": True, "pain.tightness": True,
        "worse.bending_knee": True, "worse.kneeling": True, "worse.walking": True,
        "sign.pulsatile_mass": True}, patient={"age": 60}, onset="gradual"))
    order = [e.condition for e in assessment.differential]
    assert order.index("popliteal_aneurysm") < order.index("bakers_cyst")
