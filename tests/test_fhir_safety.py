"""The mapping never reads a raised D-dimer as normal, lets a corrected result supersede the
original, and, told whose record it is, ignores every other patient's resource (issue 24)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kneerules.fhir import FhirError, map_fhir

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
TODAY = "2026-03-01T08:00:00Z"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1970-05-20"}
DIMER = "test.d_dimer_positive"


def dimer(value: Any, unit: dict[str, Any] | None, high: dict[str, Any] | None,
          code: str = "48065-7", **more: Any) -> dict[str, Any]:
    quantity = {"value": value, **(unit or {})}
    resource: dict[str, Any] = {
        "resourceType": "Observation", "id": "dd1", "status": "final",
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": TODAY,
        "code": {"coding": [{"system": LOINC, "code": code}]}, "valueQuantity": quantity,
        **more}
    if high is not None:
        resource["referenceRange"] = [{"high": high}]
    return resource


def ucum(code: str) -> dict[str, str]:
    return {"system": UCUM, "code": code, "unit": code}


# (id, the D-dimer, what test.d_dimer_positive must be, words of the problem or None)
DIMERS: list[tuple[str, dict[str, Any], bool | None, str | None]] = [
    ("0.8 mg/L against a high of 500 ng/mL is raised (800 ng/mL)",
     dimer(0.8, ucum("mg/L"), {"value": 500, **ucum("ng/mL")}, code="48066-5"), True, None),
    ("0.4 mg/L against a high of 500 ng/mL is normal (400 ng/mL)",
     dimer(0.4, ucum("mg/L"), {"value": 500, **ucum("ng/mL")}, code="48066-5"), False, None),
    ("0.8 ug/mL FEU against 0.5 mg/L FEU (annotations) is raised",
     dimer(0.8, ucum("ug/mL{FEU}"), {"value": 0.5, **ucum("mg/L{FEU}")}), True, None),
    ("mg/L FEU against ng/mL DDU: the ratio depends on the assay, unknown",
     dimer(0.8, ucum("mg/L{FEU}"), {"value": 500, **ucum("ng/mL{DDU}")}), None, "DDU"),
    ("a FEU code against a DDU range annotation: unknown",
     dimer(0.8, ucum("mg/L"), {"value": 250, **ucum("ng/mL{DDU}")}), None, "assay"),
    ("a unit given only as text: unknown",
     dimer(0.8, {"unit": "mg/L"}, {"value": 500, **ucum("ng/mL")}), None, "only as text"),
    ("a range without units: unknown",
     dimer(0.8, ucum("mg/L"), {"value": 500}), None, "reference range high has no unit"),
    ("a value without units: unknown",
     dimer(900, None, {"value": 500, **ucum("ng/mL")}), None, "the value has no unit"),
    ("a unit system other than UCUM: unknown",
     dimer(0.8, {"system": "http://example.org/units", "code": "mg/L"},
           {"value": 500, **ucum("ng/mL")}), None, "not UCUM"),
    ("units of different dimensions: unknown",
     dimer(0.8, ucum("mg/L"), {"value": 500, **ucum("s")}), None, "cannot be converted"),
    ("a unit code UCUM does not know: unknown",
     dimer(0.8, ucum("zorks/L"), {"value": 500, **ucum("ng/mL")}), None, "cannot be converted"),
    ("valueQuantity.value true: unknown, not negative",
     dimer(True, ucum("ng/mL"), {"value": 500, **ucum("ng/mL")}), None, "not a finite number"),
    ("NaN: unknown, not negative",
     dimer(float("nan"), ucum("ng/mL"), {"value": 500, **ucum("ng/mL")}), None,
     "not a finite number"),
    ("Infinity: unknown, not negative",
     dimer(float("inf"), ucum("ng/mL"), {"value": 500, **ucum("ng/mL")}), None,
     "not a finite number"),
    ("a NaN reference high: unknown",
     dimer(900, ucum("ng/mL"), {"value": float("nan"), **ucum("ng/mL")}), None,
     "high is not a finite number"),
    ("a value as a string: unknown",
     dimer("900", ucum("ng/mL"), {"value": 500, **ucum("ng/mL")}), None,
     "not a finite number"),
]


@pytest.mark.parametrize(("resource", "expected", "problem"),
                         [row[1:] for row in DIMERS], ids=[row[0] for row in DIMERS])
def test_d_dimer_compared_after_unit_conversion(resource: dict[str, Any], expected: bool | None,
                                                problem: str | None) -> None:
    """A D-dimer is raised or normal only in one unit; otherwise unknown, with a problem."""
    mapped = map_fhir([PATIENT, resource], at=AT)
    assert mapped.case.facts().get(DIMER) == expected
    messages = [p.message for p in mapped.problems]
    if problem is None:
        assert messages == []
    else:
        [message] = messages
        assert problem in message
        assert message.startswith(f"{DIMER} left unknown")


@settings(max_examples=60, deadline=None)
@given(value=st.floats(0.01, 50, allow_nan=False), limit=st.integers(50, 5000),
       unit=st.sampled_from([("mg/L", 1000.0), ("ug/mL", 1000.0), ("ug/L", 1.0),
                             ("ng/mL", 1.0), ("mg/dL", 10000.0)]))
def test_d_dimer_conversion_agrees_with_arithmetic(value: float, limit: int,
                                                   unit: tuple[str, float]) -> None:
    """Any mass concentration against a limit in ng/mL: raised exactly when the value,
    converted by hand, is above the limit."""
    code, to_ng_per_ml = unit
    assume(abs(value * to_ng_per_ml - limit) > 1e-6 * limit)
    resource = dimer(value, ucum(code), {"value": limit, **ucum("ng/mL")}, code="48066-5")
    facts = map_fhir([PATIENT, resource], at=AT).case.facts()
    assert facts[DIMER] is (value * to_ng_per_ml > limit)


def test_d_dimer_flag_still_wins_over_units() -> None:
    """The laboratory's own H flag is read even when its units cannot be compared."""
    resource = dimer(0.8, {"unit": "mg/L"}, {"value": 500},
                     interpretation=[{"coding": [{"code": "H"}]}])
    assert map_fhir([PATIENT, resource], at=AT).case.facts()[DIMER] is True


