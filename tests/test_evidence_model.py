"""The evidence model (docs/reasoning.md) on cases written from the clinical source and the
guidelines, one table per pattern of issue 12; none is copied from the vignettes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kneerules import Engine
from kneerules.model.records import Assessment, Evidence
from kneerules.reasoning.differential import EXCLUDING_WEIGHT, rank_differential


def assess(engine: Engine, age: int | None, onset: str | None, findings: dict[str, bool],
           side: str | None = None) -> Assessment:
    case: dict[str, Any] = {"findings": findings}
    if age is not None:
        case["patient"] = {"age": age}
    if onset is not None:
        case["onset"] = onset
    if side is not None:
        case["side"] = side
    return engine.evaluate(case)


def ranked(assessment: Assessment) -> list[str]:
    return [entry.condition for entry in assessment.differential]


def first(assessment: Assessment) -> str | None:
    return assessment.differential[0].condition if assessment.differential else None


# --- Where it hurts decides between causes that share a mechanism --------------------
# 4. Calf Tear: pain "lower down in the calf region"; 7. Hamstring Injuries: "behind the
# knee or in the back of the thigh"; both tear when overstretched in a fast movement.
LOCATION = [
    ("lunge, calf", 38, {"pain.calf": True, "pain.sharp": True, "injury.overstretch": True},
     "calf_tear"),
    ("lunge, calf and behind the knee, a runner", 30,
     {"pain.calf": True, "pain.behind_knee": True, "pain.sharp": True,
      "injury.overstretch": True, "activity.running": True}, "calf_tear"),
    ("jump, calf, worse on tip toes", 45,
     {"pain.calf": True, "injury.overstretch": True, "worse.tiptoe": True}, "calf_tear"),
    ("sprint, back of the thigh", 24,
     {"pain.back_of_thigh": True, "pain.sharp": True, "injury.overstretch": True},
     "hamstring_injury"),
    ("change of direction, back of the thigh and knee", 27,
     {"pain.back_of_thigh": True, "pain.behind_knee": True, "injury.direction_change": True},
     "hamstring_injury"),
    ("cyclist, sharp pain in the calf", 35,
     {"pain.behind_knee": True, "pain.calf": True, "pain.sharp": True,
      "activity.cycling": True}, "calf_tear"),
]


@pytest.mark.parametrize(("label", "age", "findings", "expected"), LOCATION,
                         ids=[row[0] for row in LOCATION])
def test_location_decides_between_shared_mechanisms(engine: Engine, label: str, age: int,
                                                    findings: dict[str, bool],
                                                    expected: str) -> None:
    """The place of the pain, not the shared mechanism, decides which muscle is torn."""
    assert first(assess(engine, age, "sudden", findings)) == expected


def test_cyclist_rule_of_thumb_needs_calf_pain(engine: Engine) -> None:
    """Sharp pain in a cyclist without calf pain gives the calf tear nothing (issue 11)."""
    result = assess(engine, 35, "sudden", {"pain.behind_knee": True, "pain.sharp": True,
                                           "activity.cycling": True})
    assert "calf_tear" not in ranked(result)


# --- Findings recorded absent count ---------------------------------------------------
ABSENT = [
    # 6. Hyperextended Knee is the knee bending back; a stable knee speaks against a
    # ligament tear (2. Ligament Sprain: instability is its first symptom).
    ("hyperextension, knee stable", 25,
     {"pain.behind_knee": True, "injury.hyperextension": True, "sign.instability": False,
      "pain.dull_ache": True}, "hyperextended_knee", "ligament_sprain"),
    ("hyperextension, stable, not swollen", 19,
     {"pain.behind_knee": True, "injury.hyperextension": True, "sign.instability": False,
      "sign.knee_swelling": False}, "hyperextended_knee", "ligament_sprain"),
    # Summary: tightness is a hamstring injury or posterior knee swelling; no swelling.
    ("tightness, no swelling behind the knee", 30,
     {"pain.behind_knee": True, "pain.tightness": True, "sign.swelling_behind_knee": False},
     "hamstring_injury", "bakers_cyst"),
    # 4. Calf Tear: worse on tip toes; in the calf. Both recorded absent.
    ("change of direction, calf painless, tip toes painless", 33,
     {"pain.behind_knee": True, "injury.direction_change": True, "pain.calf": False,
      "worse.tiptoe": False, "pain.back_of_thigh": True}, "hamstring_injury", "calf_tear"),
]


@pytest.mark.parametrize(("label", "age", "findings", "expected", "demoted"), ABSENT,
                         ids=[row[0] for row in ABSENT])
def test_findings_recorded_absent_count_against(engine: Engine, label: str, age: int,
                                                findings: dict[str, bool], expected: str,
                                                demoted: str) -> None:
    """A finding looked for and absent lowers the condition it belongs to below another."""
    result = assess(engine, age, "sudden", findings)
    assert first(result) == expected
    assert ranked(result).index(demoted) > 0 if demoted in ranked(result) else True


def test_absent_is_not_unknown(engine: Engine) -> None:
    """Recording instability as absent lowers a ligament sprain; leaving it out does not."""
    base = {"pain.behind_knee": True, "injury.twisting": True}
    unknown = assess(engine, 28, "sudden", base)
    absent = assess(engine, 28, "sudden", {**base, "sign.instability": False})
    score = {e.condition: e.score for e in unknown.differential}["ligament_sprain"]
    lowered = {e.condition: e.score for e in absent.differential}.get("ligament_sprain", 0.0)
    assert lowered <= score - 2


# --- Never empty while the findings speak ---------------------------------------------
def test_recurrent_giving_way_is_listed(engine: Engine) -> None:
    """Giving way after an earlier injury in a young pivoting athlete lists a ligament sprain."""
    result = assess(engine, 19, "gradual", {"sign.instability": True,
                                            "history.knee_injury": True,
                                            "activity.pivoting_sport": True})
    assert first(result) == "ligament_sprain"


@pytest.mark.parametrize(("findings", "expected"), [
    ({"pain.behind_knee": True, "activity.running": True, "pain.back_of_thigh": False},
     "hamstring_injury"),
    ({"pain.behind_knee": True, "worse.squatting": True, "sign.knee_swelling": False},
     "meniscus_tear"),
], ids=["runner, thigh painless", "worse squatting, knee not swollen"])
def test_evidence_that_cancels_out_is_still_listed(engine: Engine, findings: dict[str, bool],
                                                   expected: str) -> None:
    """When the only evidence for a cause is cancelled by evidence against, it is still
    listed (as unlikely) rather than leaving the differential empty."""
    result = assess(engine, 30, "gradual", findings)
    assert ranked(result) == [expected]
    assert result.differential[0].likelihood == "unlikely"


def test_pain_only_behind_the_kneecap_stays_empty(engine: Engine) -> None:
    """Pain only behind the kneecap excludes the posterior causes: nothing to list."""
    result = assess(engine, 25, "gradual", {"pain.behind_kneecap": True,
                                            "worse.squatting": True, "activity.running": True})
    assert ranked(result) == []


EVIDENCE = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]),
                              st.sampled_from([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])), max_size=8)


@settings(max_examples=300, deadline=None)
@given(items=EVIDENCE, named=st.sets(st.sampled_from(["a", "b", "c", "d"]), max_size=2))
def test_ranking_properties(engine: Engine, items: list[tuple[str, float]],
                            named: set[str]) -> None:
    """Never empty while something speaks for a condition; named always listed; by score."""
    kb = engine.knowledge
    ids = sorted(kb.conditions)[:4]
    alias = dict(zip("abcd", ids, strict=True))
    evidence: dict[str, list[Evidence]] = {}
    for key, weight in items:
        evidence.setdefault(alias[key], []).append(Evidence("r", "why", weight))
    flagged = [alias[k] for k in sorted(named)]
    result = rank_differential(evidence, flagged, kb)
    listed = [e.condition for e in result]
    assert set(flagged) <= set(listed)
    assert all(e.must_not_miss == (e.condition in flagged) for e in result)
    speaks = [c for c, ev in evidence.items() if any(e.weight > 0 for e in ev)
              and not any(e.weight <= EXCLUDING_WEIGHT for e in ev)]
    if speaks:
        assert listed
    floor = kb.ruleset.possible_at
    keys = [max(e.score, floor) if e.must_not_miss else e.score for e in result]
    assert keys == sorted(keys, reverse=True)


# --- Age: NICE NG226 (osteoarthritis from 45), Siemieniuk et al. BMJ 2017 --------------
def test_clicking_at_22_after_an_old_injury_is_not_arthritis(engine: Engine) -> None:
    """At 22, clicking and stiffness after an old injury rank a cartilage tear, not arthritis."""
    result = assess(engine, 22, "gradual", {"pain.behind_knee": True,
                                            "sign.clicking_grinding": True,
                                            "sign.stiffness": True,
                                            "history.knee_injury": True})
    assert first(result) == "meniscus_tear"
    assert first(result) != "knee_arthritis"


@pytest.mark.parametrize("findings", [
    {"pain.behind_knee": True, "sign.stiffness": True, "worse.stairs_up": True,
     "worse.squatting": True, "sign.knee_swelling": True},
    {"pain.behind_knee": True, "sign.locking": True, "worse.squatting": True,
     "sign.stiffness": True, "sign.clicking_grinding": True},
], ids=["stiff, stairs, squatting, swollen", "catching, clicking, stiff"])
def test_at_58_degenerative_meniscus_and_arthritis_come_together(
        engine: Engine, findings: dict[str, bool]) -> None:
    """At 58 with a gradual onset, meniscus and arthritis lead together, a point apart."""
    result = assess(engine, 58, "gradual", findings)
    assert set(ranked(result)[:2]) == {"meniscus_tear", "knee_arthritis"}
    scores = [e.score for e in result.differential[:2]]
    assert abs(scores[0] - scores[1]) <= 1


def test_the_same_knee_at_70_is_arthritis(engine: Engine) -> None:
    """Stiffness, worse walking, gradual, at 70 in both knees: arthritis first."""
    result = assess(engine, 70, "gradual", {"pain.behind_knee": True, "sign.stiffness": True,
                                            "worse.walking": True}, side="both")
    assert first(result) == "knee_arthritis"


def test_knee_replacement_excludes_arthritis_and_cartilage(engine: Engine) -> None:
    """A replaced knee has no worn cartilage or menisci left: both fall to unlikely or out."""
    findings = {"pain.behind_knee": True, "sign.stiffness": True, "worse.squatting": True}
    native = assess(engine, 72, "gradual", findings)
    replaced = assess(engine, 72, "gradual", {**findings, "history.knee_replacement": True})
    assert {e.condition: e.likelihood for e in native.differential}["knee_arthritis"] != "unlikely"
    grades = {e.condition: e.likelihood for e in replaced.differential}
    assert grades.get("knee_arthritis", "unlikely") == "unlikely"
    assert grades.get("meniscus_tear", "unlikely") == "unlikely"


# --- Locking is the cartilage tear's sign ---------------------------------------------
LOCKING = [
    ("twist in a pivoting sport, locking", {"injury.twisting": True,
                                            "activity.pivoting_sport": True,
                                            "sign.locking": True}),
    ("the same, unstable and swollen", {"injury.twisting": True,
                                        "activity.pivoting_sport": True,
                                        "sign.locking": True, "sign.instability": True,
                                        "sign.knee_swelling": True}),
    ("locking without a recorded mechanism", {"sign.locking": True,
                                              "activity.pivoting_sport": True}),
]


@pytest.mark.parametrize(("label", "findings"), LOCKING, ids=[row[0] for row in LOCKING])
def test_locking_ranks_meniscus_over_ligament(engine: Engine, label: str,
                                              findings: dict[str, bool]) -> None:
    """3. Posterior Cartilage Tear: only the cartilage tear locks the knee."""
    result = assess(engine, 21, "sudden", {"pain.behind_knee": True, **findings})
    assert first(result) == "meniscus_tear"


def test_pop_with_swelling_after_a_twist_is_a_ligament_tear(engine: Engine) -> None:
    """A pop and a swollen, unstable knee after a twist: ligament first (issue 11)."""
    result = assess(engine, 20, "sudden", {"pain.behind_knee": True, "injury.twisting": True,
                                           "injury.pop": True, "sign.knee_swelling": True,
                                           "sign.instability": True})
    assert first(result) == "ligament_sprain"


def test_hyperextension_is_evidence_for_a_ligament_too(engine: Engine) -> None:
    """Hyperextension adds to a ligament sprain (ACL/PCL), less than to a hyperextended knee."""
    result = assess(engine, 20, "sudden", {"pain.behind_knee": True,
                                           "injury.hyperextension": True})
    weights = {e.condition: e.score for e in result.differential}
    assert weights["hyperextended_knee"] > weights["ligament_sprain"] > 0


def test_sudden_onset_alone_is_not_a_mechanism(engine: Engine) -> None:
    """Sudden onset with sharp pain adds nothing that needs an injury mechanism."""
    result = assess(engine, 30, "sudden", {"pain.behind_knee": True, "pain.sharp": True})
    rules = {ev.rule for e in result.differential for ev in e.evidence}
    assert "meniscus_tear.sharp_after_injury" not in rules
    assert "hamstring_injury.sharp_at_injury" not in rules


# --- DVT evidence (issue 11, item 5) --------------------------------------------------
def test_hot_knee_gives_dvt_no_evidence(engine: Engine) -> None:
    """Redness and warmth of a swollen knee, calf not involved, are not evidence of a DVT."""
    result = assess(engine, 50, "sudden", {"pain.behind_knee": True, "sign.knee_swelling": True,
                                           "sign.redness": True, "sign.warmth": True},
                    side="left")
    assert "dvt" not in ranked(result)


def test_red_warm_calf_is_dvt_evidence(engine: Engine) -> None:
    """A painful calf that is red and warm is evidence of a DVT (8. DVT)."""
    result = assess(engine, 50, "gradual", {"pain.calf": True, "sign.redness": True},
                    side="left")
    rules = {ev.rule for e in result.differential for ev in e.evidence}
    assert "dvt.evidence_red_or_warm_calf" in rules


def test_hormonal_therapy_counts_for_dvt(engine: Engine) -> None:
    """The combined pill or hormone therapy is a DVT risk read by the evidence."""
    base = {"pain.calf": True, "sign.calf_swelling": True}
    without = assess(engine, 30, "gradual", base, side="left")
    with_pill = assess(engine, 30, "gradual", {**base, "risk.hormonal_therapy": True},
                       side="left")
    score = {e.condition: e.score for e in with_pill.differential}["dvt"]
    assert score == {e.condition: e.score for e in without.differential}["dvt"] + 1


def test_calm_calf_is_not_evidence_against_dvt(engine: Engine) -> None:
    """No rule lowers a DVT because the calf is neither red nor warm (no source says so)."""
    assert "dvt.against_calm_calf" not in {r.id for r in engine.knowledge.rules}


# --- A condition a red flag names: listed, at least possible, not first by fiat ---------
NAMING_PLUGIN = """
conditions:
  - id: demo_serious
    name: A serious condition a red flag names
    description: Used to test the ordering of named conditions.
    source: "Triage policy v2: names"
    commonness: 50
