"""``GET /cds-services``: what the service offers, what it wants prefetched, its versions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kneerules.model.records import EngineInfo

HOOKS = ("patient-view", "encounter-start")
VERSIONS_EXTENSION = "org.kneerules.versions"

TITLE = "kneerules: pain behind the knee"
DESCRIPTION = ("Triage of pain behind the knee (emergency, urgent or routine) with its red "
               "flags, from the patient's record; no card when the record shows no posterior "
               "knee pain.")


def prefetch_templates(questionnaire_url: str,
                       observation_codes: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The FHIR reads and searches the FHIR mapping needs, by prefetch key.

    CDS Hooks prefetch tokens are context fields only (no date arithmetic), so time
    windows ("surgery in the last 12 weeks") are applied by the mapping, not the query.
    """
    patient = "{{context.patientId}}"
    codes = ",".join(f"{system}|{code}" for system, code in observation_codes)
    observations = f"Observation?patient={patient}&_sort=-date"
    if codes:
        observations = f"Observation?patient={patient}&code={codes}&_sort=-date"
    return {
        "patient": f"Patient/{patient}",
        "questionnaireResponse": (f"QuestionnaireResponse?subject={patient}"
                                  f"&questionnaire={questionnaire_url}&_sort=-authored"
                                  "&_count=1"),
        "observations": observations,
        "conditions": f"Condition?patient={patient}",
        "procedures": f"Procedure?patient={patient}&_sort=-date&_count=50",
        "medicationRequests": f"MedicationRequest?patient={patient}&status=active",
        "medicationStatements": f"MedicationStatement?patient={patient}&status=active",
    }


def versions_extension(info: EngineInfo) -> dict[str, Any]:
    return {
        "kneerules": info.version,
        "ruleset": {"name": info.ruleset, "version": info.ruleset_version},
        "plugins": {p.name: p.version for p in info.plugins},
    }


def discovery_document(service_id: str, info: EngineInfo,
                       prefetch: dict[str, str]) -> dict[str, Any]:
    """One service per hook, all under the same id: the request's ``hook`` tells them apart."""
    return {"services": [
        {
            "hook": hook,
            "id": service_id,
            "title": TITLE,
            "description": DESCRIPTION,
            "prefetch": prefetch,
            "usageRequirements": "Send the prefetch or fhirAuthorization; every call signed "
                                 "(ES384 or RS384 JWT).",
            "extension": {VERSIONS_EXTENSION: versions_extension(info)},
        }
        for hook in HOOKS
    ]}
