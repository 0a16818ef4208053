"""CDS Hooks requests with a realistic prefetch, dated relative to now (tests and bench).

The patient-reported findings ride in a kneerules QuestionnaireResponse (built by the FHIR
mapping's own ``case_to_response``), beside a Patient, Observations, Conditions, Procedures
and medications as an EHR would prefetch them: searchset Bundles, an empty Bundle, ``null``
and an OperationOutcome where the EHR had nothing or failed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from kneerules import Engine
from kneerules.fhir.questionnaire import case_to_response

PATIENT_ID = "pat-1"
SERVICE_ID = "kneerules-knee-triage-patient-view"
"""The patient-view service: each hook has its own id."""


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r,
                       "search": {"mode": "match"}} for r in resources]}


def _subject() -> dict[str, str]:
    return {"reference": f"Patient/{PATIENT_ID}"}


def _observation(obs_id: str, loinc: str, display: str, value: float, unit: str, code: str,
                 when: datetime) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": obs_id, "status": "final",
            "meta": {"versionId": "1", "lastUpdated": _iso(when)},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                "observation-category", "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc,
                                 "display": display}]},
            "subject": _subject(), "effectiveDateTime": _iso(when),
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                              "code": code}}


DVT_FINDINGS: dict[str, Any] = {
    "side": "left", "onset": "gradual",
    "findings": {"pain.behind_knee": True, "pain.calf": True, "sign.calf_swelling": True,
                 "sign.redness": True, "sign.warmth": True, "risk.long_haul_travel": True,
                 "test.dorsiflexion_pain": False},
    "measurements": {"calf_swelling_cm": 3.5},
}
ROUTINE_FINDINGS: dict[str, Any] = {
    "side": "right", "onset": "gradual",
    "findings": {"pain.behind_knee": True, "pain.dull_ache": True, "worse.kneeling": True,
                 "sign.calf_swelling": False, "sign.breathlessness": False,
                 "sign.chest_pain": False, "sign.fever": False},
}
NO_KNEE_FINDINGS: dict[str, Any] = {"findings": {"pain.behind_knee": False}}


def prefetch(engine: Engine, case: dict[str, Any] | None, now: datetime | None = None,
             **overrides: Any) -> dict[str, Any]:
    """Every key of the discovery's prefetch; ``case`` (kneerules case fields) becomes the
    QuestionnaireResponse (None: no response on file); ``overrides`` replace keys."""
    now = now or datetime.now(UTC)
    patient = {"resourceType": "Patient", "id": PATIENT_ID,
               "meta": {"versionId": "3", "lastUpdated": _iso(now - timedelta(days=40))},
               "name": [{"family": "Example", "given": ["Pat"]}],
               "gender": "male", "birthDate": "1968-03-14"}
    responses: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    if case is not None:
        parsed = engine.parse({"format": "kneerules.case/1", **case})
        response = case_to_response(parsed, engine.vocabulary, subject=f"Patient/{PATIENT_ID}",
                                    authored=_iso(now - timedelta(hours=1)))
        response["id"] = "qr-1"
        response["meta"] = {"versionId": "1", "lastUpdated": _iso(now - timedelta(hours=1))}
        responses = _searchset(response)
    values: dict[str, Any] = {
        "patient": patient,
        "questionnaireResponse": responses,
        "observations": _searchset(
            _observation("temp-1", "8310-5", "Body temperature", 37.1, "Cel", "Cel",
                         now - timedelta(hours=2)),
            _observation("bmi-1", "39156-5", "Body mass index", 27.4, "kg/m2", "kg/m2",
                         now - timedelta(days=90))),
        "conditions": _searchset({
            "resourceType": "Condition", "id": "cond-1",
            "meta": {"versionId": "2", "lastUpdated": _iso(now - timedelta(days=400))},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                     "condition-clinical", "code": "active"}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/"
                                                         "CodeSystem/condition-ver-status",
                                               "code": "confirmed"}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003",
                                 "display": "Hypertensive disorder"}]},
            "subject": _subject(), "onsetDateTime": "2019-05-01"}),
        "procedures": {"resourceType": "Bundle", "type": "searchset", "total": 0},
        "medicationRequests": None,
        "medicationStatements": {"resourceType": "OperationOutcome", "issue": [
            {"severity": "information", "code": "not-found",
             "diagnostics": "no MedicationStatement on file"}]},
    }
    values.update(overrides)
    return values


def hook_request(engine: Engine, case: dict[str, Any] | None, hook: str = "patient-view",
                 now: datetime | None = None, hook_instance: str | None = None,
                 **overrides: Any) -> dict[str, Any]:
    """A complete CDS Hooks request body for ``case``."""
    return {
        "hook": hook,
        "hookInstance": hook_instance or str(uuid.uuid4()),
        "fhirServer": "http://127.0.0.1:9/fhir",
        "context": {"userId": "Practitioner/prac-1", "patientId": PATIENT_ID},
        "prefetch": prefetch(engine, case, now, **overrides),
    }