rules:
  - id: demo_flag.cold_weather
    priority: 5000
    when: worse.cold_weather
    then:
      red_flag:
        id: demo_serious.suspected
        condition: demo_serious
        message: Pain worse in cold weather names a condition that must not be missed.
    because: Pain worse in cold weather names a serious condition in this test plugin.
    source: "Triage policy v2: names"
"""


@pytest.fixture(scope="module")
def naming_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The default rule set plus a plugin whose red flag names a condition with no evidence."""
    from kneerules.knowledge.dataplugin import DataPlugin
    from kneerules.knowledge.plugins import get_plugin_manager

    path = tmp_path_factory.mktemp("naming") / "demo_flag.yaml"
    path.write_text(NAMING_PLUGIN)
    plugin = DataPlugin("demo_flag", path, "1.0")
    return Engine(plugin_manager=get_plugin_manager(entry_points=False, extra=[plugin]))


def test_named_condition_is_listed_below_a_likelier_cause(naming_engine: Engine) -> None:
    """A likely calf tear leads; the named condition follows with must_not_miss, possible."""
    result = assess(naming_engine, 38, "sudden", {
        "pain.calf": True, "injury.direction_change": True, "worse.tiptoe": True,
        "worse.cold_weather": True}, side="left")
    assert ranked(result)[0] == "calf_tear"
    named = next(e for e in result.differential if e.condition == "demo_serious")
    assert named.must_not_miss
    assert named.likelihood == "possible"
    assert not result.differential[0].must_not_miss


