"""`kneerules serve` over the wire: discovery, cards, no card, 412, 400, 404, feedback, CORS."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import ENCOUNTER_ID, FHIR_TOKEN, SERVICE_ID, Service
from hook_requests import DVT_FINDINGS, NO_KNEE_FINDINGS, ROUTINE_FINDINGS, hook_request

from kneerules import Engine
from tests.service.cardcheck import check_response

PREFETCH_KEYS = {"patient", "questionnaireResponse", "observations", "conditions",
                 "procedures", "medicationRequests", "medicationStatements"}


def cards_of(service: Service, body: Any) -> list[dict[str, Any]]:
    response = service.call(body)
    assert response.status_code == 200, response.text
    data = response.json()
    assert check_response(data) == [], check_response(data)
    return list(data["cards"])


def test_discovery_lists_each_hook_under_its_own_id(service: Service, engine: Engine) -> None:
    """GET /cds-services offers patient-view and encounter-start, an id each (clients such as
    the CDS Hooks sandbox key services by id), prefetch, versions."""
    response = service.client.get("/cds-services", headers=service.auth("/cds-services"))
    assert response.status_code == 200
    services = response.json()["services"]
    assert sorted(s["hook"] for s in services) == ["encounter-start", "patient-view"]
    assert {s["hook"]: s["id"] for s in services} == {"patient-view": SERVICE_ID,
                                                      "encounter-start": ENCOUNTER_ID}
    for entry in services:
        assert set(entry["prefetch"]) == PREFETCH_KEYS
        assert entry["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        assert "http://loinc.org|8310-5" in entry["prefetch"]["observations"]
        assert "_count=1" in entry["prefetch"]["questionnaireResponse"]
        versions = entry["extension"]["org.kneerules.versions"]
        assert versions["kneerules"] == engine.info.version
        assert versions["ruleset"] == {"name": "posterior-knee",
                                       "version": engine.info.ruleset_version}
        assert versions["plugins"]["dvt"] == next(
            p.version for p in engine.info.plugins if p.name == "dvt")


@pytest.mark.parametrize("hook", ["patient-view", "encounter-start"])
def test_suspected_dvt_is_a_same_day_warning_card(service: Service, engine: Engine,
                                                  hook: str) -> None:
    """A suspected DVT in the record gives one warning card (policy v3: the same-day DVT
    pathway, urgent, not an emergency) with its red flags."""
    body = hook_request(engine, DVT_FINDINGS, hook=hook)
    response = service.call(body, service_id=SERVICE_ID if hook == "patient-view"
                            else ENCOUNTER_ID)
    assert response.status_code == 200, response.text
    [card] = response.json()["cards"]
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Urgent knee triage: Deep vein thrombosis likely")
    assert "**Red flags**" in card["detail"]
    assert "QuestionnaireResponse/qr\\-1 version 1" in card["detail"]
    assert card["source"]["label"] == (f"kneerules {engine.info.version}, rule set "
                                       f"posterior-knee {engine.info.ruleset_version}")
    assert all(reason["display"] for reason in card["overrideReasons"])


def test_routine_case_is_an_info_card(service: Service, engine: Engine) -> None:
    """Knee pain with no red flag gives one info card, no red flags listed."""
    [card] = cards_of(service, hook_request(engine, ROUTINE_FINDINGS))
    assert card["indicator"] == "info"
    assert "Red flags" not in card["detail"]


def test_card_uuid_is_stable_for_a_hook_instance(service: Service, engine: Engine) -> None:
    """The same hook instance and record give the same card uuid (feedback joins on it)."""
    body = hook_request(engine, DVT_FINDINGS)
    first, second = cards_of(service, body), cards_of(service, body)
    assert first[0]["uuid"] == second[0]["uuid"]
    other = cards_of(service, {**body, "hookInstance": str(uuid.uuid4())})
    assert other[0]["uuid"] != first[0]["uuid"]


@pytest.mark.parametrize("case", [NO_KNEE_FINDINGS, None], ids=["knee-pain-refuted", "no-qr"])
def test_no_card_without_knee_findings(service: Service, engine: Engine,
                                       case: dict[str, Any] | None) -> None:
    """No current evidence of posterior knee pain: no card at all (no alert fatigue)."""
    assert cards_of(service, hook_request(engine, case)) == []


@pytest.mark.parametrize("value", [
    None,
    {"resourceType": "Bundle", "type": "searchset", "total": 0},
    {"resourceType": "OperationOutcome",
     "issue": [{"severity": "error", "code": "exception"}]},
], ids=["null", "empty-bundle", "operation-outcome"])
def test_unavailable_prefetch_is_unknown(service: Service, engine: Engine, value: Any) -> None:
    """A key null, an empty Bundle or an OperationOutcome leaves its findings unknown."""
    body = hook_request(engine, DVT_FINDINGS, observations=value, conditions=value)
    [card] = cards_of(service, body)
    assert card["indicator"] == "warning"  # the suspected DVT, today
    assert "temperature" not in card["detail"]


def test_missing_prefetch_key_is_412(service: Service, engine: Engine) -> None:
    """A prefetch key absent, with no fhirAuthorization: 412 and an OperationOutcome."""
    body = hook_request(engine, DVT_FINDINGS)
    del body["prefetch"]["conditions"]
    response = service.call(body)
    assert response.status_code == 412
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "conditions" in outcome["issue"][0]["diagnostics"]


def _with_authorization(body: dict[str, Any], server: str) -> dict[str, Any]:
    return {**body, "fhirServer": server,
            "fhirAuthorization": {"access_token": FHIR_TOKEN, "token_type": "Bearer",
                                  "expires_in": 300, "scope": "user/*.read",
                                  "subject": "kneerules"}}


def test_missing_prefetch_is_read_with_fhir_authorization(service: Service,
                                                          engine: Engine) -> None:
    """With fhirAuthorization and an allowed fhirServer, a missing key is read from it."""
    body = hook_request(engine, DVT_FINDINGS)
    service.key_sets.fhir["QuestionnaireResponse"] = body["prefetch"].pop(
        "questionnaireResponse")
    before = len(service.key_sets.hits)
    data = service.call(_with_authorization(body, service.key_sets.url("/fhir")))
    [card] = data.json()["cards"]
    assert card["indicator"] == "warning"  # the suspected DVT, today
    [path] = [p for p in service.key_sets.hits[before:] if p.startswith("/fhir/")]
    assert path.startswith("/fhir/QuestionnaireResponse?subject=pat-1&questionnaire=")
    assert service.key_sets.fhir_auth[-1] == f"Bearer {FHIR_TOKEN}"


def test_fhir_server_off_the_list_is_never_read(service: Service, engine: Engine) -> None:
    """A fhirServer not on the issuer's list is not contacted: the missing key is a 412."""
    body = hook_request(engine, DVT_FINDINGS)
    del body["prefetch"]["questionnaireResponse"]
    before = len(service.key_sets.hits)
    response = service.call(_with_authorization(body, service.key_sets.url("/elsewhere")))
    assert response.status_code == 412
    assert service.key_sets.hits[before:] == []