def _version(flag: str, status: str, version: str, updated: str) -> dict[str, Any]:
    return dimer(900, ucum("ng/mL"), None, status=status,
                 meta={"versionId": version, "lastUpdated": updated},
                 interpretation=[{"coding": [{"code": flag}]}])


@pytest.mark.parametrize("order", ["original first", "correction first"])
def test_corrected_version_supersedes_the_original(order: str) -> None:
    """final/N then corrected/H of one Observation: H is read, the provenance says which."""
    original = _version("N", "final", "1", "2026-03-01T09:00:00Z")
    corrected = _version("H", "corrected", "2", "2026-03-01T11:00:00Z")
    pair = [original, corrected] if order == "original first" else [corrected, original]
    mapped = map_fhir([PATIENT, *pair], at=AT)
    assert mapped.case.facts()[DIMER] is True
    assert mapped.problems == ()
    [used] = [p for p in mapped.provenance if p.field == DIMER and p.status == "used"]
    assert used.version == "2"
    [dropped] = [p for p in mapped.provenance if p.rule == "fhir.version"]
    assert dropped.version == "1"
    assert "superseded by version 2 (corrected) of Observation/dd1" in (dropped.reason or "")


@pytest.mark.parametrize(("first", "second", "expected"), [
    (("N", "final", "", "2026-03-01T09:00:00Z"), ("H", "amended", "", "2026-03-01T10:00:00Z"),
     True),
    (("H", "final", "", "2026-03-01T09:00:00Z"), ("N", "final", "", "2026-03-01T10:00:00Z"),
     False),
    (("N", "final", "", ""), ("H", "amended", "", ""), True),
], ids=["lastUpdated, amended", "lastUpdated alone", "amended status alone"])
def test_later_version_wins(first: tuple[str, str, str, str], second: tuple[str, str, str, str],
                            expected: bool) -> None:
    """Without versionIds, lastUpdated and then an amended/corrected status decide."""
    def make(flag: str, status: str, version: str, updated: str) -> dict[str, Any]:
        resource = _version(flag, status, version, updated)
        resource["meta"] = {k: v for k, v in resource["meta"].items() if v}
        return resource
    mapped = map_fhir([PATIENT, make(*first), make(*second)], at=AT)
    assert mapped.case.facts()[DIMER] is expected


