"""Whatever FHIR-shaped JSON comes in, map_fhir gives a case or a FhirError: no traceback."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fhir_map import PATIENT, TABLE

from kneerules.fhir import FhirError, map_fhir

AT = datetime(2026, 3, 1, tzinfo=UTC)
TYPES = ["Patient", "Observation", "Condition", "Procedure", "MedicationStatement",
         "MedicationRequest", "QuestionnaireResponse", "Bundle", "Medication", "Group", 7]
FIELDS = ["id", "status", "subject", "code", "valueQuantity", "valueInteger",
          "valueCodeableConcept", "interpretation", "referenceRange", "effectiveDateTime",
          "effectivePeriod", "issued", "clinicalStatus", "verificationStatus", "onsetDateTime",
          "abatementDateTime", "recordedDate", "performedDateTime", "performedPeriod",
          "medicationCodeableConcept", "medicationReference", "contained", "intent",
          "doNotPerform", "birthDate", "gender", "bodySite", "dataAbsentReason", "entry",
          "fullUrl", "resource", "questionnaire", "authored", "item", "answer", "linkId",
          "valueBoolean", "valueDecimal", "valueCoding", "meta", "reference", "coding",
          "system", "value", "unit", "high", "start", "end"]
CODES = ["8310-5", "39156-5", "72514-3", "82810-3", "48065-7", "128053003", "386661006",
         "52734007", "B01AF02", "Cel", "[degF]", "H", "active", "resolved", "refuted",
         "entered-in-error", "completed", "not-done", "final", "Patient/p", "Patient/q",
         "urn:uuid:1", "#m", "http://loinc.org", "http://snomed.info/sct",
         "http://www.whocc.no/atc", "urn:kneerules:fhir:Questionnaire:kneerules",
         "sign.fever", "side", "temperature_c", "2026-02-28", "2026", "2026-03-01T00:00:00Z",
         "1970-01-01", "not a date", "male", "left"]
scalars = (st.none() | st.booleans() | st.integers(-10, 10**6)
           | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(CODES)
           | st.text(max_size=6))
values = st.recursive(
    scalars,
    lambda inner: (st.lists(inner, max_size=3)
                   | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4)),
    max_leaves=12)


@st.composite
def resources(draw: st.DrawFn) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": draw(st.sampled_from(TYPES))}
    resource.update(draw(st.dictionaries(st.sampled_from(FIELDS), values, max_size=7)))
    return resource


records = st.lists(resources() | values, max_size=5) | resources()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=records)
def test_any_record_maps_or_is_refused_with_paths(record: Any) -> None:
    """Random FHIR-shaped input never raises anything but a FhirError with located problems."""
    _maps_or_is_refused(record)


def _maps_or_is_refused(record: Any) -> None:
    try:
        mapped = map_fhir(record, at=AT)
    except FhirError as error:
        refused = error.problems
    else:
        refused = ()
        assert all(p.status in ("used", "ignored") for p in mapped.provenance)
        return
    assert refused
    assert all(p.path.startswith("$") and p.message for p in refused)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replaced(copy[head], rest, new)
    return copy


@st.composite
def mutated_records(draw: st.DrawFn) -> list[Any]:
    """A record of the mapping table with one to three values swapped for odd ones."""
    record: Any = [PATIENT, *draw(st.sampled_from([rows for _, rows, _ in TABLE if rows]))]
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(record)))
        record = _replaced(record, path, draw(values))
    return list(record) if isinstance(record, list) else [record]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=mutated_records())
def test_a_mutated_real_record_maps_or_is_refused(record: list[Any]) -> None:
    """Valid records with a few values broken: a case or a located FhirError, nothing else."""
    _maps_or_is_refused(record)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=mutated_records())
def test_strict_mode_maps_or_refuses_too(record: list[Any]) -> None:
    """With the FHIR library checking each resource first, still a case or a FhirError."""
    try:
        map_fhir(record, at=AT, strict=True)
    except FhirError as error:
        assert all(p.path.startswith("$") for p in error.problems)  # noqa: PT017


ODD = [
    [dict(PATIENT, gender=[])],
    [PATIENT, {"resourceType": "MedicationRequest", "status": "active", "intent": ["order"],
               "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": {
                   "coding": [{"system": "http://www.whocc.no/atc", "code": "B01AF02"}]}}],
    [PATIENT, {"resourceType": "MedicationStatement", "status": "active", "contained": 5,
               "subject": {"reference": "Patient/p1"},
               "medicationReference": {"reference": "#m"}}],
    [PATIENT, {"resourceType": "Observation", "status": "final",
               "subject": {"reference": "Patient/p1"},
               "effectiveDateTime": "2026-02-28T23:00:00Z",
               "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
               "valueQuantity": {"value": float("inf"), "code": "Cel"}}],
    [PATIENT, {"resourceType": "Observation", "status": "final",
               "subject": {"reference": "Patient/p1"},
               "effectiveDateTime": "2026-02-28T23:00:00Z",
               "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
               "valueQuantity": {"value": 10**400, "code": "Cel"}}],
    [{"resourceType": "QuestionnaireResponse", "status": "completed",
      "questionnaire": "urn:kneerules:fhir:Questionnaire:kneerules",
      "authored": "2026-02-28", "item": [{"linkId": "patient.age",
                                          "answer": [{"valueDecimal": float("nan")}]}]}],
]


def test_inputs_that_once_broke_the_mapper() -> None:
    """Regressions the fuzzers found: lists for codes, non-list containers, infinities."""
    for record in ODD:
        _maps_or_is_refused(record)
