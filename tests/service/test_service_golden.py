"""Golden CDS Hooks output: the discovery document and the cards for fixed records, reviewed
as a diff. After an intended change: ``KNEERULES_UPDATE_GOLDEN=1 pytest tests/service``."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hook_requests import DVT_FINDINGS, NO_KNEE_FINDINGS, ROUTINE_FINDINGS, hook_request

from kneerules import Engine
from kneerules.fhir import QUESTIONNAIRE_URL as QUESTIONNAIRE
from kneerules.knowledge.plugins import get_plugin_manager
from kneerules.service.discovery import discovery_document, prefetch_templates
from kneerules.service.hooks import Triager, parse_request
from tests.service.cardcheck import check_response

GOLDEN = Path(__file__).resolve().parent / "golden"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
CODES = [("http://loinc.org", "8310-5"), ("http://loinc.org", "39156-5")]


@pytest.fixture(scope="module")
def builtin_engine() -> Engine:
    """Only the built-in plugins, so installed extras cannot change the goldens."""
    return Engine(plugin_manager=get_plugin_manager(entry_points=False))


def _matches(name: str, got: Any) -> None:
    golden = GOLDEN / name
    if os.environ.get("KNEERULES_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
    assert golden.exists(), f"no golden file; run with KNEERULES_UPDATE_GOLDEN=1: {golden}"
    assert got == json.loads(golden.read_text())


def test_discovery_matches_its_golden(builtin_engine: Engine) -> None:
    """The discovery document is exactly the reviewed one."""
    templates = prefetch_templates(QUESTIONNAIRE, CODES)
    ids = {hook: f"kneerules-knee-triage-{hook}" for hook in ("patient-view", "encounter-start")}
    _matches("discovery.json", discovery_document(ids, builtin_engine.info, templates))


@pytest.mark.parametrize(("name", "case"), [
    ("dvt-same-day", DVT_FINDINGS), ("routine", ROUTINE_FINDINGS),
    ("no-knee-pain", NO_KNEE_FINDINGS)])
def test_cards_match_their_golden(builtin_engine: Engine, name: str,
                                  case: dict[str, Any]) -> None:
    """The response for a fixed record at a fixed time is exactly the reviewed one."""
    triager = Triager(builtin_engine, "kneerules-knee-triage",
                      list(prefetch_templates(QUESTIONNAIRE, CODES)))
    body = hook_request(builtin_engine, case, now=NOW,
                        hook_instance="d1f5a0c4-3c1e-4f7e-9a53-2b7f0c9e8a10")
    outcome = triager.answer(parse_request(body), at=NOW)
    response = {"cards": list(outcome.cards)}
    assert check_response(response) == []
    _matches(f"{name}-response.json", response)
