"""Advice under policy v3 (A1-A12), enforced by the engine: one test (or property) per rule.

The tables below are written from the contract's "Advice under policy v3", not imported
from the engine, so that a change to the engine's tables is checked against the text.
Every example and every vignette is checked, and seeded random cases drawn from the
whole vocabulary (``random_case``).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kneerules import Engine
from kneerules.knowledge.advice_safety import treatments, unsafe_reason
from kneerules.knowledge.dataplugin import DataPlugin
from kneerules.knowledge.plugins import get_plugin_manager
from kneerules.knowledge.policy import CAUTIONS, SAFETY_NET_KIND
from kneerules.model.errors import RuleDataError
from kneerules.model.records import Assessment
from kneerules.model.rules import ALWAYS, AdviceSpec, FactTest
from kneerules.output.patient import render_patient
from kneerules.output.rendering import RenderOptions
from kneerules.reasoning.chaining import compile_check
from kneerules.testing import case

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
VIGNETTES = sorted((ROOT / "tests" / "vignettes").glob("*.json"))
CASE_FILES = EXAMPLES + VIGNETTES

# --- The contract's tables (assessment format, "Advice under policy v3") ---------------

NAMED_ONLY = {"dvt", "pulmonary_embolism"}
"""DVT (and PE) is open only when a rule names it."""

FORBIDDEN_WHILE_OPEN: dict[str, set[str]] = {
    "dvt": {"compression", "massage", "exercise", "stretching"},  # A2
    "pulmonary_embolism": {"compression", "massage", "exercise", "stretching"},  # A2
    "joint_infection": {"heat", "exercise", "compression", "anti_inflammatory"},  # A3
    "cellulitis": {"heat", "exercise", "compression", "anti_inflammatory"},  # A3
    "compartment_syndrome": {"elevation", "ice", "heat", "compression"},  # A4
    "limb_ischaemia": {"elevation", "ice", "heat", "compression"},  # A4
    "popliteal_aneurysm": {"drainage", "pressure", "massage", "compression"},  # A5
    "knee_fracture": {"brace", "exercise", "walking", "anti_inflammatory"},  # A6, A8
    "knee_dislocation": {"walking", "exercise", "stretching"},  # A7
    "extensor_mechanism_rupture": {"walking", "exercise", "stretching"},  # A7
    "hamstring_avulsion": {"walking", "exercise", "stretching"},  # A7
    "tumour": {"massage", "heat", "drainage"},  # A9
}
NO_ADVICE_FOR_WHILE_OPEN = {"popliteal_aneurysm": {"bakers_cyst"},  # A5: no Baker's-cyst text
                            "knee_fracture": {"ligament_sprain"}}  # A6: no sprain advice
EMERGENCY_KINDS = {"seek_care", "keep_safe", "check", "information"}
VTE_RISKS = ("risk.recent_surgery", "risk.bedridden", "risk.leg_in_plaster",
             "risk.long_haul_travel", "risk.active_cancer", "risk.previous_dvt",
             "risk.pregnancy", "risk.hormonal_therapy", "risk.obesity",
             "risk.family_history_clots")
CLOT_SENTENCE = re.compile(r"must be ruled out|check for a clot", re.IGNORECASE)
CLOT_TIME = {"now": "call the emergency services now", "today": "must be ruled out today",
             "within_48_hours": "check for a clot within 48 hours"}
SAFETY_NET_ITEMS = ("breathlessness", "chest pain", "coughing up blood", "cold, pale or numb",
                    "hard or tight", "not eased by painkillers", "pins and needles",
                    "confusion", "fast breathing", "mottled", "very unwell",
                    "swells more", "same day", "rapidly worse")


# --- Cases --------------------------------------------------------------------------------

def case_of(path: Path) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return body.get("case", body) if path.parent.name == "vignettes" else body


def findings_of(engine: Engine) -> list[str]:
    return sorted(n for n, f in engine.knowledge.facts.items() if f.kind == "finding")


PRESENTING = [
    "pain.behind_knee", "pain.calf", "pain.at_rest", "sign.calf_swelling", "sign.redness",
    "sign.warmth", "sign.knee_swelling", "sign.fever", "sign.cold_pale_foot",
    "sign.pain_out_of_proportion", "sign.tense_calf", "sign.pulsatile_mass",
    "sign.lump_growing", "sign.unable_to_bear_weight", "sign.knee_deformity",
    "sign.calf_tenderness", "injury.twisting", "injury.large_force", "injury.pop",
    "risk.recent_surgery", "risk.pregnancy", "risk.anticoagulant", "test.d_dimer_positive",
    "history.knee_replacement", "sign.cannot_straight_leg_raise", "pain.back_of_thigh"]
"""Findings the serious presentations start from: half of each random case is drawn here,
so that every condition A2-A9 name is reached."""


def random_case(rng: random.Random, findings: list[str]) -> dict[str, Any]:
    """A case drawn from the whole vocabulary: a few findings, mostly recorded true, and
    the fields and measurements the policy reads, each sometimes left out."""
    picked = rng.sample(findings, rng.randint(0, 5)) + rng.sample(PRESENTING,
                                                                   rng.randint(1, 5))
    drawn: dict[str, Any] = {"findings": {name: rng.random() < 0.8 for name in picked}}
    if rng.random() < 0.7:
        drawn["side"] = rng.choice(["left", "right", "both"])
    if rng.random() < 0.6:
        drawn["onset"] = rng.choice(["sudden", "gradual"])
    if rng.random() < 0.8:
        drawn["patient"] = {"age": rng.choice([2, 8, 12, 16, 17, 30, 49, 50, 55, 70, 90])}
    measurements = {}
    for name, values in (("calf_swelling_cm", [0, 1.9, 2, 2.9, 3, 4]),
                         ("temperature_c", [36.5, 37.9, 38, 39.5]), ("bmi", [22, 29.9, 30, 41]),
                         ("duration_days", [1, 7, 14, 15, 28, 29, 60]),
                         ("pain_score", [3, 7, 8, 10])):
        if rng.random() < 0.25:
            measurements[name] = rng.choice(values)
    drawn["measurements"] = measurements
    return drawn


def known_measurements(engine: Engine, drawn: dict[str, Any]) -> dict[str, Any]:
    """``drawn`` with the measurements the vocabulary does not know left out (some are
    fields of the case, such as the duration, in a given vocabulary)."""
    facts = engine.knowledge.facts
    drawn = dict(drawn)
    drawn["measurements"] = {k: v for k, v in drawn.get("measurements", {}).items()
                             if k in facts and facts[k].kind == "measurement"}
    return drawn


def random_assessments(engine: Engine, n: int, seed: int) -> Iterator[tuple[dict[str, Any],
                                                                          Assessment]]:
    rng = random.Random(seed)
    findings = findings_of(engine)
    for _ in range(n):
        drawn = known_measurements(engine, random_case(rng, findings))
        yield drawn, engine.evaluate(drawn)


def every_case_file(engine: Engine) -> Iterator[tuple[str, dict[str, Any], Assessment]]:
    for path in CASE_FILES:
        drawn = case_of(path)
        yield path.stem, drawn, engine.evaluate(drawn)


# --- What an assessment shows -------------------------------------------------------------

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


def open_conditions(assessment: Assessment) -> set[str]:
    """Named by a rule, or listed likely or possible; DVT and PE only when named."""
    listed = {e.condition for e in assessment.differential
              if e.likelihood in ("likely", "possible") and e.condition not in NAMED_ONLY}
    return named(assessment) | listed


def facts_of(drawn: dict[str, Any]) -> dict[str, Any]:
    return {**drawn.get("findings", {}), **drawn.get("measurements", {})}


def dvt_caution(drawn: dict[str, Any]) -> bool:
    """A2, DVT not open: leg pain with a VTE risk factor, calf tenderness or a swollen calf."""
    f = facts_of(drawn)
    leg_pain = f.get("pain.behind_knee") is True or f.get("pain.calf") is True
    swollen = (f.get("sign.calf_swelling") is True or f.get("sign.whole_leg_swelling") is True
               or f.get("calf_swelling_cm", 0) >= 2)
    risk = any(f.get(r) is True for r in VTE_RISKS) or f.get("bmi", 0) >= 30
    return leg_pain and (risk or f.get("sign.calf_tenderness") is True or swollen)


def unsafe_given(engine: Engine, drawn: dict[str, Any], assessment: Assessment) -> list[str]:
    """Everything A1-A9 forbids that the assessment advises, each with why."""
    found = []
    given_treatments = done(engine, assessment)
    opened = open_conditions(assessment)
    for condition in opened:
        for treatment in FORBIDDEN_WHILE_OPEN.get(condition, set()) & given_treatments:
            found.append(f"{treatment} while {condition} is open")
        for advice in assessment.advice:
            if advice.condition in NO_ADVICE_FOR_WHILE_OPEN.get(condition, set()):
                found.append(f"{advice.id} while {condition} is open")
    if "dvt" not in named(assessment) and dvt_caution(drawn):
        found += [f"{t} with leg pain and a clot risk" for t in
                  {"compression", "massage"} & given_treatments]
    f = facts_of(drawn)
    risky = f.get("risk.pregnancy") is True or f.get("risk.anticoagulant") is True
    if risky and "anti_inflammatory" in given_treatments:
        found.append("anti-inflammatory in pregnancy or on a blood thinner")  # A8
    if assessment.triage.timeframe == "now":
        found += [f"{a.id} ({a.kind}) in an emergency" for a in assessment.advice
                  if a.kind not in EMERGENCY_KINDS]
        found += [f"{t} in an emergency" for t in given_treatments - {"keep_level"}]
    return found


# --- The done-when test: every example and vignette, and random cases -----------------------

@pytest.mark.parametrize("path", CASE_FILES, ids=[f"{p.parent.name}/{p.stem}" for p in CASE_FILES])
def test_nothing_a2_to_a9_lists_while_its_condition_is_open(engine: Engine, path: Path) -> None:
    """Each example and vignette: no advice that A2-A9 forbid while their condition is open."""
    drawn = case_of(path)
    assessment = engine.evaluate(drawn)
    assert not unsafe_given(engine, drawn, assessment), path.stem


def test_case_files_are_there() -> None:
    """The check above runs over the examples and the public vignettes (48 of them)."""
    assert len(EXAMPLES) >= 11
    assert len(VIGNETTES) >= 48


def test_nothing_unsafe_over_random_cases(engine: Engine) -> None:
    """3,000 seeded random cases from the whole vocabulary: nothing A1-A9 forbid."""
    problems = [(drawn, unsafe_given(engine, drawn, assessment))
                for drawn, assessment in random_assessments(engine, 3000, 23)]
    problems = [p for p in problems if p[1]]
    assert not problems, problems[:3]


def test_random_cases_reach_every_open_condition(engine: Engine) -> None:
    """The random cases above open every condition A2-A9 names (so the check can fail)."""
    seen: set[str] = set()
    for _, assessment in random_assessments(engine, 3000, 23):
        seen |= open_conditions(assessment)
    assert set(FORBIDDEN_WHILE_OPEN) - {"pulmonary_embolism"} <= seen | {"pulmonary_embolism"}
    assert set(FORBIDDEN_WHILE_OPEN) <= seen


# --- A2: DVT open, and the narrower reading when it is not ------------------------------

SPRAIN = {"pain.behind_knee": True, "injury.twisting": True, "sign.instability": True,
          "sign.bruising": True}


@pytest.mark.parametrize("extra", [{"risk.hormonal_therapy": True}, {"risk.obesity": True},
                                   {"sign.calf_tenderness": True},
                                   {"risk.family_history_clots": True}])
def test_leg_pain_with_a_clot_risk_gets_no_compression_or_massage(engine: Engine,
                                                                   extra: dict[str, bool]) -> None:
    """A routine sprain gets RICE; with a VTE risk factor or calf tenderness and DVT not
    named, no compression or massage, the caution said, and the safety net."""
    plain = engine.evaluate(case(SPRAIN, patient={"age": 30}, side="left", onset="sudden",
                                 measurements={"duration_days": 20}))
    assert "compression" in done(engine, plain)
    risky = engine.evaluate(case({**SPRAIN, **extra}, patient={"age": 30}, side="left",
                                 onset="sudden", measurements={"duration_days": 20}))
    assert "dvt" not in named(risky) or risky.triage.timeframe != "routine"
    assert not {"compression", "massage"} & done(engine, risky)
    assert "dvt.no_compression_or_massage" in [a.id for a in risky.advice]
    assert risky.safety_net


def test_dvt_named_gets_the_same_day_route_never_gp_or_physiotherapist(engine: Engine) -> None:
    """Whenever a rule names DVT: no GP-or-physiotherapist route and no routine booking; a
    today result says D7's "straight away, within the next few hours"."""
    checked = 0
    for drawn, assessment in random_assessments(engine, 3000, 24):
        if "dvt" not in named(assessment):
            continue
        checked += 1
        text = " ".join(a.text for a in assessment.advice)
        patient = render_patient(assessment, RenderOptions())
        for said in (text, patient):
            assert not re.search(r"physiotherap", said, re.IGNORECASE), drawn
            assert "Book an appointment" not in said, drawn
        assert assessment.triage.timeframe != "routine"
        if assessment.triage.timeframe == "today":
            assert "straight away, within the next few hours" in text
            assert "straight away" in patient.splitlines()[0].lower() or \
                "straight away" in patient.lower()
        assert not done(engine, assessment) & {"compression", "massage", "exercise",
                                               "stretching"}
    assert checked > 50


