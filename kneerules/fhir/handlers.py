"""One handler per FHIR resource type: what each offers the mapper, or why it is ignored
or refused (see :mod:`kneerules.fhir.mapper` for the three-valued rules they follow)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kneerules.fhir import questionnaire
from kneerules.fhir.elements import (
    clinical_time,
    codings,
    laterality,
    period_span,
    resolve_reference,
    status_code,
)
from kneerules.fhir.mappings import CONVERTERS, NO_UNIT, FhirMapping
from kneerules.fhir.timing import birth_age, parse_span, window_verdict
from kneerules.model.errors import Problem
from kneerules.model.records import FactValue

if TYPE_CHECKING:
    from kneerules.fhir.model import Entry, MappingRun

INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_POSITIVE = {"H", "HH", "HU", "A", "AA", "POS", "DET"}
_NEGATIVE = {"N", "L", "LL", "LU", "NEG", "ND"}
_SEX = {"male": "male", "female": "female", "other": "other", "unknown": "unknown"}


def _matching(mapper: MappingRun, kind: str, concept: Any) -> list[FhirMapping]:
    found: list[FhirMapping] = []
    for system, code in codings(concept):
        for mapping in mapper.index.get((kind, system or ""), ()):
            if mapping.matches(system, code) and mapping not in found:
                found.append(mapping)
    return found


def _finite(number: int | float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an int too large for a float
        return False


# --- Patient ---
def _patient(mapper: MappingRun, entry: Entry) -> None:
    resource = entry.resource
    if not mapper.is_the_patient(entry):
        return  # a second patient: refused already
    birth = resource.get("birthDate")
    if birth is not None:
        span = parse_span(birth)
        if span is None or span.start > mapper.at:
            if span is None:
                mapper.refusals.append(Problem(f"{entry.path}.birthDate",
                                               f"expected a FHIR date (YYYY, YYYY-MM or "
                                               f"YYYY-MM-DD), got {birth!r}"))
            else:
                mapper.ignore(entry, "patient.age", "fhir.patient.birthDate",
                              f"born {birth}, after the index time")
        else:
            low, high = birth_age(span, mapper.at)
            spec = mapper.vocabulary.get("patient.age")
            if spec is not None and spec.maximum is not None and low > spec.maximum:
                mapper.refusals.append(Problem(f"{entry.path}.birthDate",
                                               f"born {birth}: {low} years old at the index "
                                               f"time, above the {spec.maximum:g} the case "
                                               "format takes"))
            elif low == high:
                mapper.offer(entry, "patient.age", low, "fhir.patient.birthDate")
            else:
                mapper.ignore(entry, "patient.age", "fhir.patient.birthDate",
                              f"birthDate {birth} gives an age of {low} or {high}: left unknown")
    gender = resource.get("gender")
    if gender is not None:
        if isinstance(gender, str) and gender in _SEX:
            mapper.offer(entry, "patient.sex", _SEX[gender], "fhir.patient.gender")
        else:
            mapper.refusals.append(Problem(f"{entry.path}.gender", "expected one of male, "
                                           f"female, other, unknown, got {gender!r}"))


# --- Observation ---
_OBSERVATION_SKIP = {"entered-in-error": "entered-in-error", "cancelled": "cancelled",
                     "registered": "registered: no result yet", "unknown": "status unknown"}


def _observation(mapper: MappingRun, entry: Entry) -> None:
    resource = entry.resource
    for mapping in _matching(mapper, "Observation", resource.get("code")):
        skip = _OBSERVATION_SKIP.get(str(resource.get("status")))
        if skip is None:
            skip = window_verdict(clinical_time(resource), mapper.at, mapping.window_days)
        if skip is None and "dataAbsentReason" in resource:
            reason = status_code(resource.get("dataAbsentReason")) or "given"
            skip = f"data absent ({reason}): left unknown"
        if skip is not None:
            mapper.ignore(entry, mapping.sets, mapping.id, skip)
            continue
        value, reason = _READERS[mapping.read](mapper, entry, mapping)
        if value is None:
            mapper.ignore(entry, mapping.sets, mapping.id, reason or "no value")
            continue
        mapper.offer(entry, mapping.sets, value, mapping.id, latest_wins=True)
        if mapping.laterality:
            _side(mapper, entry, mapping)


def _side(mapper: MappingRun, entry: Entry, mapping: FhirMapping) -> None:
    side = laterality(entry.resource)
    if side == "conflict":
        mapper.ignore(entry, "side", mapping.id, "bodySite codes more than one side")
    elif side is not None:
        mapper.offer(entry, "side", side, mapping.id)


def _quantity(mapper: MappingRun, entry: Entry, mapping: FhirMapping
              ) -> tuple[FactValue | None, str | None]:
    resource = entry.resource
    if "valueInteger" in resource:
        raw, unit, where = resource["valueInteger"], NO_UNIT, f"{entry.path}.valueInteger"
    elif isinstance(resource.get("valueQuantity"), Mapping):
        quantity = resource["valueQuantity"]
        where = f"{entry.path}.valueQuantity"
        if "comparator" in quantity:
            return None, f"the value is a bound ({quantity['comparator']}), not a measurement"
        raw = quantity.get("value")
        code, text = quantity.get("code"), quantity.get("unit")
        unit = code if isinstance(code, str) else text if isinstance(text, str) else NO_UNIT
        if unit not in mapping.units:
            field = "code" if isinstance(code, str) else "unit"
            accepted = ", ".join(u for u in mapping.units if u != NO_UNIT)
            mapper.refusals.append(Problem(f"{where}.{field}" if unit != NO_UNIT else where,
                                           f"unit {unit!r} is not a unit {mapping.sets} is "
                                           f"read in (accepted: {accepted})" if unit != NO_UNIT
                                           else f"no unit; {mapping.sets} needs one of {accepted}"))
            return None, "unit refused"
        where += ".value"
    else:
        given = [k for k in resource if k.startswith("value")]
        return None, (f"{given[0]} is not a quantity" if given else "no value")
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not _finite(raw):
        mapper.refusals.append(Problem(where, f"expected a finite number, got {raw!r}"[:200]))
        return None, "malformed"
    value = round(float(CONVERTERS[mapping.units[unit]](float(raw))), 2)
    spec = mapper.vocabulary.get(mapping.sets)
    if spec is not None and ((spec.minimum is not None and value < spec.minimum)
                             or (spec.maximum is not None and value > spec.maximum)):
        mapper.refusals.append(Problem(where, f"{raw} {unit if unit != NO_UNIT else ''}".rstrip()
                                       + f" gives {mapping.sets} {value:g}, outside "
                                       f"{spec.minimum:g} to {spec.maximum:g} {spec.unit or ''}"
                                       .rstrip()))
        return None, "out of range"
    return value, None


def _coded(mapper: MappingRun, entry: Entry, mapping: FhirMapping
           ) -> tuple[FactValue | None, str | None]:
    concept = entry.resource.get("valueCodeableConcept")
    for system, code in codings(concept):
        key = f"{system}|{code}"
        if key in mapping.answers:
            answer = mapping.answers[key]
            return answer, None if answer is not None else f"the answer {key} means unknown"
    shown = ", ".join(f"{s}|{c}" for s, c in codings(concept)) or "none"
    return None, f"no answer the mapping knows (codes: {shown}): left unknown"


def _positive(mapper: MappingRun, entry: Entry, mapping: FhirMapping
              ) -> tuple[FactValue | None, str | None]:
    resource = entry.resource
    flags = resource.get("interpretation")
    for concept in flags if isinstance(flags, list) else []:
        for system, code in codings(concept):
            if system not in (INTERPRETATION, None):
                continue  # a local code system: its H may mean anything
            if code in _POSITIVE:
                return True, None
            if code in _NEGATIVE:
                return False, None
    quantity = resource.get("valueQuantity")
    ranges = resource.get("referenceRange")
    if isinstance(quantity, Mapping) and isinstance(ranges, list):
        value = quantity.get("value")
        for item in ranges:
            high = item.get("high") if isinstance(item, Mapping) else None
            if not isinstance(high, Mapping) or not isinstance(value, int | float):
                continue
            limit = high.get("value")
            if not isinstance(limit, int | float) or isinstance(limit, bool):
                continue
            if high.get("code", quantity.get("code")) != quantity.get("code"):
                return None, (f"the reference range is in {high.get('code')!r}, the value in "
                              f"{quantity.get('code')!r}: cannot compare")
            if "comparator" in quantity:
                return None, f"the value is a bound ({quantity['comparator']})"
            return value > limit, None
    return None, ("no interpretation flag and no reference range high: cannot tell if raised "
                  "(no fixed threshold)")


_READERS: dict[str, Any] = {"quantity": _quantity, "coded": _coded, "positive": _positive}


# --- Condition ---
_ACTIVE = {"active", "recurrence", "relapse"}


def _settle(mapper: MappingRun, entry: Entry, mapping: FhirMapping, value: FactValue,
            skip: str | None, *, side: bool = False) -> None:
    """Offers ``value`` for the mapping's facts unless the record is skipped or outside
    the mapping's time window, in which case the provenance says why it was ignored."""
    if skip is None:
        skip = window_verdict(clinical_time(entry.resource), mapper.at, mapping.window_days)
    if skip is not None:
        mapper.ignore(entry, mapping.sets, mapping.id, skip)
        return
    mapper.offer(entry, mapping.sets, value, mapping.id)
    if side and mapping.laterality:
        _side(mapper, entry, mapping)


