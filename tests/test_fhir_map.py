"""map_fhir keeps three values: negated is false, absent is unknown, withdrawn is ignored
and said so; conflicts are reported, never guessed; refusals name their JSON path."""

from __future__ import annotations

import gc
import weakref
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kneerules import Engine, to_dict
from kneerules.fhir import FhirError, map_fhir
from kneerules.fhir.questionnaire import QUESTIONNAIRE_URL

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
TODAY = "2026-03-01T08:00:00Z"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ATC = "http://www.whocc.no/atc"
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1970-05-20"}
SUBJECT = {"reference": "Patient/p1"}


def obs(code: str, when: str = TODAY, status: str = "final", rid: str = "o1",
        **value: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": rid, "status": status, "subject": SUBJECT,
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "effectiveDateTime": when, **value}


def cond(code: str, clinical: str | None = "active", verification: str | None = "confirmed",
         rid: str = "c1", **more: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Condition", "id": rid, "subject": SUBJECT,
                                "code": {"coding": [{"system": SNOMED, "code": code}]},
                                "onsetDateTime": "2026-02-27", **more}
    if clinical:
        resource["clinicalStatus"] = {"coding": [{"code": clinical}]}
    if verification:
        resource["verificationStatus"] = {"coding": [{"code": verification}]}
    return resource


def med(code: str, status: str = "active", kind: str = "MedicationStatement",
        system: str = ATC, **more: Any) -> dict[str, Any]:
    return {"resourceType": kind, "id": "m1", "status": status, "subject": SUBJECT,
            "medicationCodeableConcept": {"coding": [{"system": system, "code": code}]},
            **more}


def qty(value: float, code: str) -> dict[str, Any]:
    return {"valueQuantity": {"value": value, "system": "http://unitsofmeasure.org",
                              "code": code}}


def flag(code: str) -> dict[str, Any]:
    return {"interpretation": [{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
        "code": code}]}]}


def facts(resources: list[dict[str, Any]]) -> dict[str, Any]:
    mapped = map_fhir([PATIENT, *resources], at=AT)
    known = mapped.case.facts()
    assert known.pop("patient.age") == 55
    assert known.pop("patient.sex") == "male"
    return known


PROCEDURE = {"resourceType": "Procedure", "id": "s1", "status": "completed",
             "subject": SUBJECT, "performedDateTime": "2026-01-15",
             "code": {"coding": [{"system": SNOMED, "code": "52734007"}]}}
RANGE = {"referenceRange": [{"high": {"value": 500, "code": "ng/mL"}}]}
BODY_LEFT = {"bodySite": {"coding": [{"system": SNOMED, "code": "7771000"}]}}
BODY_RIGHT = {"bodySite": {"coding": [{"system": SNOMED, "code": "24028007"}]}}