# --- A11: the clot sentence -----------------------------------------------------------------

def test_the_clot_sentence_only_when_dvt_is_named_and_at_its_timeframe(engine: Engine) -> None:
    """"A clot must be ruled out" is said only when a rule names DVT, in the words of the
    timeframe (now: call the emergency services now; today; within 48 hours)."""
    with_dvt = without = 0
    for drawn, assessment in random_assessments(engine, 3000, 25):
        said = [a.text for a in assessment.advice if CLOT_SENTENCE.search(a.text)]
        if "dvt" in named(assessment):
            with_dvt += 1
            assert said, drawn
            assert all(CLOT_TIME[assessment.triage.timeframe] in s for s in said), (drawn, said)
        else:
            without += 1
            assert not said, (drawn, said)
    assert with_dvt > 50
    assert without > 500


@pytest.mark.parametrize("path", CASE_FILES, ids=[f"{p.parent.name}/{p.stem}" for p in CASE_FILES])
def test_no_clot_text_on_a_case_that_does_not_name_dvt(engine: Engine, path: Path) -> None:
    """Every example and vignette: DVT advice (and the clot sentence) only when DVT is named."""
    assessment = engine.evaluate(case_of(path))
    if "dvt" not in named(assessment):
        assert not [a.id for a in assessment.advice if a.condition == "dvt"]
        assert not [a.text for a in assessment.advice if CLOT_SENTENCE.search(a.text)]


