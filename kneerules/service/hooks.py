"""One CDS Hooks call, without HTTP: request body → prefetch → case → assessment → cards.

Kept apart from the web layer so that every decision here (412, unknown findings, no card,
the unavailable warning) is plain Python the app only translates into a response.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

from kneerules.engine import Engine
from kneerules.model.errors import CaseError
from kneerules.service.cards import triage_card, unavailable_card
from kneerules.service.discovery import HOOKS
from kneerules.service.store import IssuedCard

log = logging.getLogger("kneerules.service")

KNEE_PAIN = "pain.behind_knee"
MAX_BODY_BYTES = 4 * 1024 * 1024


class BadRequest(Exception):
    """The body is not a CDS Hooks request (400); the message says what is wrong where."""


@attrs.frozen
class MissingPrefetch(Exception):
    """Prefetch keys the service needs are absent and it may not fetch them (412)."""

    keys: tuple[str, ...]


@attrs.frozen
class HookRequest:
    hook: str
    hook_instance: str
    patient_id: str
    prefetch: Mapping[str, Any]
    fhir_server: str | None = None
    access_token: str | None = attrs.field(default=None, repr=False)
    """From ``fhirAuthorization``: used for reading missing prefetch, never stored or logged."""


@attrs.frozen
class Outcome:
    """What to answer: the status, the cards, and the cards to remember for feedback."""

    status: int
    cards: tuple[dict[str, Any], ...]
    issued: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # uuid, level, rules


def parse_request(body: Any) -> HookRequest:
    """A :class:`HookRequest` from the decoded body, or :class:`BadRequest`."""
    if not isinstance(body, dict):
        raise BadRequest("$: expected a JSON object")
    hook = body.get("hook")
    if hook not in HOOKS:
        raise BadRequest(f"$.hook: expected one of {', '.join(HOOKS)}, got {hook!r}")
    instance = body.get("hookInstance")
    if not isinstance(instance, str) or not instance:
        raise BadRequest("$.hookInstance: expected a non-empty string")
    context = body.get("context")
    if not isinstance(context, dict):
        raise BadRequest("$.context: expected an object")
    patient = context.get("patientId")
    if not isinstance(patient, str) or not patient:
        raise BadRequest("$.context.patientId: expected a non-empty string")
    prefetch = body.get("prefetch", {})
    if prefetch is None:
        prefetch = {}
    if not isinstance(prefetch, dict):
        raise BadRequest("$.prefetch: expected an object")
    for key, value in prefetch.items():
        if value is not None and not (isinstance(value, dict)
                                      and isinstance(value.get("resourceType"), str)):
            raise BadRequest(f"$.prefetch.{key}: expected a FHIR resource or null")
    server = body.get("fhirServer")
    if server is not None and not isinstance(server, str):
        raise BadRequest("$.fhirServer: expected a URL string")
    auth = body.get("fhirAuthorization")
    token = None
    if auth is not None:
        if not isinstance(auth, dict):
            raise BadRequest("$.fhirAuthorization: expected an object")
        if server is None:
            raise BadRequest("$.fhirServer: required with fhirAuthorization")
        token = auth.get("access_token")
        if not isinstance(token, str) or not token:
            raise BadRequest("$.fhirAuthorization.access_token: expected a non-empty string")
    return HookRequest(hook, instance, patient, prefetch, server, token)


def missing_keys(request: HookRequest, templates: Sequence[str]) -> tuple[str, ...]:
    return tuple(key for key in templates if key not in request.prefetch)


def prefetch_resources(request: HookRequest, templates: Sequence[str]) -> list[dict[str, Any]]:
    """The resources of the prefetch; null, an empty Bundle or an OperationOutcome add none
    (those findings stay unknown). A key that is absent raises :class:`MissingPrefetch`
    (the app reads missing keys from the FHIR server first, where it is allowed to).
    """
    missing = missing_keys(request, templates)
    if missing:
        raise MissingPrefetch(missing)
    resources: list[dict[str, Any]] = []
    for key in templates:
        value = request.prefetch[key]
        if value is None or value["resourceType"] == "OperationOutcome":
            continue
        if value["resourceType"] == "Bundle":
            entries = value.get("entry") or []
            if not isinstance(entries, list):
                raise BadRequest(f"$.prefetch.{key}.entry: expected a list")
            for i, entry in enumerate(entries):
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if not isinstance(resource, dict):
                    raise BadRequest(f"$.prefetch.{key}.entry[{i}].resource: expected a "
                                     "FHIR resource")
                if resource.get("resourceType") == "OperationOutcome":
                    continue  # a search's warnings ride along as entries in mode "outcome"
                resources.append(resource)
        else:
            resources.append(value)
    return resources


class Triager:
    """Answers calls for one engine (one per worker process)."""

    def __init__(self, engine: Engine, service_id: str, templates: Sequence[str]) -> None:
        self.engine = engine
        self.service_id = service_id
        self.templates = tuple(templates)
        self.rule_because = {rule.id: rule.because for rule in engine.knowledge.rules}
        self.label = (f"kneerules {engine.info.version}, rule set {engine.info.ruleset} "
                      f"{engine.info.ruleset_version}")
        self.versions = {"kneerules": engine.info.version, "ruleset": engine.info.ruleset,
                         "ruleset_version": engine.info.ruleset_version,
                         "plugins": {p.name: p.version for p in engine.info.plugins}}

    def answer(self, request: HookRequest, at: datetime | None = None) -> Outcome:
        """Never raises for a bad record or a failing engine: both give the warning card."""
        resources = prefetch_resources(request, self.templates)
        at = at or datetime.now(UTC)
        try:
            from kneerules.fhir.reader import read_fhir

            # map_fhir with the engine's vocabulary and its plugins' mappings, loaded once.
            mapped = read_fhir(self.engine, resources, at=at)
        except CaseError as error:
            log.warning("hook %s: the record could not be mapped: %s",
                        request.hook_instance, error)
            reason = "the record holds data it cannot read (" + "; ".join(
                str(p) for p in error.problems[:5]) + ")"
            return self._unavailable(200, request, reason)
        except Exception:
            log.exception("hook %s: the FHIR mapping failed", request.hook_instance)
            return self._unavailable(500, request, "the FHIR mapping failed")
        case = mapped.case
        try:
            assessment = self.engine.evaluate(case)
        except CaseError as error:
            log.warning("hook %s: the mapped case was refused: %s", request.hook_instance, error)
            return self._unavailable(200, request, "the mapped case was refused")
        except Exception:
            log.exception("hook %s: the engine failed", request.hook_instance)
            return self._unavailable(500, request, "the rules engine failed")
        knee_pain = case.findings.get(KNEE_PAIN) is True
        # patient-view fires on every chart opening: no knee pain in the record, no card,
        # unless a red flag was raised (a clot in the lung is never left unsaid).
        if not knee_pain and not assessment.red_flags:
            return Outcome(200, ())
        try:
            card = triage_card(assessment, service=self.service_id,
                               hook_instance=request.hook_instance,
                               provenance=mapped.provenance, rule_because=self.rule_because)
        except Exception:
            log.exception("hook %s: the card could not be built", request.hook_instance)
            return self._unavailable(500, request, "the card could not be built")
        return Outcome(200, (card,), ((card["uuid"], assessment.triage.level,
                                       assessment.triage.because),))

    def _unavailable(self, status: int, request: HookRequest, reason: str) -> Outcome:
        card = unavailable_card(service=self.service_id, hook_instance=request.hook_instance,
                                label=self.label, reason=reason)
        return Outcome(status, (card,), ((card["uuid"], "unavailable", ()),))

    def issued(self, outcome: Outcome, request: HookRequest, iss: str, tenant: str | None
               ) -> list[IssuedCard]:
        return [IssuedCard(uuid, self.service_id, request.hook, request.hook_instance, iss,
                           tenant, level, rules, self.versions)
                for uuid, level, rules in outcome.issued]

