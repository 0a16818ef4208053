"""The kneerules FHIR Questionnaire: generated from the installed vocabulary, valid FHIR R4,
and its QuestionnaireResponse maps back to the very case it was made from."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kneerules import Engine
from kneerules.cli.main import main
from kneerules.fhir import FhirError, build_questionnaire, case_to_response, map_fhir
from kneerules.fhir.questionnaire import QUESTIONNAIRE_URL
from kneerules.fhir.strict import check_resource
from kneerules.model.records import Case, Patient

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
AUTHORED = "2026-03-01T10:00:00Z"


def _items(questionnaire: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["linkId"]: item for group in questionnaire["item"] for item in group["item"]}


def test_the_questionnaire_is_valid_fhir_r4(engine: Engine) -> None:
    """fhir.resources' R4B Questionnaire model accepts the generated Questionnaire."""
    assert check_resource(build_questionnaire(engine.vocabulary, "1")) == []


def test_one_item_per_fact_with_its_type(engine: Engine) -> None:
    """linkId = vocabulary name: findings boolean, measurements decimal, age integer,
    sex, onset and side choices; no scores or conclusions are asked."""
    items = _items(build_questionnaire(engine.vocabulary, "1"))
    askable = {n for n, s in engine.vocabulary.items()
               if s.kind in ("field", "finding", "measurement")}
    assert set(items) == askable
    assert items["sign.fever"]["type"] == "boolean"
    assert items["temperature_c"]["type"] == "decimal"
    assert items["patient.age"]["type"] == "integer"
    assert [o["valueCoding"]["code"] for o in items["side"]["answerOption"]] == [
        "left", "right", "both"]
    assert items["onset"]["type"] == "choice"
    # The vocabulary's question, in a patient's words (every recordable fact has one).
    assert items["sign.fever"]["text"] == engine.vocabulary["sign.fever"].question


def test_a_facts_question_text_is_used_when_it_has_one(engine: Engine) -> None:
    """When a fact carries a `question` (plugins will supply them), it is the item's text."""

    @attrs.frozen
    class AskedFact:
        name: str
        kind: str
        meaning: str
        question: str
        unit: None = None
        choices: tuple[str, ...] = ()
        integer: bool = False

    vocabulary: dict[str, Any] = {"sign.fever": AskedFact(
        "sign.fever", "finding", "fever", "Have you had a fever?")}
    [group] = build_questionnaire(vocabulary, "1")["item"]
    assert group["item"][0]["text"] == "Have you had a fever?"


FINDINGS = ["pain.behind_knee", "sign.fever", "sign.calf_swelling", "risk.previous_dvt",
            "worse.walking", "injury.twisting"]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    patient = draw(st.none() | st.builds(
        Patient, age=st.none() | st.integers(0, 120),
        sex=st.none() | st.sampled_from(["female", "male", "other", "unknown"])))
    if patient == Patient():
        patient = None
    return Case(
        patient=patient,
        onset=draw(st.none() | st.sampled_from(["sudden", "gradual"])),
        side=draw(st.none() | st.sampled_from(["left", "right", "both"])),
        findings=draw(st.dictionaries(st.sampled_from(FINDINGS), st.booleans())),
        measurements=draw(st.fixed_dictionaries({}, optional={
            "temperature_c": st.floats(30, 45).map(lambda v: round(v, 1)),
            "pain_score": st.integers(0, 10).map(float),
            "bmi": st.floats(10, 80, allow_subnormal=False)})),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_a_response_maps_back_to_the_same_case(case: Case) -> None:
    """case -> QuestionnaireResponse -> map_fhir gives the same case; unanswered = unknown."""
    engine = _ENGINE
    response = case_to_response(case, engine.vocabulary, authored=AUTHORED)
    assert check_resource(response) == []
    mapped = map_fhir(response, at=AT, vocabulary=engine.vocabulary)
    assert mapped.case.facts() == case.facts()
    assert mapped.problems == ()
    unanswered = {p.field for p in mapped.provenance if p.status == "ignored"}
    asked = {n for n, s in engine.vocabulary.items() if s.kind in ("field", "finding",
                                                                   "measurement")}
    assert unanswered == asked - set(case.facts())


_ENGINE = Engine()


def _response(items: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {"resourceType": "QuestionnaireResponse", "questionnaire": QUESTIONNAIRE_URL + "|1",
            "status": "completed", "authored": AUTHORED, "item": items, **more}


@pytest.mark.parametrize(("item", "path", "message"), [
    ({"linkId": "sign.fevr", "answer": [{"valueBoolean": True}]}, "$.item[0].linkId",
     "'sign.fevr' is not a question of the installed vocabulary (did you mean "
     '"sign.fever"?)'),
    ({"linkId": "sign.fever", "answer": [{"valueString": "yes"}]}, "$.item[0].answer[0]",
     "expected valueBoolean (true or false)"),
    ({"linkId": "side", "answer": [{"valueCoding": {"code": "Left"}}]}, "$.item[0].answer[0]",
     "expected one of left, right, both, got 'Left'"),
    ({"linkId": "temperature_c", "answer": [{"valueDecimal": 98.6}]}, "$.item[0].answer[0]",
     "expected a number from 30 to 45 °C, got 98.6"),
    ({"linkId": "sign.fever", "answer": [{"valueBoolean": True}, {"valueBoolean": False}]},
     "$.item[0].answer", "expected one answer, got 2"),
])
def test_a_bad_answer_is_refused_where_it_is(item: dict[str, Any], path: str,
                                             message: str) -> None:
    """An unknown question or an answer of the wrong kind is refused with its JSON path."""
    with pytest.raises(FhirError) as caught:
        map_fhir(_response([item]), at=AT)
    assert [(p.path, p.message) for p in caught.value.problems] == [(path, message)]


@pytest.mark.parametrize(("more", "reason"), [
    ({"status": "entered-in-error"}, "status entered-in-error"),
    ({"authored": "2026-01-01"}, "dated 2026-01-01, outside the time window (7 days before "
                                 "the index time)"),
])
def test_a_withdrawn_or_old_response_is_ignored(more: dict[str, Any], reason: str) -> None:
    """Answers of an entered-in-error or stale response set nothing, and say why."""
    mapped = map_fhir(_response([{"linkId": "sign.fever", "answer": [{"valueBoolean": True}]}],
                                **more), at=AT)
    assert mapped.case.facts() == {}
    assert [(p.field, p.reason) for p in mapped.provenance] == [("sign.fever", reason)]


def test_another_questionnaires_response_is_not_read() -> None:
    """A response to some other questionnaire maps nothing (its linkIds mean other things)."""
    other = dict(_response([{"linkId": "sign.fever", "answer": [{"valueBoolean": True}]}]),
                 questionnaire="http://example.org/Questionnaire/phq-9")
    assert map_fhir(other, at=AT).case.facts() == {}


def test_questionnaire_command_prints_it() -> None:
    """`kneerules questionnaire` prints the Questionnaire as JSON."""
    result = CliRunner().invoke(main, ["questionnaire"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["resourceType"] == "Questionnaire"
    assert printed["url"] == QUESTIONNAIRE_URL