# --- A1: emergencies and the timeframe ----------------------------------------------------

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
DRAWN_FINDINGS = st.sampled_from([
    "pain.behind_knee", "pain.calf", "pain.at_rest", "sign.calf_swelling", "sign.redness",
    "sign.warmth", "sign.knee_swelling", "sign.fever", "sign.cold_pale_foot",
    "sign.pain_out_of_proportion", "sign.cast_or_tight_bandage", "sign.tense_calf",
    "sign.pulsatile_mass", "sign.lump_growing", "sign.unable_to_bear_weight",
    "sign.knee_deformity", "sign.breathlessness", "sign.whole_leg_swelling",
    "sign.calf_tenderness", "injury.twisting", "injury.large_force", "injury.pop",
    "risk.recent_surgery", "risk.pregnancy", "risk.anticoagulant", "risk.hormonal_therapy",
    "test.dorsiflexion_pain", "test.d_dimer_positive", "history.knee_replacement"])
cases = st.fixed_dictionaries(
    {"findings": st.dictionaries(DRAWN_FINDINGS, st.booleans(), max_size=8)},
    optional={"side": st.sampled_from(["left", "right", "both"]),
              "onset": st.sampled_from(["sudden", "gradual"]),
              "patient": st.fixed_dictionaries({"age": st.integers(0, 120)})},
)
IMMEDIATE = re.compile(r"\b(immediate|at once|emergency department|call the emergency)",
                       re.IGNORECASE)


