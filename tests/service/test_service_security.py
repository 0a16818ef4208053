"""Signed requests only: tokens from jsrsasign (as the CDS Hooks sandbox signs them) are
accepted, and each way a token can be wrong is a bare 401."""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import OOB_ISSUER, SERVICE_ID, TENANT, Service
from hook_requests import ROUTINE_FINDINGS, hook_request

from kneerules import Engine
from kneerules.service.config import load_config
from kneerules.service.security import Unauthorized, Verifier
from kneerules.service.store import Store
from tests.service.cardcheck import check_response

PATH = f"/cds-services/{SERVICE_ID}"


def post(service: Service, engine: Engine, token: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = "Bearer " + token
    response = service.client.post(
        PATH, content=json.dumps(hook_request(engine, ROUTINE_FINDINGS)), headers=headers)
    if response.status_code == 200:
        assert check_response(response.json()) == []
    return response


@pytest.mark.parametrize(("alg", "header"), [
    ("ES384", {}),
    ("RS384", {}),
])
def test_sandbox_signed_token_is_accepted(service: Service, engine: Engine, alg: str,
                                          header: dict[str, Any]) -> None:
    """ES384 and RS384 tokens with a jku on the allow-list are accepted."""
    response = post(service, engine, service.token(PATH, alg=alg, header=header))
    assert response.status_code == 200, response.text
    assert response.json()["cards"][0]["indicator"] == "info"


def test_out_of_band_key_set_and_tenant(service: Service, engine: Engine) -> None:
    """An issuer without jku is checked against its configured key set and tenant list."""
    good = service.token(PATH, header={"jku": None}, iss=OOB_ISSUER, tenant=TENANT)
    assert post(service, engine, good).status_code == 200
    wrong = service.token(PATH, header={"jku": None}, iss=OOB_ISSUER, tenant="clinic-b")
    assert post(service, engine, wrong).status_code == 401
    none = service.token(PATH, header={"jku": None}, iss=OOB_ISSUER)
    assert post(service, engine, none).status_code == 401


def _refusal(service: Service, tamper: Callable[[str], str], name: str) -> str | None:
    now = int(time.time())
    attacker = service.key_sets.url("/attacker.json")
    tokens: dict[str, Callable[[], str | None]] = {
        "no token": lambda: None,
        "alg none": lambda: service.token(PATH, alg="none", header={"kid": "ec-1"}),
        "HS256, public key as secret": lambda: service.token(
            PATH, alg="HS256", key={"utf8": service.keys.ec_public_pem}),
        "expired": lambda: service.token(PATH, iat=now - 400, exp=now - 200),
        "not yet valid": lambda: service.token(PATH, nbf=now + 200, exp=now + 280),
        "issued in the future": lambda: service.token(PATH, iat=now + 200, exp=now + 280),
        "lifetime too long": lambda: service.token(PATH, exp=now + 3600),
        "no exp": lambda: service.token(PATH, exp=None),
        "no jti": lambda: service.token(PATH, jti=None),
        "wrong aud": lambda: service.token(PATH, aud=service.base + "/cds-services/other"),
        "aud of another host": lambda: service.token(PATH, aud="https://evil.example.org" + PATH),
        "unknown iss": lambda: service.token(PATH, iss="https://unknown-ehr.example.org"),
        "jku not on the allow-list": lambda: service.token(PATH, header={"jku": attacker}),
        "unknown kid": lambda: service.token(PATH, header={"kid": "ec-999"}),
        "no kid": lambda: service.token(PATH, header={"kid": None}),
        "key of the wrong type for alg": lambda: service.token(
            PATH, alg="RS384", header={"kid": "ec-1", "jku": service.key_sets.url("/ec.json")}),
        "tampered payload": lambda: tamper(service.token(PATH)),
        "not a JWT": lambda: "not.a.jwt",
    }
    return tokens[name]()


REFUSALS = ["no token", "alg none", "HS256, public key as secret", "expired", "not yet valid",
            "issued in the future", "lifetime too long", "no exp", "no jti", "wrong aud",
            "aud of another host", "unknown iss", "jku not on the allow-list", "unknown kid",
            "no kid", "key of the wrong type for alg", "tampered payload", "not a JWT"]


@pytest.mark.parametrize("refusal", REFUSALS)
def test_refused_token_is_a_bare_401(service: Service, engine: Engine,
                                     tamper: Callable[[str], str], refusal: str) -> None:
    """Each kind of bad token is refused with a 401 that says nothing more."""
    token = _refusal(service, tamper, refusal)
    response = post(service, engine, token)
    assert response.status_code == 401
    assert response.content == b""
    assert response.headers["www-authenticate"] == "Bearer"


REASONS = {
    "no token": "no bearer token", "alg none": "alg 'none' is not accepted",
    "HS256, public key as secret": "alg 'HS256' is not accepted",
    "expired": "ExpiredSignatureError", "not yet valid": "ImmatureSignatureError",
    "issued in the future": "ImmatureSignatureError", "lifetime too long": "lifetime 3600s",
    "no exp": "MissingRequiredClaimError('exp')", "no jti": "MissingRequiredClaimError('jti')",
    "wrong aud": "InvalidAudienceError", "aud of another host": "InvalidAudienceError",
    "unknown iss": "unknown iss", "jku not on the allow-list": "is not on the allow-list",
    "unknown kid": "unknown kid 'ec-999'", "no kid": "no kid",
    "key of the wrong type for alg": "does not fit RS384",
    "tampered payload": "InvalidSignatureError", "not a JWT": "malformed token",
}


@pytest.mark.parametrize("refusal", REFUSALS)
def test_each_refusal_has_its_own_reason(service: Service, tamper: Callable[[str], str],
                                         tmp_path: Path, refusal: str) -> None:
    """The same tokens, checked in-process, fail the check meant for them (and log why)."""
    config = load_config(service.config)
    verifier = Verifier(config.security, Store(str(tmp_path / "store.sqlite")))
    token = _refusal(service, tamper, refusal)
    with pytest.raises(Unauthorized) as refused:
        verifier.verify(None if token is None else "Bearer " + token, service.base + PATH)
    assert REASONS[refusal] in str(refused.value)


def test_jku_off_the_allow_list_is_never_fetched(service: Service, engine: Engine) -> None:
    """A jku that is not on the issuer's allow-list is refused before anything is fetched."""
    before = len(service.key_sets.hits)
    token = service.token(PATH, header={"jku": service.key_sets.url("/attacker.json")})
    assert post(service, engine, token).status_code == 401
    unknown = service.token(PATH, iss="https://unknown-ehr.example.org",
                            header={"jku": service.key_sets.url("/attacker.json")})
    assert post(service, engine, unknown).status_code == 401
    assert "/attacker.json" not in service.key_sets.hits[before:]


def test_discovery_and_feedback_need_a_token(service: Service, engine: Engine) -> None:
    """Discovery and feedback are refused without a token, or with one for another endpoint."""
    assert service.client.get("/cds-services").status_code == 401
    feedback = PATH + "/feedback"
    [card] = post(service, engine, service.token(PATH)).json()["cards"]
    body = {"feedback": [{"card": card["uuid"], "outcome": "accepted"}]}
    assert service.client.post(feedback, json=body).status_code == 401
    # A token for the call endpoint is not one for the feedback endpoint.
    assert service.client.post(feedback, json=body,
                               headers=service.auth(PATH)).status_code == 401
    assert service.client.post(feedback, json=body,
                               headers=service.auth(feedback)).status_code == 200


def test_replayed_jti_is_refused(service: Service, engine: Engine) -> None:
    """A token used once is refused the second time."""
    token = service.token(PATH)
    assert post(service, engine, token).status_code == 200
    assert post(service, engine, token).status_code == 401


# --- Replay across worker processes ---------------------------------------------------------

def _socket_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server side of a loopback TCP connection (from /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == server_port and \
                int(remote.split(":")[1], 16) == client_port:
            return fields[9]
    return None


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _worker_of(connection: http.client.HTTPConnection, server_port: int,
               workers: list[int]) -> int | None:
    assert connection.sock is not None
    inode = _socket_inode(server_port, connection.sock.getsockname()[1])
    for pid in workers:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
        except OSError:
            continue
    return None


def _open_on_worker(service: Service, port: int, workers: list[int], wanted: Callable[[int], bool]
                    ) -> tuple[http.client.HTTPConnection, int]:
    """A kept-alive connection that a worker satisfying ``wanted`` has accepted."""
    for _ in range(200):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        connection.request("GET", "/cds-services",
                           headers={"Authorization": "Bearer " + service.token("/cds-services")})
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 200
        pid = _worker_of(connection, port, workers)
        if pid is not None and wanted(pid):
            return connection, pid
        connection.close()
    raise AssertionError("no connection reached the wanted worker in 200 tries")


def test_replay_is_refused_by_another_worker(service: Service, engine: Engine) -> None:
    """A token accepted by one worker process is refused when replayed to the other one."""
    workers = _children(service.process.pid)
    assert len(workers) >= 2, workers  # the two workers (and multiprocessing's helper)
    port = int(service.base.rsplit(":", 1)[1])
    first, first_pid = _open_on_worker(service, port, workers, lambda pid: True)
    second, second_pid = _open_on_worker(service, port, workers, lambda pid: pid != first_pid)
    # Never reconnect: each request goes over the connection its worker accepted (a new
    # connection could land on the other worker). Checked up front, not after the 401, when
    # the worker may already have closed its side.
    first.auto_open = second.auto_open = 0
    try:
        token = service.token(PATH)
        body = json.dumps(hook_request(engine, ROUTINE_FINDINGS))
        headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
        first.request("POST", PATH, body=body, headers=headers)
        accepted = first.getresponse()
        assert accepted.status == 200, accepted.read()
        accepted.read()
        second.request("POST", PATH, body=body, headers=headers)
        replayed = second.getresponse()
        replayed.read()
        assert replayed.status == 401
        assert second_pid != first_pid
    finally:  # a failure must not leave sockets for the next test's warnings check
        first.close()
        second.close()


def test_unusable_jti_store_fails_closed(service: Service, tmp_path: Path) -> None:
    """When the replay store cannot be written, a valid token is refused, not let through."""
    config = load_config(service.config)
    verifier = Verifier(config.security, Store(str(tmp_path / "missing-folder" / "s.sqlite")))
    with pytest.raises(Unauthorized, match="jti store is unavailable"):
        verifier.verify("Bearer " + service.token(PATH), service.base + PATH)
    working = Verifier(config.security, Store(str(tmp_path / "s.sqlite")))
    assert working.verify("Bearer " + service.token(PATH), service.base + PATH).iss
