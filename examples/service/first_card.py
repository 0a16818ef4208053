"""From nothing to a first kneerules card (docs/service.md walks through it).

    python examples/service/first_card.py keys      # a key pair, and kneerules' config
    kneerules serve --config first-card/service.yaml --log-level info
    python examples/service/first_card.py call      # signed request -> the card

The EHR side is played here: it signs the token (ES384, as the CDS Hooks sandbox does)
with its private key; kneerules holds only the public key, in a local JWKS file.
Needs kneerules with its service extra (`pip install '.[service]'` from a clone: PyJWT and
cryptography come with it); the call itself is plain urllib.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

FOLDER = Path("first-card")
PORT = 8080
BASE = f"http://127.0.0.1:{PORT}"
ISSUER = "https://ehr.example.org"
SERVICE = "/cds-services/kneerules-knee-triage-patient-view"


def keys(folder: Path = FOLDER, port: int = PORT) -> None:
    """An EC P-384 key pair: the private key for the EHR, the public one as a JWKS for
    kneerules; and the service's configuration naming it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    folder.mkdir(exist_ok=True)
    private = ec.generate_private_key(ec.SECP384R1())
    (folder / "ehr-private.pem").write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (folder / "ehr-private.pem").chmod(0o600)
    public = {**ECAlgorithm.to_jwk(private.public_key(), as_dict=True),
              "kid": "ehr-key-1", "alg": "ES384", "use": "sig"}
    (folder / "ehr-jwks.json").write_text(json.dumps({"keys": [public]}, indent=2))
    (folder / "service.yaml").write_text(f"""\
public_url: http://127.0.0.1:{port}
port: {port}
workers: 2
store: kneerules-service.sqlite
security:
  issuers:
    - iss: {ISSUER}
      jwks_file: ehr-jwks.json
""")
    print(f"wrote {folder}/service.yaml, {folder}/ehr-jwks.json and {folder}/ehr-private.pem")


def token(audience: str, folder: Path = FOLDER) -> str:
    """The bearer token a CDS Hooks client sends: iss, aud (the URL called), iat, exp, jti."""
    import jwt

    now = int(time.time())
    claims = {"iss": ISSUER, "aud": audience, "iat": now, "exp": now + 300,
              "jti": str(uuid.uuid4())}
    key = (folder / "ehr-private.pem").read_bytes()
    return jwt.encode(claims, key, algorithm="ES384", headers={"kid": "ehr-key-1"})


def request_body() -> dict[str, object]:
    """A patient-view call for Patient/example: the Patient and a kneerules
    QuestionnaireResponse (what the patient reported); the other prefetch keys are empty."""
    authored = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 600))
    patient = {"resourceType": "Patient", "id": "example", "gender": "female",
               "birthDate": "1961-04-02"}
    response = {
        "resourceType": "QuestionnaireResponse", "id": "qr-1",
        "questionnaire": "urn:kneerules:fhir:Questionnaire:kneerules",
        "status": "completed", "subject": {"reference": "Patient/example"},
        "authored": authored,
        "item": [
            {"linkId": "side", "answer": [{"valueCoding": {
                "system": "urn:kneerules:fhir:CodeSystem:side", "code": "left"}}]},
            {"linkId": "pain.behind_knee", "answer": [{"valueBoolean": True}]},
            {"linkId": "pain.calf", "answer": [{"valueBoolean": True}]},
            {"linkId": "sign.calf_swelling", "answer": [{"valueBoolean": True}]},
            {"linkId": "sign.redness", "answer": [{"valueBoolean": True}]},
            {"linkId": "risk.long_haul_travel", "answer": [{"valueBoolean": True}]},
        ],
    }
    empty = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": "https://ehr.example.org/fhir",
        "context": {"userId": "Practitioner/1", "patientId": "example"},
        "prefetch": {
            "patient": patient,
            "questionnaireResponse": {"resourceType": "Bundle", "type": "searchset",
                                      "total": 1, "entry": [{"resource": response}]},
            "observations": empty, "conditions": empty, "procedures": empty,
            "medicationRequests": empty, "medicationStatements": empty,
        },
    }


def call(base: str = BASE, folder: Path = FOLDER) -> dict[str, object]:
    """POSTs the request, signed, and prints the cards."""
    import urllib.request

    request = urllib.request.Request(
        base + SERVICE, data=json.dumps(request_body()).encode(), method="POST",
        headers={"Authorization": "Bearer " + token(base + SERVICE, folder),
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:  # an HTTP error raises
        cards: dict[str, object] = json.loads(answer.read())
    print(json.dumps(cards, indent=2))
    return cards


if __name__ == "__main__":
    {"keys": keys, "call": call}[sys.argv[1] if len(sys.argv) > 1 else "call"]()