@SETTINGS
@given(drawn=cases)
def test_an_emergency_gets_only_what_keeps_the_patient_safe(engine: Engine,
                                                            drawn: dict[str, Any]) -> None:
    """In an emergency every piece of advice keeps the patient safe: no self-care, no
    treatment but keeping the leg level, and the call for help."""
    assessment = engine.evaluate(drawn)
    if assessment.triage.level == "emergency":
        assert all(a.kind in EMERGENCY_KINDS for a in assessment.advice), assessment.advice
        assert done(engine, assessment) <= {"keep_level"}
        assert "general.now" in [a.id for a in assessment.advice]


@SETTINGS
@given(drawn=cases)
def test_no_advice_contradicts_the_timeframe(engine: Engine, drawn: dict[str, Any]) -> None:
    """Only an emergency tells the patient to seek attention immediately (a today result
    naming DVT says D7's "straight away"); each timeframe's route is its own."""
    assessment = engine.evaluate(drawn)
    timeframe = assessment.triage.timeframe
    for advice in assessment.advice:
        spec = engine.knowledge.advice.get(advice.id)
        if spec is not None and spec.timeframes:
            assert timeframe in spec.timeframes, (advice.id, timeframe)
        if timeframe != "now" and advice.kind not in (SAFETY_NET_KIND, "check", "caution"):
            assert not IMMEDIATE.search(advice.text), (advice.id, timeframe)
        if "straight away" in advice.text:
            assert timeframe == "today", advice.id
            assert "dvt" in named(assessment), advice.id
    seek = [a.id for a in assessment.advice if a.id.startswith("general.")
            and a.id.removeprefix("general.") in ("now", "today", "within_48_hours",
                                                  "within_2_weeks", "routine")]
    if timeframe == "today" and "dvt" in named(assessment):
        assert seek == []
        assert "dvt.test_today" in [a.id for a in assessment.advice]
    else:
        assert seek == [f"general.{timeframe}"]


