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


Identity = tuple[str | None, str | None]
"""A reference resolved: (absolute URL or urn, if known; ``Type/id``, if known)."""


def resolve_reference(reference: str, base_url: str | None = None) -> Identity:
    """A reference resolved as FHIR says: a relative ``Patient/1`` inside an entry whose
    fullUrl is ``http://a/fhir/Observation/9`` is ``http://a/fhir/Patient/1``; a version
    (``/_history/2``) names the same resource."""
    ref = reference.split("/_history/")[0].rstrip("/")
    if ref.startswith("urn:"):
        return ref, None
    parts = ref.split("/")
    relative = "/".join(parts[-2:]) if len(parts) >= 2 else None
    if ref.startswith(("http://", "https://")):
        return ref, relative
    if relative and base_url and base_url.startswith(("http://", "https://")):
        base = base_url.split("/_history/")[0].rstrip("/").split("/")
        if len(base) > 4:  # scheme, '', host, then at least Type/id
            return "/".join(base[:-2]) + "/" + relative, relative
    return None, relative


def same_resource(one: Identity, other: Identity) -> bool:
    """Whether two resolved references name the same resource: by absolute URL when both
    have one of the same kind, else by ``Type/id``."""
    if one[0] and other[0] and one[0].startswith("urn:") == other[0].startswith("urn:"):
        return one[0] == other[0]
    return one[1] is not None and one[1] == other[1]


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
