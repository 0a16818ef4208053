"""Properties of the answer over random records: the card follows the assessment's level,
passes the checker, and appears exactly when there is knee pain or a red flag."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hook_requests import hook_request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kneerules import Engine
from kneerules.knowledge.plugins import get_plugin_manager
from kneerules.service.cards import INDICATORS
from kneerules.service.discovery import prefetch_templates
from kneerules.service.hooks import Triager, parse_request
from tests.service.cardcheck import check_response

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
ENGINE = Engine(plugin_manager=get_plugin_manager(entry_points=False))
FINDINGS = sorted(name for name, spec in ENGINE.vocabulary.items() if spec.kind == "finding")
TRIAGER = Triager(ENGINE, "kneerules-knee-triage", list(prefetch_templates("urn:q", [])))


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(FINDINGS), max_size=12, unique=True))
    case: dict[str, Any] = {"findings": {name: draw(st.booleans()) for name in chosen}}
    if draw(st.booleans()):
        case["side"] = draw(st.sampled_from(["left", "right", "both"]))
    return case


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_card_follows_the_assessment(case: dict[str, Any]) -> None:
    """One card at the assessment's level iff knee pain or a red flag, never otherwise."""
    body = hook_request(ENGINE, case, now=NOW)
    outcome = TRIAGER.answer(parse_request(body), at=NOW)
    # The same case as the prefetch says it: the Patient and the two vital signs included.
    assessment = ENGINE.evaluate({"format": "kneerules.case/1", **case,
                                  "patient": {"age": 58, "sex": "male"},
                                  "measurements": {"temperature_c": 37.1, "bmi": 27.4}})
    assert outcome.status == 200
    assert check_response({"cards": list(outcome.cards)}) == []
    shown = case["findings"].get("pain.behind_knee") is True or bool(assessment.red_flags)
    assert len(outcome.cards) == (1 if shown else 0)
    if shown:
        assert outcome.cards[0]["indicator"] == INDICATORS[assessment.triage.level]
        assert outcome.cards[0]["summary"] == assessment.triage.message