# --- A10: safety-netting ---------------------------------------------------------------

@SETTINGS
@given(drawn=cases)
def test_every_result_short_of_an_emergency_is_safety_netted(engine: Engine,
                                                             drawn: dict[str, Any]) -> None:
    """Routine and urgent results carry A10's safety net, every item of it; emergencies
    do not."""
    assessment = engine.evaluate(drawn)
    nets = [a for a in assessment.advice if a.kind == SAFETY_NET_KIND]
    if assessment.triage.level == "emergency":
        assert not nets
        return
    assert nets
    text = nets[0].text.lower()
    for item in SAFETY_NET_ITEMS:
        assert item in text, item
    febrile = drawn["findings"].get("sign.fever") is True
    assert "limping" in text
    assert ("hot and swollen" in text) if febrile else ("fever with a hot, swollen knee" in text)


def test_a_febrile_patient_is_not_told_what_fits_no_fever(engine: Engine) -> None:
    """Fever texts fit a febrile patient: no "even without a fever" once a fever is recorded,
    and the febrile patient's safety net."""
    knee = {"sign.knee_swelling": True, "sign.warmth": True, "pain.behind_knee": True,
            "history.knee_replacement": True}
    afebrile = engine.evaluate(case(knee, patient={"age": 70}))
    febrile = engine.evaluate(case({**knee, "sign.fever": True}, patient={"age": 70}))
    assert "joint_infection.why_it_matters" in [a.id for a in afebrile.advice]
    assert not [a for a in febrile.advice if "without a fever" in a.text]
    for assessment in (afebrile, febrile):
        if assessment.triage.timeframe != "now":
            assert assessment.safety_net


# --- A3-A9, one presentation each -------------------------------------------------------

def test_a_pulsing_lump_gets_no_bakers_cyst_treatment(engine: Engine) -> None:
    """A5: a Baker's cyst picture gets its RICE and drainage text; with a pulsing lump none
    of it, and nothing pressed, massaged, drained or compressed."""
    cyst = {"pain.behind_knee": True, "sign.swelling_behind_knee": True, "pain.tightness": True,
            "worse.bending_knee": True, "worse.kneeling": True}
    plain = engine.evaluate(case(cyst, patient={"age": 55}, onset="gradual", side="left"))
    assert [a for a in plain.advice if a.condition == "bakers_cyst"]
    lump = engine.evaluate(case({**cyst, "sign.pulsatile_mass": True}, patient={"age": 55},
                                onset="gradual", side="left"))
    assert not [a for a in lump.advice if a.condition == "bakers_cyst"]
    assert not done(engine, lump) & {"drainage", "pressure", "massage", "compression"}


