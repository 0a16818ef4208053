"""What :func:`~kneerules.fhir.map_fhir` returns: a case, where each field came from, and
the conflicts it would not guess at (see /work/coord/FHIR_API.md)."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from kneerules.errors import CaseError, Problem
from kneerules.model import Case, FactValue

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
    """Findings left unknown, and why: conflicts between resources, a D-dimer whose units
    cannot be compared..."""
    other_patients: tuple[Provenance, ...] = ()
    """Resources ignored because they are not about the expected patient (``patient=``)."""

    def to_dict(self) -> dict[str, Any]:
        from kneerules.case_validation import case_data

        return {
            "case": case_data(self.case),
            "provenance": [p.to_dict() for p in self.provenance],
            "problems": [{"path": p.path, "message": p.message} for p in self.problems],
            **({"other_patients": [p.to_dict() for p in self.other_patients]}
               if self.other_patients else {}),
        }


class FhirError(CaseError):
    """FHIR input refused: another patient's resource, an unknown unit, a malformed resource.

    Each problem is located by its JSON path in the input (``$.entry[3].resource...``)."""
