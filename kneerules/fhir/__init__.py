"""FHIR R4 in: a patient's record (a Bundle or a list of resources) becomes a case, with
the provenance of every field (the ``fhir`` extra).

>>> from datetime import datetime, UTC
>>> from kneerules.fhir import map_fhir
>>> patient = {"resourceType": "Patient", "id": "p", "gender": "female",
...            "birthDate": "1970-06-01"}
>>> map_fhir(patient, at=datetime(2026, 1, 1, tzinfo=UTC)).case.patient.age
55

The core never imports this package: ``Engine.evaluate_fhir`` and ``kneerules eval
--fhir`` find it through its integration plugin (:mod:`kneerules.fhir.plugin`). Its names
load on first
use, so that ``kneerules.fhir.commands`` (loaded by every ``kneerules`` command) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kneerules import lazy_exports

_LAZY = {
    "map_fhir": "kneerules.fhir.mapper",
    "FhirCase": "kneerules.fhir.model",
    "FhirError": "kneerules.fhir.model",
    "Provenance": "kneerules.fhir.model",
    "QUESTIONNAIRE_URL": "kneerules.fhir.questionnaire",
    "build_questionnaire": "kneerules.fhir.questionnaire",
    "case_to_response": "kneerules.fhir.questionnaire",
}

if TYPE_CHECKING:
    from kneerules.fhir.mapper import map_fhir
    from kneerules.fhir.model import FhirCase, FhirError, Provenance
    from kneerules.fhir.questionnaire import (
        QUESTIONNAIRE_URL,
        build_questionnaire,
        case_to_response,
    )


__getattr__ = lazy_exports(__name__, _LAZY, globals())


__all__ = [
    "QUESTIONNAIRE_URL",
    "FhirCase",
    "FhirError",
    "Provenance",
    "build_questionnaire",
    "case_to_response",
    "map_fhir",
]
