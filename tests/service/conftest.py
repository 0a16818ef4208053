"""The real service for the service tests: `kneerules serve` with two uvicorn workers in a
subprocess on a socket the test binds, a second local HTTP server for the key sets, and
tokens signed by jsrsasign 11.1.5 under node, as the reference CDS Hooks sandbox signs them.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from serving import stop

from kneerules import Engine
from tests.service.cardcheck import check_response

HERE = Path(__file__).resolve().parent
SIGNER = HERE / "signer"
ISSUER = "https://ehr.example.org"
OOB_ISSUER = "https://tenant-ehr.example.org"
HANG_ISSUER = "https://hanging-ehr.example.org"
"""An issuer whose key-set server stops answering once ``KeySetServer.hang`` is set."""
TENANT = "clinic-a"
SERVICE_ID = "kneerules-knee-triage-patient-view"
ENCOUNTER_ID = "kneerules-knee-triage-encounter-start"


def _pem(key: Any) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _public_pem(key: Any) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


class Keys:
    """An ES384 and an RS384 key pair, and their public JWKs."""

    def __init__(self) -> None:
        self.ec = ec.generate_private_key(ec.SECP384R1())
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec_pem, self.rsa_pem = _pem(self.ec), _pem(self.rsa)
        self.ec_public_pem = _public_pem(self.ec)
        self.ec_jwk = {**ECAlgorithm.to_jwk(self.ec.public_key(), as_dict=True),
                       "kid": "ec-1", "alg": "ES384", "use": "sig"}
        self.rsa_jwk = {**RSAAlgorithm.to_jwk(self.rsa.public_key(), as_dict=True),
                        "kid": "rsa-1", "alg": "RS384", "use": "sig"}


FHIR_TOKEN = "fhir-access-token-1"


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (the timeout test) is expected, not news


class KeySetServer:
    """The second local server: serves the key sets and remembers every path asked for; under
    /fhir/ it is the EHR's FHIR server, answering searches from ``fhir`` by resource type."""

    def __init__(self, keys: Keys) -> None:
        self.hits: list[str] = []
        self.hang = threading.Event()
        self.released = threading.Event()
        self.fhir: dict[str, Any] = {}
        self.fhir_auth: list[str | None] = []
        sets = {"/ec.json": {"keys": [keys.ec_jwk]}, "/rsa.json": {"keys": [keys.rsa_jwk]},
                "/oob.json": {"keys": [keys.ec_jwk]},
                "/attacker.json": {"keys": [keys.ec_jwk]},
                "/slow.json": {"keys": [keys.ec_jwk]},
                "/hang.json": {"keys": [keys.ec_jwk]},
                "/big.json": {"keys": [keys.ec_jwk] * 400}}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits.append(self.path)
                if self.path.startswith("/fhir/"):
                    owner.fhir_auth.append(self.headers.get("Authorization"))
                    resource_type = self.path[len("/fhir/"):].split("?")[0]
                    authorized = self.headers.get("Authorization") == f"Bearer {FHIR_TOKEN}"
                    answer = owner.fhir.get(resource_type) if authorized else None
                    sets[self.path] = answer  # served below like a key set
                if self.path == "/redirect.json":
                    self.send_response(302)
                    self.send_header("Location", "/ec.json")
                    self.end_headers()
                    return
                if self.path == "/slow.json":
                    time.sleep(1.5)
                if self.path == "/hang.json" and owner.hang.is_set():
                    owner.released.wait(30)  # bounded: the test releases it at its end
                body = sets.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return self.base + path