def _condition(mapper: MappingRun, entry: Entry) -> None:
    resource = entry.resource
    for mapping in _matching(mapper, "Condition", resource.get("code")):
        verification = status_code(resource.get("verificationStatus"))
        clinical = status_code(resource.get("clinicalStatus"))
        if clinical is None and any(k.startswith("abatement") for k in resource):
            clinical = "resolved"
        skip: str | None = None
        value = True
        if verification == "entered-in-error":
            skip = "entered-in-error"
        elif verification == "refuted":
            value = False
        elif verification in ("unconfirmed", "provisional", "differential"):
            skip = f"verification status {verification}: left unknown"
        elif clinical is not None and clinical not in _ACTIVE and not mapping.resolved_counts:
            skip = f"clinical status {clinical}"
        _settle(mapper, entry, mapping, value, skip, side=True)


# --- Procedure ---
def _procedure(mapper: MappingRun, entry: Entry) -> None:
    resource = entry.resource
    status = resource.get("status")
    for mapping in _matching(mapper, "Procedure", resource.get("code")):
        skip = None if status in ("completed", "not-done") else f"status {status}"
        _settle(mapper, entry, mapping, status == "completed", skip, side=True)


# --- Medications ---
_INTENTS = {"order", "original-order", "reflex-order", "filler-order", "instance-order"}


