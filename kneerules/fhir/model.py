"""What :func:`~kneerules.fhir.map_fhir` returns: a case, where each field came from, and
the conflicts it would not guess at; and what the resource handlers see of a mapping run
(:class:`Entry`, :class:`MappingRun`)."""

from __future__ import annotations

import re
from collections import Counter
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
KNEE_COMPLAINT = "pain.behind_knee"
"""The finding that says a record holds the complaint kneerules triages (as the CDS
Hooks service decides whether to show a card)."""
_NOT_LEFT_OUT = ("unanswered", "conflicts with another resource")


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

    @property
    def notes(self) -> tuple[str, ...]:
        """How many of the record's inputs were left out, and why (answers older than the
        window, entered in error...): without it, a record whose every answer was too old
        read as "No findings were given". Unanswered questions and conflicts (already in
        :attr:`problems`) are not counted."""
        reasons: Counter[str] = Counter()
        for item in self.provenance:
            if item.status != "ignored" or item.reason is None:
                continue
            if item.reason.startswith(_NOT_LEFT_OUT):
                continue
            # "dated 2025-12-01, outside the time window (...)": the date is per record.
            reasons[re.sub(r"^dated [^,]*, ", "", item.reason)] += 1
        if not reasons:
            return ()
        total = sum(reasons.values())
        why = "; ".join(f"{count} {reason}" for reason, count in reasons.most_common(5))
        more = len(reasons) - 5
        if more > 0:
            why += f"; and {more} other reason{'s' if more > 1 else ''}"
        return (f"{total} input{'s' if total != 1 else ''} of the record "
                f"{'were' if total != 1 else 'was'} left out: {why}",)

    @property
    def not_triaged(self) -> str | None:
        """Why this record is not triaged (None when it is): it holds no current pain
        behind the knee, the complaint the rule set triages."""
        if self.case.findings.get(KNEE_COMPLAINT) is True:
            return None
        # What was left out may be why: answers too old to count are not a complaint.
        return "; ".join(("the record holds no current posterior-knee complaint to triage "
                          "(no current pain behind the knee): no triage was given",
                          *self.notes))

    def to_dict(self) -> dict[str, Any]:
        from kneerules.cases.validation import case_data

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
    problems: list[Problem]
    """Findings left unknown for a reason the reader must see (a D-dimer's units...)."""
    left_out: int
    """Refusals past MAX_PROBLEMS, only counted."""
    suggested: int
    """Unknown names for which the closest valid ones were looked for (capped)."""

    def is_the_patient(self, entry: Entry) -> bool: ...

    def lookup(self, identity: Identity) -> Mapping[str, Any] | None: ...

    def ignore(self, entry: Entry, field: str, rule: str, reason: str,
               value: FactValue | None = None) -> None: ...

    def offer(self, entry: Entry, field: str, value: FactValue, rule: str,
              latest_wins: bool = False) -> None: ...


__all__ = ["Entry", "FhirCase", "FhirError", "MappingRun", "Provenance"]
