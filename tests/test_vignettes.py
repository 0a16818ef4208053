"""The public vignettes (a copy in tests/vignettes/): triage and timeframe, the conditions
that must not be missed, top condition, top three.

Each vignette is evaluated with its case_id removed, so a pass cannot come from
the name of the case, only from its findings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kneerules import Engine
from kneerules.model.records import Assessment

VIGNETTES = sorted((Path(__file__).parent / "vignettes").glob("*.json"))

R1_OVERRIDES: dict[str, tuple[str, ...]] = {
    # Its "top" (dvt) predates policy v3 and was not among the 12 vignettes refreshed for it;
    # R1 (a), which is normative, puts PE first whenever a sign of PE is recorded, then the
    # DVT it came from (the issue lists "PE presentations rank DVT above PE" as a fault).
    "dvt-with-chest-pain": ("pulmonary_embolism", "dvt"),
}
"""Vignettes whose expected leader contradicts policy v3's R1: the order R1 gives instead."""


def load(path: Path) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return body


def anonymous(case: dict[str, Any]) -> dict[str, Any]:
    """The case without its identifier."""
    return {key: value for key, value in case.items() if key != "case_id"}


def ranked(assessment: Assessment) -> list[str]:
    return [entry.condition for entry in assessment.differential]


def test_the_vignettes_are_there() -> None:
    """The copy of the public vignettes is present and complete enough to judge."""
    assert len(VIGNETTES) >= 48
    for path in VIGNETTES:
        body = load(path)
        assert {"case", "expect"} <= body.keys(), path.name
        assert body["expect"]["triage"] in ("routine", "urgent", "emergency"), path.name
        assert "timeframe" in body["expect"], path.name


@pytest.mark.parametrize("path", VIGNETTES, ids=[p.stem for p in VIGNETTES])
def test_vignette(engine: Engine, path: Path) -> None:
    """The vignette gets its exact triage level and timeframe, every must-not-miss condition
    flagged, its expected leader and expected top three."""
    body = load(path)
    expect = body["expect"]
    assessment = engine.evaluate(anonymous(body["case"]))
    order = ranked(assessment)
    assert assessment.triage.level == expect["triage"], (
        f"triage {assessment.triage.level} because {assessment.triage.because}")
    assert assessment.triage.timeframe == expect["timeframe"], assessment.triage
    flagged = {e.condition for e in assessment.differential if e.must_not_miss}
    missing = [c for c in expect.get("must_not_miss", []) if c not in flagged]
    assert not missing, f"{missing} not must_not_miss in {order}"
    if path.stem in R1_OVERRIDES:
        head = R1_OVERRIDES[path.stem]
        assert tuple(order[:len(head)]) == head, f"ranked {order}"
    elif "top" in expect:
        assert order, "empty differential"
        assert order[0] in expect["top"], f"ranked {order}"
    if "top3" in expect:
        missing = [c for c in expect["top3"] if c not in order[:3]]
        assert not missing, f"{missing} not in top three of {order}"
    elif "top" in expect:
        assert any(c in order[:3] for c in expect["top"]), f"ranked {order}"
    if "not_top" in expect and order:
        assert order[0] not in expect["not_top"], f"ranked {order}"


@pytest.mark.parametrize("path", VIGNETTES[:6], ids=[p.stem for p in VIGNETTES[:6]])
def test_case_id_changes_nothing_but_the_echo(engine: Engine, path: Path) -> None:
    """Renaming a case leaves its triage and differential unchanged."""
    case = load(path)["case"]
    named = engine.evaluate({**case, "case_id": "something-else-entirely"})
    plain = engine.evaluate(anonymous(case))
    assert named.triage == plain.triage
    assert named.differential == plain.differential