def _medication_concept(mapper: MappingRun, entry: Entry) -> Any:
    resource = entry.resource
    if "medicationCodeableConcept" in resource:
        return resource["medicationCodeableConcept"]
    reference = resource.get("medicationReference")
    ref = reference.get("reference") if isinstance(reference, Mapping) else None
    if not isinstance(ref, str):
        return None
    if ref.startswith("#"):
        contained = resource.get("contained")
        for item in contained if isinstance(contained, list) else ():
            if isinstance(item, Mapping) and item.get("id") == ref[1:]:
                return item.get("code")
        return None
    target = mapper.lookup(resolve_reference(ref, entry.full_url))
    return target.get("code") if target is not None else None


def _medication(mapper: MappingRun, entry: Entry) -> None:
    resource = entry.resource
    kind = str(resource["resourceType"])
    status = resource.get("status")
    intent = resource.get("intent")
    for mapping in _matching(mapper, kind, _medication_concept(mapper, entry)):
        value = True
        skip: str | None = None
        if kind == "MedicationStatement":
            if status == "not-taken":
                value = False
            elif status != "active":
                skip = f"status {status}"
            else:
                ended = period_span(resource.get("effectivePeriod"))
                period = resource.get("effectivePeriod")
                if (isinstance(period, Mapping) and "end" in period and ended is not None
                        and ended.end <= mapper.at):
                    skip = f"ended {ended.text}, before the index time"
        else:
            if status != "active":
                skip = f"status {status}"
            elif resource.get("doNotPerform") is True:
                skip = "doNotPerform: an order not to give it"
            elif intent is not None and not (isinstance(intent, str) and intent in _INTENTS):
                skip = f"intent {intent}: not an order"
        _settle(mapper, entry, mapping, value, skip)


def _response(mapper: MappingRun, entry: Entry) -> None:
    questionnaire.map_response(mapper, entry)


HANDLERS: dict[str, Any] = {
    "Patient": _patient,
    "Observation": _observation,
    "Condition": _condition,
    "Procedure": _procedure,
    "MedicationStatement": _medication,
    "MedicationRequest": _medication,
    "QuestionnaireResponse": _response,
}
