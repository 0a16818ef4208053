"""What :func:`~kneerules.fhir.map_fhir` returns: a case, where each field came from, and
the conflicts it would not guess at; and what the resource handlers see of a mapping run
(:class:`Entry`, :class:`MappingRun`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

import attrs

from kneerules.model.errors import CaseError, Problem
from kneerules.model.records import Case, FactValue
from kneerules.model.rules import FactSpec

if TYPE_CHECKING:
    from kneerules.fhir.elements import Identity
    from kneerules.fhir.mappings import FhirMapping

Status = Literal["used", "ignored"]


@attrs.frozen
class Provenance:
    """Where one value of the case came from, or why a resource that could have set it did not."""

    field: str
    """The vocabulary name it sets (``sign.fever``, ``temperature_c``, ``patient.age``)."""
    value: FactValue | None
    resource_type: str
    resource_id: str | None
    version: str | None
    """``meta.versionId``, else ``meta.lastUpdated``: which version of the resource was read."""
    rule: str
    """The id of the mapping rule (``fhir.observation.temperature``)."""
    status: Status
    reason: str | None = None
    """Why it was ignored (entered-in-error, resolved, outside the time window...)."""
    path: str = "$"
    """The JSON path of the resource in the input."""

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class FhirCase:
    """A case mapped from FHIR resources, with the provenance of every field."""

    case: Case
    provenance: tuple[Provenance, ...]
    problems: tuple[Problem, ...] = ()
    """Conflicts between resources (two sides, two values): the field is left unknown."""

    def to_dict(self) -> dict[str, Any]:
        from kneerules.cases.validation import case_data

        return {
            "case": case_data(self.case),
            "provenance": [p.to_dict() for p in self.provenance],
            "problems": [{"path": p.path, "message": p.message} for p in self.problems],
        }


class FhirError(CaseError):
    """FHIR input refused: another patient's resource, an unknown unit, a malformed resource.

    Each problem is located by its JSON path in the input (``$.entry[3].resource...``)."""


@attrs.frozen
class Entry:
    """One resource of the input, its JSON path and its Bundle fullUrl."""

    resource: Mapping[str, Any]
    path: str
    full_url: str | None


class MappingRun(Protocol):
    """What a resource handler (:mod:`kneerules.fhir.handlers`) sees of one run of the
    mapping (:class:`kneerules.fhir.mapper.Mapper`): it offers values and records what it
    ignored or refused; it never reaches back into the mapper."""

    vocabulary: Mapping[str, FactSpec]
    at: datetime
    index: dict[tuple[str, str], list[FhirMapping]]
    refusals: list[Problem]

    def is_the_patient(self, entry: Entry) -> bool: ...

    def lookup(self, identity: Identity) -> Mapping[str, Any] | None: ...

    def ignore(self, entry: Entry, field: str, rule: str, reason: str,
               value: FactValue | None = None) -> None: ...

    def offer(self, entry: Entry, field: str, value: FactValue, rule: str,
              latest_wins: bool = False) -> None: ...


__all__ = ["Entry", "FhirCase", "FhirError", "MappingRun", "Provenance"]