# (id, resources besides the patient, the facts expected)
TABLE: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = [
    ("nothing but the patient", [], {}),
    ("temperature in Cel", [obs("8310-5", **qty(38.4, "Cel"))], {"temperature_c": 38.4}),
    ("temperature in [degF]", [obs("8310-5", **qty(101.3, "[degF]"))], {"temperature_c": 38.5}),
    ("temperature of yesterday's week is stale",
     [obs("8310-5", when="2026-02-20", **qty(39, "Cel"))], {}),
    ("temperature after the index time", [obs("8310-5", when="2026-03-02", **qty(39, "Cel"))],
     {}),
    ("temperature entered-in-error", [obs("8310-5", status="entered-in-error",
                                          **qty(39, "Cel"))], {}),
    ("temperature cancelled", [obs("8310-5", status="cancelled", **qty(39, "Cel"))], {}),
    ("temperature with dataAbsentReason",
     [obs("8310-5", dataAbsentReason={"coding": [{"code": "asked-declined"}]})], {}),
    ("the newer of two temperatures",
     [obs("8310-5", when="2026-03-01T06:00:00Z", **qty(39, "Cel")),
      obs("8310-5", rid="o2", **qty(37.1, "Cel"))], {"temperature_c": 37.1}),
    ("BMI", [obs("39156-5", when="2025-10-01", **qty(31.2, "kg/m2"))], {"bmi": 31.2}),
    ("pain score and its side", [obs("72514-3", valueInteger=7, **BODY_LEFT)],
     {"pain_score": 7, "side": "left"}),
    ("pregnant", [obs("82810-3", valueCodeableConcept={"coding": [
        {"system": SNOMED, "code": "77386006"}]})], {"risk.pregnancy": True}),
    ("not pregnant (LOINC answer)", [obs("82810-3", valueCodeableConcept={"coding": [
        {"system": LOINC, "code": "LA26683-5"}]})], {"risk.pregnancy": False}),
    ("pregnancy status unknown", [obs("82810-3", valueCodeableConcept={"coding": [
        {"system": LOINC, "code": "LA4489-6"}]})], {}),
    ("D-dimer flagged H", [obs("48065-7", **qty(900, "ng/mL"), **flag("H"))],
     {"test.d_dimer_positive": True}),
    ("D-dimer flagged N", [obs("48065-7", **qty(300, "ng/mL"), **flag("N"))],
     {"test.d_dimer_positive": False}),
    ("D-dimer above its reference range", [obs("48066-5", **qty(501, "ng/mL"), **RANGE)],
     {"test.d_dimer_positive": True}),
    ("D-dimer within its reference range", [obs("48066-5", **qty(499, "ng/mL"), **RANGE)],
     {"test.d_dimer_positive": False}),
    ("D-dimer with neither flag nor range: no fixed threshold",
     [obs("71427-9", **qty(5000, "ng/mL"))], {}),
    ("active DVT", [cond("128053003")], {"risk.previous_dvt": True}),
    ("resolved DVT is still a previous DVT", [cond("128053003", clinical="resolved")],
     {"risk.previous_dvt": True}),
    ("refuted DVT", [cond("128053003", clinical=None, verification="refuted")],
     {"risk.previous_dvt": False}),
    ("DVT entered-in-error", [cond("128053003", verification="entered-in-error")], {}),
    ("DVT unconfirmed", [cond("128053003", verification="unconfirmed")], {}),
    ("knee osteoarthritis", [cond("239873007")], {"history.knee_arthritis": True}),
    ("malignancy in remission", [cond("363346000", clinical="remission")], {}),
    ("active malignancy", [cond("363346000")], {"risk.active_cancer": True}),
    ("obesity", [cond("414916001")], {"risk.obesity": True}),
    ("resolved fever", [cond("386661006", clinical="resolved")], {}),
    ("active fever, begun this week", [cond("386661006")], {"sign.fever": True}),
    ("active fever, begun last year", [cond("386661006", onsetDateTime="2025-01-01")], {}),
    ("hip replacement 6 weeks ago", [PROCEDURE], {"risk.recent_surgery": True}),
    ("hip replacement 6 months ago", [dict(PROCEDURE, performedDateTime="2025-09-01")], {}),
    ("hip replacement in 2025, no month: too imprecise", [
        dict(PROCEDURE, performedDateTime="2025")], {}),
    ("hip replacement not done", [dict(PROCEDURE, status="not-done")],
     {"risk.recent_surgery": False}),
    ("hip replacement in progress", [dict(PROCEDURE, status="in-progress")], {}),
    ("knee replacement years ago", [dict(PROCEDURE, performedDateTime="2015-06-01", code={
        "coding": [{"system": SNOMED, "code": "609588000"}]})],
     {"history.knee_replacement": True}),
    ("apixaban (ATC), active", [med("B01AF02")], {"risk.anticoagulant": True}),
    ("apixaban, stopped", [med("B01AF02", status="stopped")], {}),
    ("apixaban, not taken", [med("B01AF02", status="not-taken")],
     {"risk.anticoagulant": False}),
    ("apixaban, period ended", [med("B01AF02", effectivePeriod={
        "start": "2025-01-01", "end": "2025-06-01"})], {}),
    ("aspirin is not an anticoagulant", [med("B01AC06")], {}),
    ("warfarin prescribed (RxNorm)", [med("11289", kind="MedicationRequest", intent="order",
                                          system="http://www.nlm.nih.gov/research/umls/rxnorm")],
     {"risk.anticoagulant": True}),
    ("warfarin, a proposal only", [med("11289", kind="MedicationRequest", intent="proposal",
                                       system="http://www.nlm.nih.gov/research/umls/rxnorm")],
     {}),
    ("combined pill, contained Medication", [{
        "resourceType": "MedicationStatement", "id": "m2", "status": "active",
        "subject": SUBJECT, "medicationReference": {"reference": "#pill"},
        "contained": [{"resourceType": "Medication", "id": "pill", "code": {"coding": [
            {"system": ATC, "code": "G03AA07"}]}}]}], {"risk.hormonal_therapy": True}),
    ("an unmapped code", [cond("59621000")], {}),
    ("a Group's observation", [dict(obs("8310-5", **qty(39, "Cel")),
                                    subject={"reference": "Group/g1"})], {}),
]