def test_a_possible_fracture_gets_no_sprain_brace_exercise_or_anti_inflammatory(
        engine: Engine) -> None:
    """A6: Ottawa-positive (aged 60): no sprain or brace advice, no exercise or walking,
    no anti-inflammatory; paracetamol instead."""
    assessment = engine.evaluate(case({"pain.behind_knee": True, "injury.twisting": True,
                                       "sign.instability": True, "sign.knee_swelling": True},
                                      patient={"age": 60}, side="left", onset="sudden"))
    assert "knee_fracture" in named(assessment)
    assert not [a for a in assessment.advice if a.condition == "ligament_sprain"]
    assert not done(engine, assessment) & {"brace", "exercise", "walking", "anti_inflammatory"}
    assert "knee_fracture.paracetamol" in [a.id for a in assessment.advice]


def test_a_possible_joint_infection_gets_no_heat_exercise_or_anti_inflammatory(
        engine: Engine) -> None:
    """A3: a hot swollen knee: no heat, exercise, compression or anti-inflammatory."""
    assessment = engine.evaluate(case({"sign.knee_swelling": True, "sign.redness": True,
                                       "pain.behind_knee": True}, patient={"age": 50}))
    assert "joint_infection" in named(assessment)
    assert not done(engine, assessment) & {"heat", "exercise", "compression",
                                           "anti_inflammatory"}


@pytest.mark.parametrize("finding", ["risk.pregnancy", "risk.anticoagulant"])
def test_no_anti_inflammatory_in_pregnancy_or_with_a_blood_thinner(engine: Engine,
                                                                    finding: str) -> None:
    """A8: a routine knee gets anti-inflammatory advice, never when pregnant or anticoagulated."""
    knee = {"pain.behind_knee": True, "worse.walking": True, "sign.stiffness": True}
    plain = engine.evaluate(case(knee, patient={"age": 60}, side="both", onset="gradual"))
    assert "anti_inflammatory" in done(engine, plain)
    risky = engine.evaluate(case({**knee, finding: True}, patient={"age": 60}, side="both",
                                 onset="gradual"))
    assert "anti_inflammatory" not in done(engine, risky)
    assert risky.advice, "other advice stays"


def test_anti_inflammatory_advice_comes_with_its_cautions(engine: Engine) -> None:
    """A8: wherever an anti-inflammatory is advised, its cautions are said."""
    for _, assessment in random_assessments(engine, 1000, 12):
        if "anti_inflammatory" in done(engine, assessment):
            assert CAUTIONS["anti_inflammatory"] in [a.id for a in assessment.advice]


def test_compartment_syndrome_keeps_the_leg_level_and_loosens_the_cast(engine: Engine) -> None:
    """A4: compartment syndrome in a cast: keep-safe advice only, level leg, loosen the cast."""
    assessment = engine.evaluate(case({"pain.calf": True, "sign.pain_out_of_proportion": True,
                                       "sign.cast_or_tight_bandage": True}))
    ids = [a.id for a in assessment.advice]
    assert assessment.triage.timeframe == "now"
    assert "compartment_syndrome.keep_level" in ids
    assert "general.loosen_cast" in ids
    assert done(engine, assessment) <= {"keep_level"}


def test_phlegmasia_is_not_told_to_keep_the_leg_level(engine: Engine) -> None:
    """A4 does not apply under rule 1p (the leg is raised in hospital): call for help and
    keep still, no keep-level advice."""
    assessment = engine.evaluate(case({"pain.calf": True, "sign.whole_leg_swelling": True,
                                       "sign.cold_pale_foot": True}, side="left"))
    ids = [a.id for a in assessment.advice]
    assert assessment.triage.timeframe == "now"
    assert "dvt.phlegmasia_keep_still" in ids
    assert "limb_ischaemia.keep_level" not in ids
    assert "general.now" in ids


# --- A12 and A11's clinician items --------------------------------------------------------

@SETTINGS
@given(drawn=cases)
def test_self_test_wording_only_when_a_self_test_was_recorded(engine: Engine,
                                                              drawn: dict[str, Any]) -> None:
    """A12: "self-test" appears in the advice and triage message only when one is recorded."""
    assessment = engine.evaluate(drawn)
    said = " ".join([assessment.triage.message, *(a.text for a in assessment.advice)])
    if "test.dorsiflexion_pain" not in drawn["findings"]:
        assert "self-test" not in said.lower()