def test_two_undated_versions_still_conflict() -> None:
    """Two versions that cannot be ordered stay a reported conflict (never a guess)."""
    one = _version("N", "final", "", "")
    two = _version("H", "final", "", "")
    mapped = map_fhir([PATIENT, one, two], at=AT)
    assert DIMER not in mapped.case.facts()
    assert "conflicting values" in mapped.problems[0].message


SERVER = "https://ehr.example.org/fhir"
KNEE_OA = {"resourceType": "Condition", "id": "c1",
           "clinicalStatus": {"coding": [{"code": "active"}]},
           "code": {"coding": [{"system": "http://snomed.info/sct", "code": "239873007"}]},
           "onsetDateTime": "2020-01-01"}


def _condition(reference: str | None, full_url: str | None = None) -> dict[str, Any]:
    resource = dict(KNEE_OA)
    if reference is not None:
        resource["subject"] = {"reference": reference}
    return {"fullUrl": full_url, "resource": resource} if full_url else {"resource": resource}


@pytest.mark.parametrize(("entry", "ours"), [
    (_condition("Patient/p1"), True),
    (_condition(f"{SERVER}/Patient/p1"), True),
    (_condition("HTTPS://EHR.example.org/fhir/Patient/p1/_history/3"), True),
    (_condition("Patient/p1", f"{SERVER}/Condition/c1"), True),
    (_condition("Patient/p2"), False),
    (_condition("http://other.example/fhir/Patient/p1"), False),
    (_condition("Patient/p1", "http://other.example/fhir/Condition/c1"), False),
    (_condition("Group/p1"), False),
    (_condition(None), False),
    (_condition("urn:uuid:7f0c1c2e-0000-4000-8000-000000000002"), False),
], ids=["relative", "absolute on our server", "case and history", "relative on our server",
        "another id", "another server", "relative to another server", "a Group", "no subject",
        "a urn naming nothing"])
def test_only_the_context_patient_is_read(entry: dict[str, Any], ours: bool) -> None:
    """Told the patient and server, a resource about anyone else is ignored and listed."""
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"fullUrl": f"{SERVER}/Patient/p1", "resource": PATIENT}, entry]}
    mapped = map_fhir(bundle, at=AT, patient="p1", fhir_server=SERVER + "/")
    assert mapped.case.facts().get("history.knee_arthritis") is (True if ours else None)
    assert len(mapped.other_patients) == (0 if ours else 1)
    assert mapped.case.facts()["patient.age"] == 55


def test_another_patients_record_is_ignored_not_mixed() -> None:
    """A prefetch wholly about p2 gives nothing for p1 (not p2's data), nor an error."""
    other = {**PATIENT, "id": "p2"}
    resource = dimer(900, ucum("ng/mL"), None, interpretation=[{"coding": [{"code": "H"}]}],
                     subject={"reference": "Patient/p2"})
    mapped = map_fhir([other, resource], at=AT, patient="p1", fhir_server=SERVER)
    assert mapped.case.facts() == {}
    assert [p.resource_id for p in mapped.other_patients] == ["p2", "dd1"]


def test_urn_subject_naming_the_patient_entry_is_ours() -> None:
    """A urn:uuid subject resolving to the Patient entry with the context's id is ours."""
    urn = "urn:uuid:7f0c1c2e-0000-4000-8000-000000000001"
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"fullUrl": urn, "resource": PATIENT}, _condition(urn)]}
    mapped = map_fhir(bundle, at=AT, patient="p1", fhir_server=SERVER)
    assert mapped.case.facts()["history.knee_arthritis"] is True


def test_without_a_context_patient_another_patient_is_still_refused() -> None:
    """The CLI (no context) keeps refusing a Bundle mixing two patients."""
    with pytest.raises(FhirError, match="another patient"):
        map_fhir([PATIENT, _condition("Patient/p2")["resource"]], at=AT)