@pytest.mark.parametrize(("resources", "expected"), [(r, e) for _, r, e in TABLE],
                         ids=[t[0] for t in TABLE])
def test_resources_map_to_these_facts(resources: list[dict[str, Any]],
                                      expected: dict[str, Any]) -> None:
    """Each record gives exactly these facts (and, with the Patient, age 55 and male)."""
    assert facts(resources) == expected


@pytest.mark.parametrize(("resources", "reason"), [
    ([obs("8310-5", status="entered-in-error", **qty(39, "Cel"))], "entered-in-error"),
    ([obs("8310-5", dataAbsentReason={"coding": [{"code": "asked-declined"}]})],
     "data absent (asked-declined): left unknown"),
    ([cond("386661006", clinical="resolved")], "clinical status resolved"),
    ([obs("8310-5", when="2026-02-20", **qty(39, "Cel"))],
     "dated 2026-02-20, outside the time window (1 day before the index time)"),
    ([obs("71427-9", **qty(5000, "ng/mL"))], "no interpretation flag and no reference range "
     "high: cannot tell if raised (no fixed threshold)"),
    ([med("B01AF02", status="stopped")], "status stopped"),
])
def test_ignored_records_say_why(resources: list[dict[str, Any]], reason: str) -> None:
    """A record that could have set a value but did not is in the provenance, with why."""
    mapped = map_fhir([PATIENT, *resources], at=AT)
    ignored = [p for p in mapped.provenance if p.status == "ignored"]
    assert [p.reason for p in ignored] == [reason]
    assert ignored[0].path == "$[1]"