CLINICIAN_ONLY = [r"wells score", r"pulses", r"ankle-brachial", r"measure both calves",
                  r"aspirat", r"full blood count", r"examine the hip", r"blood pressure",
                  r"kocher"]


@pytest.mark.parametrize("pattern", CLINICIAN_ONLY)
def test_clinician_items_are_marked_for_the_clinician(engine: Engine, pattern: str) -> None:
    """A11: a check that asks for a clinician's act (Wells, pulses and ankle-brachial index,
    measuring the calf, aspiration, blood count, the hip, blood pressure and urine,
    Kocher) is marked audience: clinician."""
    matching = [a for a in engine.knowledge.advice.values()
                if re.search(pattern, a.text, re.IGNORECASE) and a.kind == "check"]
    assert matching
    for advice in matching:
        assert advice.audience == "clinician", advice.id


# --- Declared treatments: what the text says, the data declares ----------------------------

KEYWORDS = {
    "compression": r"compression", "ice": r"\bice\b", "exercise": r"exercis",
    "stretching": r"\bstretch", "massage": r"massag", "drainage": r"\bdrain",
    "anti_inflammatory": r"anti-inflammator|ibuprofen|naproxen|medication",
    "brace": r"\bbrace\b", "heat": r"\bheat\b",
}
NOT_ADVISING = {"keep_safe", "caution", "check", "safety_net", "information"}


def test_advice_declares_every_treatment_its_text_advises(engine: Engine) -> None:
    """Advice that advises compression, ice, exercise, drainage, anti-inflammatories, a brace
    or heat declares it (or its kind implies it), so the engine can withhold it."""
    missing = []
    for spec in engine.knowledge.advice.values():
        if spec.kind in NOT_ADVISING:
            continue
        for treatment, pattern in KEYWORDS.items():
            if re.search(pattern, spec.text, re.IGNORECASE) and treatment not in treatments(spec):
                missing.append((spec.id, treatment))
    assert not missing


# --- The machinery itself ----------------------------------------------------------------

SPEC = AdviceSpec(id="x.rice", kind="rice", text="RICE", source="s")
NSAID = AdviceSpec("x.a", "medication", "an NSAID", "s")
BRACE = AdviceSpec("x.b", "brace", "a brace", "s")
LEVEL = AdviceSpec("x.k", "keep_safe", "keep level", "s", treatments=("keep_level",))


@pytest.mark.parametrize(("spec", "timeframe", "named_", "open_", "facts", "fired", "unsafe"), [
    (SPEC, "routine", set(), set(), {}, (), False),
    (SPEC, "routine", {"dvt"}, {"dvt"}, {}, (), True),  # A2: compression beside a DVT
    (BRACE, "routine", set(), set(), {}, (), False),
    (BRACE, "routine", set(), {"knee_fracture"}, {}, (), True),  # A6, open by the differential
    (SPEC, "routine", set(), {"calf_tear"}, {"pain.calf": True, "risk.obesity": True}, (),
     True),  # A2's narrower reading
    (SPEC, "routine", set(), set(), {"pain.calf": True, "risk.obesity": False}, (), False),
    (SPEC, "now", set(), set(), {}, (), True),  # A1
    (LEVEL, "now", {"limb_ischaemia"}, {"limb_ischaemia"}, {}, (), False),  # A4
    (LEVEL, "now", {"limb_ischaemia"}, {"limb_ischaemia"}, {}, ("limb_ischaemia.phlegmasia",),
     True),  # A4 does not apply under 1p
    (NSAID, "routine", set(), set(), {"risk.pregnancy": True}, (), True),  # A8
    (NSAID, "routine", set(), set(), {"risk.pregnancy": False}, (), False),
    (NSAID, "routine", set(), {"joint_infection"}, {}, (), True),  # A3
    (AdviceSpec("x.c", "information", "cyst", "s", condition="bakers_cyst"), "routine",
     set(), {"popliteal_aneurysm", "bakers_cyst"}, {}, (), True),  # A5
    (AdviceSpec("x.d", "information", "dvt", "s", condition="dvt"), "routine", set(),
     {"dvt"}, {}, (), True),  # A11: DVT advice only when a rule names it
    (AdviceSpec("x.d", "seek_care", "drain", "s", treatments=("drainage",)), "routine", set(),
     set(), {"sign.lump_growing": True}, (), True),
    (AdviceSpec("x.t", "seek_care", "today", "s", timeframes=("today",)), "within_2_weeks",
     set(), set(), {}, (), True),
    (AdviceSpec("x.u", "information", "info", "s", unsafe_with=("tumour",)), "within_2_weeks",
     {"tumour"}, {"tumour"}, {}, (), True),
    (AdviceSpec("x.w", "information", "fever", "s", when=FactTest("sign.fever")), "today",
     set(), set(), {"sign.fever": False}, (), True),  # its when does not hold
    (AdviceSpec("x.w", "information", "fever", "s", when=FactTest("sign.fever")), "today",
     set(), set(), {"sign.fever": True}, (), False),
])
def test_unsafe_reason(spec: AdviceSpec, timeframe: Any, named_: set[str], open_: set[str],
                       facts: dict[str, Any], fired: tuple[str, ...], unsafe: bool) -> None:
    """The engine's rule for one advice item: withheld exactly when policy v3 says."""
    when = None if spec.when == ALWAYS else compile_check(spec.when)
    reason = unsafe_reason(spec, timeframe, named_, facts, open_=open_ | named_, fired=fired,
                           when=when)
    assert (reason is not None) is unsafe, reason


