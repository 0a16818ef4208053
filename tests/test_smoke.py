"""The engine assesses a case end to end."""

from kneerules import Engine


def test_minimal_case_is_routine(engine: Engine) -> None:
    """A case with only pain behind the knee is routine, reviewed by a doctor."""
    assessment = engine.evaluate({"findings": {"pain.behind_knee": True}})
    assert assessment.triage.level == "routine"
    assert assessment.triage.because == ("general.new_pain_review",)
