"""Patient and clinician text under policy v3 (issue 23, point 5): each piece of advice said
once; an emergency says why in plain words; no self-test wording without a self-test;
measuring a calf and checking pulses are clinician items; no rule ids, scores or
clinician items in the default view; "For the clinician" holds clinician text; the
interview never asks a patient what only a clinician can answer."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from kneerules import Engine
from kneerules.model.records import Assessment
from kneerules.output.rendering import RenderOptions, render

ROOT = Path(__file__).resolve().parent.parent
CASE_FILES = sorted((ROOT / "examples").glob("*.json")) + sorted(
    (ROOT / "tests" / "vignettes").glob("*.json"))
IDS = [f"{p.parent.name}/{p.stem}" for p in CASE_FILES]


def case_of(path: Path) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return body.get("case", body) if path.parent.name == "vignettes" else body


def internal_ids(engine: Engine) -> set[str]:
    kb = engine.knowledge
    return {r.id for r in kb.rules} | set(kb.advice) | {s.id for s in kb.scores}


def clinician_texts(assessment: Assessment) -> list[str]:
    return [a.text for a in assessment.advice if a.audience == "clinician"]


@pytest.mark.parametrize("path", CASE_FILES, ids=IDS)
def test_the_default_view_has_no_rule_ids_scores_or_clinician_items(engine: Engine,
                                                                     path: Path) -> None:
    """`kneerules eval` without options: no rule or advice id, no score, no item written for
    a clinician; --explain shows them."""
    assessment = engine.evaluate(case_of(path))
    text = render(assessment, "text").replace(f"case: {assessment.case_id}", "")
    words = set(re.findall(r"[A-Za-z_][\w.]*\w", text))
    assert not words & internal_ids(engine), words & internal_ids(engine)
    assert not re.search(r"\bscore [-\d]", text)
    for item in clinician_texts(assessment):
        assert item not in text
    explained = render(assessment, "text", options=RenderOptions(explain=True))
    assert all(rule in explained for rule in assessment.triage.because)


@pytest.mark.parametrize("path", CASE_FILES, ids=IDS)
def test_for_the_clinician_holds_only_clinician_items(engine: Engine, path: Path) -> None:
    """The clinician view's "For the clinician" lists only advice written for a clinician;
    what was written for the patient is under "The patient is told"."""
    assessment = engine.evaluate(case_of(path))
    text = render(assessment, "text", "clinician", RenderOptions(width=10_000))
    section = text.split("For the clinician:\n")[1].split("\n\n")[0] \
        if "For the clinician:\n" in text else ""
    for advice in assessment.advice:
        if advice.audience != "clinician":
            assert advice.text not in section, advice.id


@pytest.mark.parametrize("path", CASE_FILES, ids=IDS)
def test_the_patient_reads_each_piece_of_advice_once_and_no_clinician_item(
        engine: Engine, path: Path) -> None:
    """RICE is said at most once; measuring the calf, checking pulses, aspiration and the
    Wells score are never in the patient's text."""
    assessment = engine.evaluate(case_of(path))
    text = render(assessment, "text", "patient", RenderOptions(width=10_000))
    assert text.count("RICE") <= 1
    for advice in assessment.advice:
        if advice.audience in ("patient", "both"):
            assert not re.search(r"measure|pulses|aspirat|\bwells\b|ankle-brachial",
                                 advice.text, re.IGNORECASE), advice.id


def test_an_emergency_says_why_in_plain_words(engine: Engine) -> None:
    """Every emergency among the case files and 1,000 random cases has a "Why:" section for
    the patient, with no rule id in it."""
    rng = random.Random(5)
    findings = sorted(n for n, f in engine.knowledge.facts.items() if f.kind == "finding")
    drawn = [case_of(p) for p in CASE_FILES] + [
        {"findings": {n: True for n in rng.sample(findings, rng.randint(1, 6))}}
        for _ in range(1000)]
    emergencies = 0
    for case in drawn:
        assessment = engine.evaluate(case)
        if assessment.triage.timeframe != "now":
            continue
        emergencies += 1
        text = render(assessment, "text", "patient")
        why = text.split("Why:\n")[1].split("\n\n")[0] if "Why:\n" in text else ""
        assert why.strip(), case
        assert not set(re.findall(r"[a-z_]+\.[a-z_]+", why)) & internal_ids(engine)
    assert emergencies > 50


SUDDEN_NO_INJURY = [
    {"onset": "sudden", "findings": {"sign.locking": True, "sign.difficulty_straightening": True,
                                     "pain.behind_knee": True}},
    {"onset": "sudden", "findings": {"sign.unable_to_bear_weight": True, "pain.calf": True}},
    {"onset": "sudden", "findings": {"sign.knee_swelling": True, "sign.warmth": True}},
]


@pytest.mark.parametrize("drawn", [case_of(p) for p in CASE_FILES] + SUDDEN_NO_INJURY,
                         ids=[*IDS, "sudden-locking", "sudden-cannot-bear-weight",
                              "sudden-warm-knee"])
def test_after_an_injury_only_when_there_was_one(engine: Engine, drawn: dict[str, Any]) -> None:
    """A patient is not told it happened "after an injury" when none is recorded (a sudden
    onset alone is not an injury)."""
    text = render(engine.evaluate(drawn), "text", "patient", RenderOptions(width=10_000))
    injured = any(v is True for k, v in drawn.get("findings", {}).items()
                  if k.startswith("injury."))
    if not injured:
        # Messages that list the alternatives ("after an injury, in a cast or ...") may stay.
        assert not re.search(r"(locked|locks|happened|began|started) after an injury",
                             text.lower())


@pytest.mark.parametrize("path", CASE_FILES, ids=IDS)
def test_rice_and_medication_are_advised_once(engine: Engine, path: Path) -> None:
    """In the assessment itself (JSON and every view), RICE and "medication can help" come
    once, in the leading condition's words when it has its own."""
    assessment = engine.evaluate(case_of(path))
    for kind in ("rice", "medication"):
        given = [a for a in assessment.advice if a.kind == kind]
        assert len(given) <= 1, [a.id for a in given]
        if given and any(e.likelihood == "likely" for e in assessment.differential[:1]):
            own = [s for s in engine.knowledge.advice.values()
                   if s.kind == kind and s.condition == assessment.differential[0].condition]
            if own and given[0].condition is None:
                pytest.fail(f"general {kind} advice given although {own[0].id} exists")
    texts = [a.text for a in assessment.advice]
    assert len(texts) == len(set(texts))