@pytest.mark.parametrize(("body", "where"), [
    (b"{not json", "not JSON"),
    ([], "$: expected a JSON object"),
    ({"hookInstance": "x", "context": {"patientId": "p"}}, "$.hook"),
    ({"hook": "order-sign", "hookInstance": "x", "context": {"patientId": "p"}}, "$.hook"),
    ({"hook": "patient-view", "context": {"patientId": "p"}}, "$.hookInstance"),
    ({"hook": "patient-view", "hookInstance": "x", "context": {}}, "$.context.patientId"),
    ({"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "p"},
      "prefetch": {"patient": "Patient/p"}}, "$.prefetch.patient"),
    ({"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "p"},
      "fhirAuthorization": {"access_token": "t"}}, "$.fhirServer"),
    ({"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "p"},
      "fhirServer": "http://127.0.0.1:9/fhir", "fhirAuthorization": {}},
     "$.fhirAuthorization.access_token"),
])
def test_malformed_body_is_400(service: Service, body: Any, where: str) -> None:
    """A body that is not a CDS Hooks request: 400 with an OperationOutcome saying where."""
    response = service.call(body)
    assert response.status_code == 400
    assert where in response.json()["issue"][0]["diagnostics"]


def test_unknown_service_is_404(service: Service, engine: Engine) -> None:
    """A call to a service id that does not exist: 404."""
    response = service.call(hook_request(engine, DVT_FINDINGS), service_id="no-such-service")
    assert response.status_code == 404


def test_feedback_is_stored_and_reported_by_rule(service: Service, engine: Engine) -> None:
    """An override with a reason is stored durably and `kneerules feedback` prints it by rule."""
    [card] = cards_of(service, hook_request(engine, DVT_FINDINGS))
    reason = card["overrideReasons"][0]
    path = f"/cds-services/{SERVICE_ID}/feedback"
    body = {"feedback": [{"card": card["uuid"], "outcome": "overridden",
                          "outcomeTimestamp": "2026-11-25T10:00:00Z",
                          "overrideReason": {"reason": reason,
                                             "userComment": "seen in clinic this morning"}}]}
    response = service.client.post(path, json=body, headers=service.auth(path))
    assert response.status_code == 200, response.text
    bad = service.client.post(path, json={"feedback": [{"card": card["uuid"],
                                                        "outcome": "ignored"}]},
                              headers=service.auth(path))
    assert bad.status_code == 400
    kneerules = Path(sys.executable).with_name("kneerules")
    printed = subprocess.run([str(kneerules), "feedback", "--config", str(service.config)],
                             capture_output=True, text=True, check=True).stdout
    assert "dvt.red_warm_calf: 1 overridden" in printed  # rule 1.5 set the level
    assert f"card {card['uuid']}: {reason['display']} [{reason['code']}]" in printed
    assert '"seen in clinic this morning"' in printed
    assert f"kneerules {engine.info.version}" in printed
    assert "Bearer" not in printed
    assert "eyJ" not in printed


def test_store_never_holds_the_token(service: Service, engine: Engine) -> None:
    """Nothing in the SQLite store looks like a JWT."""
    cards_of(service, hook_request(engine, DVT_FINDINGS))
    store = Path(str(service.config).replace("service.yaml", "store.sqlite"))
    for path in store.parent.glob("store.sqlite*"):
        assert b"eyJ" not in path.read_bytes()


@pytest.mark.parametrize(("origin", "allowed"), [
    ("https://sandbox.example.org", True), ("https://elsewhere.example.org", False)])
def test_cors_preflight_needs_no_token(service: Service, origin: str, allowed: bool) -> None:
    """The CORS preflight is answered without a token, for the configured origins only."""
    response = service.client.options(
        f"/cds-services/{SERVICE_ID}",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"})
    assert (response.headers.get("access-control-allow-origin") == origin) is allowed
    assert response.status_code == (200 if allowed else 400)


def test_cards_are_json_without_nulls(service: Service, engine: Engine) -> None:
    """The response body has no null anywhere (attributes are left out instead)."""
    response = service.call(hook_request(engine, ROUTINE_FINDINGS))
    assert "null" not in json.dumps(response.json())
