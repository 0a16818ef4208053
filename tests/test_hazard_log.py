"""The hazard log (docs/safety/hazard-log.yaml, version 2): ratings read from the DCB0129
matrix it carries, only real controls, every red-flag rule of policy v3 controlling some
hazard, and the readable log (hazard-log.md) exactly what the data renders to."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kneerules import Engine

ROOT = Path(__file__).resolve().parent.parent
DATA: dict[str, Any] = yaml.safe_load(
    (ROOT / "docs" / "safety" / "hazard-log.yaml").read_text(encoding="utf-8"))
LOG: list[dict[str, Any]] = DATA["hazards"]
READABLE = (ROOT / "docs" / "safety" / "hazard-log.md").read_text(encoding="utf-8")

DCB0129 = {
    # The NHS DCB0129 clinical risk matrix, written here from the standard (likelihood by
    # severity: minor, significant, considerable, major, catastrophic).
    "very high": [3, 4, 4, 5, 5],
    "high": [2, 3, 3, 4, 5],
    "medium": [2, 2, 3, 3, 4],
    "low": [1, 2, 2, 3, 4],
    "very low": [1, 1, 2, 2, 3],
}
SEVERITIES = ["minor", "significant", "considerable", "major", "catastrophic"]

V3_RULES = (
    # Every rule of triage policy v3, in its message precedence (assessment format, "Triage
    # policy, version 3"); each raises a red flag when it applies.
    "2", "8", "1p", "1", "11", "12", "9", "13", "1w", "7b", "7c", "S", "3", "19", "4", "4d",
    "5", "5b", "6", "6b", "U1b", "4b", "4c", "5c", "5d", "5e", "6c", "7", "7a", "7d", "7e",
    "10", "12b", "14", "15", "20", "21a", "21c", "U1", "U2", "7f", "10b", "16", "17", "18a",
    "21", "21b", "22", "18", "18b", "23")

ISSUE_HAZARDS = (
    # The six hazards issue 23 found missing, each by a word of its title.
    "wrong condition", "sepsis", "contradictory input", "dvt text",
    "default text view mixes audiences", "interview puts clinician-only questions")


def _renderer() -> Any:
    spec = importlib.util.spec_from_file_location("hazard_log", ROOT / "tools" / "hazard_log.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_log_carries_the_dcb0129_matrix() -> None:
    """The matrix in the data is the DCB0129 matrix, and the readable log shows it."""
    assert DATA["matrix"]["severities"] == SEVERITIES
    assert DATA["matrix"]["risk"] == DCB0129
    for likelihood, row in DCB0129.items():
        assert f"| {likelihood} | " + " | ".join(map(str, row)) + " |" in READABLE


@pytest.mark.parametrize("hazard", LOG, ids=[h["id"] for h in LOG])
def test_every_rating_is_read_from_the_matrix(hazard: dict[str, Any]) -> None:
    """Initial and residual risk are the matrix's value for their severity and likelihood
    (catastrophic x medium is 4, not 5), and the residual is no worse than the initial."""
    for part in ("initial", "residual"):
        rating = hazard[part]
        assert rating["risk"] == DCB0129[rating["likelihood"]][
            SEVERITIES.index(rating["severity"])], (hazard["id"], part)
    assert hazard["residual"]["risk"] <= hazard["initial"]["risk"]


def test_hazards_have_the_dcb0129_fields() -> None:
    """Each hazard has an id, cause, effect, initial and residual risk, a control, and says
    why its residual likelihood is what it is and which tests measure it."""
    ids = [h["id"] for h in LOG]
    assert len(ids) == len(set(ids))
    for hazard in LOG:
        for field in ("title", "cause", "effect", "initial", "residual", "controls"):
            assert hazard.get(field), (hazard["id"], field)
        assert hazard["controls"]["tests"], hazard["id"]
        assert hazard["residual"]["why"].strip(), hazard["id"]
        assert hazard["residual"]["measured_by"], hazard["id"]
        if hazard["residual"]["risk"] >= 4:
            assert hazard.get("actions"), f"{hazard['id']}: an unacceptable residual risk " \
                "needs a further action"
    # A hazard indented one level too far lands among the common controls, unchecked.
    assert all(isinstance(c, str) for c in DATA["common_controls"])


@pytest.mark.parametrize("words", ISSUE_HAZARDS)
def test_the_hazards_issue_23_found_missing_are_logged(words: str) -> None:
    """Wrong-condition advice, cellulitis or sepsis, contradictory input, DVT text on
    non-DVT cases, the default view mixing audiences, clinician questions put to patients."""
    assert any(words in h["title"].lower() for h in LOG), words


@pytest.mark.parametrize("hazard", LOG, ids=[h["id"] for h in LOG])
def test_every_control_rule_exists(engine: Engine, hazard: dict[str, Any]) -> None:
    """A control names only rules the installed rule set has."""
    rules = {r.id for r in engine.knowledge.rules}
    missing = [r for r in hazard["controls"]["rules"] if r not in rules]
    assert not missing, missing


@pytest.mark.parametrize("hazard", LOG, ids=[h["id"] for h in LOG])
def test_every_control_and_measuring_test_exists(hazard: dict[str, Any]) -> None:
    """A control or a residual's evidence names only tests that exist (file and function)."""
    for test in [*hazard["controls"]["tests"], *hazard["residual"]["measured_by"]]:
        path, _, name = test.partition("::")
        assert (ROOT / path).exists(), test
        source = (ROOT / path).read_text(encoding="utf-8")
        assert re.search(rf"^def {re.escape(name)}\(", source, re.MULTILINE), test