def test_named_condition_outranks_merely_unlikely_ones(naming_engine: Engine) -> None:
    """With nothing more likely, the named condition (at least possible) comes first."""
    result = assess(naming_engine, 35, "gradual", {"worse.cold_weather": True,
                                                   "pain.dull_ache": True}, side="left")
    assert ranked(result)[0] == "demo_serious"
    assert all(e.likelihood == "unlikely" for e in result.differential[1:])


def test_worked_example_in_the_docs_is_what_the_engine_says(engine: Engine) -> None:
    """docs/reasoning.md's worked example: its case gives the scores and order it shows."""
    import json
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "reasoning.md").read_text()
    section = doc.split("## 5. A worked example", 1)[1]
    case = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))  # type: ignore[union-attr]
    result = engine.evaluate(case)
    assert [(e.condition, e.score, e.likelihood) for e in result.differential] == [
        ("calf_tear", 7.0, "likely"), ("meniscus_tear", 1.0, "unlikely"),
        ("hamstring_injury", 1.0, "unlikely")]
    rules = {ev.rule for e in result.differential for ev in e.evidence}
    for rule in re.findall(r"`((?:calf_tear|hamstring_injury|meniscus_tear)\.[a-z_]+)`", section):
        assert rule in rules or rule.endswith("sharp_pain_in_runner"), rule
    assert result.triage.level == "routine"
