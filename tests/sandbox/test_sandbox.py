"""The official CDS Hooks sandbox (github.com/cds-hooks/sandbox) shows the kneerules card.

`make sandbox-test SANDBOX_SRC=<a checkout of cds-hooks/sandbox>`: the sandbox is built
with npm (`npm ci`, `npm run build`, in that checkout; none of its code is in this
repository), served over loopback beside a small local FHIR R4 server holding one patient
with a DVT picture, and `kneerules serve` (two workers) is configured with the
sandbox's public key (read from the checkout's keys/jwk-keypair.json, its private part
dropped). Debian's headless Chromium, driven by selenium through /usr/bin/chromedriver,
opens patient-view; the kneerules card must be rendered. Skipped, saying why, without
SANDBOX_SRC, npm, Chromium, chromedriver or selenium.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from serving import serving

from kneerules import Engine
from kneerules.fhir.questionnaire import case_to_response

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")
SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
PATIENT = "knee-1"
# Policy v3: a suspected DVT is the same-day pathway (urgent), not an emergency.
SUMMARY = "Urgent knee triage: Deep vein thrombosis likely"
DVT_CASE = {"format": "kneerules.case/1", "side": "left", "onset": "gradual",
            "findings": {"pain.behind_knee": True, "pain.calf": True,
                         "sign.calf_swelling": True, "sign.redness": True,
                         "sign.warmth": True, "risk.long_haul_travel": True}}


def _source() -> Path:
    """The sandbox checkout, or a skip saying what is missing."""
    given = os.environ.get("SANDBOX_SRC")
    if not given:
        pytest.skip("SANDBOX_SRC is not set: make sandbox-test SANDBOX_SRC=<a checkout of "
                    "cds-hooks/sandbox>")
    source = Path(given).resolve()
    if not (source / "package.json").is_file() or not (source / "keys").is_dir():
        pytest.skip(f"SANDBOX_SRC={given} is not a checkout of cds-hooks/sandbox")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            pytest.skip(f"{path} is missing: apt-get install chromium chromium-driver")
    if shutil.which("npm") is None:
        pytest.skip("npm is missing: the sandbox is built with npm")
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("selenium is missing: pip install '.[test]'")
    return source


def _build(source: Path) -> Path:
    """`npm ci` (once) and `npm run build` in the checkout; its build/ folder."""
    if not (source / "node_modules").is_dir():
        # --ignore-scripts: no install script may download anything (a browser, a binary).
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                       cwd=source, check=True, timeout=1800, capture_output=True)
    bundle = source / "build" / "app.bundle.js"
    if not bundle.exists():
        done = subprocess.run(["npm", "run", "build"], cwd=source, timeout=1800,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (source / "build" / "index.html").is_file()
    return source / "build"


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the browser closing a connection early is not news


def _serve(handler: Any) -> tuple[ThreadingHTTPServer, str]:
    server = _Quiet(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _records(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """The patient's record by resource type: the Patient and their kneerules answers."""
    now = datetime.now(UTC)
    response = case_to_response(engine.parse(DVT_CASE), engine.vocabulary,
                                subject=f"Patient/{PATIENT}",
                                authored=_iso(now - timedelta(hours=1)))
    response.update(id="qr-1", meta={"versionId": "1"})
    patient = {"resourceType": "Patient", "id": PATIENT, "gender": "female",
               "birthDate": "1961-04-02", "name": [{"family": "Kneerules",
                                                    "given": ["Sandbox"]}]}
    return {"Patient": [patient], "QuestionnaireResponse": [response]}


def fhir_server(records: dict[str, list[dict[str, Any]]]) -> tuple[ThreadingHTTPServer, str]:
    """A small open FHIR R4 server: metadata, reads and searches (GET or POST _search) by
    resource type, every answer with CORS for the sandbox's page."""
    base: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: Any = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Headers", "*")
            self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _bundle(self, kind: str) -> dict[str, Any]:
            found = records.get(kind, [])
            return {"resourceType": "Bundle", "type": "searchset", "total": len(found),
                    "entry": [{"fullUrl": f"{base[0]}/{kind}/{r['id']}", "resource": r,
                               "search": {"mode": "match"}} for r in found]}

        def _answer(self) -> None:
            parts = [p for p in urlsplit(self.path).path.split("/") if p]
            if parts == ["metadata"]:
                self._send(200, {"resourceType": "CapabilityStatement", "status": "active",
                                 "kind": "instance", "fhirVersion": "4.0.1",
                                 "format": ["json"], "date": "2026-01-01"})
            elif len(parts) == 1 or (len(parts) == 2 and parts[1] == "_search"):
                self._send(200, self._bundle(parts[0]))
            elif len(parts) == 2:
                match = [r for r in records.get(parts[0], []) if r["id"] == parts[1]]
                self._send(200, match[0]) if match else self._send(404, {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "not-found"}]})
            else:
                self._send(404)

        def do_OPTIONS(self) -> None:
            self._send(204)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._answer()

        def log_message(self, *args: Any) -> None:
            pass

    server, url = _serve(Handler)
    base.append(url)
    return server, url


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    """The built sandbox, served over loopback."""
    build = _build(_source())
    server, url = _serve(partial(_StaticQuiet, directory=str(build)))
    yield url
    server.shutdown()
    server.server_close()


class _StaticQuiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def kneerules_service(sandbox: str) -> Iterator[str]:
    """`kneerules serve`, two workers, trusting the sandbox's public key (pinned: its jku
    names the public sandbox's host, never fetched), CORS for the served sandbox."""
    source = _source()
    pair = json.loads((source / "keys" / "jwk-keypair.json").read_text())
    public = {"keys": [{k: v for k, v in key.items() if k != "d"} for key in pair["keys"]]}
    folder = Path(tempfile.mkdtemp(prefix="kneerules-sandbox-"))
    (folder / "sandbox-jwks.json").write_text(json.dumps(public))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    (folder / "service.yaml").write_text(f"""\
public_url: {base}
port: {port}
workers: 2
store: store.sqlite
cors_origins: ["{sandbox}"]
security:
  issuers:
    - iss: {SANDBOX_ISSUER}
      jwks_file: sandbox-jwks.json
""")
    log = folder / "serve.log"
    try:
        with serving(folder / "service.yaml", log) as (listening, _):
            assert listening == base
            yield base
    finally:
        print(log.read_text()[-4000:])
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through its chromedriver, with a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    profile = tempfile.mkdtemp(prefix="kneerules-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=DriverService(executable_path=str(CHROMEDRIVER)),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_sandbox_renders_the_kneerules_card(sandbox: str, kneerules_service: str,
                                            browser: Any) -> None:
    """patient-view in the real sandbox: the kneerules DVT card is on the page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    fhir, fhir_url = fhir_server(_records(Engine()))
    try:
        query = urlencode({"fhirServiceUrl": fhir_url, "patientId": PATIENT,
                           "hook": "patient-view",
                           "serviceDiscoveryURL": kneerules_service + "/cds-services"})
        browser.get(f"{sandbox}/?{query}")
        WebDriverWait(browser, 90).until(
            lambda driver: SUMMARY in driver.find_element(By.TAG_NAME, "body").text)
        text = browser.find_element(By.TAG_NAME, "body").text
    finally:
        fhir.shutdown()
        fhir.server_close()
    assert SUMMARY in text
    assert "Knee triage unavailable" not in text
    assert "All clear" not in text
