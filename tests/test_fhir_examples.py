"""Real data no one here wrote: the official FHIR R4 and IPS examples map to a valid case or
a precise, located refusal, and their traps do not turn into findings.

`make fhir-examples` (which `make test` runs first) fetches them, pinned and verified."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kneerules import Engine
from kneerules.cases.schema import case_schema
from kneerules.cases.validation import case_data
from kneerules.fhir import FhirError, map_fhir
from kneerules.fhir.elements import clinical_time
from kneerules.fhir.strict import check_resource

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "fhir"
R4 = CACHE / "hl7.fhir.r4.examples-4.0.1" / "package"
IPS = CACHE / "hl7.fhir.uv.ips-2.0.0" / "package" / "example"
TYPES = {"Patient", "Observation", "Condition", "Procedure", "MedicationStatement",
         "MedicationRequest", "QuestionnaireResponse"}
LATE = datetime(2026, 1, 1, tzinfo=UTC)

if not R4.is_dir() or not IPS.is_dir():  # pragma: no cover - a setup mistake, said loudly
    raise RuntimeError(f"the FHIR examples are not in {CACHE}: run `make fhir-examples`")


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _examples() -> Iterator[tuple[str, dict[str, Any]]]:
    for folder in (R4, IPS):
        for path in sorted(folder.glob("*.json")):
            data = _load(path)
            if not isinstance(data, dict):
                continue
            kind = data.get("resourceType")
            entries = data.get("entry", []) if kind == "Bundle" else []
            inside = {e.get("resource", {}).get("resourceType") for e in entries
                      if isinstance(e, Mapping) and isinstance(e.get("resource"), Mapping)}
            if kind in TYPES or inside & TYPES:
                yield f"{folder.parent.name.split('-')[0]}/{path.name}", data


EXAMPLES = dict(_examples())
SINGLE = {name: data for name, data in EXAMPLES.items() if data["resourceType"] != "Bundle"}


def test_the_examples_are_there() -> None:
    """The pinned packages hold the resources this suite is about (a guard on the fetch)."""
    kinds = {data["resourceType"] for data in EXAMPLES.values()}
    assert kinds >= TYPES | {"Bundle"}
    assert len(SINGLE) >= 150


def _index_times(data: Mapping[str, Any]) -> list[datetime]:
    span = clinical_time(data) if data["resourceType"] != "Bundle" else None
    return [LATE] + ([span.start + timedelta(hours=1)] if span is not None else [])


@pytest.fixture(scope="module")
def case_validator(engine: Engine) -> Any:
    """The case JSON Schema of the engine's vocabulary, compiled once."""
    return jsonschema.Draft202012Validator(case_schema(engine.vocabulary))


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_example_maps_or_is_refused_with_its_path(name: str, engine: Engine,
                                                       case_validator: Any) -> None:
    """Every example (at a late index time and just after its own date) maps to a case the
    engine and the case schema accept, or is refused with every problem located inside it."""
    data = EXAMPLES[name]
    for at in _index_times(data):
        try:
            mapped = map_fhir(data, at=at, vocabulary=engine.vocabulary)
        except FhirError as error:
            refused = error.problems
        else:
            refused = ()
            engine.parse(mapped.case)
            case_validator.validate(case_data(mapped.case))
        for problem in refused:
            assert problem.path.startswith("$."), problem
            assert problem.message
        if refused:
            continue
        for record in mapped.provenance:
            assert (record.status == "ignored") == (record.reason is not None), record
            assert record.path.startswith("$")


@pytest.mark.parametrize("name", sorted(SINGLE))
def test_the_fhir_library_reads_each_example_as_r4(name: str) -> None:
    """fhir.resources' R4B models accept every example resource (no R4 field lost or refused)."""
    assert check_resource(SINGLE[name]) == []


def _resource(name: str) -> dict[str, Any]:
    data: dict[str, Any] = _load(R4 / name)
    return data


def test_entered_in_error_temperature_makes_no_fever(engine: Engine) -> None:
    """Observation-f202 (39 °C, entered-in-error) gives no temperature and no fever."""
    observation = _resource("Observation-f202.json")
    at = datetime(2013, 4, 4, 14, tzinfo=UTC)
    mapped = map_fhir(observation, at=at, vocabulary=engine.vocabulary)
    assert "temperature_c" not in mapped.case.measurements
    assert "sign.fever" not in mapped.case.findings
    [record] = mapped.provenance
    assert (record.field, record.status, record.reason) == (
        "temperature_c", "ignored", "entered-in-error")
    assessment = engine.evaluate_fhir(observation, at=at)
    assert not any("fever" in step.rule for step in assessment.trace)