def uncovered(engine: Engine, log: list[dict[str, Any]]) -> list[str]:
    """Red-flag rules, and rules of policy v3, that control no hazard of ``log``."""
    controlled = {r for h in log for r in h["controls"]["rules"]}
    rules = engine.knowledge.rules
    out = [r.id for r in rules if r.then.red_flag and r.id not in controlled]
    carried = {r.policy for r in rules if r.id in controlled and r.policy}
    out += [f"policy v3 rule {n}" for n in V3_RULES if n not in carried]
    return out


def test_every_red_flag_rule_of_v3_controls_a_hazard(engine: Engine) -> None:
    """Each rule that raises a red flag is among some hazard's controls, and so is a rule
    carrying each of the 51 rules of policy v3."""
    assert not uncovered(engine, LOG)


def test_the_coverage_check_fails_when_a_rule_controls_no_hazard(engine: Engine) -> None:
    """Taking one v3 rule out of the log (rule 7c, the necrotising infection) is caught, by
    rule id and by policy number."""
    trimmed = [{**h, "controls": {**h["controls"],
                                  "rules": [r for r in h["controls"]["rules"]
                                            if r != "cellulitis.necrotising"]}} for h in LOG]
    assert uncovered(engine, trimmed) == ["cellulitis.necrotising", "policy v3 rule 7c"]


def test_the_readable_log_is_what_the_data_renders_to() -> None:
    """docs/safety/hazard-log.md is tools/hazard_log.py's rendering of the data (run it after
    editing the YAML), with a row for each hazard."""
    assert _renderer().render(DATA) == READABLE
    for hazard in LOG:
        assert f"| {hazard['id']} |" in READABLE, hazard["id"]


CORRECTED = {
    # "Changes in v3", 28: what each of these works is (and is not) cited for.
    "coakley-2006": r"adult.*no day cut-off",
    "kocher-1999": r"hip.*by analogy",
    "medina-2014": r"rates",
    "subbu-2015": r"no day figure",
    "nice-ng23": r"HRT",
    "ukmec": r"contraception only",
    "esvs-2021": r"phlegmasia",
}


@pytest.mark.parametrize(("key", "pattern"), CORRECTED.items())
def test_corrected_citations_say_what_they_are_cited_for(engine: Engine, key: str,
                                                         pattern: str) -> None:
    """Coakley adult-only with no day cut-off; Kocher for the hip, the knee by analogy;
    Medina for injury rates; Subbu without a day figure; NICE NG23 for HRT, UKMEC for
    contraception; ESVS 2021 (venous) for phlegmasia."""
    reference = engine.knowledge.references[key]
    assert re.search(pattern, reference.note, re.IGNORECASE), reference.note


def test_every_reference_has_a_doi_pmid_or_a_reason(engine: Engine) -> None:
    """A work with a DOI or PMID gives one; a guideline, standard or web page gives its page
    (and no local path: the repository stands alone)."""
    for reference in engine.knowledge.references.values():
        assert reference.doi or reference.pmid or reference.url, reference.key
        assert not (reference.url or "").startswith("../"), reference.key
        if re.search(r"\b(19|20)\d\d;\d+", reference.journal):  # a journal article
            assert reference.doi or reference.pmid or reference.note, reference.key