class Signer:
    """jsrsasign under node, one long-lived process: a JWS per request line."""

    def __init__(self) -> None:
        node = shutil.which("node")
        if node is None or not (SIGNER / "node_modules" / "jsrsasign").is_dir():
            pytest.fail("the jsrsasign signer is not installed: run `make signer`")
        self.process = subprocess.Popen([node, str(SIGNER / "sign.js")], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        self.lock = threading.Lock()

    def sign(self, header: dict[str, Any], payload: dict[str, Any], key: Any) -> str:
        assert self.process.stdin
        assert self.process.stdout
        with self.lock:
            self.process.stdin.write(json.dumps({"header": header, "payload": payload,
                                                 "key": key}) + "\n")
            self.process.stdin.flush()
            answer = json.loads(self.process.stdout.readline())
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return str(answer["token"])

    def close(self) -> None:
        assert self.process.stdin
        assert self.process.stdout
        self.process.stdin.close()  # node exits at the end of its input
        self.process.wait(timeout=10)
        self.process.stdout.close()


class Service:
    """The running service and what a test needs to call it."""

    def __init__(self, base: str, config: Path, process: subprocess.Popen[bytes],
                 keys: Keys, key_sets: KeySetServer, signer: Signer) -> None:
        self.base, self.config, self.process = base, config, process
        self.keys, self.key_sets, self.signer = keys, key_sets, signer
        self.client = httpx.Client(base_url=base, timeout=20)

    def claims(self, path: str, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": "client-1", "aud": self.base + path, "iat": now,
                  "exp": now + 240, "jti": str(uuid.uuid4())}
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, path: str, alg: str = "ES384", header: dict[str, Any] | None = None,
              key: Any = None, **changes: Any) -> str:
        """A token for a call to ``path``, signed by jsrsasign as the sandbox does."""
        kid, jku, pem = {"ES384": ("ec-1", "/ec.json", self.keys.ec_pem),
                         "RS384": ("rsa-1", "/rsa.json", self.keys.rsa_pem)}.get(
                             alg, ("ec-1", "/ec.json", None))
        full = {"alg": alg, "typ": "JWT", "kid": kid, "jku": self.key_sets.url(jku)}
        full.update(header or {})
        full = {k: v for k, v in full.items() if v is not None}
        return self.signer.sign(full, self.claims(path, **changes), key or pem)

    def auth(self, path: str, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": "Bearer " + self.token(path, **kwargs)}

    def call(self, body: Any, service_id: str = SERVICE_ID) -> httpx.Response:
        """POSTs a hook request; every card in the answer must pass the card checker."""
        path = f"/cds-services/{service_id}"
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = self.client.post(path, content=content, headers={
            **self.auth(path), "Content-Type": "application/json"})
        if response.headers.get("content-type") == "application/json":
            assert check_response(response.json()) == [], response.text
        return response


def config_text(public_url: str, key_sets: KeySetServer, store: Path) -> str:
    return f"""\
public_url: {public_url}
workers: 2
store: {store}
cors_origins: ["https://sandbox.example.org"]
security:
  algorithms: [ES384, RS384]
  leeway_seconds: 30
  max_lifetime_seconds: 300
  jwks_timeout_seconds: 2
  jwks_refetch_seconds: 2
  issuers:
    - iss: {ISSUER}
      jku: ["{key_sets.url('/ec.json')}", "{key_sets.url('/rsa.json')}"]
      fhir_servers: ["{key_sets.url('/fhir')}"]
    - iss: {OOB_ISSUER}
      jwks_url: "{key_sets.url('/oob.json')}"
      tenants: [{TENANT}]
    - iss: {HANG_ISSUER}
      jwks_url: "{key_sets.url('/hang.json')}"
  jwks_cache_seconds: 3
limits:
  max_header_bytes: 8192
  header_timeout_seconds: 2
  body_timeout_seconds: 5
  max_connections: 40
"""


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"kneerules serve exited with {process.returncode}")
        try:
            # Unauthenticated: a 401 means a worker is up and answering.
            if httpx.get(base + "/cds-services", timeout=2).status_code == 401:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("kneerules serve did not start within 60 s")


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="session")
def key_sets(keys: Keys) -> Iterator[KeySetServer]:
    server = KeySetServer(keys)
    yield server
    server.released.set()
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture(scope="session")
def signer() -> Iterator[Signer]:
    signing = Signer()
    yield signing
    signing.close()


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine()


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory, keys: Keys, key_sets: KeySetServer,
            signer: Signer) -> Iterator[Service]:
    """`kneerules serve --fd N` with two workers, on a loopback socket bound here."""
    folder = tmp_path_factory.mktemp("service")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = folder / "service.yaml"
    config.write_text(config_text(base, key_sets, folder / "store.sqlite"), encoding="utf-8")
    kneerules = Path(sys.executable).with_name("kneerules")
    log = (folder / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(kneerules), "serve", "--config", str(config), "--fd", str(sock.fileno())],
        pass_fds=(sock.fileno(),), stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    sock.close()  # the service holds its own copy
    try:
        _wait_ready(base, process)
        running = Service(base, config, process, keys, key_sets, signer)
        yield running
        running.client.close()
    finally:
        stop(process)
        log.close()


@pytest.fixture
def tamper() -> Callable[[str], str]:
    """Changes a signed token's payload (the signature left as it was)."""
    def change(token: str) -> str:
        head, payload, signature = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["sub"] = "someone-else"
        raw = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return f"{head}.{raw}.{signature}"
    return change


__all__ = ["ENCOUNTER_ID", "HANG_ISSUER", "ISSUER", "OOB_ISSUER", "SERVICE_ID", "TENANT", "Keys",
           "Service", "jwt"]
