"""The two-level Wells score (Wells et al., NEJM 2003), against hand-worked cases."""

from __future__ import annotations

from typing import Any

import pytest

from kneerules import Engine, to_dict
from kneerules.model.records import ScoreResult

ALL_ITEMS = [
    "active_cancer", "paralysis_or_plaster", "bedridden_or_surgery", "deep_vein_tenderness",
    "whole_leg_swollen", "calf_swelling_3cm", "pitting_oedema", "collateral_veins",
    "previous_dvt",
]


def wells(engine: Engine, findings: dict[str, bool], **extra: Any) -> ScoreResult:
    assessment = engine.evaluate({"findings": findings, **extra})
    return next(s for s in assessment.scores if s.id == "wells")


@pytest.mark.parametrize(
    ("findings", "measurements", "item"),
    [
        ({"risk.active_cancer": True}, {}, "active_cancer"),
        ({"risk.leg_in_plaster": True}, {}, "paralysis_or_plaster"),
        ({"risk.bedridden": True}, {}, "bedridden_or_surgery"),
        ({"risk.recent_surgery": True}, {}, "bedridden_or_surgery"),
        ({"sign.calf_tenderness": True}, {}, "deep_vein_tenderness"),
        ({"sign.whole_leg_swelling": True}, {}, "whole_leg_swollen"),
        ({}, {"calf_swelling_cm": 3}, "calf_swelling_3cm"),
        ({"sign.pitting_oedema": True}, {}, "pitting_oedema"),
        ({"sign.visible_superficial_veins": True}, {}, "collateral_veins"),
        ({"risk.previous_dvt": True}, {}, "previous_dvt"),
    ],
)
def test_each_item_counts_one_point(engine: Engine, findings: dict[str, bool],
                                    measurements: dict[str, float], item: str) -> None:
    """Each Wells item, recorded alone, counts one point and is reported as counted."""
    result = wells(engine, findings, measurements=measurements)
    assert result.score == 1
    # The other items are not recorded and could lift it to 2: no "unlikely" band yet.
    assert result.interpretation == "indeterminate"
    assert result.text.startswith("at least 1, ")
    assert result.text.endswith("not recorded")
    counted = [i.id for i in result.items if i.status == "counted"]
    assert counted == [item]
    assert item not in result.unknown


def test_bedridden_and_surgery_count_once(engine: Engine) -> None:
    """Bedridden and recent surgery share one item: one point for either or both."""
    result = wells(engine, {"risk.bedridden": True, "risk.recent_surgery": True})
    assert result.score == 1


def test_calf_swelling_under_three_cm_does_not_count(engine: Engine) -> None:
    """A calf 2.9 cm larger does not count; the item is known, so not listed as unknown."""
    result = wells(engine, {}, measurements={"calf_swelling_cm": 2.9})
    assert result.score == 0
    assert "calf_swelling_3cm" not in result.unknown


def test_hand_worked_likely_case(engine: Engine) -> None:
    """Cancer + pitting oedema + calf 3.5 cm larger = 3: DVT likely; with leg pain, the
    same-day DVT pathway (policy v3: today, not an emergency)."""
    assessment = engine.evaluate({
        "side": "right", "findings": {"pain.calf": True, "risk.active_cancer": True,
                                      "sign.pitting_oedema": True},
        "measurements": {"calf_swelling_cm": 3.5}})
    result = next(s for s in assessment.scores if s.id == "wells")
    assert result.score == 3
    assert result.interpretation == "likely"
    assert (assessment.triage.level, assessment.triage.timeframe) == ("urgent", "today")
    assert "dvt.wells_two_or_more" in assessment.triage.because


def test_hand_worked_unlikely_case(engine: Engine) -> None:
    """Previous DVT only, everything else recorded absent = 1: unlikely, nothing unknown."""
    findings = {
        "pain.calf": True, "risk.previous_dvt": True, "risk.active_cancer": False,
        "risk.leg_in_plaster": False, "risk.bedridden": False, "risk.recent_surgery": False,
        "sign.calf_tenderness": False, "sign.whole_leg_swelling": False,
        "sign.pitting_oedema": False, "sign.visible_superficial_veins": False,
    }
    assessment = engine.evaluate({"side": "left", "findings": findings,
                                  "measurements": {"calf_swelling_cm": 1}})
    result = next(s for s in assessment.scores if s.id == "wells")
    assert result.score == 1
    assert result.interpretation == "unlikely"
    assert result.unknown == ()
    assert "wells.check_unknown_items" not in [a.id for a in assessment.advice]
    assert "dvt.wells_two_or_more" not in {s.rule for s in assessment.trace}


