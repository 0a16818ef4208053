"""FHIR R4 resources to a :class:`~kneerules.Case`: :func:`map_fhir`.

Three values are kept: a refuted or negated record gives ``false``; no record, or a
``dataAbsentReason``, leaves the name unknown (never ``false``); entered-in-error,
cancelled, resolved and out-of-window records are ignored, and the provenance says so.
Two records that disagree are a reported problem, not a guess; a resource about
another patient, or in a unit no mapping knows, is refused with its JSON path.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs

from kneerules.cases.validation import cap_problems
from kneerules.fhir.elements import (
    Identity,
    clinical_time,
    resolve_reference,
    same_resource,
    version_of,
)
from kneerules.fhir.handlers import HANDLERS
from kneerules.fhir.mappings import FhirMapping, load_mappings
from kneerules.fhir.model import Entry, FhirCase, FhirError, Provenance
from kneerules.fhir.timing import parse_span
from kneerules.model.errors import CaseError, Problem
from kneerules.model.messages import key_path
from kneerules.model.records import CASE_FORMAT, FactValue
from kneerules.model.rules import FactSpec

_PATIENT_FIELDS = ("patient.age", "patient.sex", "onset", "side")
CONFLICTS_NAMED = 5
"""Records named in one conflict; the others are counted."""


@attrs.frozen
class _Candidate:
    value: FactValue
    time: datetime | None
    latest_wins: bool
    provenance: Provenance


@functools.cache
def _core_vocabulary() -> Mapping[str, FactSpec]:
    from kneerules.knowledge.base import core_vocabulary

    return {fact.name: fact for fact in core_vocabulary()}


def map_fhir(
    resources: Any,
    at: datetime | None = None,
    vocabulary: Mapping[str, FactSpec] | None = None,
    mappings: Iterable[Any] | None = None,
    *,
    strict: bool = False,
    patient: str | None = None,
    fhir_server: str | None = None,
) -> FhirCase:
    """A case, with the provenance of each field, from a FHIR R4 Bundle (or a list of
    resources, or one resource) about one patient, as it stood at the index time ``at``
    (an aware datetime; default now).

    ``vocabulary`` is the installed facts (``engine.vocabulary``; default: the core
    vocabulary); ``mappings`` adds mapping entries (dicts in the shape of
    ``mappings.yaml``) to the built-in ones. ``strict`` first checks every resource
    against the FHIR R4 structure (fhir.resources, slower). Raises :class:`FhirError`
    listing every refusal, each with its JSON path.

    ``patient`` (a patient id, as a CDS Hooks ``context.patientId``) says whose record
    this must be: every resource about anyone else, or about no one, is then ignored
    (listed in ``FhirCase.other_patients``) instead of refused; an absolute reference is
    that patient only on ``fhir_server`` (the call's ``fhirServer``)."""
    vocab = _core_vocabulary() if vocabulary is None else vocabulary
    extra = [("caller", entry) for entry in (mappings or ())]
    rules = load_mappings(vocab, extra) if extra else _builtin_for(vocab)
    return map_with(resources, rules, vocab, at, strict=strict, patient=patient,
                    fhir_server=fhir_server)


def map_with(resources: Any, rules: Sequence[FhirMapping], vocabulary: Mapping[str, FactSpec],
             at: datetime | None = None, *, strict: bool = False, patient: str | None = None,
             fhir_server: str | None = None) -> FhirCase:
    """:func:`map_fhir` with mappings already loaded and checked (an engine keeps its own)."""
    when = datetime.now(UTC) if at is None else at
    if when.tzinfo is None:
        raise ValueError("map_fhir: the index time must be an aware datetime (with a zone)")
    mapper = Mapper(rules, vocabulary, when, strict)
    if patient is not None:
        mapper.expect_patient(patient, fhir_server)
    return mapper.run(resources)


def _builtin_for(vocabulary: Mapping[str, FactSpec]) -> tuple[FhirMapping, ...]:
    # Checking the mappings against a vocabulary costs ~1.5 ms, more than mapping a small
    # record: done once per vocabulary, keyed by its facts (hashable, so equal vocabularies
    # share; bounded, so engines built and dropped do not pile up here).
    return _compiled(tuple(vocabulary.values()))


@functools.lru_cache(maxsize=8)
def _compiled(facts: tuple[FactSpec, ...]) -> tuple[FhirMapping, ...]:
    return load_mappings({fact.name: fact for fact in facts})


class Mapper:
    """One run of the mapping: resources in, candidate values, ignored records and
    refusals collected, then resolved into a case (handlers call offer/ignore)."""

    def __init__(self, mappings: Sequence[FhirMapping], vocabulary: Mapping[str, FactSpec],
                 at: datetime, strict: bool = False) -> None:
        self.strict = strict
        self.vocabulary = vocabulary
        self.at = at
        self.index: dict[tuple[str, str], list[FhirMapping]] = {}
        for mapping in mappings:
            for kind in mapping.resource:
                self.index.setdefault((kind, mapping.system), []).append(mapping)
        self.refusals: list[Problem] = []
        self.suggested = 0  # unknown names for which the closest were looked for
        self.ignored: list[Provenance] = []
        self.candidates: dict[str, list[_Candidate]] = {}
        self.patient: Identity | None = None
        self.patient_label: str | None = None
        self.by_reference: dict[str, Mapping[str, Any]] = {}
        self.problems: list[Problem] = []
        self.left_out = 0
        """Refusals only counted, past MAX_PROBLEMS."""
        """Findings left unknown for a reason the reader must see (not refusals)."""
        self.expected: tuple[str, str | None] | None = None
        self.other_patients: list[Provenance] = []

    def expect_patient(self, patient_id: str, fhir_server: str | None) -> None:
        """Only this patient's resources are read; the rest are ignored and listed."""
        server = normalise_base(fhir_server) if fhir_server else None
        self.expected = (f"Patient/{patient_id}", server)
        self.patient = (f"{server}/Patient/{patient_id}" if server else None,
                        f"Patient/{patient_id}")
        self.patient_label = f"Patient/{patient_id}"

    def _is_expected(self, identity: Identity) -> bool:
        """Whether a resolved reference names the expected patient: the same ``Patient/id``
        and, for an absolute URL, on the call's FHIR server (a urn must name a Patient
        entry of the input with that id)."""
        assert self.expected is not None
        relative, server = self.expected
        absolute = identity[0]
        if absolute is not None and absolute.startswith("urn:"):
            target = self.by_reference.get(absolute)
            return (target is not None and target.get("resourceType") == "Patient"
                    and f"Patient/{target.get('id')}" == relative)
        if identity[1] != relative:
            return False
        if absolute is None:
            return True
        return server is not None and normalise_base(absolute) == f"{server}/{relative}"

    def _foreign(self, entry: Entry, why: str) -> None:
        self.other_patients.append(self._prov(entry, "(record)", None, "fhir.patient",
                                              f"not this patient's record: {why}"))

    # --- input ---
    def _entries(self, data: Any, path: str, out: list[Entry], full_url: str | None = None
                 ) -> None:
        if data is None:
            return  # an empty CDS Hooks prefetch: no data, so everything stays unknown
        if isinstance(data, list):
            for index, item in enumerate(data):
                self._entries(item, key_path(path, index), out)
            return
        if not isinstance(data, Mapping):
            self.refusals.append(Problem(path, "expected a FHIR resource (a JSON object with "
                                               "resourceType), a Bundle or a list of them"))
            return
        kind = data.get("resourceType")
        if not isinstance(kind, str):
            self.refusals.append(Problem(key_path(path, "resourceType"),
                                         "expected the resource type (a string)"))
            return
        if kind != "Bundle":
            out.append(Entry(data, path, full_url))
            return
        entries = data.get("entry", [])
        if not isinstance(entries, list):
            self.refusals.append(Problem(f"{path}.entry", "expected a list of entries"))
            return
        for index, entry in enumerate(entries):
            where = f"{path}.entry[{index}]"
            if not isinstance(entry, Mapping):
                self.refusals.append(Problem(where, "expected a Bundle entry (an object)"))
                continue
            resource = entry.get("resource")
            if resource is None:
                continue  # a transaction response or a search link: nothing to map
            url = entry.get("fullUrl")
            self._entries(resource, f"{where}.resource", out, url if isinstance(url, str) else None)

    # --- whose record ---
    def _identity(self, entry: Entry) -> Identity:
        rid = entry.resource.get("id")
        relative = f"Patient/{rid}" if isinstance(rid, str) else None
        absolute = resolve_reference(entry.full_url)[0] if entry.full_url else None
        return absolute, relative

    def _find_patient(self, entries: Sequence[Entry]) -> None:
        for entry in entries:
            if entry.resource.get("resourceType") != "Patient":
                continue
            identity = self._identity(entry)
            if self.patient is None:
                self.patient = identity
                self.patient_label = identity[1] or identity[0] or entry.path
            elif not same_resource(identity, self.patient):
                named = ", ".join(i for i in identity[::-1] if i) or "no id"
                self.refusals.append(Problem(entry.path, f"a second patient ({named}), not "
                                             f"{self.patient_label}: give one patient's "
                                             "resources"))

    def is_the_patient(self, entry: Entry) -> bool:
        """Whether a Patient resource is the one patient of this run (not a refused other)."""
        return self.patient is not None and same_resource(self._identity(entry), self.patient)

    def _not_theirs(self, entry: Entry) -> str | None:
        """Why a resource is not about this patient (None if it is); refuses another's
        (ignores it, when the patient was given)."""
        if self.expected is not None:
            return self._not_expected(entry)
        subject = entry.resource.get("subject")
        if subject is None:
            return "no subject: cannot tell whose record it is" if self.patient else None
        reference = subject.get("reference") if isinstance(subject, Mapping) else None
        if not isinstance(reference, str):
            return "the subject has no reference: cannot tell whose record it is"
        identity = resolve_reference(reference, entry.full_url)
        target = self.lookup(identity)
        kind = (target or {}).get("resourceType") or (identity[1] or "").split("/")[0]
        if kind and kind != "Patient":
            return f"the subject is {identity[1] or reference}, not a patient"
        if self.patient is None:
            self.patient = identity
            self.patient_label = identity[1] or identity[0] or reference
            return None
        if same_resource(identity, self.patient):
            return None
        resolved = f" (that is, {identity[0]})" if identity[0] not in (None, reference) else ""
        ours = self.patient[0] or self.patient_label
        self.refusals.append(Problem(f"{entry.path}.subject.reference",
                                     f"{reference!r}{resolved} is another patient than "
                                     f"{ours}: refused"))
        return "another patient"

    def _not_expected(self, entry: Entry) -> str | None:
        if entry.resource.get("resourceType") == "Patient":
            identity = self._identity(entry)
            if identity[1] is not None and self._is_expected(identity):
                return None
            why = f"Patient/{entry.resource.get('id')}"
            if identity[0]:
                why += f" ({identity[0]})"
            self._foreign(entry, why)
            return why
        subject = entry.resource.get("subject")
        reference = subject.get("reference") if isinstance(subject, Mapping) else None
        if not isinstance(reference, str):
            why = "no subject reference: cannot tell whose record it is"
            self._foreign(entry, why)
            return why
        identity = resolve_reference(reference, entry.full_url)
        if self._is_expected(identity):
            return None
        resolved = f" (that is, {identity[0]})" if identity[0] not in (None, reference) else ""
        why = f"the subject is {reference!r}{resolved}"
        self._foreign(entry, why)
        return why

    def lookup(self, identity: Identity) -> Mapping[str, Any] | None:
        """The resource of the input a resolved reference names, if it is there."""
        for key in identity:
            if key and key in self.by_reference:
                return self.by_reference[key]
        return None

    # --- recording ---
    def _prov(self, entry: Entry, field: str, value: FactValue | None, rule: str,
              reason: str | None = None) -> Provenance:
        resource = entry.resource
        rid = resource.get("id")
        return Provenance(field=field, value=value, resource_type=str(resource["resourceType"]),
                          resource_id=rid if isinstance(rid, str) else None,
                          version=version_of(resource), rule=rule,
                          status="ignored" if reason else "used", reason=reason, path=entry.path)

    def ignore(self, entry: Entry, field: str, rule: str, reason: str,
               value: FactValue | None = None) -> None:
        self.ignored.append(self._prov(entry, field, value, rule, reason))

    def offer(self, entry: Entry, field: str, value: FactValue, rule: str,
              latest_wins: bool = False) -> None:
        span = clinical_time(entry.resource)
        self.candidates.setdefault(field, []).append(_Candidate(
            value, span.start if span else None, latest_wins,
            self._prov(entry, field, value, rule)))

    # --- the run ---
    def run(self, data: Any) -> FhirCase:
        entries: list[Entry] = []
        self._entries(data, "$", entries)
        if self.strict:
            from kneerules.fhir.strict import check_resource

            for entry in entries:
                if entry.resource["resourceType"] in HANDLERS:
                    self.refusals += check_resource(entry.resource, entry.path)
        if self.expected is None:
            self._find_patient(entries)
        entries = self._latest_versions(entries)
        for entry in entries:
            rid = entry.resource.get("id")
            kind = entry.resource["resourceType"]
            if isinstance(rid, str):
                self.by_reference[f"{kind}/{rid}"] = entry.resource
            if entry.full_url:
                self.by_reference[entry.full_url] = entry.resource
                absolute = resolve_reference(entry.full_url)[0]
                if absolute:
                    self.by_reference[absolute] = entry.resource
        for entry in entries:
            kind = entry.resource["resourceType"]
            handler = HANDLERS.get(kind)
            if handler is None:
                continue
            if (kind != "Patient" or self.expected is not None) and self._not_theirs(entry):
                continue
            handler(self, entry)
        if self.refusals:
            # As a case's: 40,000 misspelt linkIds were 40,002 lines. Refusals past the cap
            # were only counted (left_out), as the questionnaire reader does.
            raise FhirError(cap_problems(_unique(self.refusals), self.left_out))
        return self._resolve()

    def _latest_versions(self, entries: list[Entry]) -> list[Entry]:
        """One entry per resource: of several versions of one resource (same type and id),
        the latest (``meta.versionId``, then ``meta.lastUpdated``, then a ``corrected`` or
        ``amended`` status over any other) is read; the others are ignored, saying which
        version superseded them."""
        groups: dict[tuple[str, str], list[Entry]] = {}
        for entry in entries:
            rid = entry.resource.get("id")
            if isinstance(rid, str):
                groups.setdefault((str(entry.resource["resourceType"]), rid), []).append(entry)
        dropped: set[int] = set()
        for (kind, rid), group in groups.items():
            if len(group) < 2 or kind == "Patient":
                continue
            ranked = sorted(group, key=_version_rank)
            latest = ranked[-1]
            if _version_rank(ranked[-2]) == _version_rank(latest):
                continue  # no way to tell which is later: both are read (a conflict if they differ)
            label = version_of(latest.resource) or "?"
            status = latest.resource.get("status")
            for entry in ranked[:-1]:
                dropped.add(id(entry))
                self.ignore(entry, "(record)", "fhir.version",
                            f"superseded by version {label} ({status}) of {kind}/{rid} "
                            f"({latest.path})")
        return [entry for entry in entries if id(entry) not in dropped]

    def _resolve(self) -> FhirCase:
        chosen: dict[str, FactValue] = {}
        provenance: list[Provenance] = []
        problems: list[Problem] = []
        for field, found in self.candidates.items():
            values = {_key(c.value) for c in found}
            if len(values) == 1:
                chosen[field] = found[0].value
                provenance += [c.provenance for c in found]
                continue
            timed = [c for c in found if c.time is not None]
            if all(c.latest_wins for c in found) and len(timed) == len(found):
                latest = max(c.time for c in timed if c.time is not None)
                newest = [c for c in found if c.time == latest]
                if len({_key(c.value) for c in newest}) == 1:
                    chosen[field] = newest[0].value
                    winner = newest[0].provenance
                    for c in found:
                        provenance.append(c.provenance if c in newest else attrs.evolve(
                            c.provenance, status="ignored", reason=f"superseded by the newer "
                            f"{winner.resource_type}/{winner.resource_id} ({winner.path})"))
                    continue
            # A few of the records are named, the rest counted: one bundle of 43 MB gave a
            # single warning line of 8.5 MB.
            listed = "; ".join(f"{_show(c.value)} from {c.provenance.resource_type}/"
                               f"{c.provenance.resource_id} ({c.provenance.path})"[:200]
                               for c in found[:CONFLICTS_NAMED])
            if len(found) > CONFLICTS_NAMED:
                listed += f"; and {len(found) - CONFLICTS_NAMED} more"
            problems.append(Problem(found[0].provenance.path,
                                    f"conflicting values for {field}: {listed}; left unknown"))
            provenance += [attrs.evolve(c.provenance, status="ignored",
                                        reason="conflicts with another resource") for c in found]
        provenance += self.ignored
        case = self._case(chosen)
        return FhirCase(case, tuple(provenance), tuple(cap_problems(self.problems + problems)),
                        tuple(self.other_patients))

    def _case(self, chosen: Mapping[str, FactValue]) -> Any:
        from kneerules.cases.validation import parse_case

        data: dict[str, Any] = {"format": CASE_FORMAT}
        if self.patient_label is not None and self.patient_label.startswith("Patient/"):
            data["case_id"] = self.patient_label
        patient = {key.split(".")[1]: chosen[key] for key in ("patient.age", "patient.sex")
                   if key in chosen}
        if patient:
            data["patient"] = patient
        for key in ("onset", "side"):
            if key in chosen:
                data[key] = chosen[key]
        findings: dict[str, Any] = {}
        measurements: dict[str, Any] = {}
        for name, value in sorted(chosen.items()):
            if name in _PATIENT_FIELDS:
                continue
            spec = self.vocabulary.get(name)
            (measurements if spec is not None and spec.kind == "measurement" else findings)[
                name] = value
        if findings:
            data["findings"] = findings
        if measurements:
            data["measurements"] = measurements
        try:
            return parse_case(data, self.vocabulary)
        except CaseError as error:  # a mapping set a value its fact does not take
            raise FhirError(error.problems) from None


_REVISED = {"corrected": 1, "amended": 1}


def _version_rank(entry: Entry) -> tuple[int, str, int]:
    """Orders versions of one resource: versionId (a number), lastUpdated, revised status."""
    meta = entry.resource.get("meta")
    meta = meta if isinstance(meta, Mapping) else {}
    vid = meta.get("versionId")
    number = int(vid) if isinstance(vid, str) and vid.isdigit() and len(vid) < 18 else -1
    updated = meta.get("lastUpdated")
    span = parse_span(updated) if isinstance(updated, str) else None
    when = span.start.astimezone(UTC).isoformat() if span is not None else ""
    return number, when, _REVISED.get(str(entry.resource.get("status")), 0)


def normalise_base(url: str) -> str:
    """A URL with its scheme and host in lower case and no trailing '/' (how two FHIR
    server bases are compared)."""
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"),
                       parts.query, "")).rstrip("/")


def _key(value: FactValue) -> tuple[str, FactValue]:
    return (type(value).__name__ if not isinstance(value, int | float) or isinstance(
        value, bool) else "number", value)


def _show(value: FactValue) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))
