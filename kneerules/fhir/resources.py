"""Reading the parts of FHIR R4 resources the mappings need, on plain dicts.

Plain dicts keep the hot path fast (see ``bench/``); :mod:`kneerules.fhir.strict`
checks resources against the R4 structure definitions when asked to.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kneerules.fhir.timing import Span, parse_span

LATERALITY = {"7771000": "left", "24028007": "right", "51440002": "both"}
SNOMED = "http://snomed.info/sct"


def codings(concept: Any) -> Iterator[tuple[str | None, str | None]]:
    """(system, code) of every coding of a CodeableConcept (nothing if it is not one)."""
    if not isinstance(concept, Mapping):
        return
    items = concept.get("coding")
    if not isinstance(items, list):
        return
    for coding in items:
        if isinstance(coding, Mapping):
            system, code = coding.get("system"), coding.get("code")
            yield (system if isinstance(system, str) else None,
                   code if isinstance(code, str) else None)


def status_code(concept: Any) -> str | None:
    """The code of a status CodeableConcept (Condition.clinicalStatus...), or None."""
    for _, code in codings(concept):
        if code:
            return code
    return None


def version_of(resource: Mapping[str, Any]) -> str | None:
    meta = resource.get("meta")
    if isinstance(meta, Mapping):
        for key in ("versionId", "lastUpdated"):
            value = meta.get(key)
            if isinstance(value, str):
                return value
    return None


def normalise_reference(reference: str) -> str:
    """``http://x/fhir/Patient/1/_history/2`` and ``Patient/1`` both as ``Patient/1``."""
    if reference.startswith(("urn:", "#")):
        return reference
    head = reference.split("/_history/")[0].rstrip("/")
    parts = head.split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else head


def period_span(period: Any) -> Span | None:
    """A Period as a span: its end if given (the latest it held), else its start."""
    if not isinstance(period, Mapping):
        return None
    return parse_span(period.get("end")) or parse_span(period.get("start"))


def clinical_time(resource: Mapping[str, Any]) -> Span | None:
    """When what the resource records happened (or was recorded), by resource type."""
    kind = resource.get("resourceType")
    if kind == "Observation":
        return (parse_span(resource.get("effectiveDateTime"))
                or parse_span(resource.get("effectiveInstant"))
                or period_span(resource.get("effectivePeriod"))
                or parse_span(resource.get("issued")))
    if kind == "Condition":
        return (parse_span(resource.get("onsetDateTime"))
                or period_span(resource.get("onsetPeriod"))
                or parse_span(resource.get("recordedDate")))
    if kind == "Procedure":
        return (parse_span(resource.get("performedDateTime"))
                or period_span(resource.get("performedPeriod")))
    if kind == "MedicationStatement":
        return (parse_span(resource.get("effectiveDateTime"))
                or _start(resource.get("effectivePeriod"))
                or parse_span(resource.get("dateAsserted")))
    if kind == "MedicationRequest":
        return parse_span(resource.get("authoredOn"))
    if kind == "QuestionnaireResponse":
        return parse_span(resource.get("authored"))
    return None


def _start(period: Any) -> Span | None:
    return parse_span(period.get("start")) if isinstance(period, Mapping) else None


def laterality(resource: Mapping[str, Any]) -> str | None:
    """The side a resource's bodySite codes (SNOMED laterality), if exactly one."""
    sites = resource.get("bodySite")
    concepts = sites if isinstance(sites, list) else [sites]
    found = {LATERALITY[code] for concept in concepts for system, code in codings(concept)
             if system == SNOMED and code in LATERALITY}
    return found.pop() if len(found) == 1 else ("conflict" if found else None)