def test_unknown_items_are_listed_and_checks_advised(engine: Engine) -> None:
    """Items not recorded are unknown; if they could lift the score to 2, advice names them."""
    assessment = engine.evaluate({"side": "left", "findings": {
        "pain.calf": True, "risk.previous_dvt": True, "sign.calf_tenderness": False}})
    result = next(s for s in assessment.scores if s.id == "wells")
    assert result.score == 1
    assert "deep_vein_tenderness" not in result.unknown
    assert set(result.unknown) == set(ALL_ITEMS) - {"previous_dvt", "deep_vein_tenderness"}
    check = [a for a in assessment.advice if a.id == "wells.check_unknown_items"]
    assert len(check) == 1
    assert "pitting oedema" in check[0].text
    assert "tenderness along the deep veins" not in check[0].text


def test_no_check_advice_without_leg_pain_in_one_leg(engine: Engine) -> None:
    """Pain in both legs is outside the Wells route, so no check advice is given."""
    assessment = engine.evaluate({"side": "both", "findings": {"pain.calf": True}})
    assert not any(a.kind == "check" for a in assessment.advice)


D5_ABSENT = {name: False for name in (
    "risk.active_cancer", "risk.leg_in_plaster", "risk.bedridden", "risk.recent_surgery",
    "risk.previous_dvt", "risk.pregnancy", "risk.hormonal_therapy", "risk.long_haul_travel")}


@pytest.mark.parametrize(("findings", "fields", "applied"), [
    # an injury alone is not "another diagnosis as likely"
    ({"pain.calf": True, "injury.twisting": True}, {}, False),
    # the clinician's finding
    ({"pain.calf": True, "test.alternative_diagnosis_likely": True}, {}, True),
    # D5: a clear calf-muscle injury with every provoking risk factor recorded absent
    ({"pain.calf": True, "injury.overstretch": True, **D5_ABSENT}, {"onset": "sudden"}, True),
    # ... but an unknown risk factor never counts as absent
    ({"pain.calf": True, "injury.overstretch": True,
      **{k: v for k, v in D5_ABSENT.items() if k != "risk.long_haul_travel"}},
     {"onset": "sudden"}, False),
])
def test_alternative_diagnosis_item(engine: Engine, findings: dict[str, bool],
                                    fields: dict[str, Any], applied: bool) -> None:
    """Wells' minus 2 comes only from the clinician's finding or D5, never by guessing."""
    result = wells(engine, findings, **fields)
    item = next(i for i in result.items if i.id == "alternative_diagnosis")
    assert item.points == -2
    assert item.status == ("counted" if applied else "not_counted")
    assert "alternative_diagnosis" not in result.unknown
    as_json = to_dict(engine.evaluate({"findings": {"pain.calf": True}}))
    assert "clinician's finding" in " ".join(as_json["scores"][0]["notes"])


def test_display_says_at_least_while_unrecorded_items_could_lift_it(engine: Engine) -> None:
    """The text says "at least N, M items not recorded" and never "unlikely" while unknowns
    could lift the score to 2 (issue 11, item 5)."""
    from kneerules.output.rendering import render_text

    assessment = engine.evaluate({"side": "left", "findings": {
        "pain.calf": True, "sign.calf_swelling": True, "risk.previous_dvt": True}})
    text = render_text(assessment, explain=True)  # scores are not in the default view
    assert "Two-level Wells score for DVT: at least 1, 8 items not recorded" in text
    assert "unlikely" not in text.split("Two-level Wells score for DVT")[1].split("\n")[0]


def test_display_gives_the_band_when_every_item_is_recorded(engine: Engine) -> None:
    """With every item recorded the score is exact and its band is shown."""
    findings = {"pain.calf": True, "risk.previous_dvt": True, "risk.active_cancer": False,
                "risk.leg_in_plaster": False, "risk.bedridden": False,
                "risk.recent_surgery": False, "sign.calf_tenderness": False,
                "sign.whole_leg_swelling": False, "sign.pitting_oedema": False,
                "sign.visible_superficial_veins": False}
    result = wells(engine, findings, measurements={"calf_swelling_cm": 1})
    assert (result.score, result.interpretation) == (1, "unlikely")
