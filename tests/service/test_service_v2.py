"""Issue 24 over the wire: `kneerules serve` with two workers, real HTTP, jsrsasign tokens.

The right patient, D-dimer units, corrected results, clinician cards, the unavailable card
with 200, no unauthenticated way to stall it, a secure configuration only, and what an
operator sees."""

from __future__ import annotations

import base64
import json
import os
import re
import select
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import (
    ENCOUNTER_ID,
    FHIR_TOKEN,
    HANG_ISSUER,
    ISSUER,
    OOB_ISSUER,
    SERVICE_ID,
    TENANT,
    Keys,
    KeySetServer,
    Service,
)
from hook_requests import DVT_FINDINGS, PATIENT_ID, ROUTINE_FINDINGS, _searchset, hook_request
from serving import serving

from kneerules import Engine
from tests.service.cardcheck import check_response

PATH = f"/cds-services/{SERVICE_ID}"
FEEDBACK = PATH + "/feedback"
KNEERULES = str(Path(sys.executable).with_name("kneerules"))
NOW = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
UCUM = "http://unitsofmeasure.org"


def cards(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    data = response.json()
    assert check_response(data) == []
    return list(data["cards"])


def post_raw(service: Service, content: bytes, path: str = PATH) -> httpx.Response:
    return service.client.post(path, content=content, headers={
        **service.auth(path), "Content-Type": "application/json"})


# --- 1. The right patient -------------------------------------------------------------------

def _other_patients_dvt(engine: Engine) -> dict[str, Any]:
    """A request for pat-1 whose prefetch is wholly about p2, who has a DVT picture."""
    body = hook_request(engine, DVT_FINDINGS)
    body["prefetch"]["patient"]["id"] = "p2"
    for key in ("questionnaireResponse", "observations", "conditions"):
        for entry in body["prefetch"][key].get("entry", []):
            entry["resource"]["subject"] = {"reference": "Patient/p2"}
    return body


def test_another_patients_prefetch_gives_no_card_from_their_data(service: Service,
                                                                  engine: Engine) -> None:
    """context.patientId pat-1 with p2's record: no DVT card from p2's data, a warning."""
    found = cards(service.call(_other_patients_dvt(engine)))
    assert [c["indicator"] for c in found] == ["warning"]
    assert found[0]["summary"] == "The record held another patient's data: it was ignored."
    assert "Patient/p2" in found[0]["detail"]
    assert "Deep vein thrombosis" not in json.dumps(found)


@pytest.mark.parametrize(("reference", "ours"), [
    ("Patient/pat-1", True),
    ("{server}/Patient/pat-1", True),
    ("http://other.example/fhir/Patient/pat-1", False),
    ("Patient/p2", False),
], ids=["relative", "on the call's fhirServer", "same id on another server", "another id"])
def test_subject_compared_as_a_reference(service: Service, engine: Engine, reference: str,
                                         ours: bool) -> None:
    """A full URL's server counts: Patient/pat-1 elsewhere is not our patient."""
    body = hook_request(engine, DVT_FINDINGS)
    body["fhirServer"] = service.key_sets.url("/fhir")
    for entry in body["prefetch"]["questionnaireResponse"]["entry"]:
        entry["resource"]["subject"] = {"reference": reference.format(server=body["fhirServer"])}
    [card] = cards(service.call(body))
    if ours:  # policy v3: a suspected DVT is the same-day pathway, a warning card
        assert card["summary"].startswith("Urgent knee triage: Deep vein thrombosis likely")
    else:
        assert card["summary"] == "The record held another patient's data: it was ignored."


def test_fetched_resources_are_checked_too(service: Service, engine: Engine) -> None:
    """Prefetch read from the FHIR server with fhirAuthorization is held to the same check."""
    body = hook_request(engine, DVT_FINDINGS)
    response = body["prefetch"].pop("questionnaireResponse")
    for entry in response["entry"]:
        entry["resource"]["subject"] = {"reference": "Patient/p2"}
    service.key_sets.fhir["QuestionnaireResponse"] = response
    body = {**body, "fhirServer": service.key_sets.url("/fhir"),
            "fhirAuthorization": {"access_token": FHIR_TOKEN, "token_type": "Bearer",
                                  "expires_in": 300, "scope": "user/*.read",
                                  "subject": "kneerules"}}
    found = cards(service.call(body))
    assert [c["indicator"] for c in found] == ["warning"]
    assert "QuestionnaireResponse/qr\\-1" in found[0]["detail"]


# --- 2. D-dimer units; 3. corrected results -------------------------------------------------

def _dimer(value: Any, unit: dict[str, Any], high: dict[str, Any], rid: str = "dd-1",
           **more: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": rid, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "48066-5"}]},
            "subject": {"reference": f"Patient/{PATIENT_ID}"}, "effectiveDateTime": NOW,
            "valueQuantity": {"value": value, **unit},
            "referenceRange": [{"high": high}], **more}


def _with_dimer(engine: Engine, *resources: dict[str, Any]) -> dict[str, Any]:
    return hook_request(engine, ROUTINE_FINDINGS, observations=_searchset(*resources))


def test_d_dimer_converted_before_comparing(service: Service, engine: Engine) -> None:
    """0.8 mg/L against a high of 500 ng/mL is a raised D-dimer (800 ng/mL), not normal."""
    body = _with_dimer(engine, _dimer(0.8, {"system": UCUM, "code": "mg/L"},
                                      {"value": 500, "system": UCUM, "code": "ng/mL"}))
    [card] = cards(service.call(body))
    assert "test\\.d\\_dimer\\_positive = yes from Observation/dd\\-1" in card["detail"]


@pytest.mark.parametrize(("unit", "high", "why"), [
    ({"unit": "mg/L"}, {"value": 500, "system": UCUM, "code": "ng/mL"}, "only as text"),
    ({"system": UCUM, "code": "mg/L"}, {"value": 500}, "has no unit"),
    ({"system": UCUM, "code": "mg/L{FEU}"}, {"value": 500, "system": UCUM, "code": "ng/mL{DDU}"},
     "depends on the assay"),
], ids=["text-only unit", "range without unit", "FEU against DDU"])
def test_d_dimer_left_unknown_says_why(service: Service, engine: Engine, unit: dict[str, Any],
                                       high: dict[str, Any], why: str) -> None:
    """Units that cannot be compared leave the D-dimer unknown (never no), and the card says why."""
    [card] = cards(service.call(_with_dimer(engine, _dimer(0.8, unit, high))))
    assert "d\\_dimer\\_positive = no " not in card["detail"]
    assert "**Left unknown**" in card["detail"]
    assert why.replace(" ", " ") in card["detail"].replace("\\", "")


@pytest.mark.parametrize("value", [b"true", b"NaN", b"Infinity"])
def test_d_dimer_boolean_or_non_finite_value(service: Service, engine: Engine,
                                             value: bytes) -> None:
    """value true: unknown with a problem; NaN or Infinity: the body itself is refused (400)."""
    body = _with_dimer(engine, _dimer(123456, {"system": UCUM, "code": "ng/mL"},
                                      {"value": 500, "system": UCUM, "code": "ng/mL"}))
    raw = json.dumps(body).encode().replace(b"123456", value)
    response = post_raw(service, raw)
    if value == b"true":
        [card] = cards(response)
        assert "d\\_dimer\\_positive = no " not in card["detail"]
        assert "not a finite number" in card["detail"].replace("\\", "")
    else:
        assert response.status_code == 400
        assert value.decode() in response.json()["issue"][0]["diagnostics"]


def test_d_dimer_units_in_the_cli(tmp_path: Path, engine: Engine) -> None:
    """`kneerules eval --fhir`: a text-only unit leaves the D-dimer unknown, with a note."""
    from kneerules.fhir.questionnaire import case_to_response

    # The patient reports pain behind the knee: a record without a complaint is not triaged.
    response = case_to_response(engine.parse({"findings": {"pain.behind_knee": True}}),
                                engine.vocabulary, subject=f"Patient/{PATIENT_ID}",
                                authored=NOW)
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": PATIENT_ID, "gender": "male",
                      "birthDate": "1970-01-01"}},
        {"resource": response},
        {"resource": _dimer(0.8, {"unit": "mg/L"},
                            {"value": 500, "system": UCUM, "code": "ng/mL"})}]}
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    done = subprocess.run([KNEERULES, "eval", "--fhir", str(path), "--at", NOW,
                           "--format", "json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "only as text" in done.stdout
    assert '"test.d_dimer_positive"' not in done.stdout.split('"notes"')[0]


def test_corrected_result_supersedes_the_final_one(service: Service, engine: Engine) -> None:
    """final/N then corrected/H of one Observation: read as raised, version 2 named as used."""
    flag = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
    unit = {"system": UCUM, "code": "ng/mL"}
    high = {"value": 500, **unit}
    final = _dimer(450, unit, high, meta={"versionId": "1"},
                   interpretation=[{"coding": [{"system": flag, "code": "N"}]}])
    corrected = _dimer(900, unit, high, status="corrected", meta={"versionId": "2"},
                       interpretation=[{"coding": [{"system": flag, "code": "H"}]}])
    [card] = cards(service.call(_with_dimer(engine, final, corrected)))
    detail = card["detail"]
    assert "test\\.d\\_dimer\\_positive = yes from Observation/dd\\-1 version 2" in detail
    assert "superseded by version 2 \\(corrected\\)" in detail
    assert "conflict" not in detail


# --- 4. Interoperability --------------------------------------------------------------------

def test_each_hook_answers_on_its_own_id_only(service: Service, engine: Engine) -> None:
    """patient-view on the encounter-start id is a 400 naming the hook that id answers."""
    wrong = service.call(hook_request(engine, DVT_FINDINGS), service_id=ENCOUNTER_ID)
    assert wrong.status_code == 400
    assert "encounter-start" in wrong.json()["issue"][0]["diagnostics"]


def test_clinician_card_text(service: Service, engine: Engine) -> None:
    """No self-test advice, no rule id in the summary, sentences joined without '.;'."""
    [card] = cards(service.call(hook_request(engine, DVT_FINDINGS)))
    text = card["summary"] + card["detail"]
    assert "self-test" not in text.replace("\\", "")
    assert "dvt." not in card["summary"]
    assert ".;" not in card["detail"].replace("\\", "")
    assert card["summary"] == ("Urgent knee triage: Deep vein thrombosis likely, Calf tear "
                               "possible; 4 red flags.")


def test_unreadable_record_is_a_warning_with_200(service: Service, engine: Engine) -> None:
    """A record the mapping refuses gives 'assess manually' with HTTP 200, never an error."""
    body = hook_request(engine, DVT_FINDINGS)
    body["prefetch"]["observations"]["entry"][0]["resource"]["valueQuantity"]["code"] = "mm[Hg]"
    [card] = cards(service.call(body))
    assert card["summary"] == "Knee triage unavailable: assess manually."


def _feedback(service: Service, items: list[dict[str, Any]], **token: Any) -> httpx.Response:
    return service.client.post(FEEDBACK, json={"feedback": items},
                               headers=service.auth(FEEDBACK, **token))


def _report(service: Service) -> str:
    return subprocess.run([KNEERULES, "feedback", "--config", str(service.config)],
                          capture_output=True, text=True, check=True, timeout=120).stdout


def test_feedback_shows_the_issued_display_for_a_bare_code(service: Service,
                                                           engine: Engine) -> None:
    """An override sent with only system and code is reported with the display issued."""
    [card] = cards(service.call(hook_request(engine, DVT_FINDINGS)))
    reason = card["overrideReasons"][1]
    bare = {"system": reason["system"], "code": reason["code"]}
    response = _feedback(service, [{"card": card["uuid"], "outcome": "overridden",
                                    "overrideReason": {"reason": bare}}])
    assert response.status_code == 200, response.text
    assert f"card {card['uuid']}: {reason['display']} [{reason['code']}]" in _report(service)


# --- 5. No unauthenticated stall ------------------------------------------------------------

def _forged(service: Service, iss: str) -> str:
    """A token naming ``iss`` whose signature is not the issuer's."""
    token = service.token(PATH, iss=iss, header={"jku": None})
    head, payload, signature = token.split(".")
    return f"{head}.{payload}.{signature[::-1]}"


@pytest.mark.slow
def test_hanging_key_set_stalls_no_one(service: Service, engine: Engine) -> None:
    """Expired cache + a hanging JWKS server + 60 forged tokens: at most one refetch per
    worker per interval (not one per token), and another issuer's valid calls are answered
    meanwhile."""
    hang = service.key_sets
    # A first valid call from that issuer loads its keys; then the cache expires (3 s).
    ok = service.client.post(PATH, json=hook_request(engine, ROUTINE_FINDINGS), headers={
        "Authorization": "Bearer " + service.token(PATH, iss=HANG_ISSUER,
                                                   header={"jku": None})})
    assert ok.status_code == 200, ok.text
    time.sleep(4)
    hang.hang.set()
    before = hang.hits.count("/hang.json")
    forged = [_forged(service, HANG_ISSUER) for _ in range(60)]

    def attempt(token: str) -> int:
        with httpx.Client(base_url=service.base, timeout=60) as client:
            return client.post(PATH, content=b"{}", headers={
                "Authorization": "Bearer " + token}).status_code

    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=30) as pool:
            refused = list(pool.map(attempt, forged))
            valid = [service.call(hook_request(engine, ROUTINE_FINDINGS)).status_code
                     for _ in range(5)]
    finally:
        hang.released.set()
    assert set(refused) == {401}
    assert valid == [200] * 5
    # One background refetch per worker per jwks_refetch_seconds (2 s), not one per token.
    intervals = int((time.monotonic() - started) // 2) + 1
    assert hang.hits.count("/hang.json") - before <= 2 * intervals < len(forged)


def _worker_rss(service: Service) -> int:
    total = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            if f"PPid:\t{service.process.pid}\n" in status:
                total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return total * 1024


def test_huge_header_is_refused_unparsed(service: Service) -> None:
    """A 16 MB Authorization header: cut off early (431, or the connection closed while it is
    still being sent), never read to its end; the workers' memory does not grow by it."""
    before = _worker_rss(service)
    port = int(service.base.rsplit(":", 1)[1])
    cut_off = False
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        try:
            sock.sendall(b"GET /cds-services HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ")
            for _ in range(256):
                sock.sendall(b"a" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            cut_off = True
        if not cut_off:
            # All of it was taken: the server must answer 431 now, not wait for more.
            try:
                answer = sock.recv(200)
            except ConnectionResetError:
                cut_off = True
            except TimeoutError:
                answer = b"(no answer: still reading the header)"
    assert cut_off or answer.startswith(b"HTTP/1.1 431"), answer
    assert _worker_rss(service) - before < 16 * 1024 * 1024
    assert service.client.get("/cds-services").status_code == 401  # still serving


@pytest.mark.slow
def test_slow_loris_cannot_crowd_out_a_call(service: Service, engine: Engine) -> None:
    """120 connections sending headers slowly (2 workers x 40 allowed): a real call is
    answered, and each slow connection is closed (oldest first, or after 2 s)."""
    port = int(service.base.rsplit(":", 1)[1])
    slow = []
    for _ in range(120):
        sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        sock.sendall(b"POST /cds-services HTTP/1.1\r\nHost: x\r\n")
        slow.append(sock)
    try:
        with httpx.Client(base_url=service.base, timeout=20) as fresh:
            path = PATH
            response = fresh.post(path, json=hook_request(engine, ROUTINE_FINDINGS),
                                  headers=service.auth(path))
        assert response.status_code == 200
        open_ = list(slow)
        for _ in range(100):  # bounded: each round waits at most 0.3 s
            readable, _, _ = select.select(open_, [], [], 0.3)
            for sock in readable:
                try:
                    data = sock.recv(100)
                except OSError:
                    data = b""
                if not data:
                    open_.remove(sock)
            if not open_:
                break
        assert open_ == []
    finally:
        for sock in slow:
            sock.close()


def _bad_links(engine: Engine, n: int) -> dict[str, Any]:
    body = hook_request(engine, DVT_FINDINGS)
    response = body["prefetch"]["questionnaireResponse"]["entry"][0]["resource"]
    response["item"] = [{"linkId": f"no.such.question.{i}", "answer": [{"valueBoolean": True}]}
                        for i in range(n)]
    return body


def test_flood_of_bad_answers_is_capped_and_off_the_loop(service: Service,
                                                         engine: Engine) -> None:
    """Two calls with 6,000 bad linkIds each: both answered (the warning card), and so is a
    valid call made while they run."""
    flood = json.dumps(_bad_links(engine, 6000)).encode()
    with ThreadPoolExecutor(max_workers=3) as pool:
        bad = [pool.submit(post_raw, service, flood) for _ in range(2)]
        good = pool.submit(service.call, hook_request(engine, ROUTINE_FINDINGS))
        assert good.result().status_code == 200
        for future in bad:
            [card] = cards(future.result())
            assert card["summary"] == "Knee triage unavailable: assess manually."


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_numeric_string_exp_is_401(service: Service, engine: Engine) -> None:
    """exp as a string of digits (PyJWT would take it) is refused with 401, not a 500."""
    now = int(time.time())
    token = service.token(PATH, exp=str(now + 200), iat=now)
    response = service.client.post(PATH, json=hook_request(engine, ROUTINE_FINDINGS),
                                   headers={"Authorization": "Bearer " + token})
    assert response.status_code == 401


def test_deeply_nested_token_is_401(service: Service) -> None:
    """A token whose payload nests 4,000 levels deep: 401, not a RecursionError 500."""
    head = _b64(json.dumps({"alg": "ES384", "kid": "ec-1", "typ": "JWT"}).encode())
    token = f"{head}.{_b64(b'[' * 4000)}.{_b64(b'x' * 96)}"
    response = service.client.get("/cds-services", headers={"Authorization": "Bearer " + token})
    assert response.status_code == 401


@pytest.mark.parametrize(("content", "why"), [
    (b'{"hook": "patient-view", "hook": "order-sign"}', "more than once"),
    (b"[" * 100_000 + b"]" * 100_000, "nested"),
    (b'{"hook": "patient-view", "x": NaN}', "NaN"),
    (b'{"hook": "patient-view", "x": -Infinity}', "Infinity"),
], ids=["duplicate key", "deep nesting", "NaN", "Infinity"])
def test_json_read_like_the_cli(service: Service, content: bytes, why: str) -> None:
    """Duplicate keys, NaN, Infinity and deep nesting: 400 saying so, as the CLI refuses them."""
    response = post_raw(service, content)
    assert response.status_code == 400
    assert why in response.json()["issue"][0]["diagnostics"]


def test_caps_on_ids_and_feedback(service: Service, engine: Engine) -> None:
    """A 300-character jti or hookInstance, 51 feedback items, a 3,000-character comment:
    each refused."""
    long_jti = service.token(PATH, jti="j" * 300)
    response = service.client.post(PATH, json=hook_request(engine, ROUTINE_FINDINGS),
                                   headers={"Authorization": "Bearer " + long_jti})
    assert response.status_code == 401
    body = hook_request(engine, ROUTINE_FINDINGS, hook_instance="h" * 300)
    assert service.call(body).status_code == 400
    [card] = cards(service.call(hook_request(engine, DVT_FINDINGS)))
    many = [{"card": card["uuid"], "outcome": "accepted"}] * 51
    assert _feedback(service, many).status_code == 400
    wordy = {"card": card["uuid"], "outcome": "overridden",
             "overrideReason": {"userComment": "x" * 3000}}
    assert _feedback(service, [wordy]).status_code == 400


# --- 6. Secure configuration ----------------------------------------------------------------

def test_store_and_wal_are_private(service: Service, engine: Engine) -> None:
    """The SQLite store and its WAL are readable and writable by their owner only."""
    cards(service.call(hook_request(engine, DVT_FINDINGS)))
    store = service.config.parent / "store.sqlite"
    files = [store, Path(f"{store}-wal")]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_feedback_for_a_card_not_issued_to_the_caller_is_refused(service: Service,
                                                                  engine: Engine) -> None:
    """A card issued to one EHR cannot get feedback from another, nor can an unknown uuid."""
    [card] = cards(service.call(hook_request(engine, DVT_FINDINGS)))
    item = {"card": card["uuid"], "outcome": "accepted"}
    other = _feedback(service, [item], iss=OOB_ISSUER, tenant=TENANT, header={"jku": None})
    assert other.status_code == 400
    assert "not issued" in other.text or "no card" in other.text
    unknown = _feedback(service, [{"card": str(uuid.uuid4()), "outcome": "accepted"}])
    assert unknown.status_code == 400
    assert _feedback(service, [item]).status_code == 200


def test_feedback_report_escapes_control_characters(service: Service, engine: Engine) -> None:
    """An escape sequence in a comment is printed as text by `kneerules feedback`."""
    [card] = cards(service.call(hook_request(engine, DVT_FINDINGS)))
    comment = "fine\x1b[2J\x1b[1A\rROUTINE\x07"
    response = _feedback(service, [{"card": card["uuid"], "outcome": "overridden",
                                    "overrideReason": {"userComment": comment}}])
    assert response.status_code == 200
    report = _report(service)
    assert "\x1b" not in report
    assert "\x07" not in report
    assert "\r" not in report
    assert '"fine\\x1b[2J\\x1b[1A\\rROUTINE\\x07"' in report


BASE = """\
public_url: http://127.0.0.1:8080
store: {store}
security:
  issuers:
    - iss: https://ehr.example.org
      jwks_url: https://ehr.example.org/jwks.json
"""


@pytest.mark.parametrize(("change", "message"), [
    ("store: ':memory:'\nworkers: 2\n", '":memory:" with 2 workers'),
    ("security:\n  leeway_seconds: 7200\n  jti_retention_seconds: 3600\n  issuers: "
     "[{iss: x, jwks_url: 'https://x/j'}]\n", "longer than the jti retention"),
    ("cors_origins: ['*']\n", "wildcard"),
    ("security:\n  issuers: [{iss: x, jwks_url: 'http://keys.example.org/j'}]\n",
     "plain http"),
    ("security:\n  max_lifetime_seconds: 7200\n  issuers: [{iss: x, jwks_url: 'https://x/j'}]\n",
     "over an hour"),
    ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
     "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n", "aliases"),
], ids=["memory store, 2 workers", "leeway over jti retention", "CORS *", "http key set",
        "lifetime over an hour", "alias bomb"])
def test_insecure_configuration_refuses_to_start(tmp_path: Path, change: str,
                                                 message: str) -> None:
    """`kneerules serve` exits 1 with a clear message on each insecure setting."""
    text = BASE.format(store=tmp_path / "s.sqlite")
    keys = {line.split(":")[0] for line in change.splitlines() if not line.startswith(" ")}
    kept = [block for block in re.split(r"\n(?=\S)", text) if block.split(":")[0] not in keys]
    config = tmp_path / "service.yaml"
    config.write_text("\n".join(kept).rstrip("\n") + "\n" + change)
    done = subprocess.run([KNEERULES, "serve", "--config", str(config), "--port", "0"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


# --- 7. Operable ----------------------------------------------------------------------------

@pytest.fixture
def inline_keys_service(tmp_path: Path, keys: Keys, key_sets: KeySetServer
                        ) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    """`kneerules serve --log-level info` with two workers on a free loopback port; the
    issuers' keys are in the configuration (no jku, no jwks_url); its output to a file."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    jwks = tmp_path / "keys.json"
    jwks.write_text(json.dumps({"keys": [keys.ec_jwk]}))
    config = tmp_path / "service.yaml"
    config.write_text(f"""\
public_url: http://127.0.0.1:{port}
workers: 2
hooks: [patient-view]
store: {tmp_path / 'store.sqlite'}
security:
  issuers:
    - iss: {ISSUER}
      jwks_file: keys.json
    - iss: https://inline.example.org
      jwks: {json.dumps({"keys": [keys.ec_jwk]})}
""")
    with serving(config, tmp_path / "serve.log", "--port", str(port)) as (base, process):
        yield base, process, tmp_path / "serve.log"


_FAILING_PLUGIN = """\
from kneerules.hookspecs import hookimpl


class FailingAtEvaluation:
    name = "failing_plugin"

    @hookimpl
    def kneerules_case_facts(self, case, facts):
        raise RuntimeError("lookup table missing")


plugin = FailingAtEvaluation()
"""


@pytest.mark.slow
def test_engine_failure_is_the_unavailable_card_with_200(tmp_path: Path, service: Service,
                                                         engine: Engine) -> None:
    """A plugin failing inside the running service: 'assess manually' with HTTP 200 (the
    sandbox shows nothing, "All clear", for any other status), never a routine card."""
    site = tmp_path / "site"
    info = site / "failing_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: failing-plugin\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text("[kneerules]\nfailing = failing_mod:plugin\n")
    (site / "failing_mod.py").write_text(_FAILING_PLUGIN)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "keys.json").write_text(json.dumps({"keys": [service.keys.ec_jwk]}))
    config = tmp_path / "service.yaml"
    config.write_text(f"public_url: http://127.0.0.1:{port}\nworkers: 2\n"
                      f"store: {tmp_path / 'store.sqlite'}\nsecurity:\n  issuers:\n"
                      f"    - iss: {ISSUER}\n      jwks_file: keys.json\n")
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    with serving(config, tmp_path / "serve.log", "--port", str(port),
                 env={"PYTHONPATH": path}) as (base, _):
        now = int(time.time())
        token = service.signer.sign({"alg": "ES384", "typ": "JWT", "kid": "ec-1"},
                                    {"iss": ISSUER, "aud": base + PATH, "iat": now,
                                     "exp": now + 120, "jti": str(uuid.uuid4())},
                                    service.keys.ec_pem)
        response = httpx.post(base + PATH, json=hook_request(engine, ROUTINE_FINDINGS),
                              headers={"Authorization": "Bearer " + token}, timeout=30)
    [card] = cards(response)
    assert card["summary"] == "Knee triage unavailable: assess manually."
    assert card["indicator"] == "warning"
    assert "the rules engine failed" in card["detail"]


def test_serve_prints_where_it_listens_and_logs_401_reasons(
        inline_keys_service: tuple[str, subprocess.Popen[str], Path]) -> None:
    """The address and each service URL are printed; a refused call's reason is in the
    kneerules.service log at --log-level info."""
    base, _, log = inline_keys_service
    assert httpx.get(base + "/cds-services", timeout=10).status_code == 401
    for _ in range(100):  # the log line is written by the worker: bounded wait for it
        if "401 GET /cds-services: no bearer token" in log.read_text():
            break
        time.sleep(0.1)
    text = log.read_text()
    # hooks: [patient-view] in its configuration: only that service is offered.
    assert f"services: {base}/cds-services, {base}{PATH}\n" in text
    assert "kneerules.service: 401 GET /cds-services: no bearer token" in text


def test_keys_inline_or_from_a_local_file(
        inline_keys_service: tuple[str, subprocess.Popen[str], Path], service: Service,
        engine: Engine) -> None:
    """Tokens verify against keys given inline or in a local JWKS file, never fetched, even
    when they name a jku (as the CDS Hooks sandbox's always does); `hooks:` chose the one
    service discovery offers."""
    base, _, _ = inline_keys_service
    before = len(service.key_sets.hits)
    unreachable = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
    for iss, jku in ((ISSUER, None), ("https://inline.example.org", None),
                     ("https://inline.example.org", unreachable)):
        now = int(time.time())
        header = {"alg": "ES384", "typ": "JWT", "kid": "ec-1", **({"jku": jku} if jku else {})}
        claims = {"iss": iss, "aud": base + PATH, "iat": now, "exp": now + 120,
                  "jti": str(uuid.uuid4())}
        token = service.signer.sign(header, claims, service.keys.ec_pem)
        response = httpx.post(base + PATH, json=hook_request(engine, ROUTINE_FINDINGS),
                              headers={"Authorization": "Bearer " + token}, timeout=30)
        assert response.status_code == 200, response.text
    assert service.key_sets.hits[before:] == []  # nothing fetched
    now = int(time.time())
    token = service.signer.sign({"alg": "ES384", "typ": "JWT", "kid": "ec-1"},
                                {"iss": ISSUER, "aud": base + "/cds-services", "iat": now,
                                 "exp": now + 120, "jti": str(uuid.uuid4())},
                                service.keys.ec_pem)
    offered = httpx.get(base + "/cds-services", headers={"Authorization": "Bearer " + token},
                        timeout=30).json()["services"]
    assert [(s["hook"], s["id"]) for s in offered] == [("patient-view", SERVICE_ID)]



def _read_response(sock: socket.socket) -> bytes:
    """One HTTP response's status line and headers (and its body, by content-length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head


def test_a_body_left_unread_is_not_counted_as_the_next_requests_headers(
        service: Service) -> None:
    """A refused call answered before its 40 KB body arrives, then a plain GET on the same
    kept-alive connection: the GET gets its own answer (401), never a 431 for headers it
    did not send (the body's bytes counted as the next request's headers)."""
    port = int(service.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: 40000\r\n\r\n".encode())
        first = _read_response(sock)
        sock.sendall(b" " * 40000)
        sock.sendall(b"GET /cds-services HTTP/1.1\r\nHost: x\r\n\r\n")
        second = _read_response(sock) if first.startswith(b"HTTP/1.1 401") else b""
    assert first.startswith(b"HTTP/1.1 401"), first
    assert second.startswith(b"HTTP/1.1 401"), second