def test_the_same_temperature_when_final_is_read(engine: Engine) -> None:
    """Control for the trap: the very same Observation with status final gives 39 °C."""
    observation = dict(_resource("Observation-f202.json"), status="final")
    mapped = map_fhir(observation, at=datetime(2013, 4, 4, 14, tzinfo=UTC),
                      vocabulary=engine.vocabulary)
    assert mapped.case.measurements["temperature_c"] == 39.0


def test_resolved_fever_condition_makes_no_fever(engine: Engine) -> None:
    """Condition-f201 (a fever, resolved) does not make a fever; the provenance says why."""
    condition = _resource("Condition-f201.json")
    at = datetime(2013, 4, 5, tzinfo=UTC)
    mapped = map_fhir(condition, at=at, vocabulary=engine.vocabulary)
    assert "sign.fever" not in mapped.case.findings
    assert [(p.field, p.reason) for p in mapped.provenance] == [
        ("sign.fever", "clinical status resolved")]
    active = dict(condition, clinicalStatus={"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
        "code": "active"}]})
    assert map_fhir(active, at=at).case.findings == {"sign.fever": True}


IPS_BUNDLE = "Bundle-bundle-ips-all-sections.json"


@pytest.mark.parametrize(("at", "findings", "measurements"), [
    # the pregnancy status (2020-01-10) says "Not pregnant"
    (datetime(2020, 1, 20, tzinfo=UTC), {"risk.pregnancy": False}, {}),
    # the BMI (2024-04-10) is 24.56 kg/m2; no obesity is made of it here
    (datetime(2024, 4, 20, tzinfo=UTC), {}, {"bmi": 24.56}),
    # the total hip replacement (2000-04-28) is major surgery in the last 12 weeks...
    (datetime(2000, 5, 20, tzinfo=UTC), {"risk.recent_surgery": True}, {}),
    # ...and not 24 years later; it is never a knee replacement
    (datetime(2024, 9, 1, tzinfo=UTC), {}, {"bmi": 24.56}),
])
def test_ips_all_sections_maps_as_its_codes_say(at: datetime, findings: dict[str, bool],
                                                measurements: dict[str, float],
                                                engine: Engine) -> None:
    """The IPS all-sections Bundle: pregnancy status, BMI and hip replacement, each at an
    index time in (or out of) its window."""
    mapped = map_fhir(_load(IPS / IPS_BUNDLE), at=at, vocabulary=engine.vocabulary)
    assert dict(mapped.case.findings) == findings
    assert dict(mapped.case.measurements) == measurements
    assert mapped.case.patient is not None
    assert mapped.case.patient.sex == "female"
    assert mapped.problems == ()


def test_ips_hip_replacement_out_of_window_is_said_so() -> None:
    """Years later, the hip replacement is ignored, and the provenance says it is out of window."""
    mapped = map_fhir(_load(IPS / IPS_BUNDLE), at=datetime(2024, 9, 1, tzinfo=UTC))
    [surgery] = [p for p in mapped.provenance if p.field == "risk.recent_surgery"]
    assert (surgery.resource_id, surgery.status) == ("39252", "ignored")
    assert surgery.reason is not None
    assert "outside the time window" in surgery.reason


def test_a_bundle_of_several_patients_is_refused_where_they_are() -> None:
    """The R4 example of several patients is refused, naming each extra patient's entry."""
    with pytest.raises(FhirError) as caught:
        map_fhir(_resource("Bundle-b248b1b2-1686-4b94-9936-37d7a5f94b51.json"), at=LATE)
    assert [p.path for p in caught.value.problems] == [
        f"$.entry[{i}].resource" for i in range(1, 12)]
    assert "a second patient (Patient/2" in caught.value.problems[0].message


def test_references_resolve_against_their_entrys_server() -> None:
    """Bundle-bundle-references: "Patient/23" in an entry from another server is not our
    Patient/23, and a version reference to Patient/45 is Patient/45: both refused."""
    with pytest.raises(FhirError) as caught:
        map_fhir(_resource("Bundle-bundle-references.json"), at=LATE)
    refused = {p.path: p.message for p in caught.value.problems}
    assert refused["$.entry[6].resource.subject.reference"] == (
        "'Patient/23' (that is, http://example.org/fhir-2/Patient/23) is another patient than "
        "http://example.org/fhir/Patient/23: refused")
    assert "$.entry[2].resource.subject.reference" not in refused  # Patient/23, same server
    assert "$.entry[3].resource.subject.reference" not in refused  # its absolute URL
    assert refused["$.entry[9].resource.subject.reference"].startswith(
        "'Patient/45/_history/2' (that is, http://example.org/fhir/Patient/45) is another")