def test_provenance_names_resource_version_and_rule() -> None:
    """A used value's provenance has the resource type, id, version and mapping rule."""
    observation = dict(obs("8310-5", **qty(38.4, "Cel")), meta={"versionId": "3"})
    mapped = map_fhir({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": PATIENT}, {"resource": observation}]}, at=AT)
    [temperature] = [p for p in mapped.provenance if p.field == "temperature_c"]
    assert temperature.to_dict() == {
        "field": "temperature_c", "value": 38.4, "resource_type": "Observation",
        "resource_id": "o1", "version": "3", "rule": "fhir.observation.temperature",
        "status": "used", "reason": None, "path": "$.entry[1].resource"}


@pytest.mark.parametrize(("resources", "field"), [
    ([obs("72514-3", valueInteger=7, **BODY_LEFT),
      obs("72514-3", rid="o2", valueInteger=7, **BODY_RIGHT)], "side"),
    ([cond("128053003"), cond("128053003", clinical=None, verification="refuted", rid="c2")],
     "risk.previous_dvt"),
    ([obs("8310-5", **qty(39, "Cel")), obs("8310-5", rid="o2", **qty(37, "Cel"))],
     "temperature_c"),
])
def test_conflicts_are_reported_and_left_unknown(resources: list[dict[str, Any]],
                                                 field: str) -> None:
    """Two records that disagree leave the field unknown, with a problem naming both."""
    mapped = map_fhir([PATIENT, *resources], at=AT)
    assert field not in mapped.case.facts()
    [problem] = mapped.problems
    assert problem.message.startswith(f"conflicting values for {field}: ")
    assert "$[1]" in problem.message
    assert "$[2]" in problem.message


@pytest.mark.parametrize(("resources", "path", "message"), [
    ([dict(obs("8310-5", **qty(39, "Cel")), subject={"reference": "Patient/other"})],
     "$[1].subject.reference", "'Patient/other' is another patient than Patient/p1: refused"),
    ([obs("8310-5", **qty(39, "K"))], "$[1].valueQuantity.code",
     "unit 'K' is not a unit temperature_c is read in (accepted: Cel, [degF])"),
    ([obs("39156-5", valueQuantity={"value": 30, "unit": "stone per yard"})],
     "$[1].valueQuantity.unit", "unit 'stone per yard' is not a unit bmi is read in"),
    ([obs("8310-5", **qty(98.6, "Cel"))], "$[1].valueQuantity.value",
     "98.6 Cel gives temperature_c 98.6, outside 30 to 45 °C"),
    ([obs("8310-5", valueQuantity={"value": "high", "code": "Cel"})],
     "$[1].valueQuantity.value", "expected a finite number, got 'high'"),
    ([{"resourceType": "Patient", "id": "p2"}], "$[1]", "a second patient (Patient/p2)"),
    (["not a resource"], "$[1]", "expected a FHIR resource"),
    ([{"id": "x"}], "$[1].resourceType", "expected the resource type"),
])
def test_refusals_name_their_path(resources: list[Any], path: str, message: str) -> None:
    """Another patient's record, an unknown unit, an impossible value: refused, located."""
    with pytest.raises(FhirError) as caught:
        map_fhir([PATIENT, *resources], at=AT)
    [problem] = caught.value.problems
    assert problem.path == path
    assert message in problem.message


@pytest.mark.parametrize(("birth", "at", "age"), [
    ("1970-05-20", datetime(2026, 5, 19, tzinfo=UTC), 55),
    ("1970-05-20", datetime(2026, 5, 20, tzinfo=UTC), 56),
    ("1970-05", datetime(2026, 6, 1, tzinfo=UTC), 56),
    ("1970-05", datetime(2026, 5, 15, tzinfo=UTC), None),   # 55 or 56: unknown
    ("1970", datetime(2026, 12, 31, tzinfo=UTC), 56),
])
def test_age_at_the_index_time(birth: str, at: datetime, age: int | None) -> None:
    """Age is reckoned at the index time; a partial birth date that allows two ages is unknown."""
    case = map_fhir({"resourceType": "Patient", "id": "p", "birthDate": birth}, at=at).case
    assert (case.patient.age if case.patient else None) == age


def test_a_naive_index_time_is_refused() -> None:
    """The index time must carry its zone: a naive datetime is a programming error."""
    with pytest.raises(ValueError, match="aware"):
        map_fhir([PATIENT], at=datetime(2026, 1, 1))


def test_evaluate_fhir_gives_the_assessment_of_the_mapped_case(engine: Engine) -> None:
    """Engine.evaluate_fhir assesses what map_fhir maps, and notes its conflicts."""
    resources = [PATIENT, cond("128053003"),
                 obs("72514-3", valueInteger=7, **BODY_LEFT),
                 obs("72514-3", rid="o2", valueInteger=7, **BODY_RIGHT),
                 # the complaint it triages (without it: NotTriaged, test_reliability_v3)
                 {"resourceType": "QuestionnaireResponse", "questionnaire": QUESTIONNAIRE_URL,
                  "status": "completed", "subject": {"reference": "Patient/p1"},
                  "authored": AT.isoformat(),
                  "item": [{"linkId": "pain.behind_knee", "answer": [{"valueBoolean": True}]}]}]
    assessment = engine.evaluate_fhir(resources, at=AT)
    mapped = map_fhir(resources, at=AT, vocabulary=engine.vocabulary)
    assert to_dict(assessment)["triage"] == to_dict(engine.evaluate(mapped.case))["triage"]
    assert any(note.id == "input.fhir"
               and note.message.startswith("FHIR: $[2]: conflicting values for side")
               for note in assessment.notes)


def _withdrawn(resource: dict[str, Any]) -> dict[str, Any]:
    if resource["resourceType"] == "Condition":
        return dict(resource, verificationStatus={"coding": [{"code": "entered-in-error"}]})
    return dict(resource, status="entered-in-error")


@pytest.mark.parametrize("resources", [r for _, r, e in TABLE if e],
                         ids=[name for name, _, e in TABLE if e])
def test_the_same_records_entered_in_error_set_nothing(resources: list[dict[str, Any]]
                                                       ) -> None:
    """Every record of the table that sets something sets nothing once entered-in-error."""
    assert facts([_withdrawn(r) for r in resources]) == {}


ALL = [r for _, rows, _ in TABLE for r in rows]


@settings(max_examples=40, deadline=None)
@given(order=st.permutations(range(len(ALL))))
def test_the_order_of_the_resources_does_not_matter(order: list[int]) -> None:
    """Shuffling a record's resources changes neither the case nor the problems."""
    expected = map_fhir([PATIENT, *ALL], at=AT)
    shuffled = map_fhir([PATIENT, *(ALL[i] for i in order)], at=AT)
    assert shuffled.case == expected.case
    assert {p.message.split(":")[0] for p in shuffled.problems} == {
        p.message.split(":")[0] for p in expected.problems}


def test_strict_mode_refuses_a_malformed_resource_with_its_path() -> None:
    """strict=True checks each resource against FHIR R4 (fhir.resources R4B), located."""
    bad = dict(obs("8310-5", **qty(38, "Cel")), code={"coding": [{"system": LOINC,
                                                                  "code": 8310}]})
    assert facts([bad]) == {}  # leniently: an unreadable code maps nothing
    with pytest.raises(FhirError) as caught:
        map_fhir([PATIENT, bad], at=AT, strict=True)
    assert [p.path for p in caught.value.problems] == ["$[1].code.coding[0].code"]


@pytest.mark.parametrize("empty", [
    None, [], [None], {"resourceType": "Bundle", "type": "searchset", "total": 0},
    {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]},
    [PATIENT, None, {"resourceType": "Bundle", "type": "searchset", "entry": []}],
])
def test_no_data_maps_to_unknown_not_to_absent(empty: Any) -> None:
    """Null, an empty searchset or an OperationOutcome (CDS Hooks prefetch) set nothing."""
    case = map_fhir(empty, at=AT).case
    assert dict(case.findings) == {}
    assert dict(case.measurements) == {}


def test_results_and_refusals_survive_pickling() -> None:
    """A FhirCase and a FhirError cross process boundaries whole (Dask workers, batches)."""
    import pickle

    mapped = map_fhir([PATIENT, cond("128053003")], at=AT)
    assert pickle.loads(pickle.dumps(mapped)) == mapped
    with pytest.raises(FhirError) as caught:
        map_fhir([PATIENT, obs("8310-5", **qty(39, "K"))], at=AT)
    back = pickle.loads(pickle.dumps(caught.value))
    assert (type(back), back.problems) == (FhirError, caught.value.problems)


@pytest.mark.parametrize(("interpretation", "expected"), [
    ({"coding": [{"code": "POS"}]}, {"test.d_dimer_positive": True}),
    ({"coding": [{"system": "http://lab.example/flags", "code": "H"}]}, {}),
])
def test_only_the_standard_interpretation_flags_are_read(interpretation: dict[str, Any],
                                                          expected: dict[str, Any]) -> None:
    """HL7 interpretation codes (or codes without a system) are read; a local H is not."""
    result = obs("48058-2", **qty(900, "ng/mL"), interpretation=[interpretation])
    assert facts([result]) == expected


def test_an_engine_used_for_fhir_is_freed_when_dropped() -> None:
    """The FHIR reader keeps each engine's checked mappings only while the engine lives,
    and map_fhir's own by vocabulary a bounded few: engines built and dropped, after
    reading FHIR, do not pile up in memory."""
    from kneerules.fhir.mapper import _compiled

    built = Engine()
    built.evaluate_fhir([PATIENT, obs("72514-3", valueInteger=7, **BODY_LEFT),
                         {"resourceType": "QuestionnaireResponse",
                          "questionnaire": QUESTIONNAIRE_URL, "status": "completed",
                          "subject": {"reference": "Patient/p1"}, "authored": AT.isoformat(),
                          "item": [{"linkId": "pain.behind_knee",
                                    "answer": [{"valueBoolean": True}]}]}], at=AT)
    map_fhir([PATIENT], at=AT, vocabulary=built.vocabulary)
    gone = weakref.ref(built)
    del built
    gc.collect()
    assert gone() is None
    assert _compiled.cache_info().maxsize == 8
