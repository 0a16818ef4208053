"""The FHIR command line: `kneerules eval --fhir`, `kneerules fhir-case`, and the pinned
fetch of the FHIR examples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kneerules.cli.main import main
from kneerules.fhir.questionnaire import QUESTIONNAIRE_URL
from kneerules.knowledge.readers import ReaderError, load_reader

ROOT = Path(__file__).resolve().parent.parent
IPS = ROOT / ".cache" / "fhir" / "hl7.fhir.uv.ips-2.0.0" / "package" / "example"
BUNDLE = str(IPS / "Bundle-bundle-ips-all-sections.json")
R4 = ROOT / ".cache" / "fhir" / "hl7.fhir.r4.examples-4.0.1" / "package"


def _run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def test_eval_fhir_of_a_bundle_without_a_knee_complaint_is_not_triaged() -> None:
    """`kneerules eval --fhir BUNDLE --at T` of the IPS Bundle, which holds no knee pain:
    no triage (it printed a routine one), exit 3, and why (issue 25.6)."""
    result = _run("eval", "--fhir", BUNDLE, "--at", "2024-04-20T00:00:00Z", "--format", "json")
    assert result.exit_code == 3, result.output
    assert "no current posterior-knee complaint to triage" in result.output
    assert '"triage"' not in result.output


def test_eval_fhir_reports_a_refusal_with_its_path() -> None:
    """A multi-patient Bundle is refused on standard error, with the path, exit code 1."""
    result = _run("eval", "--fhir", str(R4 / "Bundle-b248b1b2-1686-4b94-9936-37d7a5f94b51.json"))
    assert result.exit_code == 1
    assert "$.entry[1].resource: a second patient (Patient/2" in result.output


def test_eval_fhir_warns_of_conflicts(tmp_path: Path) -> None:
    """Conflicting records are warned about on standard error and noted in the assessment."""
    site = "http://snomed.info/sct"

    def pain(rid: str, side: str) -> dict[str, Any]:
        return {"resourceType": "Observation", "id": rid, "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
                "effectiveDateTime": "2026-03-01T08:00:00Z", "valueInteger": 6,
                "bodySite": {"coding": [{"system": site, "code": side}]}}

    path = tmp_path / "record.json"
    knee = {"resourceType": "QuestionnaireResponse", "questionnaire": QUESTIONNAIRE_URL,
            "status": "completed", "authored": "2026-03-01T08:00:00Z",
            "item": [{"linkId": "pain.behind_knee", "answer": [{"valueBoolean": True}]}]}
    path.write_text(json.dumps([pain("a", "7771000"), pain("b", "24028007"), knee]))
    result = _run("eval", "--fhir", str(path), "--at", "2026-03-01T12:00:00Z", "--format",
                  "json")
    assert result.exit_code == 0, result.output
    assert "warning: $[0]: conflicting values for side" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--at", "2024-01-01"], "--at is the index time of a FHIR record: use it with --fhir"),
    (["--fhir", "--at", "yesterday"], "expected an ISO 8601 date and time, got 'yesterday'"),
    (["--fhir", "--at", "2024-01-01T10:00"], "give the time zone too"),
])
def test_eval_at_mistakes_are_usage_errors(args: list[str], message: str) -> None:
    """A misused or zone-less --at is a usage error (exit 2) that says what to write."""
    result = _run("eval", BUNDLE, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_fhir_case_prints_case_provenance_and_problems() -> None:
    """`kneerules fhir-case` shows the mapped case and where each value came from."""
    result = _run("fhir-case", BUNDLE, "--at", "2020-01-20T00:00:00Z")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["case"]["findings"] == {"risk.pregnancy": False}
    [pregnancy] = [p for p in printed["provenance"] if p["field"] == "risk.pregnancy"]
    assert pregnancy["rule"] == "fhir.observation.pregnancy-status"
    assert pregnancy["resource_id"] == "f241ac65-5eab-49a0-8b92-7fb263274110"


def test_an_unknown_reader_names_the_extra() -> None:
    """Asking for a reader no integration installed says what to install."""
    with pytest.raises(ReaderError, match=r"pip install '\.\[hl7v2\]' in a clone"):
        load_reader("hl7v2")


@pytest.mark.slow
def test_the_fetch_refuses_a_tarball_whose_hash_differs(tmp_path: Path) -> None:
    """The example fetch checks the pinned sha512: a wrong pin refuses, and keeps nothing."""
    wrong = "sha512-" + "A" * 86 + "=="
    result = subprocess.run([str(ROOT / "tools" / "fetch-fhir-examples.sh"), str(tmp_path),
                             f"hl7.fhir.uv.ips@2.0.0={wrong}"], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 1
    assert "hl7.fhir.uv.ips@2.0.0: integrity sha512-4PWToJ9b" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_questionnaire_without_the_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without fhir.resources, `kneerules questionnaire` says which extra to install."""
    monkeypatch.setitem(sys.modules, "fhir.resources.R4B", None)
    result = _run("questionnaire")
    assert result.exit_code == 1
    assert "this command needs the FHIR extra: pip install '.[fhir]' in a clone" in result.output


def test_strict_mapping_without_the_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """map_fhir(strict=True) without fhir.resources raises an error naming the extra."""
    from kneerules.fhir import map_fhir

    monkeypatch.setitem(sys.modules, "fhir.resources.R4B", None)
    with pytest.raises(ReaderError, match=r"pip install '\.\[fhir\]' in a clone"):
        map_fhir({"resourceType": "Patient", "id": "p"}, strict=True)