def test_a_plugin_advice_is_withheld_by_what_it_declares(tmp_path: Any) -> None:
    """A plugin's advice declaring unsafe_with a finding is withheld when it is recorded, and
    its ``when`` decides whether it is given at all."""
    data = tmp_path / "demo_advice.yaml"
    data.write_text(
        "conditions:\n  - {id: demo, name: Demo, description: d, source: s}\n"
        "rules:\n  - id: demo.r\n    priority: 500\n    when: worse.kneeling\n"
        "    then: {evidence: {demo: 5}}\n    because: b\n    source: s\n"
        "advice:\n  - {id: demo.kneel, condition: demo, kind: activity, text: Kneel gently.,"
        " source: s, unsafe_with: [sign.knee_swelling]}\n"
        "  - {id: demo.stairs, condition: demo, kind: information, text: Stairs., source: s,"
        " when: worse.stairs_up}\n")
    pm = get_plugin_manager(entry_points=False, extra=[DataPlugin("demo_advice", data)])
    engine = Engine(plugin_manager=pm)
    calm = engine.evaluate(case({"worse.kneeling": True}, side="both"))
    assert "demo.kneel" in [a.id for a in calm.advice]
    assert "demo.stairs" not in [a.id for a in calm.advice]
    stairs = engine.evaluate(case({"worse.kneeling": True, "worse.stairs_up": True}, side="both"))
    assert "demo.stairs" in [a.id for a in stairs.advice]
    swollen = engine.evaluate(case({"worse.kneeling": True, "sign.knee_swelling": True,
                                    "injury.twisting": True}, side="both",
                                   patient={"age": 30}))
    assert "demo.kneel" not in [a.id for a in swollen.advice]


def test_an_advice_when_naming_an_unknown_finding_is_refused(tmp_path: Any) -> None:
    """An advice ``when`` is checked like a rule's: a misspelt finding is an error naming it."""
    data = tmp_path / "demo_when.yaml"
    data.write_text(
        "conditions:\n  - {id: demo, name: Demo, description: d, source: s}\n"
        "advice:\n  - {id: demo.x, condition: demo, kind: information, text: X., source: s,"
        " when: sign.feverr}\n")
    pm = get_plugin_manager(entry_points=False, extra=[DataPlugin("demo_when", data)])
    with pytest.raises(RuleDataError, match=r'unknown fact "sign.feverr".*sign.fever'):
        Engine(plugin_manager=pm)


def test_serious_conditions_each_have_a_plugin(engine: Engine) -> None:
    """Every condition A2-A9 name is loaded, each from its own plugin."""
    for condition in FORBIDDEN_WHILE_OPEN:
        assert engine.knowledge.conditions[condition].plugin == condition
