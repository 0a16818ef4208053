"""The library API an EHR integrator uses."""

from __future__ import annotations

import json

import attrs
import pytest

from kneerules import Assessment, Case, Engine, Patient, to_json


def test_typed_case_in_frozen_assessment_out(engine: Engine) -> None:
    """A typed Case gives a frozen Assessment that serialises to the assessment JSON."""
    case = Case(case_id="ehr-1", patient=Patient(age=58, sex="male"), side="left",
                findings={"pain.calf": True, "sign.calf_swelling": True, "sign.warmth": True})
    assessment = engine.evaluate(case)
    assert isinstance(assessment, Assessment)
    assert (assessment.triage.level, assessment.triage.timeframe) == ("urgent", "today")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        assessment.triage = None  # type: ignore[misc]
    data = json.loads(to_json(assessment))
    assert data["case_id"] == "ehr-1"
    assert list(data)[:3] == ["format", "case_id", "triage"]


def test_dict_and_typed_case_give_the_same_assessment(engine: Engine) -> None:
    """A dict in the case format and the equivalent typed Case are assessed identically."""
    as_dict = {"case_id": "x", "onset": "sudden", "findings": {"pain.behind_knee": True,
                                                               "injury.twisting": True}}
    typed = Case(case_id="x", onset="sudden", findings={"pain.behind_knee": True,
                                                         "injury.twisting": True})
    assert engine.evaluate(as_dict) == engine.evaluate(typed)


def test_empty_case_is_routine_with_a_note(engine: Engine) -> None:
    """A case with no findings is valid: routine, with a note saying nothing was given."""
    assessment = engine.evaluate({})
    assert assessment.triage.level == "routine"
    assert assessment.differential == ()
    assert [note.id for note in assessment.notes] == ["input.no_findings"]
    assert "No findings" in assessment.notes[0].message


def test_every_assessment_says_see_your_doctor(engine: Engine) -> None:
    """Every assessment carries the see-your-doctor and referred-pain advice."""
    texts = [a.text for a in engine.evaluate({"findings": {"pain.behind_knee": True}}).advice]
    assert any("see your doctor" in t for t in texts)
    assert any("front of the knee" in t for t in texts)
